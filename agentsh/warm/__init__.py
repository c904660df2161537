"""The warm server: `agentsh -c LINE` handed to a per-user agentsh process that has
already imported everything, so an agent does not pay Python's imports on every command.

client.py runs in the agent's `agentsh -c` (built-in modules only), server.py is the
long-lived process, worker.py the worker it forks ahead of each line, wire.py is what
client and server must agree on.
See docs/security-model.md ("Warm server") for what it trusts and why.
"""
