"""`patch` writes the files its patch names, which are not on the command line: `patch -p1 <
evil.diff` with `+++ b/.git/hooks/pre-commit` planted a hook in both modes (Landlock leaves
`write.deny` holes to the static check).  The patch is now read when the line is checked
(agentsh/policy/patches.py) and every name in it must pass the write check."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from agentsh.parse import Word
from agentsh.parse.stdin import Stdin, stdin_of
from agentsh.policy import Decision
from agentsh.policy.patches import _LINK_MODE, _patch_args, _stripped, patch_names
from tests.conftest import run_guardrail

Run = Callable[..., subprocess.CompletedProcess[str]]

HOOK_DIFF = """\
--- a/.git/hooks/pre-commit
+++ b/.git/hooks/pre-commit
@@ -0,0 +1,2 @@
+#!/bin/sh
+touch {canary}
"""
GIT_HOOK_DIFF = """\
diff --git a/.git/hooks/post-checkout b/.git/hooks/post-checkout
new file mode 100755
--- /dev/null
+++ b/.git/hooks/post-checkout
@@ -0,0 +1 @@
+touch {canary}
"""
README_DIFF = """\
--- a/README.md\t2026-11-29 10:00:00.000000000 +0000
+++ b/README.md\t2026-11-29 10:01:00.000000000 +0000
@@ -1 +1 @@
-hello
+hello, patched
"""
LINK_DIFF = """\
diff --git a/k b/k
new file mode 120000
--- /dev/null
+++ b/k
@@ -0,0 +1 @@
+../.ssh
\\ No newline at end of file
"""


@pytest.fixture
def diffs(workspace: Path, tmp_path: Path) -> Path:
    """The workspace as a git repository with the patches in it; the canary path is beside it."""
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    canary = tmp_path / "canary"
    (workspace / "evil.diff").write_text(HOOK_DIFF.format(canary=canary))
    (workspace / "evil-git.diff").write_text(GIT_HOOK_DIFF.format(canary=canary))
    (workspace / "readme.diff").write_text(README_DIFF)
    (workspace / "link.diff").write_text(LINK_DIFF)
    return workspace


@pytest.mark.parametrize("line", [
    "patch -p1 < evil.diff", "patch -p1 -i evil.diff", "patch -p1 --input=evil.diff", "patch -p1 --in evil.diff",
    "patch -p1 -ievil.diff", "patch -Np1 -i evil-git.diff", "patch < evil.diff", "patch -p0 < evil.diff",
    "patch README.md evil.diff", "timeout 5 patch -p1 < evil.diff", "{ patch -p1; } < evil.diff",
    "patch -p1 <<'EOF'\n--- a/.git/hooks/x\n+++ b/.git/hooks/x\n@@ -0,0 +1 @@\n+y\nEOF",
    "patch -b -B .git/hooks/ -p1 < readme.diff", "patch -b -Y ../.git/hooks/ -p1 < readme.diff",
    "patch -b -z /../.git/hooks/pre-commit -p1 < readme.diff",
    "patch -p1 < evil.diff; patch -p1 < readme.diff",  # the same command text twice: both are read
    "patch -p1 < readme.diff; patch -p1 < evil.diff",
])
def test_a_patch_naming_a_hook_is_refused(line: str, diffs: Path, decide: Callable[[str], Decision]) -> None:
    decision = decide(line)
    assert decision.decision == "deny", decision.verdicts
    assert any(".git/hooks" in v.reason for v in decision.refused), decision.refused


@pytest.mark.parametrize(("line", "why"), [
    ("cat evil.diff | patch -p1", "from a pipe"),
    ("patch -p1", "agentsh's own input"),
    ("patch -p1 < missing.diff", "cannot be read now"),
    ("git diff > new.diff && patch -R -p1 < new.diff", "cannot be read now"),
    ("patch -p1 <<EOF\n+++ b/$x\nEOF", "an input it cannot see"),
    ("patch -p1 < $f", "only known at run time"),
    ("patch -p1 -i $f", "only known at run time"),
])
def test_a_patch_that_cannot_be_read_first_is_refused(line: str, why: str, diffs: Path,
                                                      decide: Callable[[str], Decision]) -> None:
    decision = decide(line)
    assert decision.decision == "deny", decision.verdicts
    assert any(why in v.reason for v in decision.refused), decision.refused


@pytest.mark.parametrize("line", [
    "patch -p1 < readme.diff", "patch -p1 -i readme.diff", "patch --dry-run -p1 < readme.diff",
    "patch -p1 < readme.diff && git diff --stat", "patch -p1 <<'EOF'\n--- a/src/x\n+++ b/src/x\nEOF",
    "patch -p1 < link.diff",
])
def test_an_ordinary_patch_is_allowed(line: str, diffs: Path, decide: Callable[[str], Decision]) -> None:
    assert decide(line).decision == "allow", decide(line).verdicts


def test_a_fifo_named_as_the_patch_is_refused_without_waiting(diffs: Path, decide: Callable[[str], Decision]) -> None:
    os.mkfifo(diffs / "pipe.diff")
    for line in ("patch -p1 < pipe.diff", "patch -p1 -i pipe.diff"):
        decision = decide(line)  # opening a FIFO for reading would block until a writer comes
        assert decision.decision == "deny" and "not a regular file" in decision.refused[0].reason


def test_a_patch_that_makes_a_link_must_end_its_line(diffs: Path, decide: Callable[[str], Decision]) -> None:
    decision = decide("patch -p1 < link.diff && cat k/id_rsa")
    assert decision.decision == "deny"
    assert {v.rule for v in decision.refused} == {"symlink"}


def test_confined_mode_plants_no_hook_and_applies_an_ordinary_patch(diffs: Path, tmp_path: Path,
                                                                    run_agentsh: Run) -> None:
    hooks = diffs / ".git" / "hooks"
    before = sorted(p.name for p in hooks.iterdir())
    for line in ("patch -p1 < evil.diff", "patch -p1 -i evil-git.diff"):
        done = run_agentsh("-c", line)
        assert done.returncode == 126, done.stdout + done.stderr
    assert sorted(p.name for p in hooks.iterdir()) == before and not (tmp_path / "canary").exists()
    # Under the exec guard, the patch exec is decided again without its stdin (the line was checked).
    done = run_agentsh("-c", "patch -p1 < readme.diff")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (diffs / "README.md").read_text() == "hello, patched\n"


def test_guardrail_mode_plants_no_hook(diffs: Path, tmp_path: Path, agentsh_env: dict[str, str]) -> None:
    hooks = diffs / ".git" / "hooks"
    before = sorted(p.name for p in hooks.iterdir())
    done = run_guardrail("patch -p1 < evil.diff", diffs, agentsh_env, tmp_path)
    assert done.returncode == 126, done.stdout + done.stderr
    assert sorted(p.name for p in hooks.iterdir()) == before


def test_stdin_of_follows_bash() -> None:
    assert stdin_of("patch -p1 < x.diff", "patch -p1", 1) == [Stdin("file", "x.diff")]
    assert stdin_of("cat x | patch -p1", "patch -p1", 1) == [Stdin("pipe")]
    assert stdin_of("patch -p1 < x | cat", "patch -p1", 1) == [Stdin("file", "x")]
    assert stdin_of("cat a | { patch -p1; }", "patch -p1", 1) == [Stdin("pipe")]
    assert stdin_of("patch -p1 < a < b", "patch -p1", 1) == [Stdin("file", "b")]  # the last one wins
    assert stdin_of("patch -p1 2< a", "patch -p1", 1) == [Stdin("inherited")]
    assert stdin_of("patch -p1 <&3", "patch -p1", 1) == [Stdin("unknown")]
    assert stdin_of("echo $(patch -p1)", "patch -p1", 1) == [Stdin("inherited")]
    assert stdin_of("while read l; do patch -p1; done < z", "patch -p1", 1) == [Stdin("file", "z")]
    assert stdin_of("patch -p1 <<'E'\nA $x\nE", "patch -p1", 1) == [Stdin("text", "A $x\n")]
    assert stdin_of("patch -p1 <<E\nA $x\nE", "patch -p1", 1) == [Stdin("unknown")]


def test_names_and_strip_levels() -> None:
    text = README_DIFF + LINK_DIFF + 'diff --git "a/sp ace" "b/\\303\\251"\nrename to c/d\n'
    names = patch_names(text)
    assert {"a/README.md", "b/README.md", "a/k", "b/k", "a/sp ace", "b/\u00e9", "c/d"} <= set(names)
    assert "/dev/null" not in names and _LINK_MODE.search(text) and not _LINK_MODE.search(README_DIFF)
    assert _stripped("a/b/c", 1) == ["b/c"] and _stripped("a/b/c", 0) == ["a/b/c"]
    assert _stripped("a/b/c", None) == ["a/b/c", "b/c", "c"] and _stripped("a/b", 5) == []
    assert _patch_args(tuple(_w(v) for v in ["-Np1", "-d", "sub", "--inp=x", "orig"])) == (["x"], 1, "sub", "")
    assert _patch_args(tuple(_w(v) for v in ["-p0", "orig", "fix.diff"])) == (["fix.diff"], 0, "", "")


def _w(value: str) -> Word:
    return Word(value, value)
