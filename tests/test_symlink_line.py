"""Each target of `ln -s` and `cp -s` must pass the read check from the directory the link is
made in, not the working directory: `mkdir -p a/b && ln -s ../../.ssh a/b/k` links to ~/.ssh."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentsh.parse import Word
from agentsh.policy import Policy
from agentsh.profile import Host, load_profile

CANARY = "CANARY-7f3a-PRIVATE-KEY-BYTES"


@pytest.fixture
def secret_home(home: Path) -> Path:
    """HOME with ~/.ssh/id_rsa holding the canary, a project below it, and a file at its top."""
    (home / ".ssh" / "id_rsa").write_text(CANARY + "\n")
    (home / "proj").mkdir()
    (home / "proj" / "README.md").write_text("hello\n")
    (home / "notes.txt").write_text("notes\n")
    return home


def _policy(cwd: Path, home: Path) -> Policy:
    host = Host(cwd=str(cwd), home=str(home), config_home=str(home / ".config"))
    return Policy(load_profile(None, host), host)


@pytest.fixture
def in_home(secret_home: Path) -> Policy:
    """The default profile with the workspace directly $HOME."""
    return _policy(secret_home, secret_home)


def _refused_by(policy: Policy, line: str) -> set[str]:
    decision = policy.decide(line)
    assert decision.decision == "deny", (line, decision.verdicts)
    return {v.rule for v in decision.refused}


@pytest.mark.parametrize("line", [
    "mkdir -p a/b && ln -s ../../.ssh a/b/k",  # from the link's directory, not the cwd
    "mkdir -p a/b && ln -s ../../.ssh/id_rsa a/b/k",
    "mkdir d && ln -s ../.ssh d",  # d is made a directory first: the link is d/.ssh
    "mkdir d && ln -s -t d ../.ssh", "mkdir d && ln -st d notes.txt ../.ssh",
    "mkdir d && ln -s notes.txt ../.ssh d",
    "mkdir d && env ln -s ../.ssh d/k",
    "cp -rs ~ copy",  # a tree of links, one to each file below HOME, ~/.ssh/id_rsa too
])
def test_a_link_into_a_denied_read_root_is_refused(line: str, in_home: Policy) -> None:
    assert "read-write-roots" in _refused_by(in_home, line)


@pytest.mark.parametrize("line", [
    "ln ~/.ssh/id_rsa key", "ln .ssh/id_rsa key", "ln -f ~/.ssh/id_rsa proj/key", "ln -t proj ~/.ssh/id_rsa",
    "ln -P ~/.ssh/id_rsa key", "ln -s .ssh k", "ln -s ~/.ssh k", "ln -s /etc/shadow k", "ln -s ~/.ss? k",
    "mkdir a && cd a && ln -s ../.ssh k",
])
def test_a_link_to_a_denied_operand_is_refused_by_the_read_check(line: str, in_home: Policy) -> None:
    """Hard links and links whose target is a denied path from the working directory too:
    every operand is read-checked, so these were refused before links were looked at."""
    decision = in_home.decide(line)
    assert decision.decision == "deny"
    assert decision.refused[0].rule == "read-write-roots" and "denied" in decision.refused[0].reason


def test_symlinks_reads_options_as_getopt_does() -> None:
    from agentsh.policy.writes import symlinks

    def made(*argv: str) -> tuple[list[str | None], list[tuple[str | None, bool]], bool] | None:
        found = symlinks(argv[0], tuple(Word(a, a) for a in argv[1:]))
        if found is None:
            return None
        targets, places, tree = found
        return [w.value for w in targets], [(w.value, named) for w, named in places], tree

    assert made("ln", "a", "b") is None and made("cp", "-r", "a", "b") is None
    assert made("ln", "-Ss", "a", "b") is None  # `s` is -S's value
    assert made("ln", "-s", "a") == (["a"], [(".", False)], False)
    assert made("ln", "-sf", "a", "b") == (["a"], [("b", False), ("b", True)], False)
    assert made("ln", "-snft", "d", "a", "b") == (["a", "b"], [("d", False)], False)
    assert made("ln", "--sym", "a", "b", "d") == (["a", "b"], [("d", False), ("d", True)], False)
    assert made("cp", "-rs", "/a", "b") == (["/a"], [("b", False), ("b", True)], True)
    assert made("cp", "--symbolic-l", "/a", "b") == (["/a"], [("b", False), ("b", True)], False)
    assert made("ls", "-s") is None
