"""Start an approved line's bash inside its confinement: traced by the exec guard,
restricted by Landlock and a seccomp filter.

One fork path for pipes and for a PTY, by hand rather than subprocess or
ptyprocess: the guard has to be a forked copy of agentsh (it already holds the
loaded profile, so deciding an exec costs microseconds, not a Python start-up),
and it has to sit between agentsh and bash:

    agentsh ── guard (tracer, process-group / session leader) ── bash ── ...

The guard ignores the job-control and termination signals the group receives, so
Ctrl-C and forwarded signals reach the command, and it exits the way bash did.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import struct
import termios
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from .execcheck import ExecChecker
    from .ruleset import Ruleset

    Landlock = Ruleset | str | None  # a ruleset built before fork, or why it could not be

ChildSetup = Callable[[], None]


class Confinement(NamedTuple):
    """What surrounds one approved line when it runs."""

    checker: ExecChecker | None  # the exec guard's checker; None runs without the guard
    landlock: Any = None  # a landlock plan (guard/landlock.py), or None
    strict: bool = False  # a layer that cannot be set up refuses the line instead of a warning
    seccomp: bool = True
    ruleset: Any = None  # that plan's ruleset, built already (ruleset.take_prebuilt), or None


class Spawned:
    """A started line: `pid` leads its process group (the guard, or bash itself)."""

    def __init__(self, pid: int, master_fd: int = -1, report_fd: int = -1) -> None:
        self.pid = pid
        self.master_fd = master_fd
        self.report_fd = report_fd
        self.status: int | None = None
        self.reports: list[dict[str, Any]] = []
        self._buffer = b""
        self._guard_reaped = False

    def poll(self) -> int | None:
        """The line's wait status if its bash has ended, else None (never blocks)."""
        if self.status is None:
            if self.report_fd >= 0:
                self._read_reports(block=False)
            else:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
                if pid:
                    self.status = status
                    self._guard_reaped = True
        return self.status

    def wait(self) -> int:
        while self.status is None:
            if self.report_fd >= 0:
                self._read_reports(block=True)
            else:
                self.status = _waitpid(self.pid)
                self._guard_reaped = True
        return self.status

    def _read_reports(self, block: bool) -> bool:
        """Read what the guard sent; False when nothing was there (or it has gone)."""
        os.set_blocking(self.report_fd, block)
        try:
            data = os.read(self.report_fd, 65536)
        except (BlockingIOError, InterruptedError):
            return False
        if not data:  # the guard is gone: if it did not tell, its own status stands for the line's
            os.close(self.report_fd)
            self.report_fd = -1
            if self.status is None:
                self.status = _waitpid(self.pid)
                self._guard_reaped = True
            return False
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            try:
                report = json.loads(line)
            except ValueError:
                continue
            if report.get("kind") == "exit":
                self.status = int(report["status"])
            else:
                self.reports.append(report)
        return True

    def drain_reports(self) -> list[dict[str, Any]]:
        """Reports that arrived until now (a guard that goes on with background work may send more)."""
        if self.status is not None:
            while self.report_fd >= 0 and self._read_reports(block=False):
                pass
        out, self.reports = self.reports, []
        return out

    def close(self) -> None:
        """Reap the guard if it has finished; one tracing background work goes on alone."""
        if self.report_fd >= 0:
            os.close(self.report_fd)
            self.report_fd = -1
        if not self._guard_reaped:
            try:
                pid, _ = os.waitpid(self.pid, os.WNOHANG)
                self._guard_reaped = bool(pid)
            except ChildProcessError:
                self._guard_reaped = True

    def unreaped(self) -> int:
        """The guard's PID if close() could not reap it yet (it closes the line's output
        before its own exit is over), else 0."""
        return 0 if self._guard_reaped else self.pid

    def kill(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except OSError:
            pass
        if not self._guard_reaped:
            _waitpid(self.pid)
            self._guard_reaped = True
        if self.status is None:
            self.status = int(signal.SIGKILL)


def _waitpid(pid: int) -> int:
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except InterruptedError:
            continue
        except ChildProcessError:
            return int(signal.SIGKILL)


def spawn(argv: list[str], env: Mapping[str, str], cwd: str, confinement: Confinement, *,
          stdout_fds: tuple[int, int] | None = None, tty_fd: int | None = None,
          pty_size: tuple[int, int] | None = None, pass_fds: tuple[int, ...] = (),
          reset_signals: ChildSetup, pty_modes: list[Any] | None = None) -> Spawned:
    """Fork the line's process tree.

    ``stdout_fds``: write ends to put on fds 1 and 2 (pipes agentsh relays).
    ``tty_fd``: agentsh's terminal, whose foreground the command takes.
    ``pty_size``: (rows, cols) to run on a new PTY instead; Spawned.master_fd is its master.
    ``pty_modes``: termios attributes for that PTY (the interactive shell's own, as bash's
    commands share its terminal), set before the command starts.
    """
    if confinement.checker is not None or confinement.seccomp:
        # Load what the children need here, not after fork: a lock another thread (the
        # credential broker's) holds at fork time would stay held in the child forever.
        from . import ptrace, trace  # noqa: F401

        ptrace.libc()
    master = slave = -1
    if pty_size is not None:
        master, slave = os.openpty()
        set_window_size(master, *pty_size)
        if pty_modes is not None:
            termios.tcsetattr(slave, termios.TCSANOW, pty_modes)
    report_r, report_w = os.pipe() if confinement.checker is not None else (-1, -1)
    landlock = _landlock_ruleset(confinement)
    try:
        pid = os.fork()
    except BaseException:
        _close_ruleset(landlock)
        raise
    if pid == 0:  # never returns
        try:
            if slave >= 0:
                os.close(master)
                os.setsid()
                fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
                for fd in (0, 1, 2):
                    os.dup2(slave, fd)
                if slave > 2:
                    os.close(slave)
            else:
                os.setpgid(0, 0)
                if tty_fd is not None:
                    _take_foreground(tty_fd)
                if stdout_fds is not None:
                    os.dup2(stdout_fds[0], 1)
                    os.dup2(stdout_fds[1], 2)
            os.chdir(cwd)
            keep = sorted({*pass_fds, report_w} - {-1})
            _close_fds_except(keep, private=_ruleset_fds(landlock))
            if confinement.checker is None:
                reset_signals()
                _confine(confinement, landlock)
                os.execve(argv[0], argv, dict(env))
            _guarded_child(argv, dict(env), confinement, landlock, report_w, reset_signals)
        except BaseException as err:  # anything at all here must end the child
            try:
                os.write(2, f"agentsh: cannot run {argv[0]}: {err}\n".encode())
            finally:
                os._exit(126 if isinstance(err, ConfinementError) else 127)
    _close_ruleset(landlock)
    if slave >= 0:
        os.close(slave)
    if report_w >= 0:
        os.close(report_w)
    if slave < 0:  # (a PTY child makes its own session; a group made here first would make setsid fail)
        try:
            os.setpgid(pid, pid)  # also done in the child; whichever runs first wins the race
        except OSError:
            pass
    return Spawned(pid, master, report_r)


class ConfinementError(OSError):
    pass


def _guarded_child(argv: list[str], env: dict[str, str], confinement: Confinement, landlock: Landlock,
                   report_w: int, reset_signals: ChildSetup) -> None:
    from . import ptrace
    from .trace import IGNORED_BY_GUARD, guard_process

    for sig in IGNORED_BY_GUARD:
        signal.signal(sig, signal.SIG_IGN)
    top = os.fork()
    if top == 0:
        try:
            os.close(report_w)
            reset_signals()
            traced = True
            try:
                ptrace.traceme()
            except OSError as err:
                _layer_missing(confinement, f"the exec guard cannot trace this command ({err.strerror})")
                traced = False
            _confine(confinement, landlock, traced)
            os.kill(os.getpid(), signal.SIGSTOP)  # the guard sets its options, then lets us exec
            os.execve(argv[0], argv, env)
        except BaseException as err:
            try:
                os.write(2, f"agentsh: cannot run {argv[0]}: {err}\n".encode())
            finally:
                os._exit(126 if isinstance(err, ConfinementError) else 127)
    _close_ruleset(landlock)  # the command's own; the guard stays outside it
    assert confinement.checker is not None
    guard_process(confinement.checker, top, report_w)


def _landlock_ruleset(confinement: Confinement) -> Landlock:
    """Build the command's ruleset in this process, before fork; a failure is said (or, if
    strict, refuses the command) in the child, as if the child had tried."""
    if confinement.landlock is None:
        return None
    if confinement.ruleset is not None:
        return confinement.ruleset
    from .ruleset import build_ruleset

    try:
        return build_ruleset(confinement.landlock)
    except OSError as err:
        return f"Landlock could not confine this command ({err})"


def _ruleset_fds(landlock: Landlock) -> tuple[int, ...]:
    return (landlock.fd,) if landlock is not None and not isinstance(landlock, str) else ()


def _close_ruleset(landlock: Landlock) -> None:
    for fd in _ruleset_fds(landlock):
        os.close(fd)


def _confine(confinement: Confinement, landlock: Landlock, traced: bool = False) -> None:
    """Landlock, then the seccomp filter (which sets no_new_privs), in the command's first process.
    `traced`: the exec guard traces it, and decides its file-metadata calls."""
    if isinstance(landlock, str):
        _layer_missing(confinement, landlock)
    elif landlock is not None:
        from .ruleset import enforce

        try:
            enforce(landlock)
        except OSError as err:
            _layer_missing(confinement, f"Landlock could not confine this command ({err})")
    if confinement.seccomp:
        from .ptrace import install_filter

        try:
            install_filter(traced)
        except OSError as err:
            _layer_missing(confinement, f"the seccomp filter could not be installed ({err})")


def _layer_missing(confinement: Confinement, what: str) -> None:
    if confinement.strict:
        raise ConfinementError(f"{what}; the profile is strict, so nothing runs")
    os.write(2, f"agentsh: warning: {what}; running without it\n".encode())


def _close_fds_except(keep: list[int], private: tuple[int, ...] = ()) -> None:
    """Close every descriptor above 2 but `keep` (made inheritable) and `private` (left
    close-on-exec: this process's own, never the command's)."""
    low = 3
    for fd in sorted({*keep, *private}):
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
    os.closerange(low, 1 << 20)
    for fd in keep:
        if fd > 2:
            os.set_inheritable(fd, True)


def _take_foreground(fd: int) -> None:
    old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(fd, os.getpgrp())
    except OSError:
        pass
    finally:
        signal.signal(signal.SIGTTOU, old)


def set_window_size(master_fd: int, rows: int, cols: int) -> None:
    try:
        fcntl.ioctl(master_fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    except OSError as err:
        if err.errno != errno.EINVAL:
            raise
