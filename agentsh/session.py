"""Session: one profile view, one recording, and one call, `run_line`, for every frontend.

Frontends (`agentsh -c`, the interactive shell, the login shell) only adapt I/O
to it.  Its inputs and outputs are plain data so it can later live in another
process behind a socket.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO

from .errors import EXIT_DENIED, ConfigError
from .policy import Decision, Policy
from .profile import Host, Profile
from .trail import decision_fields

if TYPE_CHECKING:
    from .reload import ProfileWatcher
    from .warm.worker import WarmLine

SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class SessionConfig(NamedTuple):
    profile: str | None  # -p value: a path or a name; None for the embedded default
    environ: Mapping[str, str]
    cwd: str
    terminal: bool = False  # run commands on a PTY (agentsh's own stdin/stdout are a terminal)
    title_command: str = "agentsh"  # what the recording header says was run


def load_policy(spec: str | None, host: Host) -> Policy:
    """Load a profile, from the per-user cache when it is still valid and trustworthy;
    otherwise from YAML, refusing it if its own `tests:` fail."""
    from .profile import cache
    from .profile.load import build_profile, effective_sha256, find_profile, load_sources

    path = find_profile(spec, host)
    if host.cache_dir:
        hit = cache.read(host.cache_dir, path, host)
        if hit is not None:
            return Policy(build_profile(hit.merged, hit.files, host, hit.sha256), host)
    absent: list[str] = []
    merged, files = load_sources(path, absent)
    profile = build_profile(merged, files, host, effective_sha256(merged))
    policy = Policy(profile, host)
    failures = policy.self_test()
    if failures:
        # The examples are decided as if run here: in a directory the profile may not read,
        # they fail for that reason alone, which is what the caller needs to hear first.
        unreadable = policy.paths.read_problem(os.path.realpath(host.cwd))
        if unreadable:
            failures.insert(0, f"the working directory {host.cwd} is not readable under this profile "
                               f"({unreadable}), and the profile's tests are decided as if run there")
        raise ConfigError("profile self-test failed:\n  " + "\n  ".join(failures), file=profile.source)
    if host.cache_dir:
        cache.write(host.cache_dir, path, host, merged, files, profile.sha256, absent)
    return policy


class Session:
    def __init__(self, config: SessionConfig, stderr: TextIO | None = None) -> None:
        self.config = config
        self.host = Host.from_environ(config.environ, config.cwd)
        self.policy = load_policy(config.profile, self.host)
        self.stderr = stderr or sys.stderr
        self.cwd = config.cwd
        # Values of passed variables the agent exported in earlier interactive lines.
        self.exports: dict[str, str | None] = {}
        given = config.environ.get("AGENTSH_SESSION", "")
        self.session_id = given if SESSION_ID.fullmatch(given) else new_session_id()
        self.user = user_name()
        self._commands = 0
        self._live = ""  # this process's entry in the live-session registry
        self._watcher: ProfileWatcher | None = None
        self.revoked = ""  # why every command is refused (the profile was deleted), or ""
        self.dropped: list[str] = []  # names of inherited credentials removed at start
        self.owns_session = not SESSION_ID.fullmatch(given)  # not joined through AGENTSH_SESSION
        # Set by bash-style frontends: -e/-u/-x letters; bash's text around the checked line (an
        # agent's plumbing, see adapters/wrappers.py); extra fields for the `line` audit event;
        # a call with each command id (links an outer recording, see adapters/launch.py).
        self.shell_options = ""
        self.plumbing: Callable[[str], str] | None = None
        self.line_context: dict[str, Any] = {}
        self.on_line: Callable[[str], None] | None = None
        # Shell variables (not environment) whose values an interactive frontend wants back
        # from the next line, and what that line reported for them (None: unset).
        self.report_names: tuple[str, ...] = ()
        self.reported: dict[str, str | None] = {}
        # The interactive shell's terminal modes for a command's PTY, and who hears the modes it left.
        self.pty_modes: list[Any] | None = None
        self.on_pty_modes: Callable[[list[Any]], None] | None = None
        self.warm: WarmLine | None = None  # set when a warm server's worker runs this session's line
        self._guards: list[int] = []  # exec guards of earlier lines not reaped yet (see reap_later)
        from .record.session import SessionRecording
        from .trail import Trail, identity

        self.recording = SessionRecording(
            lambda: self.profile, config.environ, self.session_id, self.user, config.title_command, self.stderr)
        self.trail = Trail(config.environ, self.profile, self.session_id, identity(config.environ, self.user),
                           warnings=self.stderr)
        self._begun = False

    @property
    def profile(self) -> Profile:
        return self.policy.profile

    # -- live profile reload -------------------------------------------------------------
    def watch_profile(self) -> None:
        """Follow edits of the profile's files (interactive sessions live long enough to need it)."""
        from .reload import ProfileWatcher

        self._watcher = ProfileWatcher(self.profile.paths)

    def refresh(self) -> str:
        """Apply profile edits before the next line; a message for the agent, '' if none.

        A broken edit keeps the last good profile; a deleted profile refuses every
        command until it is back (fail closed).
        """
        if self._watcher is None or not self._watcher.changed():
            return ""
        before = self.profile
        try:
            policy = load_policy(self.config.profile, self.host)
        except ConfigError as err:
            if not os.path.exists(before.paths[-1]):
                self.revoked = f"the profile {before.source} was deleted; every command is refused until it returns"
                self.audit("reload", outcome="deleted", profile=before.source, old_sha256=before.sha256)
                return f"agentsh: {self.revoked}\n"
            self.audit("error", what="profile reload", profile=before.source, error=str(err),
                        kept_sha256=before.sha256)
            return f"agentsh: the profile edit was rejected; keeping the last good profile: {err}\n"
        self.revoked = ""
        self.policy = policy
        self._watcher.watch(policy.profile.paths)
        if policy.profile.sha256 == before.sha256:
            return ""
        self.audit("reload", outcome="applied", profile=policy.profile.source, old_sha256=before.sha256,
                    new_sha256=policy.profile.sha256)
        return (f"agentsh: profile {policy.profile.name} reloaded "
                f"({before.sha256[:12]} -> {policy.profile.sha256[:12]})\n")

    def begin(self) -> None:
        """The session_start event (written once, before the first line); listed as live."""
        if self._begun:
            return
        self._begun = True
        from .live import live_dir, register

        try:
            from .audit.log import default_path

            # where `agentsh kill` records ending it: this session's own log, with its key
            audit = {"file": self.profile.audit_file or default_path(self.config.environ),
                     "keyring": self.profile.audit_keyring, "syslog": self.profile.audit_syslog}
            self._live = register(live_dir(self.config.environ), self.session_id,
                                  {"user": self.user, "profile": self.profile.name, "command": self.config.title_command,
                                   "audit": audit})
        except OSError:
            self._live = ""  # listing is a convenience; the audit trail is the record
        if self.owns_session:
            self.trail.write("session_start", profile=self.profile.source, profile_sha256=self.profile.sha256,
                             dropped_env=self.dropped, cwd=self.cwd, command=self.config.title_command,
                             recording=self.recording.path)

    @property
    def killed(self) -> bool:
        """Did an operator end this session with `agentsh kill`?"""
        from .live import killed

        return bool(self._live) and killed(self._live)

    def reap_later(self, guard: int) -> None:
        """A line's guard that was still exiting when the line ended (or still traces its
        background work) is reaped at a later line or at close, never waited for: a
        session of many lines must not keep one zombie per line."""
        if guard:
            self._guards.append(guard)
        self._reap_guards()

    def _reap_guards(self) -> None:
        """Reap the guards of earlier lines that have exited by now."""
        kept = []
        for pid in self._guards:
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == 0:
                    kept.append(pid)
            except ChildProcessError:
                pass
        self._guards = kept

    def close(self, status: int | None = None) -> None:
        self._reap_guards()
        if self._live:
            from .live import unregister

            unregister(self._live)
            self._live = ""
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        if self._begun and self.owns_session:
            try:
                self.trail.write("session_end", status=status, commands=self._commands)
            except Exception as err:  # the session is over: say so, do not crash
                self.stderr.write(f"agentsh: cannot write the audit trail: {err}\n")
        self.trail.close()
        self.recording.close()

    # -- lines -----------------------------------------------------------------------
    def decide(self, line: str, args: tuple[str, ...] = ()) -> Decision:
        # the values the line's variables start with are known: `cat "$KUBECONFIG"` is checked
        # as the path it reads
        return self.policy.decide(line, self.cwd, args=args, environment=self.command_environment())

    def command_environment(self) -> dict[str, str]:
        """The environment a line's commands start with: what the profile passes from agentsh's
        own (with the session's exports) or sets (run.build_environment)."""
        from .run import build_environment

        environ = dict(self.config.environ)
        for name, value in self.exports.items():
            if value is None:
                environ.pop(name, None)
            else:
                environ[name] = value
        return build_environment(self.profile, environ, self.cwd)

    def next_command_id(self) -> str:
        self._commands += 1
        return f"{self.session_id}.{int(time.time() * 1000):x}.{os.getpid():x}.{self._commands}"

    def say(self, text: str) -> None:
        """A message for the agent (stderr), recorded like everything it sees."""
        from .record.asciicast import RecordingError

        # A terminal session may be in raw mode (no output processing): end lines with CRLF.
        self.stderr.write(text.replace("\n", "\r\n") if self.config.terminal else text)
        self.stderr.flush()
        try:
            self.recording.output(text.encode("utf-8", "replace"), crlf=True)
        except RecordingError:
            pass  # the next line is refused by recording.problem()

    def run_line(self, line: str, args: tuple[str, ...] = (), echo: bool = True) -> int:
        """Check the line; run it if every command is allowed; return its exit status.

        Nothing runs that is not recorded and audited: a recording or audit trail that
        cannot be written refuses the line.
        """
        from .audit.log import AuditError

        problem = self.recording.problem()
        if problem:
            self.stderr.write(f"agentsh: denied: {problem}\n")
            return EXIT_DENIED
        command_id = self.next_command_id()
        try:
            self.begin()
            self.trail.write("line", command=command_id, line=line, cwd=self.cwd, **self.line_context)
        except AuditError as err:
            self.stderr.write(f"agentsh: denied: cannot write the audit trail: {err}\n")
            return EXIT_DENIED
        if self.recording.marker(command_id) and echo:
            self.recording.output(f"$ {line}\n".encode("utf-8", "replace"), crlf=True)
        if self.on_line is not None:
            self.on_line(command_id)
        if self.revoked:
            self.say(f"agentsh: denied: {self.revoked}\n")
            self.audit("decision", command=command_id, line=line, decision="deny", rule="", reason=self.revoked)
            return EXIT_DENIED
        decision = self.decide(line, args)
        if decision.decision == "ask":
            decision = self._ask(decision, command_id)
        if not self.audit("decision", command=command_id, recording=self.recording.path,
                           **decision_fields(decision, self.profile)):
            return EXIT_DENIED
        if not decision.allowed:
            self.say(denial_message(decision))
            return EXIT_DENIED
        started = time.monotonic()
        from .execute import run_approved

        status, credentials = run_approved(self, decision, args)
        from .record.asciicast import RecordingError

        try:
            self.recording.flush()
        except RecordingError as err:  # the command is over; the next line will be refused
            self.stderr.write(f"agentsh: cannot record the end of this command: {err}\n")
        self.audit("command_end", command=command_id, status=status, credentials=list(credentials),
                    duration=round(time.monotonic() - started, 6), recording=self.recording.path)
        return status

    def audit(self, kind: str, **fields: Any) -> bool:
        """Write an event; on failure tell the agent and return False (the caller refuses)."""
        from .audit.log import AuditError

        try:
            self.trail.write(kind, **fields)
        except AuditError as err:
            self.stderr.write(f"agentsh: denied: cannot write the audit trail: {err}\n")
            return False
        return True

    def _ask(self, decision: Decision, command_id: str) -> Decision:
        """Wait for a person to approve or deny; return the decision to act on."""
        from .approve import request_approval, spool_dir

        deciding = decision.deciding
        assert deciding is not None

        def waiting(request_id: str) -> None:
            self.audit("approval", command=command_id, step="requested", request=request_id, rule=deciding.rule,
                        line=decision.line)
            self.say(f"agentsh: waiting for approval {request_id} (rule {deciding.rule})\n")

        outcome = request_approval(
            spool_dir(self.config.environ),
            {"session": self.session_id, "user": self.user, "line": decision.line, "rule": deciding.rule,
             "command": deciding.command, "cwd": self.cwd, "profile": self.profile.name},
            self.profile.approval_timeout, on_waiting=waiting)
        who = outcome.approver
        self.audit("approval", command=command_id, rule=deciding.rule, approver=who._asdict() if who else None,
                    step="approved" if outcome.approved else ("denied" if who else "timed out"),
                    reason=outcome.reason)
        by = f" by {who.user} (uid {who.uid}{', ' + who.tty if who.tty else ''})" if who else ""
        if outcome.approved:
            self.say(f"agentsh: approved{by}\n")
            return decision._replace(decision="allow", approver=who._asdict() if who else None)
        verdict = deciding._replace(decision="deny", reason=f"not approved{by}: {outcome.reason}")
        return decision._replace(decision="deny", verdicts=(verdict,), approver=who._asdict() if who else None)


def new_session_id() -> str:
    """Sortable and unique: start time plus randomness."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + os.urandom(3).hex()


def denial_message(decision: Decision, limit: int = 5) -> str:
    """`agentsh: denied: <command>: <reason> (rule <name>)` for each refused part, then a hint."""
    lines = []
    hints = []
    for verdict in decision.refused:
        rule = f" (rule {verdict.rule})" if verdict.rule else ""
        reason = verdict.reason
        if verdict.decision == "ask" and reason != "needs approval":
            reason = f"needs approval: {reason}"
        lines.append(f"agentsh: denied: {_short(verdict.command)}: {reason}{rule}\n")
        if verdict.hint and verdict.hint not in hints:
            hints.append(verdict.hint)
    shown = lines[:limit]
    if len(lines) > limit:
        shown.append(f"agentsh: ... and {len(lines) - limit} more\n")
    return "".join(shown) + "".join(f"agentsh: hint: {h}\n" for h in hints[:2])


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 80 else text[:77] + "..."


def user_name() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def session_from_environ(profile: str | None, terminal: bool = False, title_command: str = "agentsh") -> Session:
    """The session of this agentsh process, with inherited credentials cut out of its environment."""
    from .credentials.envcut import cut

    environ = dict(os.environ)
    session = Session(SessionConfig(profile=profile, environ=environ, cwd=_cwd(), terminal=terminal,
                                    title_command=title_command))
    session.dropped = cut(os.environ, session.profile.env_pass)
    for name in session.dropped:
        environ.pop(name, None)
    return session


def _cwd() -> str:
    try:
        return os.getcwd()
    except FileNotFoundError:
        raise ConfigError("the current directory no longer exists") from None
