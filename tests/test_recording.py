"""Recordings: asciicast v2 that asciinema 2.4 reads, appended across -c calls, durable, faithful."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import write_profile

Run = Callable[..., subprocess.CompletedProcess[str]]
PROFILE = """\
agentsh: 1
name: rec
extends: [base]
record: {{dir: "{record}", required: {required}}}
commands:
  - {{name: tools, run: [ls, seq, sleep, cat, head, "yes"], decision: allow}}
"""
ASCIINEMA = shutil.which("asciinema") or str(Path(sys.executable).parent / "asciinema")


@pytest.fixture
def record(tmp_path: Path) -> Path:
    return tmp_path / "rec"


@pytest.fixture
def profile(tmp_path: Path, record: Path) -> Path:
    return write_profile(tmp_path, "rec", PROFILE.format(record=record, required="true"))


def parse(path: Path) -> tuple[dict, list[list]]:
    lines = path.read_text().split("\n")
    assert lines[-1] == "" and all(lines[:-1]), "blank line in the recording"
    return json.loads(lines[0]), [json.loads(line) for line in lines[1:-1]]


def test_successive_calls_append_to_one_session(run_agentsh: Run, profile: Path, record: Path,
                                                agentsh_env: dict[str, str]) -> None:
    env = dict(agentsh_env, AGENTSH_SESSION="agent-run-1")
    for i in range(3):
        assert run_agentsh("-p", str(profile), "-c", f"seq {i} {i + 2}", env=env).returncode == 0
        time.sleep(0.05)
    assert run_agentsh("-p", str(profile), "-c", "curl http://127.0.0.1/", env=env).returncode == 126
    [cast] = record.glob("*.cast")
    assert cast.name == "agent-run-1.cast" and cast.stat().st_mode & 0o777 == 0o600
    assert record.stat().st_mode & 0o777 == 0o700
    header, events = parse(cast)
    assert header["version"] == 2 and isinstance(header["timestamp"], int)
    assert header["title"].startswith("agentsh rec agent-run-1 ") and header["env"]["SHELL"] == "agentsh"
    assert [e[1] for e in events].count("m") == 4
    times = [e[0] for e in events]
    assert times == sorted(times) and times[-1] > 0
    text = "".join(e[2] for e in events if e[1] == "o")
    assert "$ seq 0 2\r\n0\r\n1\r\n2\r\n" in text and "agentsh: denied: curl" in text
    cat = subprocess.run([ASCIINEMA, "cat", str(cast)], capture_output=True, text=True, timeout=60)
    assert cat.returncode == 0 and "3\n4\n" in cat.stdout  # text mode folds \r\n
    play = subprocess.run([ASCIINEMA, "play", "-s", "100", str(cast)], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)
    assert play.returncode == 0 and "agentsh: denied: curl" in play.stdout


def test_concurrent_calls_never_corrupt_it(profile: Path, record: Path, agentsh_env: dict[str, str],
                                           workspace: Path) -> None:
    env = dict(agentsh_env, AGENTSH_SESSION="shared")
    procs = [subprocess.Popen([sys.executable, "-m", "agentsh", "-p", str(profile), "-c", f"seq 1 {20 + i}"],
                              cwd=workspace, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for i in range(20)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    _, events = parse(record / "shared.cast")
    assert [e[1] for e in events].count("m") == 20
    times = [e[0] for e in events]
    assert times == sorted(times)


def test_sigkill_leaves_a_playable_file(profile: Path, record: Path, agentsh_env: dict[str, str],
                                        workspace: Path) -> None:
    env = dict(agentsh_env, AGENTSH_SESSION="killed")
    proc = subprocess.Popen([sys.executable, "-m", "agentsh", "-p", str(profile), "-c",
                             "for i in $(seq 1 500); do echo line-$i; sleep 0.01; done"],
                            cwd=workspace, env=env, stdout=subprocess.DEVNULL, start_new_session=True)
    time.sleep(1.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    _, events = parse(record / "killed.cast")
    assert any("line-" in e[2] for e in events if e[1] == "o")
    cat = subprocess.run([ASCIINEMA, "cat", str(record / "killed.cast")], capture_output=True, text=True, timeout=60)
    assert cat.returncode == 0 and "line-1\n" in cat.stdout


def test_bytes_are_faithful(profile: Path, record: Path, agentsh_env: dict[str, str], workspace: Path) -> None:
    env = dict(agentsh_env, AGENTSH_SESSION="bytes")
    line = r"printf '\xc3'; sleep 0.2; printf '\xa9 \033[31mred\033[0m \xff end\n'"
    result = subprocess.run([sys.executable, "-m", "agentsh", "-p", str(profile), "-c", line], cwd=workspace,
                            env=env, capture_output=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout == b"\xc3\xa9 \x1b[31mred\x1b[0m \xff end\n"  # the agent gets the bytes as they are
    _, events = parse(record / "bytes.cast")
    text = "".join(e[2] for e in events if e[1] == "o")
    assert "é \x1b[31mred\x1b[0m \ufffd end\r\n" in text


def test_unwritable_directory_refuses_commands(run_agentsh: Run, tmp_path: Path, workspace: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    profile = write_profile(tmp_path, "blocked", PROFILE.format(record=blocker / "rec", required="true"))
    result = run_agentsh("-p", str(profile), "-c", "seq 1 3")
    assert result.returncode == 126 and result.stdout == ""
    assert "cannot record this session" in result.stderr and str(blocker / "rec") in result.stderr
    optional = write_profile(tmp_path, "optional", PROFILE.format(record=blocker / "rec", required="false"))
    result = run_agentsh("-p", str(optional), "-c", "seq 1 3")
    assert result.returncode == 0 and result.stdout == "1\n2\n3\n"
    assert "agentsh: warning: this session is not recorded" in result.stderr


def test_full_disk_stops_the_command(profile: Path, agentsh_env: dict[str, str], workspace: Path) -> None:
    """RLIMIT_FSIZE makes writes past 64 KiB fail (EFBIG), as a full disk makes them fail (ENOSPC)."""
    env = dict(agentsh_env, AGENTSH_SESSION="full")
    script = f"ulimit -f 64; exec {sys.executable} -m agentsh -p {profile} -c \"yes 'fill the disk' | head -c 1000000\""
    result = subprocess.run(["bash", "-c", script], cwd=workspace, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 126
    assert "cannot record it" in result.stderr
    assert len(result.stdout) < 1000000  # the command did not run to the end unrecorded


def test_sessions_and_replay(run_agentsh: Run, profile: Path, record: Path, agentsh_env: dict[str, str]) -> None:
    env = dict(agentsh_env, AGENTSH_SESSION="listed-1", XDG_STATE_HOME=str(record.parent / "state"))
    assert run_agentsh("-p", str(profile), "-c", "seq 7 9", env=env).returncode == 0
    listing = run_agentsh("sessions", "--dir", str(record), "--json")
    [entry] = json.loads(listing.stdout)
    assert entry["session"] == "listed-1" and entry["profile"] == "rec" and entry["commands"] == 1
    assert entry["user"] and entry["size"] == (record / "listed-1.cast").stat().st_size
    replay = run_agentsh("replay", "listed-1", "--dir", str(record), "--speed", "1000")
    assert replay.returncode == 0 and "7\n8\n9\n" in replay.stdout  # text mode folds \r\n
    missing = run_agentsh("replay", "nope", "--dir", str(record))
    assert missing.returncode == 2 and "no recording 'nope'" in missing.stderr


def test_input_is_recorded_only_when_asked(tmp_path: Path, agentsh_env: dict[str, str], workspace: Path) -> None:
    import pexpect

    for wanted in (False, True):
        record = tmp_path / f"rec-{wanted}"
        profile = write_profile(tmp_path, f"in-{wanted}", PROFILE.format(record=record, required="true")
                                .replace("required: true}", f"required: true, input: {str(wanted).lower()}}}"))
        child = pexpect.spawn(sys.executable, ["-m", "agentsh", "-i", "-p", str(profile)], env=agentsh_env,
                              cwd=str(workspace), encoding="utf-8", timeout=20)
        child.expect(r"\$ ")
        child.sendline("seq 1 2")
        child.expect(r"\$ ")
        child.sendline("exit")
        child.expect(pexpect.EOF)
        [cast] = record.glob("*.cast")
        _, events = parse(cast)
        inputs = [e for e in events if e[1] == "i"]
        assert bool(inputs) == wanted
        if wanted:
            assert "seq 1 2\r" in "".join(e[2] for e in inputs)
