"""Runner stage: run an approved line under bash with an environment rebuilt from the profile.

Behaves like `bash -c`: stdout and stderr stay separate, stdin is passed through,
the exit status is faithful (128+N on a signal), and SIGINT/SIGTERM/SIGHUP/SIGQUIT
sent to agentsh reach the command's process group.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
from collections.abc import Callable, Iterable, Mapping
from fnmatch import fnmatchcase
from typing import Any, NamedTuple

from .guard.spawn import Confinement, spawn
from .policy import Decision
from .policy.builtins import LOCALE_VARIABLES, parse_safe_locale
from .profile import Profile
from .stream import Filter, Sink, relay_pipes

BASH = "/bin/bash"
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def build_environment(profile: Profile, inherited: Mapping[str, str], cwd: str) -> dict[str, str]:
    """The command's environment: only what the profile passes or sets, nothing else."""
    env: dict[str, str] = {}
    patterns = [p for p in profile.env_pass if any(c in p for c in "*?[")]
    for name, value in inherited.items():
        if name in profile.env_pass or any(fnmatchcase(name, p) for p in patterns):
            env[name] = value
    env.update(dict(profile.env_set))
    env["PATH"] = ":".join(profile.path)
    env["PWD"] = cwd
    if sys.getfilesystemencoding() == "utf-8":
        # agentsh decoded and checked the line as UTF-8 (in Python's UTF-8 mode, even under a
        # GBK locale): bash must not read it in a charset that hides a backslash (builtins.py).
        for name in LOCALE_VARIABLES:
            if name in env and not parse_safe_locale(env[name]):
                del env[name]
    return env


def bash_script(decision: Decision, extra_pins: Iterable[tuple[str, str]] = ()) -> str:
    """The line as bash will run it, with every checked program pinned by `hash -p`.

    Pinning means a file that appears earlier on PATH between the check and the
    exec cannot take the checked program's place.  The pins share the first line
    so bash's line numbers in messages still match the agent's line.
    """
    pins = "".join(f"hash -p {shlex.quote(path)} {shlex.quote(name)};"
                   for name, path in [*decision.pins, *extra_pins])  # later pins win
    return pins + decision.line


class RunResult(NamedTuple):
    status: int
    signal: int = 0
    reports: tuple[dict[str, Any], ...] = ()  # what the exec guard saw: refused execs, ended leftovers
    guard: int = 0  # the guard's PID while it still exits (or traces background work): reap it later


def bash_argv(script: str, args: tuple[str, ...] = ()) -> list[str]:
    return [BASH, "--noprofile", "--norc", "-c", script, *args]


UNCONFINED = Confinement(checker=None, seccomp=False)


def run_bash(script: str, env: Mapping[str, str], cwd: str, args: tuple[str, ...] = (),
             sink: Sink | None = None, on_spawn: Callable[[int], None] | None = None,
             filters: dict[int, Filter] | None = None, on_idle: Callable[[], None] | None = None,
             confinement: Confinement = UNCONFINED) -> RunResult:
    """Run the script in its own process group; forward signals; return bash-style status.

    With a ``sink``, stdout and stderr go through pipes that agentsh relays (and
    the sink sees every byte); without one the command writes to agentsh's own
    stdout and stderr.  fork/exec by hand rather than subprocess: this is on
    every command's path and subprocess costs milliseconds to import.
    """
    tty_fd = _foreground_tty()
    pipes = [os.pipe(), os.pipe()] if sink is not None else []
    child = spawn(bash_argv(script, args), env, cwd, confinement, tty_fd=tty_fd, reset_signals=reset_signals,
                  stdout_fds=(pipes[0][1], pipes[1][1]) if pipes else None)
    for _read_end, write_end in pipes:
        os.close(write_end)
    pid = child.pid
    if on_spawn is not None:
        on_spawn(pid)
    if tty_fd is not None:
        _set_foreground(tty_fd, pid)

    def forward(signum: int, _frame: object) -> None:
        try:
            os.killpg(pid, signum)
        except ProcessLookupError:
            pass

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        if sink is not None:
            # filters are keyed 0 (stdout) and 1 (stderr); the relay keys them by read fd
            relay_pipes({pipes[0][0]: 1, pipes[1][0]: 2}, sink,
                        {pipes[i][0]: f for i, f in (filters or {}).items()}, on_idle)
        status = child.wait()
    except BaseException:
        child.kill()  # a failing relay (say, the recording) must not leave it running
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if tty_fd is not None:
            _set_foreground(tty_fd, os.getpgrp())
    reports = tuple(child.drain_reports())
    child.close()
    return result_of(status)._replace(reports=reports, guard=child.unreaped())


def result_of(wait_status: int) -> RunResult:
    code = os.waitstatus_to_exitcode(wait_status)
    if code < 0:
        return RunResult(status=128 - code, signal=-code)
    return RunResult(status=code)


def reset_signals() -> None:
    """Python ignores SIGPIPE and SIGXFSZ; a command must get the defaults, or
    `yes | head -1` would never end."""
    for sig in (*FORWARDED, signal.SIGPIPE, signal.SIGXFSZ, signal.SIGTTOU, signal.SIGWINCH):
        signal.signal(sig, signal.SIG_DFL)


def _foreground_tty() -> int | None:
    """stdin's terminal fd if agentsh is in that terminal's foreground process group."""
    try:
        if os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp():
            return 0
    except OSError:
        pass
    return None


def _set_foreground(fd: int, pgrp: int) -> None:
    old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(fd, pgrp)
    except OSError:
        pass
    finally:
        signal.signal(signal.SIGTTOU, old)
