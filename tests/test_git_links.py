"""A git command that writes work-tree files can make any symbolic link a commit holds
(`k -> ../.ssh`, `h -> .git/hooks`), and it is not on disk when the line is checked: `git
checkout -q evil && cat k/id_rsa` printed the key in guardrail mode, and `... && echo CMD >
h/post-checkout` planted a hook in both modes.  Such a git command must end its line, like
`ln -s` (agentsh/policy/madelinks.py, links.py); the next line sees the link."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from agentsh.parse import Word
from agentsh.policy import Policy
from agentsh.policy.madelinks import git_writes_tree
from agentsh.profile import Host, load_profile
from tests.test_symlink_line import CANARY, _guardrail

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env={**os.environ, **GIT_ENV})


@pytest.fixture
def evil_repo(home: Path) -> Path:
    """$HOME/proj, a repository on `main` whose branch `evil` holds `k -> ../.ssh` and
    `h -> .git/hooks`; HOME holds the canary key."""
    (home / ".ssh").mkdir(exist_ok=True)
    (home / ".ssh" / "id_rsa").write_text(CANARY + "\n")
    repo = home / "proj"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("hello\n")
    _git(repo, "add", "README.md")
    _git(repo, "commit", "-q", "-m", "one")
    _git(repo, "checkout", "-q", "-b", "evil")
    os.symlink("../.ssh", repo / "k")
    os.symlink(".git/hooks", repo / "h")
    _git(repo, "add", "k", "h")
    _git(repo, "commit", "-q", "-m", "links")
    _git(repo, "checkout", "-q", "main")
    assert not (repo / "k").exists() and not (repo / "h").exists()
    return repo


def _words(line: str) -> tuple[Word, ...]:
    return tuple(Word(w, w) for w in line.split())


@pytest.mark.parametrize("args", [
    "checkout main", "checkout -q evil", "checkout -- file", "checkout -b topic origin/x", "switch main",
    "restore file", "reset --hard", "reset --ha HEAD~1", "reset --merge", "reset --keep", "merge topic",
    "rebase main", "pull", "cherry-pick abc", "revert abc", "stash", "stash pop", "stash apply",
    "apply x.diff", "am x.mbox", "clone url dir", "worktree add ../w", "submodule update", "mv a b",
    "sparse-checkout set d", "bisect start", "read-tree -u HEAD", "checkout-index -a", "co main",
    "init --bare r", "init --separate-git-dir=/tmp/g", "init --sep /tmp/g",
    "-C sub checkout main", "-c core.x=y merge topic",
])
def test_git_commands_that_write_the_work_tree(args: str) -> None:
    assert git_writes_tree(_words(args))


@pytest.mark.parametrize("args", [
    "status", "log --oneline -n 5", "diff HEAD", "show HEAD:README.md", "add .", "commit -m x", "push",
    "fetch", "branch -a", "tag v1", "rm -q f", "clean -fd", "checkout -b topic", "checkout -q -B topic",
    "switch -c topic", "switch --create topic", "reset", "reset HEAD~1", "reset --soft HEAD~1",
    "reset --mixed", "stash list", "stash show -p", "worktree list", "submodule status", "bisect log",
    "init", "init -q sub", "--version", "-C sub status", "grep -n x",
])
def test_git_commands_that_leave_the_work_tree_alone(args: str) -> None:
    assert not git_writes_tree(_words(args))


def test_a_dynamic_word_counts_as_writing() -> None:
    assert git_writes_tree((Word("$x", None, "variable"),))
    assert git_writes_tree((Word("checkout", "checkout"), Word("-b", "-b"), Word("$b", None, "variable")))
    assert not git_writes_tree((Word("commit", "commit"), Word("-m", "-m"), Word("$m", None, "variable")))


def _policy(repo: Path, home: Path) -> Policy:
    host = Host(cwd=str(repo), home=str(home), config_home=str(home / ".config"))
    return Policy(load_profile(None, host), host)


@pytest.mark.parametrize(("line", "decision"), [
    ("git checkout -q evil && cat k/id_rsa", "deny"),
    ("git merge evil; cat k/id_rsa", "deny"),
    ("git stash && git stash pop && ls", "deny"),
    ("git checkout evil | cat", "deny"),
    ("git checkout -q evil", "allow"),
    ("git status && git checkout -q evil", "allow"),
    ("git checkout -b topic && git add . && git commit -m x", "allow"),
    ("git add . && git commit -q -m x && git log --oneline -n 1", "allow"),
])
def test_such_a_git_command_must_end_its_line(line: str, decision: str, evil_repo: Path, home: Path) -> None:
    verdict = _policy(evil_repo, home).decide(line)
    assert verdict.decision == decision, verdict.verdicts
    if decision == "deny":
        assert {v.rule for v in verdict.refused} == {"symlink"}
        assert "git writing work-tree files" in verdict.refused[0].reason


def test_guardrail_mode_prints_no_key_through_a_checked_out_link(tmp_path: Path, evil_repo: Path, home: Path) -> None:
    done = _guardrail(tmp_path, home, evil_repo, "git checkout -q evil && cat k/id_rsa")
    assert done.returncode == 126, done.stdout + done.stderr
    assert CANARY not in done.stdout + done.stderr
    assert not (evil_repo / "k").exists()  # nothing of the line ran
    # Split in two lines, the checkout runs, and the next line sees where k leads.
    first = _guardrail(tmp_path, home, evil_repo, "git checkout -q evil")
    assert first.returncode == 0, first.stderr
    assert (evil_repo / "k").is_symlink()
    second = _guardrail(tmp_path, home, evil_repo, "cat k/id_rsa")
    assert second.returncode == 126 and CANARY not in second.stdout + second.stderr


def test_no_hook_is_planted_through_a_checked_out_link(tmp_path: Path, evil_repo: Path, home: Path) -> None:
    hooks = evil_repo / ".git" / "hooks"
    before = sorted(p.name for p in hooks.iterdir())
    line = "git checkout -q evil && echo 'touch /tmp/pwned' > h/post-checkout"
    done = _guardrail(tmp_path, home, evil_repo, line)
    assert done.returncode == 126, done.stdout + done.stderr
    assert sorted(p.name for p in hooks.iterdir()) == before
    first = _guardrail(tmp_path, home, evil_repo, "git checkout -q evil")
    assert first.returncode == 0, first.stderr
    second = _guardrail(tmp_path, home, evil_repo, "echo 'touch /tmp/pwned' > h/post-checkout")
    assert second.returncode == 126, second.stdout + second.stderr
    assert sorted(p.name for p in hooks.iterdir()) == before
