"""Read and filter audit events (for `agentsh audit show|search`).

Search does not check MACs (that is `verify`'s job) and skips lines that do not parse.
Filters match these event fields, as the session writes them:

- session:  `session`
- user:     `user`, or `identity.user` / `identity.agent` (OS user or agent name)
- decision: `decision` ("allow", "deny", "ask", ...)
- rule:     `rule`
- kind:     `kind` (one, or any of several)
- since / until: `time`; since is inclusive, until exclusive.  A datetime (naive = local
  time), or text: ISO-8601 ("2026-05-01", "2026-05-01T10:00:00Z") or an age ("90s", "15m",
  "2h", "7d": that long before now).
"""

from __future__ import annotations

import datetime
import json
import math
import re
from collections.abc import Iterable, Iterator

from ..regular import read_regular
from .log import AuditError
from .verify import MAX_LINE

_AGE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])\Z")
_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(value: str | datetime.datetime) -> str:
    """A time bound in the log's own format (UTC, microseconds, Z), so bounds compare as strings."""
    if isinstance(value, datetime.datetime):
        moment = value
    else:
        text = value.strip()
        age = _AGE_RE.match(text.lower())
        if age:
            seconds = float(age.group(1)) * _AGE_UNITS[age.group(2)]
            moment = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=seconds)
        else:
            try:
                moment = datetime.datetime.fromisoformat(text)
            except ValueError:
                raise ValueError(f"not a time: {value!r} (use ISO-8601 like 2026-05-01T10:00Z, or an age like 2h)") from None
    moment = moment.astimezone(datetime.UTC)  # naive values are taken as local time
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _user_of(event: dict) -> set[str]:
    names = [event.get("user")]
    identity = event.get("identity")
    if isinstance(identity, dict):
        names += (identity.get("user"), identity.get("agent"))
    return {str(name) for name in names if name is not None}  # (a set of them raised on a dict "user")


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON the log's writer produces")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999: the writer never produces one, and --json could not print it
        raise ValueError(f"{text} is out of range")
    return value


def search(path: str, *, session: str | None = None, user: str | None = None, decision: str | None = None,
           rule: str | None = None, since: str | datetime.datetime | None = None,
           until: str | datetime.datetime | None = None, kind: str | Iterable[str] | None = None) -> Iterator[dict]:
    """Events in the log at PATH, oldest first, that match every filter given."""
    low = parse_time(since) if since is not None else None
    high = parse_time(until) if until is not None else None
    kinds = {kind} if isinstance(kind, str) else set(kind) if kind is not None else None
    try:
        handle = read_regular(path)  # a FIFO must not hang `audit show`
    except OSError as err:
        raise AuditError(f"cannot read audit log {path}: {err.strerror or err}") from None
    with handle:
        for line in iter(lambda: handle.readline(MAX_LINE), b""):  # a line of gigabytes is read in pieces
            try:
                event = json.loads(line, parse_constant=_no_constant, parse_float=_finite)
            except (ValueError, RecursionError):  # not an event the writer wrote; `verify` says so
                continue
            if not isinstance(event, dict):
                continue
            if kinds is not None and event.get("kind") not in kinds:
                continue
            if session is not None and event.get("session") != session:
                continue
            if decision is not None and event.get("decision") != decision:
                continue
            if rule is not None and event.get("rule") != rule:
                continue
            if user is not None and user not in _user_of(event):
                continue
            when = event.get("time")
            if low is not None and not (isinstance(when, str) and when >= low):
                continue
            if high is not None and not (isinstance(when, str) and when < high):
                continue
            yield event


_SHOWN_FIRST = ("session", "command", "decision", "rule", "line")
_NOT_SHOWN = {"seq", "time", "kind", "prev", "mac"}


def format_event(event: dict) -> str:
    """One line for people: seq, time, kind, the usual fields first, then the rest as key=value."""
    # !s first: a hostile line's dict or list "seq" or "kind" made the format spec raise
    parts = [f"{event.get('seq', '?')!s:>6}", str(event.get("time", "?")), f"{event.get('kind', '?')!s:<13}"]
    keys = [k for k in _SHOWN_FIRST if k in event] + sorted(k for k in event if k not in _NOT_SHOWN
                                                           and k not in _SHOWN_FIRST)
    for name in keys:
        value = event[name]
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        if len(text) > 200:
            text = text[:197] + "..."
        if not text.isprintable():  # escape sequences in a logged line must not drive the auditor's terminal
            text = json.dumps(text)
        elif " " in text or not text:
            text = json.dumps(text, ensure_ascii=False)
        parts.append(f"{name}={text}")
    return " ".join(parts)
