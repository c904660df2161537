"""Running sessions: a small registry so an operator can list them and end one.

Each agentsh process with a session writes `live/<session>.<pid>.json` (0600, in the
0700 state directory) and removes it when it ends; entries whose process is gone are
ignored.  `agentsh kill SESSION` marks the session killed and sends SIGTERM to each of
its agentsh processes, which pass it to the running command and end the session.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Mapping
from typing import Any


def live_dir(environ: Mapping[str, str]) -> str:
    from .audit.log import state_dir  # (a relative XDG_STATE_HOME is ignored: it put this in the workspace)

    return os.path.join(state_dir(environ), "live")


def register(directory: str, session: str, info: dict[str, Any]) -> str:
    os.makedirs(directory, mode=0o700, exist_ok=True)
    path = os.path.join(directory, f"{session}.{os.getpid()}.json")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(dict(info, session=session, pid=os.getpid(), started=time.time()), handle)
    return path


def unregister(path: str) -> None:
    for name in (path, path[: -len(".json")] + ".killed"):
        try:
            os.unlink(name)
        except OSError:
            pass


def killed(path: str) -> bool:
    return os.path.exists(path[: -len(".json")] + ".killed")


def list_live(directory: str) -> list[dict[str, Any]]:
    found = []
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(directory, name), encoding="utf-8") as handle:
                entry = json.load(handle)
            os.kill(int(entry["pid"]), 0)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # unreadable, or its process is gone
        found.append(entry)
    return found


def kill(directory: str, session: str) -> list[dict[str, Any]]:
    """Mark every process of the session killed and send it SIGTERM; return the entries of
    those signalled."""
    ended = []
    for entry in list_live(directory):
        if entry.get("session") != session:
            continue
        pid = int(entry["pid"])
        marker = os.path.join(directory, f"{session}.{pid}.killed")
        with open(marker, "w", encoding="utf-8"):
            pass
        try:
            os.kill(pid, signal.SIGTERM)
            ended.append(entry)
        except ProcessLookupError:
            continue
    return ended
