"""Run an approved line in a pseudo-terminal, for the interactive shell and for
`agentsh -c` called from a terminal: the command sees a real TTY (colours, full-screen
programs, Ctrl-C), and agentsh relays and records everything in between."""

from __future__ import annotations

import contextlib
import os
import signal
import termios
from collections.abc import Callable, Mapping
from typing import Any

from .guard.spawn import Confinement, set_window_size, spawn
from .run import FORWARDED, UNCONFINED, RunResult, bash_argv, reset_signals, result_of
from .stream import Filter, PtyRelay, Sink
from .terminal import raw_terminal, terminal_size


def run_bash_pty(script: str, env: Mapping[str, str], cwd: str, sink: Sink, *,
                 args: tuple[str, ...] = (), **options: Any) -> RunResult:
    """Run the script under bash on a new PTY (see run_pty for the options)."""
    return run_pty(bash_argv(script, args), env, cwd, sink, **options)


def run_pty(argv: list[str], env: Mapping[str, str], cwd: str, sink: Sink, *,
            pass_fds: tuple[int, ...] = (),
            on_input: Sink | None = None,
            on_resize: Callable[[int, int], None] | None = None,
            on_spawn: Callable[[int], None] | None = None,
            output_filter: Filter | None = None, on_idle: Callable[[], None] | None = None,
            confinement: Confinement = UNCONFINED, pty_modes: list[Any] | None = None,
            on_modes: Callable[[list[Any]], None] | None = None) -> RunResult:
    """Run argv on a new PTY whose size follows agentsh's own terminal.

    ``pty_modes``: the PTY's termios attributes to start with; ``on_modes`` is told the
    attributes the command left it with (the interactive shell keeps `stty -echo`)."""
    stdin_is_tty = os.isatty(0)
    relay = PtyRelay(-1, sink, stdin_fd=0, stdout_fd=1, on_input=on_input, output_filter=output_filter,
                     on_idle=on_idle)
    previous_winch = signal.signal(signal.SIGWINCH, relay.note_resize)  # before reading the size
    size = terminal_size(0 if stdin_is_tty else 1)
    try:
        child = spawn(argv, env, cwd, confinement, pty_size=size, pass_fds=pass_fds,
                      reset_signals=reset_signals, pty_modes=pty_modes)
    except BaseException:
        signal.signal(signal.SIGWINCH, previous_winch)
        raise
    relay.master_fd = child.master_fd
    if on_spawn is not None:
        on_spawn(child.pid)

    def forward(signum: int, _frame: object) -> None:
        try:
            os.killpg(child.pid, signum)
        except ProcessLookupError:
            pass

    def resized() -> None:
        rows, cols = terminal_size(0 if stdin_is_tty else 1)
        set_window_size(child.master_fd, rows, cols)
        if on_resize is not None:
            on_resize(cols, rows)

    relay.on_resize = resized

    def typed(data: bytes) -> None:
        if on_input is not None:
            on_input(data)
        if b"\x03" in data:
            # Ctrl-C's SIGINT waits, pending, on a stopped command (`kill -STOP $$`): no job
            # control brings it back, so the line hung for good. Resume it and the SIGINT lands
            # (under the exec guard the guard resumes stopped processes itself). The relay has
            # written the byte already, so the SIGINT is usually pending before the SIGCONT.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGCONT)

    relay.on_input = typed

    # Ctrl-C normally reaches the command as a byte on its own terminal; a SIGINT that
    # reaches agentsh instead (typed just before raw mode took effect) is passed on.
    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        with raw_terminal():  # keystrokes, Ctrl-C included, go to the command's terminal
            relay.run(lambda: child.poll() is not None)
            status = child.wait()
    except BaseException:
        child.kill()  # a failing relay (say, the recording) must not leave it running
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        signal.signal(signal.SIGWINCH, previous_winch)
        if on_modes is not None:
            with contextlib.suppress(termios.error):
                on_modes(termios.tcgetattr(child.master_fd))
        os.close(child.master_fd)
    reports = tuple(child.drain_reports())
    child.close()
    return result_of(status)._replace(reports=reports, guard=child.unreaped())
