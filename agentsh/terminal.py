"""agentsh's own terminal: its size, its modes, raw mode (kept apart from the PTY runner,
which is heavier)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import termios
from collections.abc import Iterator
from typing import Any

DEFAULT_SIZE = (24, 80)


def terminal_size(fd: int) -> tuple[int, int]:
    """(rows, cols) of a terminal, or 24x80 when fd is not one."""
    try:
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return DEFAULT_SIZE
    return (rows or DEFAULT_SIZE[0], cols or DEFAULT_SIZE[1])


def terminal_modes() -> list[Any] | None:
    """The termios attributes of agentsh's stdin, None when it is no terminal."""
    try:
        return termios.tcgetattr(0)
    except termios.error:
        return None


def echoing() -> bool:
    """Is the terminal's echo on?  A harness turns it off (`stty -echo`, pexpect echo=False)."""
    try:
        return bool(termios.tcgetattr(0)[3] & termios.ECHO)
    except termios.error:
        return True


@contextlib.contextmanager
def raw_terminal() -> Iterator[None]:
    """stdin in raw mode for the block (keystrokes, Ctrl-C included, pass as bytes), then restored."""
    if not os.isatty(0):
        yield
        return
    import tty  # only for commands on a terminal: not on every `-c` line's path

    saved = termios.tcgetattr(0)
    tty.setraw(0)
    try:
        yield
    finally:
        termios.tcsetattr(0, termios.TCSADRAIN, saved)
