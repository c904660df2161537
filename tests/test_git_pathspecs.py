"""git's own names for files (agentsh/policy/pathspecs.py): pathspec magic, patterns, and
object names `REV:PATH`.  Each line below printed the denied file in guardrail mode under a
profile that denies `{workspace}/secrets`: the read check took `:/secrets/key` for a file
named so in the working directory, and `'secr*/key'` (quoted, so bash leaves it) for a file
with a star in its name; git matched them to secrets/key."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from agentsh.policy import Policy
from tests.conftest import guardrail_in, policy_in

CANARY = "CANARY-PATHSPEC-3e8a"


def _git(workspace: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=workspace, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(workspace: Path) -> Path:
    (workspace / "src").mkdir()
    (workspace / "src" / "app.py").write_text("print('hi')\n")
    (workspace / "secrets").mkdir()
    (workspace / "secrets" / "key").write_text(CANARY + "\n")
    _git(workspace, "init", "-q")
    _git(workspace, "add", "README.md", "src/app.py")
    return workspace


@pytest.fixture
def policy(repo: Path, home: Path, tmp_path: Path) -> Policy:
    return policy_in(repo, home, tmp_path)


@pytest.mark.parametrize("line", [
    "cd src && git add ':/secrets/key' && git show :secrets/key",
    "cd src && git add ':(top)secrets/key' && git show :secrets/key",
    "git add ':(literal)secrets/key' && git show :secrets/key",
    "git add 'secr*/key' && git show :secrets/key",
    "git add ':(glob)secret[s]/key' && git show :secrets/key",
    "git add ':(icase)SECRETS/KEY' && git show :secrets/key",
])
def test_pathspecs_that_name_a_denied_file_add_nothing(line: str, repo: Path, agentsh_env: dict[str, str],
                                                       tmp_path: Path, policy: Policy) -> None:
    assert policy.decide(line).decision == "deny", line
    done = guardrail_in(repo, agentsh_env, tmp_path)(line)
    assert done.returncode == 126, done.stdout + done.stderr
    assert CANARY not in done.stdout + done.stderr
    assert "secrets" not in _git(repo, "ls-files")


@pytest.mark.parametrize("line", [
    "git show HEAD:secrets/key", "git show :secrets/key", "git show :0:secrets/key",
    "cd src && git show HEAD:./../secrets/key", "git diff HEAD:secrets/key HEAD:src/app.py",
    # an option's value: -L's line range of a file prints its lines; --blob= reads a blob
    "git log -L1,1:secrets/key", "git log -L :x:secrets/key", "git config --list --blob=HEAD:secrets/key",
])
def test_object_names_of_a_denied_file_print_nothing(line: str, repo: Path, agentsh_env: dict[str, str],
                                                     tmp_path: Path, policy: Policy) -> None:
    """What git holds of a denied file (committed before the profile denied it): `git show
    HEAD:secrets/key` printed it in both modes (the object store is not below the denied root)."""
    _git(repo, "add", "-f", "secrets/key")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "with a secret")
    assert policy.decide(line).decision == "deny", line
    done = guardrail_in(repo, agentsh_env, tmp_path)(line)
    assert done.returncode == 126, done.stdout + done.stderr
    assert CANARY not in done.stdout + done.stderr


@pytest.mark.parametrize("line", [
    "git add src/app.py", "git add '*.py'", "git add ':!secrets'", "git add ':(exclude)secrets' .",
    "git show HEAD:src/app.py", "cd src && git show HEAD:./app.py", "git diff main..topic -- src",
    "git log --format=%H:%s -n 3", "git commit -m 'fix: the app'", "git grep -e 'a:b' -- '*.py'",
    "git log -p -- ':/src'", "git log -L1,2:src/app.py", "git log --date=format:%Y -n 1",
])
def test_ordinary_git_names_stay_allowed(line: str, policy: Policy) -> None:
    assert policy.decide(line).decision == "allow", policy.decide(line).refused
