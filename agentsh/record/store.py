"""Find recorded sessions and play one back in the terminal."""

from __future__ import annotations

import json
import os
import time
from typing import Any, BinaryIO, NamedTuple


class SessionInfo(NamedTuple):
    session: str
    user: str
    profile: str
    start: int
    commands: int
    size: int
    path: str


def list_sessions(directory: str) -> list[SessionInfo]:
    found = []
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    for name in names:
        if not name.endswith(".cast"):
            continue
        path = os.path.join(directory, name)
        try:
            with open(path, "rb") as handle:
                header: Any = json.loads(handle.readline())
                commands = sum(1 for line in handle if line.startswith(b"[") and b', "m", ' in line)
        except (OSError, ValueError):
            continue
        # The title is "agentsh <profile> <session> <user>" (see Session.recorder).
        parts = str(header.get("title", "")).split()
        profile, user = (parts[1], parts[3]) if len(parts) == 4 and parts[0] == "agentsh" else ("?", "?")
        found.append(SessionInfo(name[:-5], user, profile, int(header.get("timestamp", 0)), commands,
                                 os.path.getsize(path), path))
    return found


def resolve(spec: str, directory: str) -> str:
    """A recording by session id (or a prefix of one) or by file path."""
    if os.path.isfile(spec):
        return spec
    matches = [s.path for s in list_sessions(directory) if s.session.startswith(spec)]
    if len(matches) == 1:
        return matches[0]
    raise FileNotFoundError(f"no recording '{spec}' in {directory}" if not matches
                            else f"'{spec}' matches {len(matches)} recordings; give more of the id")


def play(path: str, out: BinaryIO, speed: float = 1.0, idle_limit: float | None = None) -> None:
    """Write the output events with their timing (scaled by speed, idle gaps capped)."""
    previous = 0.0
    with open(path, "rb") as handle:
        handle.readline()
        for line in handle:
            try:
                when, code, data = json.loads(line)
            except ValueError:
                break  # a torn last line: play what came before
            gap = max(0.0, float(when) - previous)
            previous = float(when)
            if idle_limit is not None:
                gap = min(gap, idle_limit)
            if code == "o":
                if gap > 0 and speed > 0:
                    time.sleep(gap / speed)
                out.write(str(data).encode("utf-8", "replace"))
                out.flush()
