"""`agentsh launch [-p PROFILE] [--name AGENT] -- COMMAND...`: start an agent under agentsh.

One command for the admin.  The agent gets:

- one session id (AGENTSH_SESSION), so every `agentsh -c` it runs joins this session: one
  per-command recording `<id>.cast`, one audit session;
- its environment re-cut: credential-like variables are dropped (see credentials/envcut.py)
  unless the profile passes them or `--keep-env NAME` keeps one the agent itself needs
  (its own API key, say); the commands agentsh runs get only what the profile passes anyway;
- a fresh shim directory (adapters/shim.py) first on PATH, and SHELL and CLAUDE_CODE_SHELL
  naming its `bash` (Claude Code takes a shell only if its path contains bash or zsh);
- a PTY, whose every byte is recorded as the session's outer recording `<id>.terminal.cast`.

How the two recordings link up (both ways, through the command ids the audit trail uses):
the launcher's audit events (`session_start`, then `launch`) name both files; each
`agentsh -c` in the session, seeing `<id>.terminal.cast` beside its own recording, writes
a marker labelled with its command id into the outer recording (so an auditor can jump
from the agent's screen to the command) and names the outer file as `terminal_recording`
in its `line` audit event; the per-command recording has the same command id as its own
marker.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..record.asciicast import Recorder
    from ..session import Session

TERMINAL = ".terminal"  # suffix of the outer recording's id: <session id>.terminal.cast


def terminal_recording_path(session: Session) -> str:
    from ..record.asciicast import default_directory

    directory = session.profile.record_dir or default_directory(session.config.environ)
    return os.path.join(directory, session.session_id + TERMINAL + ".cast")


def link_terminal_recording(session: Session) -> None:
    """In a joined session with an outer recording: mark each command in it, name it in the audit."""
    path = terminal_recording_path(session)
    if os.path.isfile(path):  # only launch creates it; never create one here
        session.line_context["terminal_recording"] = path
        session.on_line = partial(_mark, path, session.session_id + TERMINAL)


def _mark(path: str, recording_id: str, command_id: str) -> None:
    from ..record.asciicast import RecordingError, open_recording

    try:
        recorder = open_recording(os.path.dirname(path), recording_id, width=80, height=24, title="", command="",
                                  env={})
        try:
            recorder.marker(command_id)
        finally:
            recorder.close()
    except RecordingError:
        pass  # a link only: the command's own recording and audit events are what must be written


def agent_environment(base: Mapping[str, str], shim_dir: str, session_id: str, name: str) -> dict[str, str]:
    env = dict(base)
    bash = os.path.join(shim_dir, "bash")
    env["PATH"] = shim_dir + os.pathsep + base.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(SHELL=bash, CLAUDE_CODE_SHELL=bash, AGENTSH_SESSION=session_id, AGENTSH_AGENT=name)
    return env


def launch(command: Sequence[str], profile: str | None = None, name: str = "", keep_env: Sequence[str] = (),
           environ: Mapping[str, str] | None = None) -> int:
    """Run the agent to the end; its exit status (126 if it could not be started under agentsh)."""
    import sys
    import tempfile

    from ..audit.log import AuditError
    from ..credentials.envcut import cut
    from ..errors import EXIT_DENIED, UsageError
    from ..record.asciicast import RecordingError, open_recording
    from ..session import Session, SessionConfig, user_name
    from ..sysconfig import profile_for
    from ..terminal import terminal_size
    from .shim import write_shim

    if not command:
        raise UsageError("launch: give the agent's command after --")
    base = dict(os.environ if environ is None else environ)
    base.pop("AGENTSH_SESSION", None)  # a session of its own, owned (started, ended) by this launcher
    program = shutil.which(command[0], path=base.get("PATH")) if "/" not in command[0] else command[0]
    if program is None:
        raise UsageError(f"launch: {command[0]}: command not found")
    spec = profile_for(profile, user_name())
    session = Session(SessionConfig(profile=spec, environ=base, cwd=os.getcwd(), terminal=os.isatty(0),
                                    title_command=shlex.join(["agentsh", "launch", "--", *command])))
    agent_base = dict(base)
    session.dropped = cut(agent_base, [*session.profile.env_pass, *keep_env])
    name = name or os.path.basename(command[0])
    shim_dir = tempfile.mkdtemp(prefix="agentsh-launch-")
    status: int | None = None
    outer = None
    try:
        write_shim(shim_dir, spec)
        problem = session.recording.problem()  # opens <id>.cast, the per-command recording
        rows, cols = terminal_size(0 if os.isatty(0) else 1)
        try:
            outer = open_recording(
                os.path.dirname(terminal_recording_path(session)), session.session_id + TERMINAL,
                width=cols, height=rows, title=f"agentsh {session.profile.name} {session.session_id} {session.user}",
                command=shlex.join(command), env={"SHELL": os.path.join(shim_dir, "bash"),
                                                  "TERM": base.get("TERM", "")},
                record_input=session.profile.record_input)
        except RecordingError as err:
            if session.profile.record_required:
                problem = problem or f"cannot record the agent's terminal: {err} (record.required is true)"
            else:
                sys.stderr.write(f"agentsh: warning: the agent's terminal is not recorded: {err}\n")
        if problem:
            sys.stderr.write(f"agentsh: denied: {problem}\n")
            return EXIT_DENIED
        session.begin()  # session_start (names <id>.cast), live registry
        try:
            session.trail.write("launch", command=list(command), program=program, agent=name, shim=shim_dir,
                                terminal_recording=outer.path if outer else "", recording=session.recording.path,
                                dropped_env=session.dropped, kept_env=sorted(set(keep_env)))
        except AuditError as err:
            sys.stderr.write(f"agentsh: denied: cannot write the audit trail: {err}\n")
            return EXIT_DENIED
        env = agent_environment(agent_base, shim_dir, session.session_id, name)
        status = _run_agent([program, *command[1:]], env, session, outer)
        return status
    finally:
        if outer is not None:
            outer.close()
        session.close(status)
        shutil.rmtree(shim_dir, ignore_errors=True)


def _run_agent(argv: list[str], env: dict[str, str], session: Session, outer: Recorder | None) -> int:
    """The agent on a PTY that follows our terminal, every byte to the outer recording.

    Unconfined (the runner's default): the agent is not a checked line, and must not get
    the confinement agentsh puts around one."""
    from ..ptyrun import run_pty

    record_input = outer is not None and session.profile.record_input
    return run_pty(argv, env, session.cwd, outer.output if outer else (lambda _data: None),
                   on_input=outer.input if outer and record_input else None,
                   on_resize=outer.resize if outer else None,
                   on_idle=outer.flush if outer else None).status
