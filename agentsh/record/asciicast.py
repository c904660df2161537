"""Write asciicast v2 recordings: one header line, then one JSON array per event.

Several `agentsh -c` processes of one agent session (AGENTSH_SESSION) append to one
file, so each event is written under an exclusive flock with one O_APPEND write of
complete lines, its time computed inside the lock and never earlier than the last
event in the file (whoever wrote it).  Each event is in the file as soon as it is
written (no userspace buffer), and no line crosses a page boundary (lines.py), so a
write cut short by SIGKILL (which stops between pages) still ends with a whole line,
and the file plays up to its last event; output held for joining (at most COALESCE
seconds) is the only thing it can lose.  asciinema 2.x
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
from typing import Any

from ..regular import directory_problem
from .lines import MIN_ROOM, PAGE, Part, page_parts

COALESCE = 0.02  # seconds
COALESCE_BYTES = 65536
_OPEN_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC  # RDWR: pread the tail
_BLOCK = 65536
_MAX_HEADER = 1 << 20
_LAST_START = 253402300799  # 9999-12-31, as a Unix time; also the longest a session can have run
_IOV_MAX = 1024  # buffers per writev(2) (Linux's limit)
_EVENT_TIME = re.compile(rb"\[\s*(-?[0-9][0-9.eE+-]*)\s*,")
# What JSON requires escaped in a string, as (byte, escape); the backslash first, so that
# escapes added after it are not escaped again.  Text stays UTF-8 (JSON allows it raw).
_ESCAPES = ((b"\\", b"\\\\"), (b'"', b'\\"'), (b"\n", b"\\n"), (b"\r", b"\\r"), (b"\t", b"\\t"),
            *((bytes([c]), b"\\u%04x" % c) for c in range(32) if c not in (9, 10, 13)))


class RecordingError(Exception):
    """The recording cannot be created or written; names the file and the OS error."""


def default_directory(environ: Mapping[str, str]) -> str:
    """Where recordings go without `record.dir`: agentsh's state directory (audit.log.state_dir,
    which every profile denies to lines)."""
    from ..audit.log import state_dir

    return state_dir(environ)


def new_session_id() -> str:
    """UTC start time first (names sort by start), then random bits (unique across hosts)."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + os.urandom(3).hex()


def json_body(text: bytes) -> bytes:
    """The JSON string body (no quotes) of valid UTF-8 `text`.

    Output is mostly printable text: each special byte is looked for with memchr (`in`)
    and replaced only where present, several times faster than the json module's
    per-character encoders on terminal output."""
    for raw, escaped in _ESCAPES:
        if raw in text:
            text = text.replace(raw, escaped)
    return text


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
        self._split = {code: False for code in "oi"}  # the decoder holds part of a character
        # Output arriving in a burst is joined into one "o" event (at most COALESCE seconds
        # or COALESCE_BYTES): a PTY hands over a few KiB per read, and one event per read
        # costs more than the copy itself.  flush() writes what is pending; the relay calls
        # it whenever output pauses, and every other event, and close(), flush first.
        self._pending: list[bytes] = []  # valid UTF-8, escaped for JSON when written
        self._pending_size = 0
        self._pending_at = 0.0  # wall-clock time of the first pending chunk

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def output(self, data: bytes) -> None:
        text = self._utf8("o", data)
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
            text = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
            self._pending, self._pending_size = [], 0
            self._event("o", json_body(text), self._pending_at)

    def input(self, data: bytes) -> None:
        if self.record_input:
            self.flush()
            text = self._utf8("i", data)
            if text:
                self._event("i", json_body(text))

    def marker(self, label: str) -> None:
        self.flush()
        self._event("m", json_body(label.encode("utf-8", "replace")))

    def resize(self, cols: int, rows: int) -> None:
        self.flush()
        self._event("r", f"{int(cols)}x{int(rows)}".encode())

    def close(self) -> None:
        if self.fd < 0:
            return
        try:
            self.flush()
            for code, decoder in self._decoders.items():
                tail = decoder.decode(b"", final=True)  # a character cut off at the end: U+FFFD
                if tail and (code == "o" or self.record_input):
                    self._event(code, json_body(tail.encode()))
        finally:
            os.close(self.fd)
            self.fd = -1

    def _utf8(self, code: str, data: bytes) -> bytes:
        """`data` as valid UTF-8: a character split across reads is joined, invalid bytes
        become U+FFFD.  ASCII with no character pending skips decoding altogether."""
        if not data.isascii() or self._split[code]:
            decoder = self._decoders[code]
            data = decoder.decode(data).encode()
            self._split[code] = bool(decoder.getstate()[0])
        return data

    def _event(self, code: str, body: bytes, at: float | None = None) -> None:
        if self.fd < 0:
            raise RecordingError(f"recording {self.path} is closed")
        try:
            with _locked(self.fd):
                size = os.fstat(self.fd).st_size
                if size != self.size:  # another process appended (or died mid-line): continue after it
                    size = _repair_tail(self.fd, size, self._header_end)
                    self.last = max(self.last, _last_time(self.fd, size, self._header_end))
                when = max(round((time.time() if at is None else at) - self.start, 6), self.last)
                # Cut into page-sized lines so a SIGKILL cannot tear one (see lines.py); all of
                # them go in one writev, which the kernel can only cut short between pages.
                self.size = _append(self.fd, page_parts(repr(when), code, body, size), size)
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
        # In a directory anyone may write without the sticky bit (or another user's), others
        # could delete, replace or truncate the recordings: refuse it, as sshd's StrictModes does.
        unsafe = directory_problem(directory)
        if unsafe:
            raise RecordingError(f"cannot create recording {path}: {unsafe}, so others could replace recordings")
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
                header_end = size = _append(fd, [((text + "\n").encode(),)], 0)
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


def _append(fd: int, lines: list[tuple[Part, ...]], size: int) -> int:
    """Write whole lines at the end, all in one writev(2) (a few for very many lines, never
    splitting a line); return the new size.

    The caller holds the lock and says where the end is.  A short write (disk nearly full)
    is retried so the OS says why it stops (ENOSPC, EFBIG); on failure everything this
    event wrote is cut off again, so the file never holds a torn line or half an event."""
    done = 0
    try:
        for batch in _batches(lines):
            length = sum(map(len, batch))
            written = os.writev(fd, batch)
            done += written
            if written < length:  # rare: join what is left and finish with write(2)
                rest = b"".join(batch)
                while written < length:
                    more = os.write(fd, rest[written:])
                    if more <= 0:
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                    written += more
                    done += more
    except OSError:
        if done:
            try:
                os.ftruncate(fd, size)
            except OSError:
                pass  # the next writer's repair cuts a torn line
        raise
    return size + done


def _batches(lines: list[tuple[Part, ...]]) -> Iterator[list[Part]]:
    """The lines' buffers in runs of whole lines of at most IOV_MAX buffers each."""
    batch: list[Part] = []
    for line in lines:
        if len(batch) + len(line) > _IOV_MAX and batch:
            yield batch
            batch = []
        batch.extend(line)
    if batch:
        yield batch


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
        if not 0 <= start <= _LAST_START:  # time.time() - 10**400 raised OverflowError at every event
            raise ValueError("timestamp out of range")
    except (ValueError, KeyError, TypeError, OverflowError, RecursionError):  # (a header nested deep crashed -c)
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
        when = float(found.group(1)) if found else 0.0
    except ValueError:
        return 0.0
    # A last event at 1e999 (inf) made every later event `[inf, ...]`, which is no JSON: the
    # rest of the session would not play.  Times past _LAST_START are no one's.
    return when if 0 <= when <= _LAST_START else 0.0
