"""tar's `-C DIR` changes its directory for the names after it.  The operand check resolved
them from the working directory, so `tar -cf - -C ~ .ssh/id_rsa | tar -xOf -` printed the key
under the default profile in guardrail mode (`.ssh/id_rsa` in the workspace is no denied
root).  Each operand is now read-checked from every directory a -C may have put tar in."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from agentsh.policy import Decision
from tests.conftest import run_guardrail

Run = Callable[[str], subprocess.CompletedProcess[str]]
SECRET = "SECRET-KEY-BYTES"


@pytest.fixture
def guardrail(workspace: Path, tmp_path: Path, agentsh_env: dict[str, str]) -> Run:
    return lambda line: run_guardrail(line, workspace, agentsh_env, tmp_path)


@pytest.mark.parametrize("line", [
    "tar -cf - -C {home} .ssh/id_rsa | tar -xOf -",
    "tar -cf - --directory={home} .ssh | tar -xOf -",
    "tar -cf - --dir {home} .ssh | tar -xOf -",
    "tar -C {home} -cf - .ssh | tar -xOf -",
    "tar -cf - -C{home} .ssh | tar -xOf -",
    "tar cCf {home} - .ssh | tar -xOf -",  # the dashless first word: C takes the next word
    "tar -cf - -C {parent} -C home .ssh | tar -xOf -",  # each -C from the one before
])
def test_names_after_minus_c_are_read_from_there(line: str, home: Path, guardrail: Run,
                                                  decide: Callable[..., Decision]) -> None:
    line = line.format(home=home, parent=home.parent)
    decision = decide(line)
    assert decision.decision == "deny", line
    assert any("(tar -C)" in v.reason for v in decision.refused), decision.refused
    done = guardrail(line)
    assert done.returncode == 126, done.stdout + done.stderr
    assert SECRET not in done.stdout + done.stderr


@pytest.mark.parametrize("line", ["tar -czf /tmp/out.tgz -C src app.py", "tar -cf - -C {home} . -C {workspace} README.md",
                                  "tar -xzf a.tgz -C out", "tar -tf a.tar -C src"])
def test_ordinary_minus_c_stays_allowed(line: str, workspace: Path, home: Path,
                                        decide: Callable[..., Decision]) -> None:
    (workspace / "src").mkdir()
    (workspace / "out").mkdir()
    line = line.format(home=home, workspace=workspace)
    assert decide(line).decision == "allow", decide(line).refused


def test_too_many_directories_are_refused(decide: Callable[..., Decision]) -> None:
    line = "tar -cf /tmp/x.tar " + " ".join(f"-C d{i}" for i in range(5)) + " README.md"
    assert decide(line).decision == "deny"
