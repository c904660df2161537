"""The audit log writer: one JSONL line per event, each HMAC-chained to the one before.

Line layout (what `verify` relies on)::

    {"caller":...,"kind":"line","prev":"<mac of seq-1>","seq":7,"time":"..."},"mac":"<64 hex>"}\n

Everything before `,"mac":"` plus a closing brace is the canonical JSON of the event
without `mac` (sorted keys, compact separators, ensure_ascii=False, UTF-8): exactly the
bytes the MAC covers.  Writing `mac` last, outside the sorted order, lets the verifier
MAC the line's own bytes instead of re-serialising a million events.  Any tool can still
check an event the slow way: drop `mac`, re-serialise canonically, HMAC-SHA256.

The head file (`<log>.head`, 0600) holds the chain's latest `seq mac size tag`, where
`tag` is an HMAC over seq and mac, so cutting events off the end of the log (and
writing an older-looking head) is detected without the key.  It is also the lock file:
every writer holds an exclusive flock on it while it reads the head, appends one line
with a single write(2) on an O_APPEND descriptor, and updates the head.

Callers pass names, never values, of anything secret (credential names, not tokens).
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..builtin_sha256 import builtin_sha256
from ..regular import directory_problem, open_regular

if TYPE_CHECKING:
    from .forward import SyslogForwarder

# every kind of event agentsh writes (docs/audit.md lists each with its fields)
KINDS = frozenset({"session_start", "session_end", "line", "decision", "approval", "reload", "command_end", "error",
                   "exec_denied", "metadata_denied", "layer_missing", "leftovers_ended", "launch", "kill"})
RESERVED = frozenset({"seq", "time", "kind", "prev", "mac"})
MAC_PREFIX = b',"mac":"'
MAC_HEX = 64
LINE_END = b'"}\n'
SUFFIX_LEN = len(MAC_PREFIX) + MAC_HEX + len(LINE_END)
HEAD_SUFFIX = ".head"
_KIND_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
_TAIL_CHUNK = 65536
_MAX_TAIL = 16 << 20


class AuditError(Exception):
    """The audit trail cannot be written or read; the caller must refuse the action (fail closed)."""


def default_path(environ: Mapping[str, str]) -> str:
    """$XDG_STATE_HOME/agentsh/audit.jsonl, else ~/.local/state/agentsh/audit.jsonl."""
    return os.path.join(state_dir(environ), "audit.jsonl")


def state_dir(environ: Mapping[str, str]) -> str:
    """$XDG_STATE_HOME/agentsh, else ~/.local/state/agentsh (HOME from `environ`, else the
    account's): the audit log, key, recordings, approvals and live registry all live here."""
    base = environ.get("XDG_STATE_HOME", "")
    if not os.path.isabs(base):  # the XDG spec says relative values are invalid and must be ignored
        base = os.path.join(environ.get("HOME") or _passwd_home(), ".local", "state")
    return os.path.join(base, "agentsh")


def _passwd_home() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_dir


def head_path(path: str) -> str:
    return path + HEAD_SUFFIX


def canonical(event: Mapping[str, object]) -> bytes:
    """The bytes an event's MAC covers."""
    text = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (bytes a command line held that were not UTF-8, decoded with
        # surrogateescape) cannot be written as UTF-8; the JSON escape parses back to the same string.
        return "".join(f"\\u{ord(c):04x}" if "\ud800" <= c <= "\udfff" else c for c in text).encode("utf-8")


def mac_of(key: bytes, body: bytes) -> str:
    return hmac_sha256(key, body).hex()


def head_tag(key: bytes, seq: int, mac: str) -> str:
    return hmac_sha256(key, f"agentsh-audit-head {seq} {mac}".encode()).hex()


_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 (RFC 2104) on CPython's built-in SHA-256.

    `import hmac` loads OpenSSL's _hashlib, ~2.5 ms at every `agentsh -c`, for a few
    hundred bytes per event; tests check this against hmac.digest.
    """
    sha256 = _builtin_sha256()
    if sha256 is None:  # a build without the built-in hashes
        import hmac

        return hmac.digest(key, message, "sha256")
    if len(key) > 64:
        key = sha256(key).digest()
    key = key.ljust(64, b"\0")
    return sha256(key.translate(_OPAD) + sha256(key.translate(_IPAD) + message).digest()).digest()


_builtin_sha256 = functools.cache(builtin_sha256)  # looked up once per process


def compare_digest(a: str, b: str) -> bool:
    from _operator import _compare_digest  # what hmac.compare_digest is, without OpenSSL

    return _compare_digest(a, b)


def parse_head(data: bytes) -> tuple[int, str, int, str] | None:
    """(seq, mac, size, tag) from a head file's content, or None if it is empty or not a head."""
    parts = data.split()
    if len(parts) != 4 or not parts[0].isdigit() or not parts[2].isdigit():
        return None
    try:
        return int(parts[0]), parts[1].decode("ascii"), int(parts[2]), parts[3].decode("ascii")
    except UnicodeDecodeError:
        return None


def split_line(line: bytes) -> tuple[bytes, str] | None:
    """(MACed body, mac) of a line in the writer's layout, or None."""
    cut = len(line) - SUFFIX_LEN
    if cut < 2 or not line.endswith(LINE_END) or line[cut:cut + len(MAC_PREFIX)] != MAC_PREFIX:
        return None
    return line[:cut] + b"}", line[cut + len(MAC_PREFIX):cut + len(MAC_PREFIX) + MAC_HEX].decode("ascii", "replace")


def utc_now() -> str:
    """UTC ISO-8601 with microseconds and Z (the datetime module would cost start-up time)."""
    now = time.time_ns() // 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now // 1_000_000)) + f".{now % 1_000_000:06d}Z"


def _open_private(path: str, flags: int) -> int:
    """Open or create a 0600 regular file of this user; tighten one that others could read.

    A FIFO planted at the log's path took every event and dropped it (lines ran unaudited):
    open_regular refuses it, any other non-regular file, and a file of another user."""
    fd = open_regular(path, flags | os.O_CREAT | os.O_NOFOLLOW, 0o600, own=True)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
    except OSError:
        os.close(fd)
        raise
    return fd


class AuditLog:
    """An open audit log; `write` is safe against other processes writing the same file."""

    def __init__(self, path: str, key: bytes, log_fd: int, head_fd: int, forward: SyslogForwarder | None = None) -> None:
        self.path = path
        self._key = key
        self._log_fd = log_fd
        self._head_fd = head_fd
        self._forward = forward  # a SyslogForwarder, or None when syslog forwarding is off
        self.forward_error: str = ""  # last syslog failure (forwarding is best effort; the file is the record)

    def write(self, kind: str, **fields: object) -> dict[str, object]:
        """Append one event and return it as written (as it parses back from the line)."""
        if self._log_fd < 0:
            raise AuditError(f"audit log {self.path} is closed")
        if not (0 < len(kind) <= 64 and kind[0].isalpha() and _KIND_CHARS.issuperset(kind)):
            raise ValueError(f"audit event kind must be a lower-case identifier, not {kind!r}")
        clash = RESERVED.intersection(fields)
        if clash:
            raise ValueError(f"audit event fields may not be named {', '.join(sorted(clash))}")
        try:
            fcntl.flock(self._head_fd, fcntl.LOCK_EX)
        except OSError as err:
            raise AuditError(f"cannot lock audit log {head_path(self.path)}: {err.strerror or err}") from None
        try:
            line = self._append(kind, fields)
        finally:
            fcntl.flock(self._head_fd, fcntl.LOCK_UN)
        event: dict[str, object] = json.loads(line)
        if self._forward is not None:
            # Outside the lock: a slow syslog must not hold up other agentsh processes.
            self.forward_error = self._forward.send(event, line)
        return event

    def _append(self, kind: str, fields: dict[str, object]) -> bytes:
        try:
            raw = os.pread(self._head_fd, 512, 0)
            head = parse_head(raw)
            size = os.fstat(self._log_fd).st_size
        except OSError as err:
            raise AuditError(f"cannot read audit head {head_path(self.path)}: {err.strerror or err}") from None
        # The head is what proves where the log ended.  Picking the chain up from the log's
        # own last event when the head was missing, or trusting a head whose tag fails,
        # made a cut-off end undetectable: delete (or forge) the head, cut events off the
        # log, and the next event chained onto the cut seamlessly.  So refuse both.
        if head is None and size:
            raise AuditError(f"audit log {self.path} has events but no valid head file {head_path(self.path)}: "
                             "events may have been cut off its end, and writing on would hide that; "
                             "run `agentsh audit verify`, then move the log aside")
        if head is not None and not compare_digest(head_tag(self._key, head[0], head[1]), head[3]):
            raise AuditError(f"audit head {head_path(self.path)} was not written with this key: events may have "
                             "been cut off the log's end, and writing on would hide that; run `agentsh audit verify`, "
                             "then move the log and its head aside")
        seq, prev = (head[0], head[1]) if head else (0, "")
        sep = b""
        if head is not None and head[2] != size:
            # Someone wrote the log outside this protocol, or a writer died between its
            # append and its head update.  Continue from the newest event we can link to.
            seq, prev, sep = self._recover(head, size)
        event = {"seq": seq + 1, "time": utc_now(), "kind": kind, **fields, "prev": prev}
        try:
            body = canonical(event)
        except (TypeError, ValueError) as err:
            raise AuditError(f"audit event for {kind} cannot be written as JSON: {err}") from None
        mac = mac_of(self._key, body)
        line = sep + body[:-1] + MAC_PREFIX + mac.encode() + LINE_END
        try:
            written = os.write(self._log_fd, line)
        except OSError as err:
            raise AuditError(f"cannot write audit log {self.path}: {err.strerror or err}") from None
        if written != len(line):
            # A short write (disk full) would glue the next event onto a partial line: undo it.
            try:
                os.ftruncate(self._log_fd, size)
            except OSError:
                pass
            raise AuditError(f"cannot write audit log {self.path}: short write ({written} of {len(line)} bytes)")
        new_head = f"{seq + 1} {mac} {size + len(line)} {head_tag(self._key, seq + 1, mac)}\n".encode()
        try:
            os.pwrite(self._head_fd, new_head, 0)
            if len(new_head) < len(raw):  # heads only grow in normal use; a hand-edited one may be longer
                os.ftruncate(self._head_fd, len(new_head))
        except OSError as err:
            raise AuditError(f"cannot update audit head {head_path(self.path)}: {err.strerror or err}") from None
        return line[len(sep):]

    def _recover(self, head: tuple[int, str, int, str], size: int) -> tuple[int, str, bytes]:
        """(seq, mac) to chain onto, and b"\\n" if the log does not end with a complete line."""
        tail = _last_line(self._log_fd, size)
        sep = b"\n" if size and not tail.endswith(b"\n") else b""
        last = _authentic(self._key, tail)
        if last is not None and last[0] == head[0] + 1 and last[2] == head[1]:
            return last[0], last[1], sep  # the previous writer appended, then died before its head update
        return head[0], head[1], sep  # the log was changed behind our back: keep the chain; verify will say where

    def check_key(self) -> None:
        """Refuse a key that did not sign the log's newest event (the keyring entry was lost or replaced)."""
        try:
            size = os.fstat(self._log_fd).st_size
            tail = _last_line(self._log_fd, size)
        except OSError as err:
            raise AuditError(f"cannot read audit log {self.path}: {err.strerror or err}") from None
        parts = split_line(tail)
        if parts is None:
            return  # no event at the end (empty, or a malformed tail that verify will report)
        if not compare_digest(mac_of(self._key, parts[0]), parts[1]):
            raise AuditError(f"audit log {self.path} was signed with another key (its last event's MAC does not "
                             "match); restore the key, or run `agentsh audit verify` and move the log aside")

    def close(self) -> None:
        for fd in (self._log_fd, self._head_fd):
            if fd >= 0:
                os.close(fd)
        self._log_fd = self._head_fd = -1
        if self._forward is not None:
            self._forward.close()
            self._forward = None

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _last_line(fd: int, size: int) -> bytes:
    """The log's last line (with its newline, if it has one); b"" if the log is empty.

    At most its last _MAX_TAIL bytes: no event is that long, and a planted tail of gigabytes
    without a newline was read back whole, 64 KiB at a time and each time copied again (every
    `agentsh -c` hung at open)."""
    if size == 0:
        return b""
    end, chunks, length = size, [], 0
    while end > 0 and length < _MAX_TAIL:
        start = max(0, end - _TAIL_CHUNK)
        chunk = os.pread(fd, end - start, start)
        cut = chunk.rfind(b"\n", 0, len(chunk) - 1 if not chunks else len(chunk))
        if cut >= 0:
            chunks.append(chunk[cut + 1:])
            break
        chunks.append(chunk)
        length += len(chunk)
        end = start
    return b"".join(reversed(chunks))


def _authentic(key: bytes, line: bytes) -> tuple[int, str, str] | None:
    """(seq, mac, prev) of a line this key signed, else None."""
    parts = split_line(line)
    if parts is None or not compare_digest(mac_of(key, parts[0]), parts[1]):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    seq, prev = event.get("seq"), event.get("prev")
    if type(seq) is not int or not isinstance(prev, str):
        return None
    return seq, parts[1], prev


def open_audit_log(path: str, key: bytes, *, syslog: bool = False,
                   syslog_address: str | tuple[str, int] = "/dev/log") -> AuditLog:
    """Open (creating with 0600 files in a 0700 dir) the log at PATH for appending events signed with KEY."""
    if len(key) < 16:
        raise AuditError("audit key is too short (need at least 16 bytes)")
    directory = os.path.dirname(os.path.abspath(path))
    log_fd = head_fd = -1
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        # Where anyone may rename files (or its owner is someone else), the log and its head
        # could be swapped for older copies, which no MAC can tell from the real ones.
        unsafe = directory_problem(directory)
        if unsafe:
            raise AuditError(f"cannot open audit log {path}: {unsafe}, so others could replace the log")
        log_fd = _open_private(path, os.O_RDWR | os.O_APPEND)  # read too: recovery looks at the tail
        head_fd = _open_private(head_path(path), os.O_RDWR)
    except OSError as err:
        for fd in (log_fd, head_fd):
            if fd >= 0:
                os.close(fd)
        where = "" if err.filename in (None, path) else f" ({err.filename})"
        raise AuditError(f"cannot open audit log {path}{where}: {err.strerror or err}") from None
    log = AuditLog(path, key, log_fd, head_fd)
    try:
        log.check_key()
        if syslog:
            from .forward import SyslogForwarder

            log._forward = SyslogForwarder(syslog_address)
            sock = getattr(log._forward.handler, "socket", None)
            if sock is None or sock.fileno() < 0:  # the handler keeps a closed socket when connect failed
                # Like openlog(3), a syslog socket that is not there yet is not fatal (each
                # event retries; the file is the record), but the caller can tell the admin.
                log.forward_error = f"cannot reach syslog at {syslog_address}"
    except BaseException:
        log.close()
        raise
    return log

