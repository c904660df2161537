"""Run an approved line in a pseudo-terminal, for the interactive shell and for
`agentsh -c` called from a terminal: the command sees a real TTY (colours, full-screen
programs, Ctrl-C), and agentsh relays and records everything in between."""

from __future__ import annotations

import os
import signal
import termios
import tty
from collections.abc import Callable, Mapping

from .run import FORWARDED, RunResult, bash_argv, kill_and_reap, reset_signals, result_of
from .stream import Filter, PtyRelay, Sink
from .terminal import terminal_size


def run_bash_pty(script: str, env: Mapping[str, str], cwd: str, sink: Sink, *,
                 args: tuple[str, ...] = (), pass_fds: tuple[int, ...] = (),
                 on_input: Sink | None = None,
                 on_resize: Callable[[int, int], None] | None = None,
                 on_spawn: Callable[[int], None] | None = None,
                 output_filter: Filter | None = None, on_idle: Callable[[], None] | None = None) -> RunResult:
    """Run the script on a new PTY whose size follows agentsh's own terminal."""
    from ptyprocess import PtyProcess

    stdin_is_tty = os.isatty(0)
    relay = PtyRelay(-1, sink, stdin_fd=0, stdout_fd=1, on_input=on_input, output_filter=output_filter,
                     on_idle=on_idle)
    previous_winch = signal.signal(signal.SIGWINCH, relay.note_resize)  # before reading the size
    size = terminal_size(0 if stdin_is_tty else 1)
    try:
        child = PtyProcess.spawn(bash_argv(script, args), cwd=cwd, env=dict(env), dimensions=size,
                                 pass_fds=pass_fds, preexec_fn=reset_signals)
    except BaseException:
        signal.signal(signal.SIGWINCH, previous_winch)
        raise
    relay.master_fd = child.fd
    if on_spawn is not None:
        on_spawn(child.pid)

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

    relay.on_resize = resized

    # Ctrl-C normally reaches the command as a byte on its own terminal; a SIGINT that
    # reaches agentsh instead (typed just before raw mode took effect) is passed on.
    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
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
        relay.run(reaped)
        if not statuses:
            statuses.append(os.waitpid(child.pid, 0)[1])
    except BaseException:
        if not statuses:
            kill_and_reap(child.pid)  # a failing relay (say, the recording) must not leave it running
        raise
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        signal.signal(signal.SIGWINCH, previous_winch)
        # We reaped the child ourselves; tell ptyprocess so it neither waits nor sleeps.
        child.terminated = True
        child.fileobj.close()
        child.closed = True
    return result_of(statuses[0])
