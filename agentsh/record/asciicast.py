"""Write asciicast v2 recordings: one header line, then one JSON array per event.

Several `agentsh -c` processes of one agent session (AGENTSH_SESSION) append to one
file, so each event is written under an exclusive flock with a single O_APPEND
write of a complete line, its time computed inside the lock and never earlier than
the last event in the file.  Each event is in the file as soon as it is written
(no userspace buffer): a session killed with SIGKILL leaves a file that plays up to
its last event.  asciinema 2.x stops at blank or comment lines, so none are written.
"""

from __future__ import annotations

import codecs
import fcntl
import json
import os
import stat
import time
from collections.abc import Mapping
from typing import Any

COALESCE = 0.02  # seconds
COALESCE_BYTES = 65536


class RecordingError(Exception):
    """The recording cannot be created or written; names the file and the OS error."""


def default_directory(environ: Mapping[str, str]) -> str:
    base = environ.get("XDG_STATE_HOME") or os.path.join(environ.get("HOME") or os.path.expanduser("~"),
                                                         ".local", "state")
    return os.path.join(base, "agentsh")


def new_session_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + os.urandom(3).hex()


class Recorder:
    def __init__(self, fd: int, path: str, session_id: str, start: int, last: float, size: int,
                 record_input: bool) -> None:
        self.fd = fd
        self.path = path
        self.session_id = session_id
        self.start = start  # the header's integer timestamp: event times count from it
        self.last = last  # the latest event time in the file, as far as this writer knows
        self.size = size  # the file size after this writer's last look or write
        self.record_input = record_input
        self._decoders = {code: codecs.getincrementaldecoder("utf-8")("replace") for code in "oi"}
        # Output arriving in a burst is joined into one "o" event (at most COALESCE seconds
        # or COALESCE_BYTES): a PTY hands over a few KiB per read, and one event per read
        # costs more than the copy itself.  flush() writes what is pending; the relay calls
        # it whenever output pauses, and every other event, and close(), flush first.
        self._pending: list[str] = []
        self._pending_size = 0
        self._pending_at = 0.0  # wall-clock time of the first pending chunk


    def output(self, data: bytes) -> None:
        text = self._decoders["o"].decode(data)  # joins a character split across reads
        if not text:
            return
        now = time.time()
        if self._pending and (now - self._pending_at > COALESCE or self._pending_size > COALESCE_BYTES):
            self.flush()
        if not self._pending:
            self._pending_at = now
        self._pending.append(text)
        self._pending_size += len(text)

    def flush(self) -> None:
        if self._pending:
            text = "".join(self._pending)
            self._pending, self._pending_size = [], 0
            self._event("o", text, self._pending_at)

    def input(self, data: bytes) -> None:
        if self.record_input:
            self.flush()
            self._bytes("i", data)

    def marker(self, label: str) -> None:
        self.flush()
        self._event("m", label)

    def resize(self, cols: int, rows: int) -> None:
        self.flush()
        self._event("r", f"{cols}x{rows}")

    def close(self) -> None:
        if self.fd < 0:
            return
        try:
            self.flush()
            for code, decoder in self._decoders.items():
                tail = decoder.decode(b"", final=True)  # a character cut off at the end: U+FFFD
                if tail:
                    self._event(code, tail)
        finally:
            os.close(self.fd)
            self.fd = -1

    def _bytes(self, code: str, data: bytes) -> None:
        text = self._decoders[code].decode(data)  # joins a character split across reads
        if text:
            self._event(code, text)

    def _event(self, code: str, data: str, at: float | None = None) -> None:
        if self.fd < 0:
            raise RecordingError(f"recording {self.path} is closed")
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
            try:
                size = os.fstat(self.fd).st_size
                if size != self.size:  # another process appended: continue after its events
                    self.last = max(self.last, _last_time(self.fd, size))
                when = max(round((at or time.time()) - self.start, 6), self.last)
                line = (json.dumps([when, code, data], ensure_ascii=False) + "\n").encode("utf-8", "replace")
                _write_line(self.fd, line, size, self.path)
                self.last = when
                self.size = size + len(line)
            finally:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
        except OSError as err:
            raise RecordingError(f"cannot write recording {self.path}: {err.strerror or err}") from None


def open_recording(directory: str, session_id: str, *, width: int, height: int, title: str, command: str,
                   env: dict[str, str], record_input: bool = False) -> Recorder:
    """Create (0600, in a 0700 directory) or continue the recording of a session."""
    if not session_id or "/" in session_id or session_id.startswith("."):
        raise RecordingError(f"'{session_id}' is not a usable session id")
    path = os.path.join(directory, session_id + ".cast")
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as err:
        raise RecordingError(f"cannot create recording {path}: {err.strerror or err}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            raise RecordingError(f"recording {path} is not a regular file of this user")
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            size = os.fstat(fd).st_size
            if size == 0:
                start = int(time.time())
                header = {"version": 2, "width": width, "height": height, "timestamp": start, "env": env,
                          "title": title, "command": command}
                line = (json.dumps(header, ensure_ascii=False) + "\n").encode()
                _write_line(fd, line, 0, path)
                size, last = len(line), 0.0
            else:
                start, last = _header_start(path), _last_time(fd, size)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError as err:
        os.close(fd)
        raise RecordingError(f"cannot write recording {path}: {err.strerror or err}") from None
    except RecordingError:
        os.close(fd)
        raise
    return Recorder(fd, path, session_id, start, last, size, record_input)


def _write_line(fd: int, line: bytes, size: int, path: str) -> None:
    """One write of a whole line; a short write (full disk) is cut back off the file."""
    try:
        written = os.write(fd, line)
    except OSError:
        os.ftruncate(fd, size)
        raise
    if written != len(line):
        os.ftruncate(fd, size)
        raise RecordingError(f"cannot write recording {path}: short write (disk full?)")


def _header_start(path: str) -> int:
    with open(path, "rb") as handle:
        header: Any = json.loads(handle.readline())
    return int(header["timestamp"])


def _last_time(fd: int, size: int) -> float:
    """The time of the file's last event (0 if it has none), reading only its tail."""
    chunk = min(size, 65536)
    tail = _pread(fd, chunk, size - chunk)
    lines = tail.rstrip(b"\n").split(b"\n")
    for line in reversed(lines):
        if line.startswith(b"["):
            try:
                return float(json.loads(line)[0])
            except (ValueError, IndexError, TypeError):
                continue
    return 0.0


def _pread(fd: int, count: int, offset: int) -> bytes:
    # The recording fd is write-only (O_APPEND); read through a second descriptor.
    with open(f"/proc/self/fd/{fd}", "rb") as handle:
        handle.seek(offset)
        return handle.read(count)
