"""The audit trail as agentsh writes it while running lines: events, identity, chain, fail closed."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import write_profile

Run = Callable[..., subprocess.CompletedProcess[str]]
PROFILE = """\
agentsh: 1
name: audited
extends: [base]
audit: {{file: "{log}"}}
record: {{dir: "{record}"}}
commands:
  - {{name: lister, run: ls, decision: allow}}
"""


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "audit" / "audit.jsonl"


@pytest.fixture
def profile(tmp_path: Path, log: Path) -> Path:
    return write_profile(tmp_path, "audited", PROFILE.format(log=log, record=tmp_path / "record"))


def events(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_events_of_an_allowed_and_a_denied_line(run_agentsh: Run, profile: Path, log: Path,
                                                agentsh_env: dict[str, str]) -> None:
    env = dict(agentsh_env, AGENTSH_AGENT="test-agent", GITHUB_TOKEN="ghp_notlogged")
    assert run_agentsh("-p", str(profile), "-c", "ls /", env=env).returncode == 0
    assert run_agentsh("-p", str(profile), "-c", "curl http://127.0.0.1/", env=env).returncode == 126
    kinds = [e["kind"] for e in events(log)]
    assert kinds == ["session_start", "line", "decision", "command_end", "session_end",
                     "session_start", "line", "decision", "session_end"]
    start, line, decision, end = events(log)[:4]
    assert start["dropped_env"] and "GITHUB_TOKEN" in start["dropped_env"]
    assert "ghp_notlogged" not in log.read_text()
    assert decision["command"] == line["command"] == end["command"]
    assert decision["decision"] == "allow" and decision["rule"] == "lister"
    assert decision["commands"][0]["program"].endswith("/ls")
    assert len(decision["profile_sha256"]) == 64 and decision["profile"] == str(profile)
    assert decision["identity"]["agent"] == "test-agent" and decision["identity"]["uid"] >= 0
    assert decision["identity"]["host"]
    assert end["status"] == 0 and end["duration"] >= 0
    denied = events(log)[7]
    assert denied["decision"] == "deny" and denied["rule"] == "default-deny"
    verify = run_agentsh("audit", "verify", str(log))
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_concurrent_calls_leave_a_valid_chain(profile: Path, log: Path, agentsh_env: dict[str, str],
                                              workspace: Path, run_agentsh: Run) -> None:
    procs = [subprocess.Popen([sys.executable, "-m", "agentsh", "-p", str(profile), "-c", "ls"], cwd=workspace,
                              env=agentsh_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for _ in range(20)]
    for proc in procs:
        assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
    assert len(events(log)) == 20 * 5
    assert [e["seq"] for e in events(log)] == list(range(1, 101))
    verify = run_agentsh("audit", "verify", str(log))
    assert verify.returncode == 0, verify.stdout


def test_unwritable_audit_trail_refuses_the_line(run_agentsh: Run, tmp_path: Path, workspace: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    profile = write_profile(tmp_path, "blocked", PROFILE.format(log=blocker / "audit.jsonl", record=tmp_path / "r"))
    canary = workspace / "canary"
    result = run_agentsh("-p", str(profile), "-c", f"ls > {canary}")
    assert result.returncode == 126 and "cannot write the audit trail" in result.stderr
    assert not canary.exists()


def test_tampering_is_detected_at_the_right_event(run_agentsh: Run, profile: Path, log: Path) -> None:
    for _ in range(3):
        run_agentsh("-p", str(profile), "-c", "ls /")
    lines = log.read_text().splitlines()
    assert '"decision":"allow"' in lines[7]  # the second call's decision, seq 8
    lines[7] = lines[7].replace('"decision":"allow"', '"decision":"deny"')
    log.write_text("\n".join(lines) + "\n")
    verify = run_agentsh("audit", "verify", str(log))
    assert verify.returncode == 1 and "8" in verify.stdout and "edited" in verify.stdout
