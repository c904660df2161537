"""Runner stage: run an approved line under bash with an environment rebuilt from the profile.

Behaves like `bash -c`: stdout and stderr stay separate, stdin is passed through,
the exit status is faithful (128+N on a signal), and SIGINT/SIGTERM/SIGHUP/SIGQUIT
sent to agentsh reach the command's process group.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import NamedTuple

from .policy import Decision
from .profile import Profile

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
    return env


def bash_script(decision: Decision) -> str:
    """The line as bash will run it, with every checked program pinned by `hash -p`.

    Pinning means a file that appears earlier on PATH between the check and the
    exec cannot take the checked program's place.  The pins share the first line
    so bash's line numbers in messages still match the agent's line.
    """
    pins = "".join(f"hash -p {shlex.quote(path)} {shlex.quote(name)};" for name, path in decision.pins)
    return pins + decision.line


class RunResult(NamedTuple):
    status: int
    signal: int = 0


def run_bash(script: str, env: Mapping[str, str], cwd: str, args: tuple[str, ...] = ()) -> RunResult:
    """Run the script in its own process group; forward signals; return bash-style status."""
    argv = [BASH, "--noprofile", "--norc", "-c", script, *args]
    tty_fd = _foreground_tty()
    preexec = _take_terminal(tty_fd) if tty_fd is not None else None
    previous = {sig: signal.getsignal(sig) for sig in FORWARDED}
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: object) -> None:
        if child is not None:
            try:
                os.killpg(child.pid, signum)
            except ProcessLookupError:
                pass

    for sig in FORWARDED:
        signal.signal(sig, forward)
    try:
        child = subprocess.Popen(argv, env=dict(env), cwd=cwd, close_fds=True,
                                 preexec_fn=preexec, process_group=None if preexec else 0)
        while True:
            try:
                status = child.wait()
                break
            except InterruptedError:
                continue
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if tty_fd is not None:
            _give_back_terminal(tty_fd)
    if status < 0:
        return RunResult(status=128 - status, signal=-status)
    return RunResult(status=status)


def _foreground_tty() -> int | None:
    """stdin's terminal fd if agentsh is in that terminal's foreground process group."""
    try:
        if os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp():
            return 0
    except OSError:
        pass
    return None


def _take_terminal(fd: int):  # type: ignore[no-untyped-def]
    def preexec() -> None:
        os.setpgid(0, 0)
        old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        try:
            os.tcsetpgrp(fd, os.getpgrp())
        finally:
            signal.signal(signal.SIGTTOU, old)
    return preexec


def _give_back_terminal(fd: int) -> None:
    old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(fd, os.getpgrp())
    except OSError:
        pass
    finally:
        signal.signal(signal.SIGTTOU, old)
