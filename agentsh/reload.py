"""Notice edits of the files a live session's profile came from, so they apply at the next line.

Two signals, either of which makes the session reload before its next line:

- watchdog (inotify) on the directory of each file and of the file a symbolic link leads
  to: editors save by writing a new file and renaming it over the old one, and an admin
  may point a profile path at a shared copy elsewhere (watching only the link's directory
  missed every edit of its target, and the session kept deciding with the old profile);
- before each line, each file's `stat` through the path as the loader reads it (following
  links): device, inode, size and times.  This catches what inotify can lose (a full event
  queue, no watches left, a link re-pointed to a directory not watched yet) at the cost of
  one `stat` per file.

An edit that keeps the size within one timestamp tick is seen by the first signal alone.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from typing import Any

# What a path is: None when it cannot be stat'ed (deleted, a dangling link).
State = tuple[int, int, int, int, int] | None


def _state(path: str) -> State:
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns


class ProfileWatcher:
    def __init__(self, paths: Iterable[str]) -> None:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        self._changed = threading.Event()
        self._paths: set[str] = set()  # the files, and the files their links lead to
        self._states: dict[str, State] = {}
        watcher = self

        class Handler(FileSystemEventHandler):  # type: ignore[misc]
            def on_any_event(self, event: Any) -> None:
                for attribute in ("src_path", "dest_path"):
                    path = getattr(event, attribute, "")
                    if isinstance(path, bytes):
                        path = os.fsdecode(path)
                    if path and os.path.abspath(path) in watcher._paths:
                        watcher._changed.set()

        self._handler = Handler()
        self._observer = Observer()
        self._observer.daemon = True
        self._watched: set[str] = set()
        self.watch(paths)
        self._observer.start()

    def watch(self, paths: Iterable[str]) -> None:
        """Follow these files too (those already followed keep what they were compared with)."""
        for path in paths:
            path = os.path.abspath(path)
            if path not in self._states:
                self._states[path] = _state(path)
            for followed in {path, os.path.realpath(path)}:
                self._paths.add(followed)
                directory = os.path.dirname(followed)
                if directory in self._watched or not os.path.isdir(directory):
                    continue
                try:
                    self._observer.schedule(self._handler, directory, recursive=False)
                except OSError:
                    continue  # no inotify watch left: the stat comparison still sees edits
                self._watched.add(directory)

    def changed(self) -> bool:
        """True once after any followed file was written, replaced, created or deleted."""
        now = {path: _state(path) for path in self._states}
        if not self._changed.is_set() and now == self._states:
            return False
        self._changed.clear()
        self._states = now
        return True

    def stop(self) -> None:
        self._observer.stop()
        self._observer.join(timeout=2)
