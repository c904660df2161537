"""The auditor's commands: `audit verify|show|search`, `sessions`, `replay` and `kill`
(registered on the CLI group in cli.py)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable

import click


@click.group()
def audit() -> None:
    """Verify and search the tamper-evident audit trail (default log: ~/.local/state/agentsh/audit.jsonl)."""


_VERIFY_WHY = {
    "edited": "event {seq} does not match its MAC: it was changed after it was written",
    "deleted": "event {seq} is missing: the chain jumps over it",
    "inserted": "the line at position {seq} is not part of the chain (forged, replayed, or from another log)",
    "reordered": "event {seq} is out of place: it appears later in the file",
    "truncated": "events from {seq} on are missing at the end: the head file records more (or a later event)",
    "wrong key": "the first event's MAC does not match this key: the log was signed with another key",
    "malformed": "the line at position {seq} is not an audit event",
}


@audit.command("verify")
@click.argument("file", required=False)
@click.option("--key-file", default=None, help="Read the HMAC key (hex) from this file.")
@click.option("--no-keyring", is_flag=True, help="Do not look for the key in the OS keyring.")
@click.option("--no-head", is_flag=True, help="Check a copy without its .head file (a cut-off end goes unnoticed).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def audit_verify(file: str | None, key_file: str | None, no_keyring: bool, no_head: bool, as_json: bool) -> None:
    """Check the log's MAC chain; report the first broken event and why (exit 1 if broken)."""
    from .audit.key import load_key, read_key_file
    from .audit.log import AuditError, default_path, head_path
    from .audit.verify import verify

    path = file or default_path(os.environ)
    try:
        if key_file:
            key = read_key_file(key_file)
        else:
            key, _ = load_key(os.environ, use_keyring=not no_keyring, create=False)
        result = verify(path, key, require_head=not no_head)
    except FileNotFoundError as err:
        raise click.ClickException(f"no such file: {err.filename}") from None
    except AuditError as err:
        raise click.ClickException(str(err)) from None
    if as_json:
        click.echo(json.dumps({"file": path, **result._asdict()}))
    elif result.ok:
        click.echo(f"ok: {path}: {result.events} events, chain intact")
    else:
        why = _VERIFY_WHY.get(result.reason, "").format(seq=result.first_bad)
        head = head_path(path)
        if result.reason == "truncated" and not no_head and (not os.path.exists(head) or not os.path.getsize(head)):
            why = f"the head file {head} is missing or empty, so the log's end cannot be proven (--no-head skips this)"
        click.echo(f"BROKEN: {path}: seq {result.first_bad}: {result.reason}: {why} "
                   f"({result.events} events intact before it)")
    if not result.ok:
        sys.exit(1)


def _audit_filters(func: Callable[..., None]) -> Callable[..., None]:
    options = [
        click.argument("file", required=False),
        click.option("--session", default=None, help="Only this session id."),
        click.option("--user", default=None, help="Only this OS user or agent name."),
        click.option("--decision", default=None, help="Only this decision (allow, deny, ask, ...)."),
        click.option("--rule", default=None, help="Only events decided by this rule."),
        click.option("--since", default=None, help="From this time (ISO-8601, or an age: 15m, 2h, 7d)."),
        click.option("--until", default=None, help="Before this time (ISO-8601, or an age)."),
        click.option("--kind", multiple=True, help="Only this kind of event (repeatable)."),
        click.option("--last", type=click.IntRange(min=1), default=None, help="Only the last N matches."),
        click.option("--json", "as_json", is_flag=True, help="One JSON event per line, as logged."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _audit_print(file: str | None, as_json: bool, last: int | None, filters: dict[str, object]) -> None:
    from collections import deque

    from .audit.log import AuditError, canonical, default_path
    from .audit.query import format_event, search

    filters["kind"] = filters["kind"] or None
    try:
        events = search(file or default_path(os.environ), **filters)  # type: ignore[arg-type]
        if last is not None:
            events = iter(deque(events, maxlen=last))
        for event in events:
            # canonical(): compact, sorted, and lone surrogates escaped so the line stays valid UTF-8
            click.echo(canonical(event).decode() if as_json else format_event(event))
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    except AuditError as err:
        raise click.ClickException(str(err)) from None


@audit.command("show")
@_audit_filters
def audit_show(file: str | None, as_json: bool, last: int | None, **filters: object) -> None:
    """Print the log's events, oldest first, optionally filtered (MACs are checked by `verify`)."""
    _audit_print(file, as_json, last, filters)


@audit.command("search")
@_audit_filters
def audit_search(file: str | None, as_json: bool, last: int | None, **filters: object) -> None:
    """Print the events that match every filter given (at least one filter)."""
    if not any(filters.values()):
        raise click.UsageError("give at least one filter (--session, --user, --decision, --rule, --since, --until, --kind)")
    _audit_print(file, as_json, last, filters)

@click.command()
@click.option("--dir", "directory", default=None, help="Recordings directory (default: the XDG state dir).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--live", is_flag=True, help="List running sessions instead.")
def sessions(directory: str | None, as_json: bool, live: bool) -> None:
    """List recorded sessions: id, user, profile, start, commands, size (--live: running ones)."""
    import time

    from .record.asciicast import default_directory
    from .record.store import list_sessions

    if live:
        from .live import list_live, live_dir

        running = list_live(live_dir(os.environ))
        if as_json:
            click.echo(json.dumps(running, indent=2))
        for entry in running if not as_json else ():
            started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(entry.get("started", 0))))
            click.echo(f"{entry['session']}  pid {entry['pid']:<7} {entry.get('user', '?'):<12} "
                       f"{entry.get('profile', '?'):<16} {started}  {entry.get('command', '')}")
        return

    found = list_sessions(directory or default_directory(os.environ))
    if as_json:
        click.echo(json.dumps([s._asdict() for s in found], indent=2))
        return
    for info in found:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.start))
        click.echo(f"{info.session}  {info.user:<12} {info.profile:<16} {started}  "
                   f"{info.commands:>5} commands  {info.size:>9} bytes")


@click.command()
@click.option("--dir", "directory", default=None, help="Recordings directory (default: the XDG state dir).")
@click.option("--speed", default=1.0, type=click.FloatRange(min=0, min_open=True), help="Playback speed factor.")
@click.option("--idle-limit", default=None, type=click.FloatRange(min=0), help="Cap pauses at this many seconds.")
@click.argument("recording")
def replay(directory: str | None, speed: float, idle_limit: float | None, recording: str) -> None:
    """Play a recorded session (by id or file) in the terminal."""
    from .record.asciicast import default_directory
    from .record.store import play, resolve

    try:
        path = resolve(recording, directory or default_directory(os.environ))
        play(path, sys.stdout.buffer, speed=speed, idle_limit=idle_limit)
    except (OSError, ValueError) as err:  # missing, unreadable or not a recording: say so, no traceback
        raise click.ClickException(str(err)) from None


@click.command("kill")
@click.argument("session")
def kill_session(session: str) -> None:
    """End a running session and its command; recorded in the audit trail."""
    from .audit.key import load_key
    from .audit.log import default_path, open_audit_log
    from .live import kill, live_dir
    from .session import user_name

    ended = kill(live_dir(os.environ), session)
    if not ended:
        raise click.ClickException(f"no running session '{session}' (see `agentsh sessions --live`)")
    pids = [int(entry["pid"]) for entry in ended]
    # recorded in the session's own audit log, with the key it uses (a profile may name its
    # own `audit.file` or keep the key in the keyring); entries of an older agentsh: the default
    logs = {}
    for entry in ended:
        audit = entry.get("audit") if isinstance(entry.get("audit"), dict) else {}
        path = audit.get("file") if isinstance(audit.get("file"), str) and audit.get("file") else \
            default_path(os.environ)
        logs[path] = (bool(audit.get("keyring")), bool(audit.get("syslog")))
    for path, (keyring, syslog) in logs.items():
        key, _ = load_key(os.environ, use_keyring=keyring)
        with open_audit_log(path, key, syslog=syslog) as log:
            log.write("kill", session=session, pids=pids, user=user_name(),
                      identity={"user": user_name(), "uid": os.getuid(), "host": os.uname().nodename})
    click.echo(f"ended session {session} ({len(pids)} process{'es' if len(pids) != 1 else ''})")
