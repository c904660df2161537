"""Run stage of a session: an approved line gets its environment (credentials injected
into the one approved process), its confinement (exec guard, Landlock, seccomp), runs on
pipes or a PTY, and reports back what the next line keeps (cwd, exported variables)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .errors import EXIT_DENIED
from .policy import Decision, Policy

if TYPE_CHECKING:
    from .guard.spawn import Confinement
    from .session import Session


def run_approved(session: Session, decision: Decision, args: tuple[str, ...]) -> tuple[int, tuple[str, ...]]:
    """Run an allowed line; (exit status, names of the credentials injected)."""
    from .record.asciicast import RecordingError
    from .run import bash_script, run_bash

    injection = None
    if any(rule.credentials for rule in session.profile.rules):  # keep the common path import-free
        from .credentials.inject import prepare
        from .credentials.store import CredentialError

        try:
            injection = prepare(decision, session.policy, session.cwd)
        except CredentialError as err:
            session.say(f"agentsh: denied: {err}\n")
            return EXIT_DENIED, ()
    env = session.command_environment()
    env["AGENTSH_SESSION"] = session.session_id
    decision = script_for(session, decision)
    script = bash_script(decision)
    secrets: tuple[str, ...] = ()
    on_spawn = None
    if injection is not None:
        env.update(injection.env())
        script = bash_script(decision, injection.pins())
        secrets, on_spawn = injection.secrets, injection.on_spawn
    names = injection.variables if injection is not None else ()
    confinement = confinement_for(session, decision, injection.pins() if injection is not None else (), secrets,
                                  injection.policy if injection is not None else None)
    try:
        if session.config.terminal:
            return _run_terminal(session, script, env, args, secrets, on_spawn, confinement), names
        filters = {fd: f for fd, f in zip((0, 1), _redactors(secrets, 2), strict=False)}
        result = run_bash(script, env, session.cwd, args, sink=lambda data: session.recording.output(data, crlf=True),
                          on_spawn=on_spawn, filters=filters, on_idle=session.recording.flush,
                          confinement=confinement)
        audit_guard_reports(session, result.reports)
        session.reap_later(result.guard)
        return result.status, names
    except RecordingError as err:
        session.stderr.write(f"agentsh: the command was stopped: cannot record it: {err}\n")
        return EXIT_DENIED, names
    finally:
        ended = injection.close() if injection is not None else 0
        if ended:
            # what the credentialed programs left running (guardrail mode: in confined mode the
            # exec guard ended it already, and audited it)
            session.audit("leftovers_ended", commands=[], credential_holders=ended)

def script_for(session: Session, decision: Decision) -> Decision:
    """The checked line as bash gets it: inside the frontend's plumbing, after `set -eux`
    (set in the script rather than on bash's command line, so -x does not trace the pins)."""
    line = decision.line if session.plumbing is None else session.plumbing(decision.line)
    if session.shell_options:
        line = f"set -{session.shell_options};{line}"
    return decision._replace(line=line)

def confinement_for(session: Session, decision: Decision, credential_links: Iterable[tuple[str, str]],
                    secrets: tuple[str, ...] = (), policy: Policy | None = None) -> Confinement:
    """The exec guard and Landlock around each approved line (docs/security-model.md).

    `policy`: what the exec guard decides by, when not the session's (a credentialed
    line's, which denies /proc: a path only known at run time is known at the exec)."""
    from .guard.execcheck import ExecChecker
    from .guard.landlock import plan_for, status
    from .guard.spawn import Confinement

    links = tuple(credential_links)
    landlock = None
    # What plan_for's listing saw, to check a warm worker's prebuilt ruleset cheaply; not
    # gathered where there is no prebuilt ruleset to check.
    inodes: dict[str, tuple[int, int]] | None = {} if session.warm is not None else None
    missing = status()
    if missing.abi or session.profile.strict:  # strict: restrict_session fails in the child and nothing runs
        # the credential helper lives in the broker's private directory (DIR/bin/NAME links)
        landlock = plan_for(session.profile, extra_read=[os.path.dirname(os.path.dirname(link)) for _, link in links],
                            inodes=inodes)
    else:
        _warn_once(session, "landlock", f"Landlock is not available ({missing.reason}); commands run without "
                        "file and network confinement (`agentsh doctor` explains)")
    approved = [v.rule for v in decision.refused if v.decision == "ask"] if decision.approver else []
    pins = [*decision.pins, *links]  # later pins win, as in bash_script
    ruleset = session.warm.ruleset_for(landlock, inodes) if session.warm is not None and landlock is not None else None
    return Confinement(checker=ExecChecker(policy or session.policy, links, approved, pins, secrets), landlock=landlock,
                       strict=session.profile.strict, ruleset=ruleset)

def _warn_once(session: Session, topic: str, text: str) -> None:
    """A missing layer is said once per session (not on every `agentsh -c` of it), and audited."""
    from .audit.log import state_dir

    marks = os.path.join(state_dir(session.config.environ), "warned")
    try:
        os.makedirs(marks, mode=0o700, exist_ok=True)
        os.close(os.open(os.path.join(marks, f"{session.session_id}.{topic}"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return
    except OSError:
        pass  # cannot remember it: say it again rather than never
    session.say(f"agentsh: warning: {text}\n")
    session.audit("layer_missing", layer=topic, reason=text)

def audit_guard_reports(session: Session, reports: Iterable[dict[str, Any]]) -> None:
    """What the exec guard refused or ended goes to the audit trail."""
    for report in reports:
        kind = report.pop("kind", "")
        if kind in ("exec_denied", "metadata_denied"):
            session.audit(kind, **report)
        elif kind == "ended":
            session.audit("leftovers_ended", **report)

def _run_terminal(session: Session, script: str, env: dict[str, str], args: tuple[str, ...], secrets: tuple[str, ...],
                  on_spawn: Callable[[int], None] | None, confinement: Confinement) -> int:
    from .ptyrun import run_bash_pty
    from .state import StateChannel

    recorder = session.recording.recorder()
    redactors = _redactors(secrets, 1)
    with StateChannel(session.profile, session.report_names) as state:
        result = run_bash_pty(
            state.wrap(script), env, session.cwd, session.recording.output, args=args, pass_fds=state.fds,
            on_input=recorder.input if recorder is not None and session.profile.record_input else None,
            on_resize=session.recording.resized if recorder is not None else None, on_spawn=on_spawn,
            output_filter=redactors[0] if redactors else None, on_idle=session.recording.flush,
            confinement=confinement, pty_modes=session.pty_modes, on_modes=session.on_pty_modes)
        reported = state.collect()
    audit_guard_reports(session, result.reports)
    session.reap_later(result.guard)
    _apply_state(session, reported)
    return result.status

def _apply_state(session: Session, reported: tuple[str | None, dict[str, str | None]]) -> None:
    """Keep `cd` and exports of passed variables for the next line, if they are allowed."""
    cwd, exports = reported
    if cwd and os.path.isdir(cwd) and not session.policy.paths.read_problem(os.path.realpath(cwd)):
        session.cwd = cwd
    from .policy.builtins import LOCALE_VARIABLES, parse_safe_locale, variable_problem

    for name, value in exports.items():
        if name in session.report_names:
            session.reported[name] = value
        elif name in LOCALE_VARIABLES and not parse_safe_locale("" if value is None else value):
            # The report is the line's to forge (`printf 'set:LC_ALL=...\0' >&FD; kill -9 $$`),
            # so it passes the value check `export` does: under a GBK agentsh a forged
            # LC_ALL=C.UTF-8 had the next line's bash read UTF-8 and planted a hook.
            continue
        elif not variable_problem(name, session.profile):
            session.exports[name] = value


def _redactors(secrets: tuple[str, ...], count: int) -> list[Any]:
    """One streaming redactor per output stream, or none when nothing is secret."""
    if not secrets:
        return []
    from .redact import Redactor

    return [Redactor([s.encode() for s in secrets]) for _ in range(count)]
