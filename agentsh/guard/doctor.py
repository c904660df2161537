"""`agentsh doctor`: which protection layers work on this host, and why any does not.

Every check is a probe of the real thing where one is cheap (a traced child through fork
and exec, no_new_privs in a child, the Landlock ABI, the keyring backend), never a guess
from the kernel version.  The profile says which layers it needs: TCP rules only when it
restricts the network, the keyring only when a rule injects credentials, the recording
directory only with `record.required`.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
from collections.abc import Mapping
from typing import Any, NamedTuple

from ..profile import Profile
from . import landlock, ruleset

EXEC_TIME_LAYERS = ("exec guard", "landlock", "network", "no_new_privs")

_YAMA = "/proc/sys/kernel/yama/ptrace_scope"
_YAMA_MEANING = {0: "classic", 1: "restricted to descendants", 2: "admin only (CAP_SYS_PTRACE)",
                 3: "no ptrace at all"}


class Check(NamedTuple):
    layer: str
    active: bool
    needed: bool
    detail: str


class Report(NamedTuple):
    profile: str
    source: str
    strict: bool
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        """Every layer the profile needs is active."""
        return all(check.active for check in self.checks if check.needed)

    @property
    def missing_exec_time(self) -> tuple[str, ...]:
        return tuple(c.layer for c in self.checks if c.layer in EXEC_TIME_LAYERS and c.needed and not c.active)

    @property
    def would_refuse(self) -> bool:
        """`strict: true` and an exec-time layer is missing: agentsh refuses every command."""
        return self.strict and bool(self.missing_exec_time)

    def to_dict(self) -> dict[str, Any]:
        return {"profile": self.profile, "source": self.source, "ok": self.ok, "strict": self.strict,
                "would_refuse": self.would_refuse,
                "layers": [check._asdict() for check in self.checks]}


def diagnose(profile: Profile, environ: Mapping[str, str]) -> Report:
    status = landlock.status()
    checks = [
        Check("static check", True, True, "always on: every line is parsed and each command checked before it runs"),
        probe_exec_guard(),
        _landlock_check(status),
        _network_check(status, profile),
        probe_no_new_privs(),
        _keyring_check(profile),
        _recording_check(profile, environ),
        _audit_check(profile, environ),
        *([_syslog_check()] if profile.audit_syslog else []),
        warm_server_check(environ),
    ]
    return Report(profile.name, profile.source, profile.strict, tuple(checks))


# -- exec guard ---------------------------------------------------------------------------
def probe_exec_guard() -> Check:
    """Trace a child through PTRACE_TRACEME, a stop, the guard's options and an exec, as
    the exec guard does for every command."""
    notes = [_yama_note(), _tracer_note(), _seccomp_note()]
    detail = "; ".join(note for note in notes if note)
    problem = _trace_a_child()
    if problem:
        return Check("exec guard", False, True, f"ptrace does not work here: {problem}; {detail}")
    return Check("exec guard", True, True, f"ptrace traced a test child through its exec; {detail}")


def _trace_a_child() -> str:
    """"" when a traced child stopped at its exec and finished; else what went wrong.
    The same calls, with the same options, as the exec guard (guard/ptrace.py)."""
    from . import ptrace

    program = shutil.which("true") or "/bin/true"
    ptrace.libc()  # loaded here, not in the forked child
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            try:
                ptrace.traceme()
            except OSError as err:
                code = 100 + (err.errno or 0) % 100
            else:
                os.kill(os.getpid(), signal.SIGSTOP)
                os.execv(program, [program])
        finally:
            os._exit(code)
    try:
        _, status = os.waitpid(pid, 0)
        if os.WIFEXITED(status):
            code = os.WEXITSTATUS(status)
            return f"PTRACE_TRACEME failed: {os.strerror(code - 100)}" if code >= 100 else "the child did not stop"
        try:
            ptrace.set_options(pid)
        except OSError as err:
            return f"PTRACE_SETOPTIONS failed: {err.strerror}"
        ptrace.cont(pid)
        _, status = os.waitpid(pid, 0)
        if not (os.WIFSTOPPED(status) and status >> 8 == signal.SIGTRAP | ptrace.EVENT_EXEC << 8):
            return "no exec stop was reported"
        ptrace.cont(pid)
        _, status = os.waitpid(pid, 0)
        if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
            return "the traced child did not finish normally"
        pid = 0
        return ""
    finally:
        if pid:
            _kill_and_reap(pid)


def _kill_and_reap(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def _yama_note() -> str:
    try:
        with open(_YAMA) as handle:
            scope = int(handle.read().strip())
    except (OSError, ValueError):
        return "no Yama ptrace_scope"
    return f"Yama ptrace_scope {scope} ({_YAMA_MEANING.get(scope, 'unknown')})"


def _status_field(name: str) -> str:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(name + ":"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def _tracer_note() -> str:
    tracer = _status_field("TracerPid")
    if tracer and tracer != "0":
        return (f"agentsh itself is traced by pid {tracer} (a debugger, strace, or an outer agentsh): "
                "commands it starts may not be traceable again")
    return "agentsh is not traced"


def _seccomp_note() -> str:
    return "seccomp filters available" if _status_field("Seccomp") else "no seccomp in this kernel"


# -- Landlock -----------------------------------------------------------------------------
def _landlock_check(status: landlock.LandlockStatus) -> Check:
    if status.abi < 1:
        return Check("landlock", False, True, status.reason)
    features = ", ".join(what for abi, what in landlock.FEATURES if abi <= status.abi)
    return Check("landlock", True, True, f"ABI {status.abi}: {features}")


def _network_check(status: landlock.LandlockStatus, profile: Profile) -> Check:
    needed = profile.network_connect is not None or profile.network_bind is not None
    wanted = f"profile: connect {_ports(profile.network_connect)}, bind {_ports(profile.network_bind)}"
    if status.abi >= 4:
        return Check("network", True, needed, f"Landlock restricts TCP connect and bind ports; {wanted}")
    why = status.reason if status.abi < 1 else f"Landlock ABI {status.abi} has no TCP rules (needs 4, Linux 6.7)"
    return Check("network", False, needed, f"{why}; {wanted}")


def _ports(ports: tuple[int, ...] | None) -> str:
    if ports is None:
        return "any"
    return ",".join(map(str, ports)) if ports else "none"


def probe_no_new_privs() -> Check:
    """Set no_new_privs in a child (as restrict_self does) and report whether it worked."""
    inherited = ruleset.no_new_privs()
    lib = ctypes.CDLL(None, use_errno=True)
    pid = os.fork()
    if pid == 0:
        ok = lib.prctl(ctypes.c_int(landlock.PR_SET_NO_NEW_PRIVS), ctypes.c_ulong(1), ctypes.c_ulong(0),
                       ctypes.c_ulong(0), ctypes.c_ulong(0)) == 0
        os._exit(0 if ok else 100 + ctypes.get_errno() % 100)
    _, status = os.waitpid(pid, 0)
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1
    note = " (agentsh already runs with it, inherited from its parent)" if inherited else ""
    if code == 0:
        return Check("no_new_privs", True, True, f"can be set for commands: setuid programs gain nothing{note}")
    return Check("no_new_privs", False, True, f"prctl(PR_SET_NO_NEW_PRIVS) failed: {os.strerror(max(code - 100, 0))}")


# -- state the session needs ------------------------------------------------------------
def _keyring_check(profile: Profile) -> Check:
    users = [rule.name for rule in profile.rules if rule.credentials]
    needed = bool(users) or profile.audit_keyring
    why = (f"rules {', '.join(users)} inject credentials" if users else "") + \
          ("; audit.keyring is on" if profile.audit_keyring else "")
    why = why.lstrip("; ") or "the profile injects no credentials"
    from ..credentials.store import CredentialError, backend_name  # imports keyring: only here

    try:
        return Check("keyring", True, needed, f"backend {backend_name()}; {why}")
    except CredentialError as err:
        return Check("keyring", False, needed, f"{err}; {why}")


def _recording_check(profile: Profile, environ: Mapping[str, str]) -> Check:
    from ..record.asciicast import default_directory

    directory = profile.record_dir or default_directory(environ)
    needed = profile.record_required
    problem = _not_writable(directory, directory=True)
    mode = "record.required: commands are refused without it" if needed else "record.required is off"
    if problem:
        return Check("recording", False, needed, f"{directory}: {problem}; {mode}")
    return Check("recording", True, needed, f"{directory} is writable; {mode}")


def _audit_check(profile: Profile, environ: Mapping[str, str]) -> Check:
    from ..audit.log import default_path

    path = profile.audit_file or default_path(environ)
    problem = _not_writable(path, directory=False)
    if problem:
        return Check("audit trail", False, True, f"{path}: {problem}; every command is refused without it")
    return Check("audit trail", True, True, f"{path} is writable")


def _syslog_check(address: str = "/dev/log") -> Check:
    """`audit.syslog: true`: whether the syslog socket takes events (forwarding is best
    effort: the log file is the record, so it is never needed)."""
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(address)
        except OSError as err:
            return Check("syslog forwarding", False, False, f"{address}: {err.strerror}: audit events stay in the "
                         "log file only (start the host's syslog daemon)")
    return Check("syslog forwarding", True, False, f"{address} takes audit events")


def warm_server_check(environ: Mapping[str, str]) -> Check:
    """Whether `agentsh -c` here can be served by a warm server (a speed feature, not a
    protection layer: never needed), and whether one is running for this interpreter."""
    from ..warm.wire import DISABLE_VARIABLE, live_server, peer_pidfd_supported, server_key, socket_path

    if environ.get(DISABLE_VARIABLE) == "0":
        return Check("warm server", False, False, f"{DISABLE_VARIABLE}=0: every line runs in its own agentsh process")
    if not peer_pidfd_supported():
        return Check("warm server", False, False, "no SO_PEERPIDFD (Linux < 6.5): a server could not "
                     "tell who calls it, so lines run in their own agentsh process")
    path = socket_path(dict(environ), server_key(dict(environ)))
    if path is None:
        return Check("warm server", False, False, "no private socket directory (XDG_RUNTIME_DIR/agentsh or "
                     f"/tmp/agentsh-{os.getuid()}, mode 0700, this user's): lines run in their own process")
    pid = live_server(path[: -len(".sock")] + ".lock")
    running = f"running (PID {pid})" if pid is not None else "not running; the next `agentsh -c` starts it"
    return Check("warm server", True, False, f"{running}, at {path}; plain `agentsh -c` lines without a "
                 "terminal run in its pre-imported workers")


def _not_writable(path: str, *, directory: bool) -> str:
    """Why `path` (a directory, or a file) cannot be written or created; "" if it can.
    Nothing is created: the nearest existing ancestor is checked instead."""
    if os.path.lexists(path):
        if directory != os.path.isdir(path):
            return "is a directory" if os.path.isdir(path) else "is not a directory"
        wanted = os.W_OK | os.X_OK if directory else os.W_OK
        return "" if os.access(path, wanted) else "not writable by this user (or on a read-only file system)"
    parent = os.path.dirname(path.rstrip("/")) or "/"
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        return f"{parent} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"does not exist and {parent} is not writable"
    return ""


# -- output ---------------------------------------------------------------------------------
def render(report: Report) -> str:
    lines = [f"profile: {report.profile} ({report.source})"]
    for check in report.checks:
        mark = "ok" if check.active else "MISSING" if check.needed else "off"
        need = "" if check.needed else " (not needed by this profile)"
        lines.append(f"  {mark:<8} {check.layer:<13} {check.detail}{need}")
    missing = report.missing_exec_time
    if report.strict:
        lines.append("strict: true: " + (f"agentsh would refuse to run commands ({', '.join(missing)} unavailable)"
                                         if missing else "every exec-time layer is active; commands run"))
    else:
        lines.append("strict: false: " + (f"commands would run without {', '.join(missing)} (agentsh warns once)"
                                          if missing else "every exec-time layer is active"))
    lines.append("result: " + ("ok, every layer this profile needs is active" if report.ok
                               else "some layer this profile needs is missing"))
    return "\n".join(lines) + "\n"
