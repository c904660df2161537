"""`agentsh hook AGENT`: answer an agent's pre-tool hook from the profile.

Claude Code and Codex run PreToolUse hooks, Gemini CLI BeforeTool hooks: a command
that gets the pending tool call as JSON on stdin and answers on stdout (or blocks
with exit status 2 and a reason on stderr).  For the agent's shell tool, agentsh
decides the command exactly as `agentsh explain` would, tells the agent allow, deny
or ask with the rule and the reason, and writes the decision to the audit trail.
Other tools (file reads, edits, MCP tools) get the neutral answer: nothing to say.

What each agent honours (read from their sources and docs):

- Claude Code: `hookSpecificOutput.permissionDecision` allow, deny or ask, with
  `permissionDecisionReason` (shown to the model on deny, to the person on ask).
- Codex: only `deny` (with a non-empty reason); `allow` without a rewritten input and
  `ask` are rejected as unsupported and the call then goes ahead, so agentsh answers
  nothing for allow and deny for ask (nobody could be asked).
- Gemini CLI: top-level `decision` "allow" or "deny" with `reason`; nothing for ask
  is documented, so ask is answered with deny too.

Every agent blocks the call on exit status 2 with the reason on stderr, whatever
the event: that is how malformed input and internal failures are answered (fail
closed).  A hook only decides; it cannot record the command's output or inject
credentials.  See docs/hooks-and-mcp.md.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from typing import IO, Any, NamedTuple

EXIT_BLOCK = 2  # every supported agent treats exit 2 as "block; stderr is the reason"
MAX_INPUT = 4 << 20  # a hook call is a few KiB; refuse to buffer without bound


class AgentHook(NamedTuple):
    event: str  # the hook event agentsh answers
    shell_tools: frozenset[str]  # tool names whose tool_input.command is a shell line
    honours: frozenset[str]  # decisions the agent acts on


AGENT_HOOKS = {
    "claude-code": AgentHook("PreToolUse", frozenset({"Bash"}), frozenset({"allow", "deny", "ask"})),
    "codex": AgentHook("PreToolUse", frozenset({"Bash"}), frozenset({"deny"})),
    "gemini": AgentHook("BeforeTool", frozenset({"run_shell_command"}), frozenset({"allow", "deny"})),
}
AGENTS = tuple(AGENT_HOOKS)


class HookInputError(Exception):
    """The hook input is not what the agent documents: the call is blocked."""


class ShellCall(NamedTuple):
    agent: str
    command: str
    cwd: str  # where the command would run
    agent_session: str  # the agent's own session id ("" if it sent none)
    tool_use_id: str


class Answer(NamedTuple):
    stdout: str  # what the agent reads ("" for nothing)
    decision: str  # what the agent was told: allow, deny, ask, or "" (nothing)
    reason: str


def parse_call(agent: str, raw: bytes) -> ShellCall | None:
    """The shell command in a hook call, or None when the call is not for the shell tool."""
    hook = AGENT_HOOKS[agent]
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise HookInputError(f"the hook input is not JSON: {err}") from None
    if not isinstance(data, dict):
        raise HookInputError("the hook input is not a JSON object")
    if data.get("hook_event_name", hook.event) != hook.event:
        return None  # wired to another event: nothing for agentsh to decide
    tool = data.get("tool_name")
    if not isinstance(tool, str):
        raise HookInputError("tool_name is missing or not a string")
    if tool not in hook.shell_tools:
        return None
    tool_input = data.get("tool_input")
    command = tool_input.get("command") if isinstance(tool_input, dict) else None
    if not isinstance(command, str):
        raise HookInputError(f"{tool}: tool_input.command is missing or not a string")
    cwd = data.get("cwd")
    if not isinstance(cwd, str) or not os.path.isabs(cwd):
        raise HookInputError("cwd is missing or not an absolute path")
    assert isinstance(tool_input, dict)
    if agent == "gemini":  # run_shell_command may name a directory relative to the workspace
        cwd = os.path.normpath(os.path.join(cwd, gemini_directory(tool_input)))
    session = data.get("session_id", "")
    tool_use_id = data.get("tool_use_id", "")
    if not isinstance(session, str) or not isinstance(tool_use_id, str):
        raise HookInputError("session_id and tool_use_id must be strings")
    return ShellCall(agent, command, cwd, session, tool_use_id)


def gemini_directory(tool_input: dict[str, Any]) -> str:
    """The directory run_shell_command runs in, relative to the call's cwd ("" for the cwd).

    Gemini CLI calls it `dir_path` now and called it `directory` before; the model writes the
    arguments and may send both, and a Gemini reads only the one it knows. So both are read:
    given and different (a null `dir_path` beside `directory: secrets`), the call is blocked
    rather than decided in a directory the command may not run in."""
    given = [tool_input[name] for name in ("dir_path", "directory") if tool_input.get(name) is not None]
    if any(not isinstance(value, str) for value in given):
        raise HookInputError("run_shell_command: tool_input.dir_path is not a string")
    if len(set(given)) > 1:
        raise HookInputError("run_shell_command: tool_input.dir_path and tool_input.directory differ")
    return given[0] if given else ""


def neutral(agent: str) -> Answer:
    """The answer that leaves the call to the agent's own rules."""
    return Answer("{}\n" if agent == "gemini" else "", "", "")


def render(agent: str, decision: str, reason: str) -> Answer:
    """The agent's JSON for a decision, mapped to what that agent honours."""
    hook = AGENT_HOOKS[agent]
    if decision not in hook.honours:
        if decision == "allow":
            return neutral(agent)
        # An `ask` the agent cannot put to a person: refuse rather than let it through.
        decision = "deny"
        reason += ("\nagentsh: this agent's hook cannot ask a person; run the command through agentsh "
                   "as the shell, where `ask` rules wait for an approver")
    if agent == "gemini":
        body: dict[str, Any] = {"decision": decision, "reason": reason}
    else:
        body = {"hookSpecificOutput": {"hookEventName": hook.event, "permissionDecision": decision,
                                       "permissionDecisionReason": reason}}
    return Answer(json.dumps(body) + "\n", decision, reason)


def explain_decision(decision: Any, profile_name: str) -> str:
    """One short text naming the rule(s) and reason(s), in the shell's own wording."""
    from ..policy.decision import flatten
    from ..session import denial_message

    if decision.decision == "deny":
        return denial_message(decision).rstrip("\n")
    if decision.decision == "ask":
        asks = [v for v in flatten(decision.verdicts) if v.decision == "ask"]
        return "\n".join(f"agentsh: {' '.join(v.command.split())}: needs approval: {v.reason}"
                         f"{f' (rule {v.rule})' if v.rule else ''}" for v in asks)
    rules = sorted({v.rule for v in flatten(decision.verdicts) if v.rule})
    by = f" by rule{'s' if len(rules) > 1 else ''} {', '.join(rules)}" if rules else ""
    return f"agentsh: allowed{by} of profile {profile_name}"


def hook_session_id(environ: Mapping[str, str], call: ShellCall) -> str:
    """The audit session: agentsh's own (under `agentsh launch`), else one per agent session."""
    from ..session import SESSION_ID, new_session_id

    given = environ.get("AGENTSH_SESSION", "")
    if SESSION_ID.fullmatch(given):
        return given
    derived = f"{call.agent}-{call.agent_session}"
    return derived if call.agent_session and SESSION_ID.fullmatch(derived) else new_session_id()


def decide_and_audit(call: ShellCall, profile_spec: str | None, environ: Mapping[str, str]) -> Answer:
    """Decide the call from the profile, write the audit event, and render the answer.

    Raises AgentshError (profile) or AuditError (trail): the caller blocks the call.
    """
    from ..policy import Decision, Verdict
    from ..profile import Host
    from ..session import load_policy, user_name
    from ..sysconfig import profile_for
    from ..trail import Trail, decision_fields, identity

    user = user_name()
    host = Host.from_environ(environ, call.cwd)
    policy = load_policy(profile_for(profile_spec, user), host)
    profile = policy.profile
    problem = cwd_problem(call.cwd, policy)
    if problem:
        verdict = Verdict(command=call.command, decision="deny", reason=problem,
                          hint="run the command from a directory the profile may read")
        decision = Decision(call.command, "deny", (verdict,), profile.name, profile.sha256)
    else:
        decision = policy.decide(call.command, call.cwd)
    answer = render(call.agent, decision.decision, explain_decision(decision, profile.name))
    who = identity(environ, user)
    who["agent"] = who["agent"] or call.agent
    trail = Trail(environ, profile, hook_session_id(environ, call), who)
    try:
        trail.write("decision", via="hook", agent=call.agent, agent_session=call.agent_session,
                    tool_use_id=call.tool_use_id, cwd=call.cwd, answer=answer.decision or "none",
                    **decision_fields(decision, profile))
    finally:
        trail.close()
    return answer


def cwd_problem(cwd: str, policy: Any) -> str:
    """Why commands may not run in `cwd` under this profile ('' if they may)."""
    real = os.path.realpath(cwd)
    if not os.path.isdir(real):
        return f"the working directory {cwd} does not exist"
    problem = policy.paths.read_problem(real)
    return f"the working directory is not readable under the profile: {problem}" if problem else ""


def run_hook(agent: str, profile_spec: str | None, stdin: IO[bytes], stdout: IO[str], stderr: IO[str],
             environ: Mapping[str, str]) -> int:
    """Read one hook call, answer it; the exit status for the agent."""
    from ..audit.log import AuditError
    from ..errors import AgentshError

    raw = stdin.read(MAX_INPUT + 1)
    try:
        if len(raw) > MAX_INPUT:
            raise HookInputError(f"the hook input is larger than {MAX_INPUT >> 20} MiB")
        call = parse_call(agent, raw)
    except HookInputError as err:
        stderr.write(f"agentsh hook {agent}: blocked: malformed hook input: {err}\n")
        return EXIT_BLOCK
    if call is None:
        stdout.write(neutral(agent).stdout)
        return 0
    try:
        answer = decide_and_audit(call, profile_spec, environ)
    except AuditError as err:
        stderr.write(f"agentsh hook {agent}: blocked: cannot write the audit trail: {err}\n")
        return EXIT_BLOCK
    except AgentshError as err:
        stderr.write(f"agentsh hook {agent}: blocked: {err}\n")
        return EXIT_BLOCK
    stdout.write(answer.stdout)
    return 0


def main(argv: list[str]) -> int | None:
    """`agentsh hook [-p PROFILE] AGENT` without click (see main.py); None when the arguments
    are anything else (--help, a mistake), for click to handle."""
    profile = None
    if len(argv) == 3 and argv[0] in ("-p", "--profile"):
        profile, argv = argv[1], argv[2:]
    elif len(argv) == 2 and argv[0].startswith("--profile="):
        profile, argv = argv[0].split("=", 1)[1], argv[1:]
    if len(argv) != 1 or argv[0] not in AGENT_HOOKS:
        return None
    return run_hook(argv[0], profile, sys.stdin.buffer, sys.stdout, sys.stderr, os.environ)
