"""`agentsh sessions --live` lists running sessions; `agentsh kill SESSION` ends one, audited."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pexpect

from tests.conftest import write_profile

PROFILE = "agentsh: 1\nname: live\nextends: [base]\ncommands: [{name: s, run: sleep, decision: allow}]\n"


def live(env: dict[str, str]) -> list[dict]:
    result = subprocess.run([sys.executable, "-m", "agentsh", "sessions", "--live", "--json"], env=env,
                            capture_output=True, text=True, timeout=60)
    return json.loads(result.stdout or "[]")


def wait_for(predicate, timeout: float = 20) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_kill_an_interactive_session(tmp_path: Path, agentsh_env: dict[str, str], workspace: Path,
                                     home: Path) -> None:
    profile = write_profile(tmp_path, "live", PROFILE)
    env = dict(agentsh_env, AGENTSH_SESSION="live-one")
    child = pexpect.spawn(sys.executable, ["-m", "agentsh", "-i", "-p", str(profile)], env=env,
                          cwd=str(workspace), encoding="utf-8", timeout=20)
    try:
        child.expect(r"agentsh\(live\):")
        assert wait_for(lambda: any(e["session"] == "live-one" for e in live(agentsh_env)))
        killer = subprocess.run([sys.executable, "-m", "agentsh", "kill", "live-one"], env=agentsh_env,
                                capture_output=True, text=True, timeout=60)
        assert killer.returncode == 0, killer.stderr
        child.expect("ended by an operator")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 143
    assert not any(e["session"] == "live-one" for e in live(agentsh_env))
    events = [json.loads(line) for line in
              (home / ".local" / "state" / "agentsh" / "audit.jsonl").read_text().splitlines()]
    assert any(e["kind"] == "kill" and e["session"] == "live-one" for e in events)


def test_kill_a_running_command(tmp_path: Path, agentsh_env: dict[str, str], workspace: Path) -> None:
    profile = write_profile(tmp_path, "live", PROFILE)
    env = dict(agentsh_env, AGENTSH_SESSION="live-two")
    proc = subprocess.Popen([sys.executable, "-m", "agentsh", "-p", str(profile), "-c", "sleep 60"], env=env,
                            cwd=workspace, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert wait_for(lambda: any(e["session"] == "live-two" for e in live(agentsh_env)))
    started = time.monotonic()
    assert subprocess.run([sys.executable, "-m", "agentsh", "kill", "live-two"], env=agentsh_env,
                          capture_output=True, timeout=60).returncode == 0
    assert proc.wait(timeout=30) == 143
    assert time.monotonic() - started < 20


def test_the_kill_is_recorded_in_the_sessions_own_log(tmp_path: Path, agentsh_env: dict[str, str],
                                                      workspace: Path, home: Path) -> None:
    """A profile's own `audit.file`: the kill went to the default log, apart from the rest of
    the session's events (and signed with the key file whatever the profile's key)."""
    own = tmp_path / "own-audit.jsonl"
    profile = write_profile(tmp_path, "live", PROFILE + f"audit: {{file: {own}}}\n")
    env = dict(agentsh_env, AGENTSH_SESSION="live-three")
    proc = subprocess.Popen([sys.executable, "-m", "agentsh", "-p", str(profile), "-c", "sleep 60"], env=env,
                            cwd=workspace, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert wait_for(lambda: any(e["session"] == "live-three" for e in live(agentsh_env)))
    assert subprocess.run([sys.executable, "-m", "agentsh", "kill", "live-three"], env=agentsh_env,
                          capture_output=True, timeout=60).returncode == 0
    assert proc.wait(timeout=30) == 143
    kinds = [json.loads(line)["kind"] for line in own.read_text().splitlines()]
    assert "kill" in kinds and "decision" in kinds, kinds
    default = home / ".local" / "state" / "agentsh" / "audit.jsonl"
    assert not default.exists() or '"kill"' not in default.read_text()
    verify = subprocess.run([sys.executable, "-m", "agentsh", "audit", "verify", str(own)], env=agentsh_env,
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr
