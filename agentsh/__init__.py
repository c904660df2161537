"""agentsh: a restricted shell for AI agents.

Pipeline: parse (tree-sitter-bash) -> policy (profile) -> run (bash, rebuilt env).
"""

__version__ = "0.1.0"
