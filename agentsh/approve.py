"""Human approval of `ask` rules through a spool directory.

The waiting agentsh writes `<id>.request.json`; an approver runs `agentsh approve ID`
or `agentsh deny ID --reason TEXT` from another terminal, which writes
`<id>.decision.json`.  watchdog wakes the waiting command within a moment of that
file appearing, without polling.  No decision before the timeout is a denial.

An agent must not approve itself: approving is refused from inside an agentsh
session (AGENTSH_SESSION set, or an agentsh process among the ancestors) and
without a terminal.  In guardrail mode an agent with its own tools outside
agentsh can still write the spool files; separated mode (approvals served by
another account) is what closes that.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import secrets
import threading
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

from .errors import UsageError

DEFAULT_TIMEOUT = 300.0
REQUEST = ".request.json"
DECISION = ".decision.json"


class Approver(NamedTuple):
    user: str
    uid: int
    tty: str


class Outcome(NamedTuple):
    approved: bool
    reason: str
    approver: Approver | None


def spool_dir(environ: Mapping[str, str]) -> str:
    """Inside agentsh's state dir, exactly as the audit log finds it, so the spool is always
    among the evidence paths no line may read or write.  (A relative XDG_STATE_HOME, which
    that rule ignores, put the spool under the cwd, in the workspace: a second line wrote
    its own decision file.)"""
    from .audit.log import state_dir

    return os.path.join(state_dir(environ), "approvals")


def _write_json(path: str, data: dict[str, Any], first: bool = False) -> bytes:
    """Write `data` atomically; return the bytes written (a request's digest binds its decision).

    first: fail with FileExistsError if `path` exists, atomically (two approvers answering at
    once were both told their decision was recorded; the waiter acted on one of them)."""
    raw = json.dumps(data).encode("utf-8")
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(raw)
    try:
        if first:
            os.link(tmp, path)  # readers never see half a file, and a second link fails
        else:
            os.replace(tmp, path)
    finally:
        if first:
            os.unlink(tmp)
    return raw


def _digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


MAX_FILE = 64 * 1024  # a request holds one line (at most 128 KiB is refused earlier); a decision far less


def _read_json(path: str, limit: int = MAX_FILE) -> dict[str, Any] | None:
    found = _read_raw(path, limit)
    return found[0] if found else None


def _read_raw(path: str, limit: int = MAX_FILE) -> tuple[dict[str, Any], bytes] | None:
    """A spool file's JSON object, or None for anything else.

    Only a regular file of this user's, not a symbolic link, at most `limit` bytes: a FIFO
    planted as a decision file blocked the waiting agentsh in open() for ever, past its
    timeout, and a huge file was read whole into memory."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_size > limit:
            return None
        raw = os.read(fd, limit + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError too
        return None
    return (data, raw) if isinstance(data, dict) else None


def request_approval(spool: str, request: dict[str, Any], timeout: float,
                     on_waiting: Any = None) -> Outcome:
    """Write a request and block until a decision arrives or the timeout passes."""
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers import Observer

    os.makedirs(spool, mode=0o700, exist_ok=True)
    request_id = secrets.token_hex(4)
    request = dict(request, id=request_id, created=time.time(), pid=os.getpid())
    decision_path = os.path.join(spool, request_id + DECISION)
    arrived = threading.Event()

    class Handler(FileSystemEventHandler):  # type: ignore[misc]
        def on_any_event(self, event: Any) -> None:
            for attribute in ("src_path", "dest_path"):
                if os.path.basename(os.fsdecode(getattr(event, attribute, "") or "")) == request_id + DECISION:
                    arrived.set()

    observer = Observer()
    observer.daemon = True
    observer.schedule(Handler(), spool, recursive=False)
    observer.start()
    try:
        written = _digest(_write_json(os.path.join(spool, request_id + REQUEST), request))
        if on_waiting is not None:
            on_waiting(request_id)
        deadline = time.monotonic() + timeout
        while not os.path.exists(decision_path):  # checked first: it may have come already
            remaining = deadline - time.monotonic()
            if remaining <= 0 or arrived.wait(min(remaining, 3600)):
                break
        data = _read_json(decision_path)
    finally:
        observer.stop()
        observer.join(timeout=2)
        for suffix in (REQUEST, DECISION):
            try:
                os.unlink(os.path.join(spool, request_id + suffix))
            except OSError:
                pass
    if data is None:
        return Outcome(False, f"no decision within {timeout:g} s (approval {request_id} timed out)", None)
    approver = data.get("approver") or {}
    who = Approver(str(approver.get("user", "?")), int(approver.get("uid", -1)), str(approver.get("tty", "")))
    if data.get("request_sha256") != written:
        # The approver read other bytes than this agentsh wrote (a request file rewritten
        # after it was written, or a decision left from another request): what they saw
        # is not what would run.
        return Outcome(False, f"the decision for {request_id} is not for the request this command wrote", who)
    approved = data.get("decision") == "approve"
    reason = str(data.get("reason") or ("approved" if approved else "denied"))
    return Outcome(approved, reason, who)


def pending(spool: str) -> list[dict[str, Any]]:
    """Open requests, oldest first; requests whose agentsh is gone are left out."""
    found = []
    try:
        names = os.listdir(spool)
    except OSError:
        return []
    for name in names:
        if not name.endswith(REQUEST):
            continue
        data = _read_json(os.path.join(spool, name))
        if data is None or not _alive(int(data.get("pid", 0))):
            continue
        found.append(data)
    return sorted(found, key=lambda r: float(r.get("created", 0)))


def decide(spool: str, request_id: str, approve: bool, reason: str,
           environ: Mapping[str, str]) -> tuple[Approver, dict[str, Any]]:
    """Record an approver's decision, bound to the request's bytes, which are returned to
    be shown; refuse one made from inside an agentsh session."""
    problem = self_approval_problem(environ)
    if problem:
        raise UsageError(problem)
    if not all(c in "0123456789abcdef" for c in request_id) or not request_id:
        raise UsageError(f"'{request_id}' is not an approval id")
    found = _read_raw(os.path.join(spool, request_id + REQUEST))
    if found is None:
        raise UsageError(f"no pending approval {request_id} (see `agentsh approvals`)")
    request, raw = found
    who = current_approver()
    try:
        _write_json(os.path.join(spool, request_id + DECISION), {
            "decision": "approve" if approve else "deny", "reason": reason, "time": time.time(),
            "approver": who._asdict(), "request_sha256": _digest(raw)}, first=True)
    except FileExistsError:
        raise UsageError(f"approval {request_id} was already decided by someone else") from None
    return who, request


def shown(text: object, indent: str = " " * 10) -> str:
    """`text` as an approver must see it: every character that is not printable (a tab,
    format characters such as the bidi overrides, C1 controls, odd spaces) as `<U+XXXX>`,
    each line after the first marked and indented under the first.  The static check lets
    U+202E through, and `touch restart-<U+202E>dlrow` was listed as `touch restart-world`."""
    out = []
    for char in str(text):
        if char == "\n":
            out.append("\u23ce\n" + indent)  # a line of the line, never a new entry of the listing
        elif char == " " or char.isprintable():
            out.append(char)
        else:
            out.append(f"<U+{ord(char):04X}>")
    return "".join(out)


def current_approver() -> Approver:
    from .session import user_name

    try:
        tty = os.ttyname(0)
    except OSError:
        tty = ""
    return Approver(user_name(), os.getuid(), tty)


def self_approval_problem(environ: Mapping[str, str]) -> str:
    if environ.get("AGENTSH_SESSION"):
        return "an agent cannot approve itself: this runs inside an agentsh session (AGENTSH_SESSION is set)"
    if _agentsh_ancestor():
        return "an agent cannot approve itself: an agentsh process is among this process's ancestors"
    if not os.isatty(0):
        return "approvals need a person at a terminal: standard input is not a TTY"
    return ""


def _agentsh_ancestor() -> bool:
    pid = os.getppid()
    seen = set()
    while pid > 1 and pid not in seen:
        seen.add(pid)
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
            with open(f"/proc/{pid}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            return False
        if _is_agentsh(argv):
            return True
        pid = int(stat[stat.rindex(b")") + 2:].split()[1])
    return False


def _is_agentsh(argv: list[bytes]) -> bool:
    """agentsh's console script, a login shell "-agentsh", `python -m agentsh`, or a warm
    server or worker (`python -P -c SERVER_CODE ...`, or `-m agentsh.warm.server`)."""
    from .warm.wire import SERVER_CODE

    if argv and os.path.basename(argv[0]) in (b"agentsh", b"-agentsh"):
        return True
    return any((flag == b"-m" and (name == b"agentsh" or name.startswith(b"agentsh.")))
               or (flag == b"-c" and name == SERVER_CODE.encode())
               for flag, name in itertools.pairwise(argv[1:7]))


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
