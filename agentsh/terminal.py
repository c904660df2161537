"""The size of agentsh's own terminal (kept apart from the PTY runner, which is heavier)."""

from __future__ import annotations

import fcntl
import struct
import termios

DEFAULT_SIZE = (24, 80)


def terminal_size(fd: int) -> tuple[int, int]:
    """(rows, cols) of a terminal, or 24x80 when fd is not one."""
    try:
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return DEFAULT_SIZE
    return (rows or DEFAULT_SIZE[0], cols or DEFAULT_SIZE[1])
