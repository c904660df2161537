"""Recordings attacked through real `agentsh` processes: a recording directory others may write, a
hostile file at the session's own path, and hostile files among the recordings for `sessions` and
`replay` (which must list the rest and fail cleanly, never hang or print a traceback)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import write_profile

Run = Callable[..., subprocess.CompletedProcess[str]]
CANARY = "CANARY-RAN"
PROFILE = """\
agentsh: 1
name: rec
extends: [base]
record: {{dir: "{record}", required: true}}
"""
HEADER = '{"version": 2, "width": 80, "height": 24, "timestamp": %s}\n'


@pytest.fixture
def record(tmp_path: Path) -> Path:
    path = tmp_path / "rec"
    path.mkdir()
    return path


@pytest.fixture
def profile(tmp_path: Path, record: Path) -> Path:
    return write_profile(tmp_path, "rec", PROFILE.format(record=record))


def test_a_recording_directory_anyone_may_write_refuses_the_line(run_agentsh: Run, profile: Path, record: Path,
                                                                 agentsh_env: dict[str, str]) -> None:
    # Before: recordings went into a 0777 directory where any user could delete or replace them.
    record.chmod(0o777)
    result = run_agentsh("-p", str(profile), "-c", f"echo {CANARY}")
    assert result.returncode == 126 and CANARY not in result.stdout
    assert "writable by every user" in result.stderr
    record.chmod(0o1777)  # sticky, like /tmp: others cannot remove or rename what is not theirs
    assert run_agentsh("-p", str(profile), "-c", f"echo {CANARY}").stdout == f"{CANARY}\n"


def test_a_deeply_nested_file_at_the_session_path_is_refused_cleanly(run_agentsh: Run, profile: Path, record: Path,
                                                                     agentsh_env: dict[str, str]) -> None:
    # Before: RecursionError from the header's JSON, a traceback instead of a denial.
    (record / "s1.cast").write_text('{"version": 2, "a": ' + "[" * 100_000 + "\n")
    result = run_agentsh("-p", str(profile), "-c", f"echo {CANARY}", env=dict(agentsh_env, AGENTSH_SESSION="s1"))
    assert result.returncode == 126 and CANARY not in result.stdout and "Traceback" not in result.stderr
    assert "not an asciicast v2 file" in result.stderr


HOSTILE = {
    "inf-start": HEADER % "Infinity" + '[1, "m", "x"]\n',
    "nan-start": HEADER % "NaN",
    "huge-start": HEADER % "1e300",
    "huge-int-start": HEADER % ("9" * 30),
    "inf-time": HEADER % 1 + '[Infinity, "o", "x"]\n',
    "huge-time": HEADER % 1 + '[1e308, "o", "x"]\n',
    "huge-idle": HEADER.replace("}", ', "idle_time_limit": %s}' % ("9" * 400)) % 1 + '[0.5, "o", "idle-ok"]\n',
    "deep-event": HEADER % 1 + "[" * 100_000 + "\n",
    "deep-header": "[" * 100_000 + "\n",
    "not-json": "garbage\n",
}


def test_sessions_and_replay_on_hostile_files_fail_cleanly(run_agentsh: Run, profile: Path, record: Path,
                                                           agentsh_env: dict[str, str]) -> None:
    assert run_agentsh("-p", str(profile), "-c", "echo real",
                       env=dict(agentsh_env, AGENTSH_SESSION="real")).returncode == 0
    for name, text in HOSTILE.items():
        (record / f"{name}.cast").write_text(text)
    os.mkfifo(record / "fifo.cast")  # before: `sessions` and `replay` blocked on it forever
    listed = run_agentsh("sessions", "--dir", str(record), timeout=20)
    # Before: Infinity, NaN and 1e300 start times raised (int(), localtime()) and hid every session.
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
    names = {line.split()[0] for line in listed.stdout.splitlines()}
    assert {"real", "inf-start", "nan-start", "huge-start", "huge-int-start"} <= names and "fifo" not in names
    assert json.loads(run_agentsh("sessions", "--json", "--dir", str(record), timeout=20).stdout)
    for name in [*HOSTILE, "fifo"]:
        played = run_agentsh("replay", "--dir", str(record), name, timeout=20)
        # Before: OverflowError (sleep of Infinity, float() of a 400-digit limit), RecursionError.
        assert played.returncode in (0, 2) and "Traceback" not in played.stderr, (name, played.stderr)
        assert "x" not in played.stdout, name  # an event at an impossible time is no event
    assert run_agentsh("replay", "--dir", str(record), "huge-idle", timeout=20).stdout == "idle-ok"
    assert run_agentsh("replay", "--dir", str(record), "not-json").returncode == 2
    assert run_agentsh("replay", str(record / "fifo.cast"), timeout=20).returncode == 2
    assert "real" in run_agentsh("replay", "--dir", str(record), "real", "--speed", "1000").stdout


def strict(line: str) -> list:
    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    return json.loads(line, parse_constant=refuse)


def test_a_hostile_time_in_the_session_file_does_not_spoil_later_events(run_agentsh: Run, profile: Path,
                                                                        record: Path,
                                                                        agentsh_env: dict[str, str]) -> None:
    # Before: a last event at 1e999 made every later event `[inf, ...]` (no JSON: the rest of the
    # session did not play), and a 400-digit header timestamp raised OverflowError at each event.
    (record / "s1.cast").write_text(HEADER % 1 + '[1e999, "o", "x"]\n')
    (record / "s2.cast").write_text(HEADER % ("1" + "0" * 400))
    env = dict(agentsh_env, AGENTSH_SESSION="s1")
    assert run_agentsh("-p", str(profile), "-c", "echo later", env=env).stdout == "later\n"
    later = (record / "s1.cast").read_text().splitlines()[2:]
    assert later and all(strict(line)[0] >= 0 for line in later)
    result = run_agentsh("-p", str(profile), "-c", f"echo {CANARY}", env=dict(agentsh_env, AGENTSH_SESSION="s2"))
    assert result.returncode == 126 and CANARY not in result.stdout and "Traceback" not in result.stderr


def test_sessions_prints_no_escape_sequence_from_a_planted_file(run_agentsh: Run, record: Path) -> None:
    # Before: the title's profile and user went to the auditor's terminal as written.
    (record / "a.cast").write_text(json.dumps({"version": 2, "timestamp": 1,
                                               "title": "agentsh \x1b]0;pwned\x07 a \x1b[2J"}) + "\n")
    (record / "b\x1b[2J.cast").write_text(HEADER % 1)
    listed = run_agentsh("sessions", "--dir", str(record))
    assert listed.returncode == 0 and "\x1b" not in listed.stdout
    assert listed.stdout.startswith("a  ?")
