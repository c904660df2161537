"""`ask` rules: the command waits; a person approves or denies it from another terminal."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest

from tests.conftest import write_profile

PROFILE = """\
agentsh: 1
name: approvals
extends: [base]
path: ["{bindir}", /usr/bin, /bin]
approval: {{timeout: {timeout}}}
commands:
  - name: restart
    run: touch
    args: ["restart-*"]
    decision: ask
  - name: self-approve
    run: [agentsh, env]
    decision: allow
write: {{allow: ["{{workspace}}"]}}
"""
WAITING = re.compile(r"agentsh: waiting for approval ([0-9a-f]+) \(rule restart\)")


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    return write_profile(tmp_path, "approvals",
                         PROFILE.format(bindir=Path(sys.executable).parent, timeout=60))


def start(profile: Path, env: dict[str, str], workspace: Path, line: str = "touch restart-web") -> tuple[
        subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "agentsh", "-p", str(profile), "-c", line], cwd=workspace,
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stderr is not None
    first = proc.stderr.readline()
    match = WAITING.search(first)
    assert match, first
    return proc, match.group(1)


def approver(args: list[str], env: dict[str, str]) -> pexpect.spawn:
    """The approver at a real terminal (pexpect gives it a TTY)."""
    env = {k: v for k, v in env.items() if k != "AGENTSH_SESSION"}
    return pexpect.spawn(sys.executable, ["-m", "agentsh", *args], env=env, encoding="utf-8", timeout=30)


def test_approval_round_trip(profile: Path, agentsh_env: dict[str, str], workspace: Path) -> None:
    proc, request_id = start(profile, agentsh_env, workspace)
    listing = approver(["approvals"], agentsh_env)
    listing.expect(pexpect.EOF)
    assert request_id in listing.before and "touch restart-web" in listing.before and "rule restart" in listing.before
    started = time.monotonic()
    child = approver(["approve", request_id], agentsh_env)
    child.expect(pexpect.EOF)
    assert f"approved {request_id}" in child.before
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert time.monotonic() - started < 5  # woken by the spool watch, not a slow poll
    assert (workspace / "restart-web").exists()
    assert re.search(r"agentsh: approved by \S+ \(uid \d+, /dev/pts/\d+\)", err)


def test_denial_is_refused_with_the_reason(profile: Path, agentsh_env: dict[str, str], workspace: Path) -> None:
    proc, request_id = start(profile, agentsh_env, workspace)
    child = approver(["deny", request_id, "--reason", "not during business hours"], agentsh_env)
    child.expect(pexpect.EOF)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 126
    assert "not approved by" in err and "not during business hours" in err
    assert not (workspace / "restart-web").exists()


def test_timeout_is_a_denial(tmp_path: Path, agentsh_env: dict[str, str], workspace: Path) -> None:
    profile = write_profile(tmp_path, "approvals", PROFILE.format(bindir=Path(sys.executable).parent, timeout=1))
    proc, _ = start(profile, agentsh_env, workspace)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 126 and "timed out" in err
    assert not (workspace / "restart-web").exists()


def test_an_agent_cannot_approve_itself(profile: Path, agentsh_env: dict[str, str], workspace: Path) -> None:
    proc, request_id = start(profile, agentsh_env, workspace)
    try:
        # From inside an agentsh session, the environment gives it away...
        inside = subprocess.run([sys.executable, "-m", "agentsh", "-p", str(profile), "-c",
                                 f"agentsh approve {request_id}"], cwd=workspace, env=agentsh_env,
                                capture_output=True, text=True, timeout=30)
        assert "cannot approve itself" in inside.stderr and "AGENTSH_SESSION" in inside.stderr
        # ... and without it, the agentsh ancestor does.
        inside = subprocess.run([sys.executable, "-m", "agentsh", "-p", str(profile), "-c",
                                 f"env -u AGENTSH_SESSION agentsh approve {request_id}"], cwd=workspace,
                                env=agentsh_env, capture_output=True, text=True, timeout=30)
        assert "cannot approve itself" in inside.stderr and "ancestors" in inside.stderr
        # A script without a terminal is not a person either.
        scripted = subprocess.run([sys.executable, "-m", "agentsh", "approve", request_id], env=agentsh_env,
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
        assert scripted.returncode == 2 and "not a TTY" in scripted.stderr
        assert proc.poll() is None  # still waiting
    finally:
        proc.kill()
        proc.wait()
    assert not (workspace / "restart-web").exists()


def test_unknown_request_id(agentsh_env: dict[str, str]) -> None:
    child = approver(["approve", "deadbeef"], agentsh_env)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2 and "no pending approval deadbeef" in child.before


def test_spool_files_are_private(profile: Path, agentsh_env: dict[str, str], workspace: Path, home: Path) -> None:
    proc, request_id = start(profile, agentsh_env, workspace)
    try:
        spool = home / ".local" / "state" / "agentsh" / "approvals"
        assert oct(spool.stat().st_mode & 0o777) == oct(0o700)
        request = spool / f"{request_id}.request.json"
        assert request.stat().st_mode & 0o777 == 0o600
    finally:
        proc.kill()
        proc.wait()
    assert os.path.exists(spool)
