"""Open the files agentsh keeps its evidence in (audit log, head, key, recordings) only
when they are regular files, and check the directory they live in.

Why: a FIFO planted where the audit log goes opens without error for O_RDWR, takes each
event and drops it when the last descriptor closes, so lines ran with their events
written nowhere; for reading (the key, `audit verify`, `agentsh sessions`) it blocks
forever.  O_NONBLOCK makes the open itself return, and fstat refuses anything but a
regular file.  O_NONBLOCK has no effect on reads and writes of a regular file, so the
descriptor is left as it is.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO


def open_regular(path: str, flags: int, mode: int = 0o600, *, own: bool = False) -> int:
    """os.open(path, flags, mode) that refuses (OSError, strerror says why) anything but a
    regular file, and with own=True one that another user owns."""
    fd = os.open(path, flags | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC, mode)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        if own and info.st_uid != os.geteuid():
            raise OSError(errno.EPERM, f"owned by another user (uid {info.st_uid})", path)
    except OSError:
        os.close(fd)
        raise
    return fd


def read_regular(path: str) -> BinaryIO:
    """A regular file opened for reading in binary (a FIFO or device raises OSError instead of blocking)."""
    return os.fdopen(open_regular(path, os.O_RDONLY), "rb")


def directory_problem(directory: str) -> str:
    """Why other users could replace or delete what agentsh writes in `directory` ('' if they cannot):
    it belongs to another user (not root), or anyone may write in it without the sticky bit."""
    info = os.stat(directory)
    if info.st_uid not in (os.geteuid(), 0):
        return f"{directory} belongs to another user (uid {info.st_uid})"
    if info.st_mode & stat.S_IWOTH and not info.st_mode & stat.S_ISVTX:
        return f"{directory} is writable by every user (mode {stat.S_IMODE(info.st_mode):o}, no sticky bit)"
    return ""
