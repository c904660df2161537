"""Red-team tests of `ask` approvals: an agent must not approve itself, and only what a
person saw runs.  Each test's canary is the file the ask'ed command would create."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from tests.conftest import run_guardrail
from tests.test_approvals import approver, profile, start  # noqa: F401 (a fixture)


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
