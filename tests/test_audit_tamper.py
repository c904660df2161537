"""The audit trail attacked through real `agentsh` processes: a cut-off end hidden behind a lost or
forged head, FIFOs planted where the log and key go, a log directory others may write, hostile
lines for `verify` and `show`.  Each line that must not run echoes a canary that must not appear."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import guardrail_in

Run = Callable[..., subprocess.CompletedProcess[str]]
CANARY = "CANARY-RAN"
EVENTS_PER_CALL = 5  # session_start, line, decision, command_end, session_end


@pytest.fixture
def env(agentsh_env: dict[str, str]) -> dict[str, str]:
    # No keyring backend: the key file in HOME is used (and no desktop keyring is waited on).
    return dict(agentsh_env, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")


@pytest.fixture
def log(run_agentsh: Run, home: Path, env: dict[str, str]) -> Path:
    """The default log after three `agentsh -c` calls."""
    for i in range(3):
        assert run_agentsh("-c", f"echo line{i}", env=env).returncode == 0
    path = home / ".local" / "state" / "agentsh" / "audit.jsonl"
    assert len(path.read_bytes().splitlines()) == 3 * EVENTS_PER_CALL
    return path


def verdict(run_agentsh: Run, env: dict[str, str]) -> tuple[int, dict]:
    result = run_agentsh("audit", "verify", "--json", env=env, timeout=20)
    assert "Traceback" not in result.stderr
    return result.returncode, json.loads(result.stdout) if result.returncode in (0, 1) else {}


def refused(result: subprocess.CompletedProcess[str], why: str) -> None:
    assert result.returncode == 126, result.stderr
    assert CANARY not in result.stdout and why in result.stderr


def cut_to_first_call(log: Path) -> None:
    log.write_bytes(b"".join(log.read_bytes().splitlines(keepends=True)[:EVENTS_PER_CALL]))


def test_a_cut_end_behind_a_deleted_head_is_not_laundered_by_the_next_line(run_agentsh: Run, log: Path,
                                                                          env: dict[str, str]) -> None:
    # Before: the next line re-anchored the chain on the cut log and `verify` said ok, 10 events gone.
    cut_to_first_call(log)
    os.unlink(f"{log}.head")
    refused(run_agentsh("-c", f"echo {CANARY}", env=env), "no valid head file")
    status, found = verdict(run_agentsh, env)
    assert status == 1 and found["reason"] == "truncated" and found["first_bad"] == EVENTS_PER_CALL + 1


def test_a_cut_end_behind_a_head_forged_without_the_key_is_not_laundered(run_agentsh: Run, log: Path,
                                                                       env: dict[str, str]) -> None:
    cut_to_first_call(log)
    last = json.loads(log.read_bytes().splitlines()[-1])
    Path(f"{log}.head").write_text(f"{last['seq']} {last['mac']} {log.stat().st_size} {'0' * 64}\n")
    refused(run_agentsh("-c", f"echo {CANARY}", env=env), "not written with this key")
    status, found = verdict(run_agentsh, env)
    assert status == 1 and found["reason"] == "truncated"


def test_a_fifo_at_the_log_path_refuses_the_line(run_agentsh: Run, log: Path, env: dict[str, str]) -> None:
    # Before: the FIFO took every event and dropped it at close; the line ran, audited nowhere.
    log.unlink()
    os.mkfifo(log)
    refused(run_agentsh("-c", f"echo {CANARY}", env=env, timeout=20), "not a regular file")
    status, _ = verdict(run_agentsh, env)  # before: verify blocked forever on the FIFO
    assert status == 2
    assert run_agentsh("audit", "show", env=env, timeout=20).returncode == 2


def test_a_fifo_at_the_key_path_refuses_the_line_without_hanging(run_agentsh: Run, log: Path,
                                                                 env: dict[str, str]) -> None:
    key = log.parent / "audit.key"
    key.unlink()
    os.mkfifo(key)
    refused(run_agentsh("-c", f"echo {CANARY}", env=env, timeout=20), "not a regular file")


def test_a_log_directory_anyone_may_write_is_refused(run_agentsh: Run, tmp_path: Path, env: dict[str, str],
                                                     home: Path) -> None:
    state = tmp_path / "state"
    (state / "agentsh").mkdir(parents=True)
    (state / "agentsh").chmod(0o777)  # anyone could swap the log and head for older copies
    refused(run_agentsh("-c", f"echo {CANARY}", env=dict(env, XDG_STATE_HOME=str(state))),
            "writable by every user")


def test_hostile_lines_do_not_crash_verify_or_show(run_agentsh: Run, log: Path, env: dict[str, str]) -> None:
    with open(log, "ab") as handle:
        # nested far deeper than the json module recurses, in the writer's layout
        handle.write(b'{"a":' + b"[" * 100_000 + b',"mac":"' + b"0" * 64 + b'"}\n')
        handle.write(b'{"seq":{"a":1},"kind":["x"],"user":{"a":1}}\n')  # shown, as best it can be
        handle.write(b'{"n":1e999}\n')  # skipped: no JSON the writer makes, and --json could not print it
    status, found = verdict(run_agentsh, env)
    assert status == 1 and found == {"file": str(log), "ok": False, "events": 15, "first_bad": 16,
                                     "reason": "malformed"}
    for args in (("audit", "show"), ("audit", "show", "--json"), ("audit", "search", "--user", "x")):
        result = run_agentsh(*args, env=env, timeout=20)
        assert result.returncode == 0 and "Traceback" not in result.stderr, (args, result.stderr)
    assert len(run_agentsh("audit", "show", env=env).stdout.splitlines()) == 16


EVIDENCE_PROFILE = """\
agentsh: 1
name: rt
extends: [default]
record: {{dir: "{tmp}/rec", required: true}}
audit: {{file: "{tmp}/trail/audit.jsonl"}}
"""


def test_no_line_reaches_the_evidence_the_profile_or_environment_puts_under_a_write_root(
        tmp_path: Path, workspace: Path, env: dict[str, str]) -> None:
    # Before (guardrail mode): with record.dir and audit.file under /tmp (a write root of the
    # default profile), `rm REC/*.cast` deleted every recording and the log's head could be
    # saved and put back later; with XDG_STATE_HOME under /tmp, the default state dir likewise.
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    state = tmp_path / "xdg"
    run = guardrail_in(workspace, dict(env, XDG_STATE_HOME=str(state)), scratch,
                       EVIDENCE_PROFILE.format(tmp=tmp_path))
    assert run("echo first").returncode == 0
    trail, rec = tmp_path / "trail", tmp_path / "rec"
    [cast] = rec.glob("*.cast")
    for line in (f"rm {rec}/*.cast", f"rm -f {cast}", f": > {trail}/audit.jsonl",
                 f"cp {trail}/audit.jsonl.head {tmp_path}/saved", f"rm {state}/agentsh/audit.key",
                 f"echo x > {state}/agentsh/audit.key"):
        result = run(line)
        assert result.returncode == 126 and "denied" in result.stderr, (line, result.stderr)
    assert cast.exists() and not (tmp_path / "saved").exists()
    assert (state / "agentsh" / "audit.key").read_text() != "x\n"
    assert run("echo last").returncode == 0
    status = subprocess.run([sys.executable, "-m", "agentsh", "audit", "verify", str(trail / "audit.jsonl"),
                             "--key-file", str(state / "agentsh" / "audit.key")],
                            env=env, capture_output=True, text=True, timeout=20)
    assert status.returncode == 0, status.stdout + status.stderr


LIMITED_VERIFY = """
import resource, runpy, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # less than the planted line
sys.argv = ["agentsh", "audit", "verify", "--json"]
runpy.run_module("agentsh", run_name="__main__")
"""


def test_a_gigantic_line_is_reported_without_reading_it_whole(log: Path, env: dict[str, str]) -> None:
    # Before: verify read the line whole (MemoryError, a traceback); now it reads 64 MiB at most.
    with open(log, "ab") as handle:
        handle.truncate(log.stat().st_size + (2 << 30))  # 2 GiB of NULs (a sparse file), no newline
    result = subprocess.run([sys.executable, "-c", LIMITED_VERIFY], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1, result.stderr[-500:]
    found = json.loads(result.stdout)
    assert (found["first_bad"], found["reason"]) == (16, "malformed")


def test_a_gigantic_tail_does_not_hang_the_writer(run_agentsh: Run, log: Path, env: dict[str, str]) -> None:
    # Before: every open read the last line back whole, 64 KiB at a time, copying it again each
    # time: with 300 MiB planted after the last newline, `agentsh -c` hung.
    with open(log, "ab") as handle:
        handle.truncate(log.stat().st_size + (300 << 20))
    result = run_agentsh("-c", "echo still-audited", env=env, timeout=30)
    assert result.returncode == 0 and result.stdout == "still-audited\n", result.stderr
    status, found = verdict(run_agentsh, env)
    assert status == 1 and (found["first_bad"], found["reason"]) == (16, "malformed")
