"""Red-team tests of `ask` approvals: an agent must not approve itself, and only what a
person saw runs.  Each test's canary is the file the ask'ed command would create."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pexpect
import pytest

from tests.conftest import run_guardrail, write_profile
from tests.test_approvals import PROFILE, approver, start


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    return write_profile(tmp_path, "approvals", PROFILE.format(bindir=Path(sys.executable).parent, timeout=60))


@pytest.fixture
def wrappers(tmp_path: Path) -> Path:
    """The approvals profile, plus what a detaching line needs."""
    text = PROFILE.format(bindir=Path(sys.executable).parent, timeout=60).replace(
        "run: [agentsh, env]", "run: [agentsh, env, setsid, sleep, nohup]")
    return write_profile(tmp_path, "wrappers", text)


def test_a_relative_xdg_state_home_does_not_move_the_spool_into_the_workspace(
        profile: Path, agentsh_env: dict[str, str], workspace: Path, tmp_path: Path) -> None:
    """XDG_STATE_HOME=state put the spool at ./state/agentsh/approvals, inside the write
    roots (the evidence deny list ignores a relative value, as the XDG spec says): a second
    line through agentsh wrote its own decision file and the ask'ed command ran."""
    env = dict(agentsh_env, XDG_STATE_HOME="state")
    proc, request_id = start(profile, env, workspace)
    try:
        planted = workspace / "state" / "agentsh" / "approvals"
        decision = json.dumps({"decision": "approve", "approver": {"user": "agent", "uid": os.getuid()}})
        run_guardrail(f"printf '%s' '{decision}' > {planted}/{request_id}.decision.json",
                      workspace, env, tmp_path, profile)
        # The real spool is the one a person's `agentsh approvals` lists; a person denies.
        child = approver(["deny", request_id, "--reason", "no"], agentsh_env)
        child.expect(pexpect.EOF)
        _out, err = proc.communicate(timeout=30)
        assert proc.returncode == 126, err
    finally:
        proc.kill()
        proc.wait()
    assert not (workspace / "restart-web").exists()


@pytest.mark.parametrize("line", [
    "env -u AGENTSH_SESSION setsid -f agentsh approve {id}",
    "(env -u AGENTSH_SESSION agentsh approve {id} &)",
])
def test_a_detached_approver_still_has_an_agentsh_ancestor(
        line: str, wrappers: Path, agentsh_env: dict[str, str], workspace: Path, tmp_path: Path) -> None:
    """A line at the agent's terminal (a TTY) that double-forks `agentsh approve`: its parent
    exits at once, the approver was reparented to init, no agentsh was among its ancestors
    any more, and it approved its own session's request."""
    proc, request_id = start(wrappers, agentsh_env, workspace)
    try:
        run_guardrail("true", workspace, agentsh_env, tmp_path, wrappers)  # writes the guardrail runner
        agent = pexpect.spawn(sys.executable, [str(tmp_path / "guardrail.py"), "-p", str(wrappers), "-c",
                                               line.format(id=request_id) + "; sleep 2"],
                              cwd=str(workspace), env=dict(agentsh_env, AGENTSH_WARM="0"), encoding="utf-8",
                              timeout=30)
        agent.expect(pexpect.EOF)
        child = approver(["deny", request_id, "--reason", "no"], agentsh_env)
        child.expect(pexpect.EOF)
        _out, err = proc.communicate(timeout=30)
        assert proc.returncode == 126, (agent.before, err)
    finally:
        proc.kill()
        proc.wait()
    assert not (workspace / "restart-web").exists()


def test_a_fifo_planted_as_the_decision_is_no_decision(
        tmp_path: Path, agentsh_env: dict[str, str], workspace: Path, home: Path) -> None:
    """A FIFO named like the decision file woke the waiting agentsh, which then blocked in
    open() for ever: the timeout promised a denial and never came.  Now it is not a
    decision, and the timeout denies."""
    quick = write_profile(tmp_path, "quick", PROFILE.format(bindir=Path(sys.executable).parent, timeout=2))
    proc, request_id = start(quick, agentsh_env, workspace)
    try:
        os.mkfifo(home / ".local" / "state" / "agentsh" / "approvals" / f"{request_id}.decision.json")
        _out, err = proc.communicate(timeout=30)
        assert proc.returncode == 126 and "timed out" in err
    finally:
        proc.kill()
        proc.wait()
    assert not (workspace / "restart-web").exists()


@pytest.mark.parametrize("content", [b"not json", b'{"decision": "approve", "pad": "' + b"x" * 100_000 + b'"}'])
def test_a_decision_that_is_no_json_or_huge_is_no_approval(
        content: bytes, tmp_path: Path, agentsh_env: dict[str, str], workspace: Path, home: Path) -> None:
    quick = write_profile(tmp_path, "quick", PROFILE.format(bindir=Path(sys.executable).parent, timeout=2))
    proc, request_id = start(quick, agentsh_env, workspace)
    try:
        spool = home / ".local" / "state" / "agentsh" / "approvals"
        (spool / "x.tmp").write_bytes(content)
        os.replace(spool / "x.tmp", spool / f"{request_id}.decision.json")
        proc.communicate(timeout=30)
        assert proc.returncode == 126
    finally:
        proc.kill()
        proc.wait()
    assert not (workspace / "restart-web").exists()


def test_the_approver_sees_the_line_as_it_runs(profile: Path, agentsh_env: dict[str, str], workspace: Path) -> None:
    """U+202E passes the static check; the listing showed `touch restart-\u202edlrow\u202c`
    raw, which a terminal draws as `touch restart-world`.  Now it shows an escape, the cwd,
    and `approve` repeats what it approved."""
    line = "touch restart-\u202edlrow\u202c"
    proc, request_id = start(profile, agentsh_env, workspace, line)
    listing = approver(["approvals"], agentsh_env)
    listing.expect(pexpect.EOF)
    assert "touch restart-<U+202E>dlrow<U+202C>" in listing.before and "\u202e" not in listing.before
    assert f"in {workspace}" in listing.before
    child = approver(["approve", request_id], agentsh_env)
    child.expect(pexpect.EOF)
    assert "touch restart-<U+202E>dlrow<U+202C>" in child.before
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert (workspace / "restart-\u202edlrow\u202c").exists()


def test_an_approval_of_a_rewritten_request_does_not_run_the_original(
        profile: Path, agentsh_env: dict[str, str], workspace: Path, home: Path) -> None:
    """The waiting agentsh runs the line it holds, not the request file's: a request file
    rewritten after it was written (by an agent's own tools) showed the approver a harmless
    line, and approving it ran the original.  A decision now carries the digest of the
    request bytes the approver saw; any other bytes are no approval."""
    proc, request_id = start(profile, agentsh_env, workspace)
    try:
        request = home / ".local" / "state" / "agentsh" / "approvals" / f"{request_id}.request.json"
        data = json.loads(request.read_text())
        data["line"] = "touch restart-harmless"
        request.write_text(json.dumps(data))
        child = approver(["approve", request_id], agentsh_env)
        child.expect(pexpect.EOF)
        assert "touch restart-harmless" in child.before
        _out, err = proc.communicate(timeout=30)
        assert proc.returncode == 126 and "not for the request this command wrote" in err
    finally:
        proc.kill()
        proc.wait()
    assert not (workspace / "restart-web").exists()


def test_a_second_approver_is_told_it_was_already_decided(agentsh_env: dict[str, str], tmp_path: Path) -> None:
    """Two approvers answering at once: the second decision replaced the first, and both
    were told theirs was recorded, whatever the waiter acted on.  (A spool of this test's
    own, with a request of a live process, so that no waiter takes the first decision away.)"""
    spool = tmp_path / "spool"
    spool.mkdir(mode=0o700)
    (spool / "0123abcd.request.json").write_text(json.dumps(
        {"id": "0123abcd", "pid": os.getpid(), "created": 0, "line": "touch restart-web", "cwd": "/"}))
    first = approver(["approve", "--spool", str(spool), "0123abcd"], agentsh_env)
    first.expect(pexpect.EOF)
    second = approver(["deny", "--spool", str(spool), "--reason", "no", "0123abcd"], agentsh_env)
    second.expect(pexpect.EOF)
    second.close()
    assert second.exitstatus == 2 and "already decided" in second.before
    assert json.loads((spool / "0123abcd.decision.json").read_text())["decision"] == "approve"
    assert sorted(os.listdir(spool)) == ["0123abcd.decision.json", "0123abcd.request.json"]
