"""Watch the files a live session's profile came from, so edits apply at the next line.

watchdog delivers events on its own thread; the session only asks, before each
line, whether anything changed.  Directories are watched rather than files:
editors save by writing a new file and renaming it over the old one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from typing import Any


class ProfileWatcher:
    def __init__(self, paths: Iterable[str]) -> None:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        self._changed = threading.Event()
        self._paths: set[str] = set()
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
        """Watch these files (in addition to those already watched)."""
        for path in paths:
            path = os.path.abspath(path)
            self._paths.add(path)
            directory = os.path.dirname(path)
            if directory not in self._watched and os.path.isdir(directory):
                self._observer.schedule(self._handler, directory, recursive=False)
                self._watched.add(directory)

    def changed(self) -> bool:
        """True once after any watched file was written, created, moved or deleted."""
        if self._changed.is_set():
            self._changed.clear()
            return True
        return False

    def stop(self) -> None:
        self._observer.stop()
        self._observer.join(timeout=2)
