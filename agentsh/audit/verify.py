"""Walk an audit log and report the first broken event, and why.

The walk checks, for each line in order: the line has the writer's layout and parses
(else "malformed"), its MAC matches its bytes, its seq is the next one, and its prev
is the MAC of the event before.  At the first event that fails, a short look at the
rest of the file (or at the head file) decides what happened:

- MAC fails on the first event, and the head file's tag (or, without a head, the next
  event's MAC) fails too: "wrong key";
- MAC fails and the next line carries on the chain as if this one were not there:
  "inserted" (a forged line); also a forged line past the head's end;
- MAC fails otherwise: "edited";
- MAC holds but seq jumps ahead: "reordered" if the missing event comes later in the
  file, else "deleted";
- MAC holds but seq goes back, or prev links to another chain: "inserted" (a replayed
  or foreign event);
- the log ends before the head file's seq, or its event at that seq has another MAC,
  or the head file is missing or its tag fails: "truncated".

first_bad is the chain position (seq) where the walk stopped: the first missing seq for
deletions and truncation, the position of an inserted or malformed line.

Events appended while verify runs are fine: the head is read (under a shared lock)
before the log, and the log may run past it.  A last line without its newline beyond
the head is a write in flight and is ignored.
"""

from __future__ import annotations

import fcntl
import hmac
import json
import os
from collections.abc import Iterator
from typing import NamedTuple

from ..regular import open_regular, read_regular
from .log import LINE_END, MAC_HEX, MAC_PREFIX, SUFFIX_LEN, AuditError, head_path, head_tag, parse_head

MAX_LINE = 64 << 20
REASONS = ("", "edited", "deleted", "inserted", "reordered", "truncated", "wrong key", "malformed")


class VerifyResult(NamedTuple):
    ok: bool
    events: int  # events verified intact, in order, before the first broken one (all of them when ok)
    first_bad: int | None  # chain position (seq) of the first broken event
    reason: str  # one of REASONS; "" when ok


class _Event(NamedTuple):
    seq: int
    prev: str
    mac: str
    authentic: bool


def _parse(key: bytes, line: bytes) -> _Event | None:
    """The event on LINE, or None if the line is malformed."""
    cut = len(line) - SUFFIX_LEN
    if cut < 2 or not line.endswith(LINE_END) or line[cut:cut + 8] != MAC_PREFIX:
        return None
    try:
        event = json.loads(line)
    except (ValueError, RecursionError):  # (a line nested 100,000 deep crashed verify)
        return None
    if not isinstance(event, dict):
        return None
    seq, prev, mac = event.get("seq"), event.get("prev"), event.get("mac")
    if (type(seq) is not int or seq < 1 or not isinstance(prev, str) or not isinstance(mac, str)
            or len(mac) != MAC_HEX or not isinstance(event.get("time"), str) or not isinstance(event.get("kind"), str)):
        return None
    authentic = hmac.compare_digest(hmac.digest(key, line[:cut] + b"}", "sha256").hex(), mac)
    return _Event(seq, prev, mac, authentic)


def read_head(path: str) -> tuple[int, str, str] | None:
    """(seq, mac, raw tag) from the head file, or None if it is missing or unreadable as a head."""
    try:
        fd = open_regular(path, os.O_RDONLY)  # a FIFO must not hang verify
    except FileNotFoundError:
        return None
    except OSError as err:
        raise AuditError(f"cannot read audit head {path}: {err.strerror or err}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # a writer updates it in place; do not read it half-written
        data = os.pread(fd, 512, 0)
    except OSError as err:
        raise AuditError(f"cannot read audit head {path}: {err.strerror or err}") from None
    finally:
        os.close(fd)
    head = parse_head(data)
    return None if head is None else (head[0], head[1], head[3])


def verify(path: str, key: bytes, *, head_file: str | None = None, require_head: bool = True) -> VerifyResult:
    """Verify the log at PATH with KEY.  require_head=False checks a copy without its head file
    (then cutting events off the end cannot be detected)."""
    head_raw = read_head(head_file or head_path(path))
    head: tuple[int, str] | None = None
    head_tag_ok = False
    if head_raw is not None:
        head = (head_raw[0], head_raw[1])
        head_tag_ok = hmac.compare_digest(head_tag(key, head[0], head[1]), head_raw[2])
    try:
        handle = read_regular(path)  # a FIFO must not hang verify
    except OSError as err:
        raise AuditError(f"cannot read audit log {path}: {err.strerror or err}") from None
    with handle:
        # Read at most MAX_LINE at a time: a planted line of gigabytes without a newline must be
        # reported malformed, not fill memory.  No event comes near it (a line is < 128 KiB).
        return _walk(key, iter(lambda: handle.readline(MAX_LINE), b""), head, head_tag_ok, require_head)


def _walk(key: bytes, lines: Iterator[bytes], head: tuple[int, str] | None, head_tag_ok: bool,
          require_head: bool) -> VerifyResult:
    expected, prev_mac, mac_at_head = 1, "", ""
    head_seq = head[0] if head else 0
    digest, compare, loads = hmac.digest, hmac.compare_digest, json.loads
    prev_bytes = b""
    for line in lines:
        # The hot path, inlined: a million events must verify in seconds.  The MAC is checked
        # on the line's bytes first; only a line this key signed (so written by our writer,
        # well-formed) has its top-level seq and prev read by byte search, and only when each
        # key occurs once on the line (a caller's nested "seq" sends it through json.loads).
        cut = len(line) - SUFFIX_LEN
        try:
            if (cut >= 2 and line[cut:cut + 8] == MAC_PREFIX and line.endswith(LINE_END)
                    and compare(digest(key, line[:cut] + b"}", "sha256").hex(), mac := line[cut + 8:cut + 72].decode())):
                if line.count(b'"seq":') == 1 and line.count(b'"prev":"') == 1:
                    start = line.find(b'"seq":') + 6
                    seq = int(line[start:line.find(b",", start)])
                    start = line.find(b'"prev":"') + 8
                    linked = line.startswith(prev_bytes, start) and line[start + len(prev_bytes)] == 0x22  # '"'
                else:
                    event = loads(line)
                    seq, linked = event["seq"], event["prev"] == prev_mac
                if seq == expected and linked:
                    if seq == head_seq:
                        mac_at_head = mac
                    expected, prev_mac, prev_bytes = expected + 1, mac, mac.encode()
                    continue
        except (ValueError, KeyError, TypeError, IndexError):
            pass
        # Off the hot path: say what is wrong with this line.
        found = _parse(key, line)
        if found is None:
            if not line.endswith(b"\n") and len(line) < MAX_LINE and head is not None and expected > head_seq:
                break  # a write in flight past the head
            return VerifyResult(False, expected - 1, expected, "malformed")
        return _classify(key, found, lines, expected, prev_mac, head, head_tag_ok)
    last = expected - 1
    if head is None:
        if require_head and last > 0:
            return VerifyResult(False, last, last + 1, "truncated")  # nothing proves where the log ended
        return VerifyResult(True, last, None, "")
    if not head_tag_ok:
        return VerifyResult(False, last, min(last, head_seq) + 1, "truncated")  # a head we did not write
    if head_seq > last:
        return VerifyResult(False, last, last + 1, "truncated")
    if head_seq and mac_at_head != head[1]:
        return VerifyResult(False, head_seq - 1, head_seq, "truncated")
    return VerifyResult(True, last, None, "")


def _classify(key: bytes, found: _Event, lines: Iterator[bytes], expected: int, prev_mac: str,
              head: tuple[int, str] | None, head_tag_ok: bool) -> VerifyResult:
    good = expected - 1
    if found.authentic:
        if found.seq > expected:
            # Signed by us but ahead of its place: the missing event was moved later, or removed.
            for line in lines:
                later = _parse(key, line)
                if later is not None and later.authentic and later.seq == expected and later.prev == prev_mac:
                    return VerifyResult(False, good, expected, "reordered")
            return VerifyResult(False, good, expected, "deleted")
        # seq goes back (a replayed copy) or prev links to another chain signed with this key.
        return VerifyResult(False, good, expected, "inserted")
    following = next(lines, None)
    nxt = _parse(key, following) if following is not None else None
    if expected == 1:
        key_known_good = head_tag_ok if head is not None else (nxt is not None and nxt.authentic)
        if not key_known_good:
            return VerifyResult(False, 0, 1, "wrong key")
    if nxt is not None and nxt.authentic and nxt.seq == expected and nxt.prev == prev_mac:
        return VerifyResult(False, good, expected, "inserted")  # the chain carries on without this line
    if nxt is None and head is not None and head_tag_ok and expected > head[0]:
        return VerifyResult(False, good, expected, "inserted")  # a forged line past the log's recorded end
    return VerifyResult(False, good, expected, "edited")
