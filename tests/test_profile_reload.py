"""Live reload in an interactive session over a real PTY: an edit applies at the next line
however the profile's file is reached or replaced (agentsh/reload.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from tests.conftest import run_line, start_shell

PROFILE = """\
agentsh: 1
name: rl
extends: [base]
commands:
  - name: tools
    run: [ls, cat]
    decision: allow
"""


@pytest.fixture
def real(tmp_path: Path) -> Path:
    """The profile's real file, in a directory of its own (an admin's shared copy, say)."""
    (tmp_path / "real").mkdir()
    path = tmp_path / "real" / "rl.yaml"
    path.write_text(PROFILE)
    return path


@pytest.fixture
def linked(tmp_path: Path, real: Path) -> Path:
    """The path the session is started with: a symlink in another directory to the real file."""
    (tmp_path / "profiles").mkdir()
    link = tmp_path / "profiles" / "rl.yaml"
    link.symlink_to(real)
    return link


@pytest.fixture
def shell(linked: Path, workspace: Path, agentsh_env: dict[str, str]) -> Iterator[pexpect.spawn]:
    env = dict(agentsh_env, AGENTSH_NO_CACHE="1")
    child = start_shell(["-i", "-p", str(linked)], workspace, env)
    yield child
    child.close(force=True)


def test_edit_of_a_symlinked_profiles_target_applies(shell: pexpect.spawn, real: Path, workspace: Path) -> None:
    """The admin tightens the real file; the session reached it through a symlink elsewhere.
    watchdog watched only the symlink's directory, so `cat` stayed allowed for the session."""
    (workspace / "canary-src").write_text("CANARY-BYTES\n")
    assert "CANARY-BYTES" in run_line(shell, "cat canary-src")
    real.write_text(PROFILE.replace("run: [ls, cat]", "run: [ls]"))  # in place, no rename
    out = run_line(shell, "cat canary-src")
    assert "reloaded" in out and "agentsh: denied: cat" in out and "CANARY-BYTES" not in out


def test_symlink_repointed_and_deleted_then_recreated(shell: pexpect.spawn, linked: Path, tmp_path: Path,
                                                      workspace: Path) -> None:
    (workspace / "canary-src").write_text("CANARY-BYTES\n")
    tighter = tmp_path / "real" / "tighter.yaml"
    tighter.write_text(PROFILE.replace("run: [ls, cat]", "run: [ls]"))
    os.symlink(tighter, tmp_path / "profiles" / "new-link")
    os.replace(tmp_path / "profiles" / "new-link", linked)
    out = run_line(shell, "cat canary-src")
    assert "agentsh: denied: cat" in out and "CANARY-BYTES" not in out
    tighter.unlink()  # the link now dangles: the profile is gone
    out = run_line(shell, "ls")
    assert "was deleted; every command is refused" in out and "README.md" not in out
    tighter.write_text(PROFILE)
    assert "README.md" in run_line(shell, "ls")
