"""Find recorded sessions and play one back in the terminal.

Recordings are read defensively: an auditor lists and replays whatever is in the
directory, including files cut short by a killed session or written by other tools.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import time
from typing import IO, Any, NamedTuple

from ..regular import read_regular

_MARKER = re.compile(rb'^\[[^,\n]*,\s*"m"\s*,', re.MULTILINE)  # a "m" event at a line start
_CHUNK = 1 << 20
_MAX_LINE = 64 << 20  # an event line longer than this is no recording's (a hostile file must not fill memory)
_LAST_TIME = 253402300799  # 9999-12-31: times beyond it (or negative, or not finite) cannot be shown
_MAX_EVENT_TIME = 1e10  # seconds into a recording (317 years): later ones are no event
_MAX_SLEEP = 1e9  # time.sleep() overflows a little below 1e10 seconds


class SessionInfo(NamedTuple):
    session: str
    user: str
    profile: str
    start: int  # the header's Unix timestamp
    commands: int  # "m" markers: one per command line run
    size: int
    path: str


def read_header(path: str) -> dict[str, Any] | None:
    """The asciicast v2 header of `path`, or None if it is not one."""
    try:
        with read_regular(path) as handle:  # a FIFO among the recordings must not hang `sessions`
            header = json.loads(handle.readline(1 << 20))
    except (OSError, ValueError, RecursionError):
        return None
    return header if isinstance(header, dict) and header.get("version") == 2 else None


def parse_title(title: object) -> tuple[str, str, str] | None:
    """(profile, session, user) from the title agentsh writes: "agentsh <profile> <session> <user>"."""
    parts = str(title).split(" ") if isinstance(title, str) else []
    # printable only: `agentsh sessions` prints them, and escape sequences in a planted file's
    # title must not drive the auditor's terminal
    if len(parts) == 4 and parts[0] == "agentsh" and all(parts[1:]) and str(title).isprintable():
        return parts[1], parts[2], parts[3]
    return None


def count_markers(path: str) -> int:
    """Count "m" events without decoding the (possibly huge) output events."""
    count = 0
    carry = b""
    with read_regular(path) as handle:
        handle.readline(1 << 20)  # the header
        while chunk := handle.read(_CHUNK):
            data = carry + chunk
            cut = data.rfind(b"\n") + 1  # count whole lines only; the rest waits for the next chunk
            # A marker is found by its start, so a long output line need not be carried whole.
            count += len(_MARKER.findall(data, 0, cut))
            carry = data[cut:][:64] if cut else data[:64]
    return count


def list_sessions(directory: str) -> list[SessionInfo]:
    """Every asciicast v2 recording in `directory`, oldest session id first."""
    try:
        # agentsh names recordings with printable ids only; an escape sequence in a file name
        # must not reach the auditor's terminal either
        names = sorted(name for name in os.listdir(directory) if name.endswith(".cast") and name.isprintable())
    except OSError:
        return []
    found = []
    for name in names:
        path = os.path.join(directory, name)
        header = read_header(path)
        if header is None:
            continue
        try:
            size = os.path.getsize(path)
            commands = count_markers(path)
        except OSError:
            continue
        profile, _, user = parse_title(header.get("title")) or ("?", "", "?")
        found.append(SessionInfo(name[:-5], user, profile, _start(header.get("timestamp")), commands, size, path))
    return found


def _start(stamp: object) -> int:
    """The header's timestamp as a time that can be shown, else 0: a hostile file's Infinity,
    NaN or 1e300 crashed `agentsh sessions` (int() and localtime() raise) and hid every session."""
    if isinstance(stamp, int | float) and not isinstance(stamp, bool) and 0 <= stamp <= _LAST_TIME:
        return int(stamp)
    return 0


list_recordings = list_sessions


def resolve(spec: str, directory: str) -> str:
    """A recording by file path, by session id, or by a unique prefix of one."""
    if os.path.isfile(spec):
        return spec
    exact = os.path.join(directory, spec + ".cast")
    if "/" not in spec and os.path.isfile(exact):
        return exact
    matches = [s.path for s in list_sessions(directory) if s.session.startswith(spec)]
    if len(matches) == 1:
        return matches[0]
    raise FileNotFoundError(f"no recording '{spec}' in {directory}" if not matches
                            else f"'{spec}' matches {len(matches)} recordings; give more of the id")


def play(path: str, out: IO[bytes] | IO[str], speed: float = 1.0, idle_limit: float | None = None) -> int:
    """Write the "o" events to `out` with their timing; return how many were written.

    Gaps are capped at idle_limit (else the header's idle_time_limit), then divided by
    speed.  Each event is due at a time on one schedule (not a sleep per gap), so
    sleeping overhead does not add up over a long recording.  Stops quietly at the
    first line that is not an event (a torn last line, or a blank one as asciinema does)."""
    text_out = isinstance(out, io.TextIOBase)
    header = read_header(path)
    if header is None:
        raise ValueError(f"{path} is not an asciicast v2 recording")
    limit = header.get("idle_time_limit")
    if idle_limit is None and isinstance(limit, int | float) and 0 < limit <= _MAX_EVENT_TIME:
        idle_limit = float(limit)  # (a 400-digit integer made float() raise; NaN or a negative limit is none)
    speed = speed if speed > 0 else 1.0
    played, previous, due = 0, 0.0, 0.0
    begin = time.monotonic()
    with read_regular(path) as handle:
        handle.readline(1 << 20)
        while line := handle.readline(_MAX_LINE):
            try:
                when, code, data = json.loads(line)
                when = float(when)
            except (ValueError, TypeError, RecursionError):
                break
            if not math.isfinite(when) or abs(when) > _MAX_EVENT_TIME:
                break  # no event's time: sleep() cannot wait for Infinity or 1e308 (it raised)
            gap = max(0.0, when - previous)
            previous = when
            due += (min(gap, idle_limit) if idle_limit is not None else gap) / speed
            if code != "o" or not isinstance(data, str):
                continue
            wait = begin + due - time.monotonic()
            if wait > 0:
                time.sleep(min(wait, _MAX_SLEEP))  # (a tiny --speed must not overflow sleep either)
            out.write(data if text_out else data.encode("utf-8", "replace"))  # type: ignore[arg-type]
            out.flush()
            played += 1
    return played
