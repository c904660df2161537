"""Red-team review of the loosenings made to cut false positives (loop values, loop bounds,
`cd -`, the directory stack, `git -C`, `node -e`, passed variables, compilers): each bypass
found has an outcome test here (in guardrail mode, where only the static check stands)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import run_guardrail
from tests.test_ordinary_corpus import DEVELOPER, SECRET, build

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def guarded(tmp_path: Path, home: Path, agentsh_env: dict[str, str]) -> tuple[Path, Run]:
    """A project at ~/proj and `run(line)` under agentsh's developer profile in guardrail mode."""
    project = home / "proj"
    project.mkdir()
    build(project)
    scratch = tmp_path / "scratch"
    scratch.mkdir()

    def run(line: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return run_guardrail(line, project, dict(agentsh_env, **extra), scratch, DEVELOPER)
    return project, run


@pytest.mark.parametrize("line", [
    "pushd -n .ssh >/dev/null; cd ~; popd >/dev/null; cat id_rsa",
    "pushd -n .ssh >/dev/null; cd ..; pushd >/dev/null; cat id_rsa",
    "pushd -n .ssh >/dev/null; cd ..; pushd +1 >/dev/null; cat id_rsa",
])
def test_a_directory_pushed_without_cd_is_not_entered_from_elsewhere(guarded: tuple[Path, Run], line: str) -> None:
    """`pushd -n DIR` puts DIR on the stack as written, relative, and popd (or a swap) cds to
    it from wherever the line is then: `.ssh` read-checked from the project was ~/.ssh."""
    _project, run = guarded
    got = run(line)
    assert SECRET not in got.stdout + got.stderr
    assert got.returncode == 126, got.stderr


@pytest.mark.parametrize("line", ["cd -- -x; cat id_rsa", "pushd -- -x >/dev/null; cat id_rsa"])
def test_cd_enters_a_directory_named_like_an_option_after_dashdash(guarded: tuple[Path, Run], home: Path,
                                                                   line: str) -> None:
    """`cd -- -x` enters `-x` (here a link to ~/.ssh, as a checked-out repository may hold):
    it was read as a `cd` with no operand, to ~, so `cat id_rsa` was checked as ~/id_rsa."""
    project, run = guarded
    (project / "-x").symlink_to(home / ".ssh")
    got = run(line)
    assert SECRET not in got.stdout + got.stderr
    assert got.returncode == 126, got.stderr
