"""Write asciicast v2 recordings: one header line, then one JSON array per event.

Several `agentsh -c` processes of one agent session (AGENTSH_SESSION) append to one
file, so each event is written under an exclusive flock with O_APPEND writes of
complete lines, its time computed inside the lock and never earlier than the last
event in the file (whoever wrote it).  Each event is in the file as soon as it is
written (no userspace buffer), and no line crosses a page boundary (lines.py), so a
session killed with SIGKILL leaves a file that plays up to its last event; output held
for joining (at most COALESCE seconds) is the only thing it can lose.  asciinema 2.x
stops at blank or comment lines, so none are written; a line torn anyway (a writer that
died in a write crossing pages, a file from elsewhere) is cut off by the next writer.

A Recorder is used from one thread; processes coordinate through the lock.
"""

from __future__ import annotations

import codecs
import errno
import fcntl
import json
import os
import re
import stat
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from json.encoder import encode_basestring_ascii as _json_string  # the C version when available
from typing import Any

from .lines import MIN_ROOM, PAGE, page_lines

COALESCE = 0.02  # seconds
COALESCE_BYTES = 65536
_OPEN_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC  # RDWR: pread the tail
_BLOCK = 65536
_MAX_HEADER = 1 << 20
_EVENT_TIME = re.compile(rb"\[\s*(-?[0-9][0-9.eE+-]*)\s*,")


class RecordingError(Exception):
    """The recording cannot be created or written; names the file and the OS error."""


def default_directory(environ: Mapping[str, str]) -> str:
    """$XDG_STATE_HOME/agentsh, else ~/.local/state/agentsh (HOME from `environ`)."""
    state = environ.get("XDG_STATE_HOME", "")
    if not os.path.isabs(state):  # the XDG spec says relative values are to be ignored
        home = environ.get("HOME") or _passwd_home()
        state = os.path.join(home, ".local", "state")
    return os.path.join(state, "agentsh")


def _passwd_home() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_dir


def new_session_id() -> str:
    """UTC start time first (names sort by start), then random bits (unique across hosts)."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + os.urandom(3).hex()


class Recorder:
    def __init__(self, fd: int, path: str, session_id: str, start: int, last: float, size: int,
                 record_input: bool, header_end: int) -> None:
        self.fd = fd
        self.path = path
        self.session_id = session_id
        self.start = start  # the header's integer timestamp: event times count from it
        self.last = last  # the latest event time in the file, as far as this writer knows
        self.size = size  # the file size after this writer's last look or write
        self.record_input = record_input
        self._header_end = header_end  # events start here; repairs never cut before it
        self._decoders = {code: codecs.getincrementaldecoder("utf-8")("replace") for code in "oi"}
        # Output arriving in a burst is joined into one "o" event (at most COALESCE seconds
        # or COALESCE_BYTES): a PTY hands over a few KiB per read, and one event per read
        # costs more than the copy itself.  flush() writes what is pending; the relay calls
        # it whenever output pauses, and every other event, and close(), flush first.
        self._pending: list[str] = []
        self._pending_size = 0
        self._pending_at = 0.0  # wall-clock time of the first pending chunk

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def output(self, data: bytes) -> None:
        text = self._decoders["o"].decode(data)  # joins a character split across reads
        if not text:
            return
        now = time.time()
        if self._pending and now - self._pending_at > COALESCE:
            self.flush()
        if not self._pending:
            self._pending_at = now
        self._pending.append(text)
        self._pending_size += len(data)  # bytes read, so a 64 KiB read is one event
        if self._pending_size >= COALESCE_BYTES:  # big enough: write now, no joining copy of a big read
            self.flush()

    def flush(self) -> None:
        if self._pending:
            text = "".join(self._pending)
            self._pending, self._pending_size = [], 0
            self._event("o", text, self._pending_at)

    def input(self, data: bytes) -> None:
        if self.record_input:
            self.flush()
            text = self._decoders["i"].decode(data)
            if text:
                self._event("i", text)

    def marker(self, label: str) -> None:
        self.flush()
        self._event("m", label)

    def resize(self, cols: int, rows: int) -> None:
        self.flush()
        self._event("r", f"{int(cols)}x{int(rows)}")

    def close(self) -> None:
        if self.fd < 0:
            return
        try:
            self.flush()
            for code, decoder in self._decoders.items():
                tail = decoder.decode(b"", final=True)  # a character cut off at the end: U+FFFD
                if tail and (code == "o" or self.record_input):
                    self._event(code, tail)
        finally:
            os.close(self.fd)
            self.fd = -1

    def _event(self, code: str, data: str, at: float | None = None) -> None:
        if self.fd < 0:
            raise RecordingError(f"recording {self.path} is closed")
        try:
            with _locked(self.fd):
                size = os.fstat(self.fd).st_size
                if size != self.size:  # another process appended (or died mid-line): continue after it
                    size = _repair_tail(self.fd, size, self._header_end)
                    self.last = max(self.last, _last_time(self.fd, size, self._header_end))
                when = max(round((time.time() if at is None else at) - self.start, 6), self.last)
                # Built by hand around the C string encoder: \u-escaped ASCII JSON encodes about
                # 1.7x faster than json.dumps(ensure_ascii=False) plus UTF-8 (non-ASCII text takes
                # more bytes in the file; escape sequences the same).  Cut into page-sized lines
                # so a SIGKILL cannot tear one (see lines.py).
                lines = page_lines(repr(when), code, _json_string(data)[1:-1].encode(), size)
                self.size = _append(self.fd, lines, size)
                self.last = when
        except OSError as err:
            raise RecordingError(f"cannot write recording {self.path}: {_why(err)}") from None


def open_recording(directory: str, session_id: str, *, width: int, height: int, title: str, command: str,
                   env: dict[str, str], record_input: bool = False) -> Recorder:
    """Create (0600, in a 0700 directory) or continue the recording of a session."""
    if (not session_id or len(session_id) > 200 or "/" in session_id or session_id.startswith(".")
            or not session_id.isprintable()):
        raise RecordingError(f"{session_id!r} is not a usable session id (no '/', no leading '.', printable)")
    path = os.path.join(directory, session_id + ".cast")
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd = os.open(path, _OPEN_FLAGS, 0o600)
    except OSError as err:
        raise RecordingError(f"cannot create recording {path}: {_why(err)}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            raise RecordingError(f"recording {path} is not a regular file of this user")
        with _locked(fd):
            size = os.fstat(fd).st_size
            found = _read_header(fd, size, path) if size else None
            if found is None:  # a new file, or its creator died before the header was whole
                if size:
                    os.ftruncate(fd, 0)
                start = int(time.time())
                # Only SHELL and TERM: the header must never carry a secret from the environment.
                header = {"version": 2, "width": int(width), "height": int(height), "timestamp": start,
                          "env": {k: str(env[k]) for k in ("SHELL", "TERM") if k in env},
                          "title": title, "command": command}
                text = json.dumps(header)
                left = PAGE - len(text) - 1
                if 0 < left < MIN_ROOM:  # the first event needs room in this page (see lines.py)
                    text = text[:-1] + " " * left + "}"
                header_end = size = _append(fd, [(text + "\n").encode()], 0)
                last = 0.0
            else:  # append: no second header; times continue from the first one's timestamp
                start, header_end = found
                size = _repair_tail(fd, size, header_end)
                last = _last_time(fd, size, header_end)
    except OSError as err:
        os.close(fd)
        raise RecordingError(f"cannot write recording {path}: {_why(err)}") from None
    except RecordingError:
        os.close(fd)
        raise
    return Recorder(fd, path, session_id, start, last, size, record_input, header_end)


@contextmanager
def _locked(fd: int) -> Iterator[None]:
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _why(err: OSError) -> str:
    return err.strerror or str(err)


def _append(fd: int, lines: list[bytes], size: int) -> int:
    """Write whole lines at the end, one write(2) each; return the new size.

    The caller holds the lock and says where the end is.  A short write (disk nearly full)
    is retried so the OS says why it stops (ENOSPC, EFBIG); on failure everything this
    event wrote is cut off again, so the file never holds a torn line or half an event."""
    end = size
    try:
        for line in lines:
            done = 0
            while done < len(line):
                written = os.write(fd, line[done:] if done else line)
                if written <= 0:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                done += written
                end += written
    except OSError:
        if end > size:
            try:
                os.ftruncate(fd, size)
            except OSError:
                pass  # the next writer's repair cuts a torn line
        raise
    return end


def _read_header(fd: int, size: int, path: str) -> tuple[int, int] | None:
    """(timestamp, offset after the header line) of an existing recording; None if torn."""
    data = b""
    while b"\n" not in data and len(data) < min(size, _MAX_HEADER):
        block = os.pread(fd, _BLOCK, len(data))
        if not block:
            break
        data += block
    first, newline, _ = data.partition(b"\n")
    if not newline:
        if first.startswith(b'{"version": 2'):
            return None  # our own header, cut short when its writer died: write it again
        raise RecordingError(f"recording {path} exists but is not an asciicast v2 file; not appending to it")
    try:
        header: Any = json.loads(first)
        if not isinstance(header, dict) or header.get("version") != 2:
            raise ValueError("not version 2")
        start = int(header["timestamp"])
    except (ValueError, KeyError, TypeError, OverflowError):
        raise RecordingError(f"recording {path} exists but is not an asciicast v2 file; not appending to it") from None
    return start, len(first) + 1


def _line_start(fd: int, end: int, floor: int) -> int:
    """Where the line that ends at `end` starts (newlines cannot occur inside a JSON line)."""
    pos = end
    while pos > floor:
        begin = max(floor, pos - _BLOCK)
        found = os.pread(fd, pos - begin, begin).rfind(b"\n")
        if found >= 0:
            return begin + found + 1
        pos = begin
    return floor


def _repair_tail(fd: int, size: int, floor: int) -> int:
    """Cut a torn last line (its writer died mid-write); return the file's size."""
    if size > floor and os.pread(fd, 1, size - 1) != b"\n":
        size = _line_start(fd, size, floor)
        os.ftruncate(fd, size)
    return size


def _last_time(fd: int, size: int, floor: int) -> float:
    """The time of the file's last event (0 if it has none), reading back only to its start.

    Events can be far longer than one block (64 KiB of output joined, escapes six bytes
    each), so the line start is searched for, and only its first bytes are parsed."""
    if size <= floor:
        return 0.0
    begin = _line_start(fd, size - 1, floor)
    found = _EVENT_TIME.match(os.pread(fd, 64, begin))
    try:
        return float(found.group(1)) if found else 0.0
    except ValueError:
        return 0.0
