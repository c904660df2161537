"""Run an approved line in a pseudo-terminal, for the interactive shell and for
`agentsh -c` called from a terminal: the command sees a real TTY (colours, full-screen
programs, Ctrl-C), and agentsh relays and records everything in between."""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import termios
import tty
from collections.abc import Callable, Mapping

from .run import FORWARDED, RunResult, bash_argv, reset_signals, result_of
from .stream import PtyRelay, Sink

DEFAULT_SIZE = (24, 80)


def terminal_size(fd: int) -> tuple[int, int]:
    """(rows, cols) of a terminal, or 24x80 when fd is not one."""
    try:
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return DEFAULT_SIZE
    return (rows or DEFAULT_SIZE[0], cols or DEFAULT_SIZE[1])


def run_bash_pty(script: str, env: Mapping[str, str], cwd: str, sink: Sink, *,
                 args: tuple[str, ...] = (), pass_fds: tuple[int, ...] = (),
                 on_input: Sink | None = None,
                 on_resize: Callable[[int, int], None] | None = None) -> RunResult:
    """Run the script on a new PTY whose size follows agentsh's own terminal."""
    from ptyprocess import PtyProcess

    stdin_is_tty = os.isatty(0)
    size = terminal_size(0 if stdin_is_tty else 1)
    child = PtyProcess.spawn(bash_argv(script, args), cwd=cwd, env=dict(env), dimensions=size,
                             pass_fds=pass_fds, preexec_fn=reset_signals)

    def forward(signum: int, _frame: object) -> None:
        try:
            os.killpg(child.pid, signum)
        except ProcessLookupError:
            pass

    def resized() -> None:
        rows, cols = terminal_size(0 if stdin_is_tty else 1)
        child.setwinsize(rows, cols)
        if on_resize is not None:
            on_resize(cols, rows)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED
                if sig != signal.SIGINT or not stdin_is_tty}
    saved = termios.tcgetattr(0) if stdin_is_tty else None
    statuses: list[int] = []

    def reaped() -> bool:
        if not statuses:
            pid, status = os.waitpid(child.pid, os.WNOHANG)
            if pid:
                statuses.append(status)
        return bool(statuses)

    try:
        if saved is not None:
            tty.setraw(0)  # keystrokes, Ctrl-C included, go to the command's terminal
        PtyRelay(child.fd, sink, stdin_fd=0, stdout_fd=1, on_input=on_input, on_resize=resized).run(reaped)
        if not statuses:
            statuses.append(os.waitpid(child.pid, 0)[1])
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        # We reaped the child ourselves; tell ptyprocess so it neither waits nor sleeps.
        child.terminated = True
        child.fileobj.close()
        child.closed = True
    return result_of(statuses[0])
