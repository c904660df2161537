"""Notice edits of the files a live session's profile came from, so they apply at the next line.

Before each line the session asks whether anything changed, and this compares what each
file holds now with what it held before: the bytes read through the path as the loader
reads it (following symlinks), so an edit of a symlink's target, a symlink pointed
elsewhere, a rename over the file, a deletion or a re-creation are all seen.

It used to be watchdog (inotify) on each file's directory: an edit of a symlinked
profile's target, in another directory, was never seen and the session kept deciding
with the old profile, and with inotify's watches or queue exhausted edits were lost the
same way. Reading a few small files before a line costs microseconds and needs no
kernel resource that can run out.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable

# What a path held: None when it could not be read (deleted, not a file); otherwise its
# size and CRC-32 (a profile is at most 1 MiB: the loader refuses bigger ones).
State = tuple[int, int] | None
LIMIT = (1 << 20) + 1


def _state(path: str) -> State:
    try:
        # O_NONBLOCK: a FIFO put in the profile's place must not stop the session here.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(LIMIT)
    except OSError:
        return None
    return len(data), zlib.crc32(data)


class ProfileWatcher:
    def __init__(self, paths: Iterable[str]) -> None:
        self._states: dict[str, State] = {}
        self.watch(paths)

    def watch(self, paths: Iterable[str]) -> None:
        """Follow these files too (those already followed keep what they were compared with)."""
        for path in paths:
            path = os.path.abspath(path)
            if path not in self._states:
                self._states[path] = _state(path)

    def changed(self) -> bool:
        """True once after any followed file was written, replaced, created or deleted."""
        now = {path: _state(path) for path in self._states}
        if now == self._states:
            return False
        self._states = now
        return True

    def stop(self) -> None:
        """Nothing to stop: there is no thread and no kernel watch."""
