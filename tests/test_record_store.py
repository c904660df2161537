"""Listing recordings and replaying them (agentsh/record/store.py, `agentsh sessions`, `agentsh replay`)."""

from __future__ import annotations

import io
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agentsh.record.asciicast import open_recording
from agentsh.record.store import count_markers, list_sessions, parse_title, play, resolve

Run = Callable[..., subprocess.CompletedProcess[str]]


def write_cast(path: Path, header: object, events: list[list]) -> Path:
    lines = [json.dumps(header)] + [json.dumps(e) for e in events]
    path.write_text("\n".join(lines) + "\n")
    return path


def recorded(directory: Path, session: str, profile: str = "dev", user: str = "alice", commands: int = 2) -> Path:
    with open_recording(str(directory), session, width=80, height=24, title=f"agentsh {profile} {session} {user}",
                        command="agentsh -c", env={}) as r:
        for i in range(commands):
            r.marker(f"{session}-{i}")
            r.output(f'out {i} , "m", not a marker\r\n'.encode() + b"\x1b[1m" * 30000)  # long, page-cut lines
    return directory / f"{session}.cast"


def test_list_sessions_reads_headers_defensively(tmp_path: Path) -> None:
    recorded(tmp_path, "20261128T100000-aaaaaa", commands=3)
    recorded(tmp_path, "20261128T090000-bbbbbb", profile="reviewer", user="bob", commands=0)
    write_cast(tmp_path / "odd-title.cast", {"version": 2, "width": 1, "height": 1, "timestamp": "soon",
                                             "title": "made by asciinema rec"}, [[0.5, "m", ""], [1, "o", "x"]])
    (tmp_path / "garbage.cast").write_bytes(b"\xff\x00 not json\n")
    write_cast(tmp_path / "v1.cast", {"version": 1, "stdout": []}, [])
    write_cast(tmp_path / "array.cast", [2, 3], [])
    (tmp_path / "history").write_text("ls\n")  # other files in the directory are not recordings
    found = list_sessions(str(tmp_path))
    assert [s.session for s in found] == ["20261128T090000-bbbbbb", "20261128T100000-aaaaaa", "odd-title"]
    old, new, odd = found
    assert (old.profile, old.user, old.commands) == ("reviewer", "bob", 0)
    assert (new.profile, new.user, new.commands) == ("dev", "alice", 3)  # '"m"' inside output is not a marker
    assert new.size == Path(new.path).stat().st_size and abs(new.start - time.time()) < 60
    assert (odd.profile, odd.user, odd.start, odd.commands) == ("?", "?", 0, 1)
    assert list_sessions(str(tmp_path / "missing")) == []
    assert parse_title("agentsh p s u") == ("p", "s", "u") and parse_title(None) is None
    assert parse_title("agentsh p  u") is None


def test_count_markers_across_chunk_boundaries(tmp_path: Path) -> None:
    events = []
    for i in range(300):
        events.append([i, "m", f"c{i}"])
        events.append([i + 0.5, "o", "y" * (i * 7919 % 20000)])  # markers land at every offset of 1 MiB chunks
    assert count_markers(str(write_cast(tmp_path / "m.cast", {"version": 2}, events))) == 300


def test_resolve_by_file_id_and_prefix(tmp_path: Path) -> None:
    recorded(tmp_path, "s")
    recorded(tmp_path, "s2")
    recorded(tmp_path, "t-long-id")
    assert resolve("s", str(tmp_path)) == str(tmp_path / "s.cast")  # exact id wins over a prefix of another
    assert resolve("t-", str(tmp_path)) == str(tmp_path / "t-long-id.cast")
    assert resolve(str(tmp_path / "s2.cast"), "/nonexistent") == str(tmp_path / "s2.cast")
    (tmp_path / "s.cast").unlink()
    with pytest.raises(FileNotFoundError, match="matches 2 recordings"):  # s2 and ... a second s-prefixed id
        recorded(tmp_path, "s3")
        resolve("s", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no recording 'nope'"):
        resolve("nope", str(tmp_path))


def test_play_keeps_timing_scaled_and_capped(tmp_path: Path) -> None:
    cast = write_cast(tmp_path / "t.cast", {"version": 2, "width": 80, "height": 24},
                      [[0.0, "o", "a"], [0.3, "m", "c1"], [0.6, "o", "b\x1b[0m"], [3.6, "o", "é"], [3.6, "r", "9x9"]])
    out = io.BytesIO()
    begin = time.monotonic()
    assert play(str(cast), out, speed=2.0, idle_limit=0.5) == 3
    elapsed = time.monotonic() - begin
    assert out.getvalue() == "ab\x1b[0mé".encode()
    assert 0.5 <= elapsed < 1.5  # 0.6 s / 2 + (3 s capped at 0.5) / 2 = 0.55 s
    text = io.StringIO()
    begin = time.monotonic()
    play(str(cast), text, speed=1000)
    assert text.getvalue() == "ab\x1b[0mé" and time.monotonic() - begin < 0.5


def test_play_honours_the_header_idle_limit_and_stops_at_a_torn_line(tmp_path: Path) -> None:
    cast = write_cast(tmp_path / "t.cast", {"version": 2, "idle_time_limit": 0.1},
                      [[0.0, "o", "a"], [100.0, "o", "b"]])
    with open(cast, "a") as handle:
        handle.write('[101.0, "o", "tor')  # what a killed writer may leave
    out = io.BytesIO()
    begin = time.monotonic()
    assert play(str(cast), out) == 2 and out.getvalue() == b"ab"
    assert time.monotonic() - begin < 1
    (tmp_path / "bad.cast").write_text("nope\n")
    with pytest.raises(ValueError, match="not an asciicast v2 recording"):
        play(str(tmp_path / "bad.cast"), io.BytesIO())


def test_cli_sessions_and_replay(run_agentsh: Run, tmp_path: Path) -> None:
    directory = tmp_path / "recs"
    path = recorded(directory, "20261128T120000-cccccc", commands=1)
    listing = run_agentsh("sessions", "--dir", str(directory))
    assert listing.returncode == 0
    assert listing.stdout.startswith("20261128T120000-cccccc  alice") and "1 commands" in listing.stdout
    [entry] = json.loads(run_agentsh("sessions", "--dir", str(directory), "--json").stdout)
    assert entry["session"] == "20261128T120000-cccccc" and entry["profile"] == "dev"
    assert entry["size"] == path.stat().st_size and entry["commands"] == 1
    replay = run_agentsh("replay", str(path), "--speed", "1000", "--idle-limit", "0")  # by file
    assert replay.returncode == 0 and replay.stdout.startswith('out 0 , "m", not a marker\n\x1b[1m')  # text mode folds \r\n
    prefix = run_agentsh("replay", "20261128T12", "--dir", str(directory), "--speed", "1000")
    assert prefix.returncode == 0 and prefix.stdout == replay.stdout
    (directory / "junk.cast").write_text("junk\n")
    junk = run_agentsh("replay", str(directory / "junk.cast"))
    assert junk.returncode == 2 and "is not an asciicast v2 recording" in junk.stderr
    bad_speed = run_agentsh("replay", str(path), "--speed", "0")
    assert bad_speed.returncode == 2 and "--speed" in bad_speed.stderr
