"""`mv` of a directory takes everything below it along: a denied root inside it would land
where the profile no longer denies it (`mv proj/a /tmp/b && cat /tmp/b/secrets/key`), and
renaming .git lets a hook be planted and moved back (`mv .git g && ... && mv g .git`)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from agentsh.parse import Word
from agentsh.policy import Policy
from agentsh.policy.moves import transfer
from agentsh.profile import Host, load_profile
from tests.conftest import write_profile

Run = Callable[..., subprocess.CompletedProcess[str]]
SECRET = "MOVED-SECRET-BYTES"
PROFILE = """\
agentsh: 1
name: moves
extends: [base]
read: {deny: ["{workspace}/a/secrets"]}
write: {allow: ["{workspace}", "/tmp"], deny: ["{workspace}/.git/hooks"]}
commands:
  - {name: tools, run: [cat, mv, cp, ls, echo, mkdir], decision: allow}
"""


@pytest.fixture
def moves(tmp_path: Path, workspace: Path, home: Path) -> tuple[Policy, Path]:
    (workspace / "a" / "secrets").mkdir(parents=True)
    (workspace / "a" / "secrets" / "key").write_text(SECRET + "\n")
    (workspace / "a" / "notes.txt").write_text("notes\n")
    (workspace / ".git" / "hooks").mkdir(parents=True)
    profile = write_profile(workspace, "moves", PROFILE)
    host = Host(cwd=str(workspace), home=str(home), config_home=str(home / ".config"))
    return Policy(load_profile(str(profile), host), host), profile


@pytest.mark.parametrize("line", [
    "mv a {dest} && cat {dest}/secrets/key",
    "mv -t {parent} a",
    "mv --target-directory={parent} a",
    "mv -S .bak a {dest}",
    "mv -- a {dest}",
    "mv .git g && echo 'echo PWNED' > g/hooks/post-merge && mv g .git",
])
def test_moving_a_denied_root_along_is_refused(line: str, moves: tuple[Policy, Path], tmp_path: Path,
                                                run_agentsh: Run, workspace: Path) -> None:
    policy, profile = moves
    dest = tmp_path / "moved"
    line = line.format(dest=dest, parent=tmp_path)
    decision = policy.decide(line)
    assert decision.decision == "deny", line
    assert any("holds the denied root" in v.reason for v in decision.refused), decision.refused
    done = run_agentsh("-p", str(profile), "-c", line)
    assert done.returncode == 126, done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert (workspace / "a" / "secrets" / "key").exists() and not dest.exists()
    assert (workspace / ".git" / "hooks").is_dir() and not list((workspace / ".git" / "hooks").iterdir())


@pytest.mark.parametrize("line", ["mv a/notes.txt {parent}/", "mv a/notes.txt a/n.txt", "mv a/notes.txt ."])
def test_ordinary_moves_are_allowed(line: str, moves: tuple[Policy, Path], tmp_path: Path) -> None:
    policy, _ = moves
    assert policy.decide(line.format(parent=tmp_path)).decision == "allow"


def test_transfer_sources() -> None:
    def sources(*argv: str) -> list[str]:
        found = transfer("mv", tuple(Word(a, a) for a in argv))
        assert found is not None
        return [w.value or "" for w in found[0]]

    assert sources("a", "b", "dest") == ["a", "b"]
    assert sources("-t", "dir", "a", "b") == ["a", "b"]
    assert sources("-ft", "dir", "a") == ["a"] and sources("-tdir", "a") == ["a"]
    assert sources("--target-directory=dir", "a") == ["a"] and sources("--target", "dir", "a") == ["a"]
    assert sources("-S", ".bak", "a", "dest") == ["a"] and sources("-S.bak", "a", "dest") == ["a"]
    assert sources("--", "-t", "dest") == ["-t"]
    assert transfer("rm", (Word("a", "a"), Word("b", "b"))) is None


@pytest.mark.parametrize("line", ["cp -r p/. .git/", "cp -a p/. .git", "cp -rT p .git", "cp -r p/* .git/",
                                  "cp -r p/hooks .git/", "cp -t .git -r p/hooks"])
def test_recursive_copy_into_a_denied_root_is_refused(line: str, moves: tuple[Policy, Path], workspace: Path,
                                                      run_agentsh: Run) -> None:
    """`cp -r p/. .git/` with p/hooks/post-merge in place plants a git hook: the copy's
    destination holds the denied root, and the source has the path that lands in it."""
    (workspace / "p" / "hooks").mkdir(parents=True)
    (workspace / "p" / "hooks" / "post-merge").write_text("echo PWNED\n")
    policy, profile = moves
    decision = policy.decide(line)
    assert decision.decision == "deny", line
    done = run_agentsh("-p", str(profile), "-c", line)
    assert done.returncode == 126, done.stderr
    assert not list((workspace / ".git" / "hooks").iterdir())


# (`cp -r p/* .` is refused under this profile: `*` could name `a`, which holds a/secrets.)
@pytest.mark.parametrize("line", ["cp -r p/. q", "cp -r p .git/", "cp -r p/. .", "cp a/notes.txt .git/"])
def test_ordinary_recursive_copies_are_allowed(line: str, moves: tuple[Policy, Path], workspace: Path) -> None:
    (workspace / "p" / "hooks").mkdir(parents=True)
    (workspace / "q").mkdir()
    policy, _ = moves
    assert policy.decide(line).decision == "allow", policy.decide(line).refused
