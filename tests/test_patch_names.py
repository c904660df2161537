"""patch and `git apply` act on the files a patch names, not the ones the line names.  Under
the default profile in guardrail mode `patch -o - -p0 -i r.patch` (r.patch adds a line to
secrets/key) printed the denied file, `git apply mv.patch && cat leak` (a git rename from
secrets/key to leak) printed it too, and `patch -p1 -i h2.patch` planted
.git/hooks/pre-commit.  A patch file the line names is read when the line is checked and
each name in it is a read and a write target (agentsh/policy/patches.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from agentsh.policy import Policy
from agentsh.policy.patches import MAX_PATCH_BYTES, patch_names
from agentsh.profile import Host, load_profile
from tests.conftest import SECRETS_DENIED, write_profile

Run = Callable[[str], subprocess.CompletedProcess[str]]
CANARY = "WS-CANARY-PLUGH"
PROFILE = SECRETS_DENIED
PATCHES = {
    "r.patch": "--- secrets/key\n+++ secrets/key\n@@ -0,0 +1 @@\n+x\n",
    "mv.patch": "diff --git a/secrets/key b/leak\nsimilarity index 100%\nrename from secrets/key\nrename to leak\n",
    "h2.patch": ("diff --git a/.git/hooks/pre-commit b/.git/hooks/pre-commit\nnew file mode 100755\n"
                 "--- /dev/null\n+++ b/.git/hooks/pre-commit\n@@ -0,0 +1 @@\n+touch PWNED\n"),
    "ok.patch": "--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-hello\n+hello2\n",
}


@pytest.fixture
def work(workspace: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    (workspace / "secrets").mkdir()
    (workspace / "secrets" / "key").write_text(CANARY + "\n")
    for name, text in PATCHES.items():
        (workspace / name).write_text(text)
    return workspace


@pytest.fixture
def work_profile() -> str:
    return PROFILE


@pytest.mark.parametrize("line", [
    "patch -o - -p0 -i r.patch",
    "patch -p0 -o - --input=r.patch",
    "patch -p1 -i mv.patch && cat leak",
    "git apply mv.patch && cat leak",
    "git apply --directory=. mv.patch && cat leak",
])
def test_a_patch_naming_a_denied_file_prints_nothing(line: str, work: Path, guardrail: Run, policy: Policy) -> None:
    assert policy.decide(line).decision == "deny", line
    done = guardrail(line)
    assert done.returncode == 126, done.stdout + done.stderr
    assert CANARY not in done.stdout + done.stderr
    assert (work / "secrets" / "key").read_text() == CANARY + "\n"
    assert not (work / "leak").exists()


@pytest.mark.parametrize("line", ["patch -p1 -i h2.patch", "patch -p1 --inp h2.patch", "patch -i h2.patch"])
def test_a_patch_naming_a_hook_plants_nothing(line: str, work: Path, guardrail: Run, policy: Policy) -> None:
    assert policy.decide(line).decision == "deny", line
    done = guardrail(line)
    assert done.returncode == 126, done.stdout + done.stderr
    assert not (work / ".git" / "hooks" / "pre-commit").exists()


@pytest.mark.parametrize("line", ["patch -p1 -i ok.patch", "git apply ok.patch", "git apply --check -p1 ok.patch",
                                  "git apply --stat ok.patch", "git status", "git apply < ok.patch",
                                  "git apply - < ok.patch"])
def test_ordinary_patches_stay_allowed(line: str, policy: Policy) -> None:
    assert policy.decide(line).decision == "allow", policy.decide(line).refused


def test_an_allowed_patch_applies(work: Path, guardrail: Run) -> None:
    done = guardrail("patch -p1 -i ok.patch")
    assert done.returncode == 0, done.stderr
    assert (work / "README.md").read_text() == "hello2\n"


def test_patch_names_reads_the_headers(tmp_path: Path) -> None:
    text = ("Index: idx/a.c\n*** ctx/old.c\t2024-01-01\n--- ctx/new.c\t2024-01-01\n***************\n"
            "*** 1,3 ****\n--- 1,3 ----\n"
            'diff --git "a/q\\303\\251" "b/q\\303\\251"\ncopy from c/from\ncopy to c/to\n--- /dev/null\n')
    names = patch_names(text)
    for name in ("idx/a.c", "ctx/old.c", "ctx/new.c", "a/q\u00e9", "b/q\u00e9", "c/from", "c/to"):
        assert name in names, (name, names)
    assert "/dev/null" not in names and "1,3 ****" not in names and "1,3 ----" not in names


@pytest.mark.parametrize("line", ["patch -p1 -i big.patch", "git apply big.patch", "patch -p1 < missing.patch",
                                  "git apply missing.patch", "cat ok.patch | git apply", "git apply"])
def test_a_patch_not_looked_into_is_refused(line: str, work: Path, policy: Policy) -> None:
    with open(work / "big.patch", "wb") as big:
        big.truncate(MAX_PATCH_BYTES + 1)
    decision = policy.decide(line)
    assert decision.decision == "deny", line
    assert "acts on the files its patch names, but" in decision.refused[0].reason


def test_git_am_reads_its_mailbox_like_apply(work: Path, home: Path, tmp_path: Path) -> None:
    """`git am` applies the patches in a mailbox: a rename from secrets/key there reads it."""
    profile = write_profile(tmp_path, "git-any", PROFILE.replace("name: rt", "name: git-any") +
                            "commands:\n  - {name: git-any, run: git, decision: allow}\n")
    host = Host(cwd=str(work), home=str(home), config_home=str(home / ".config"))
    policy = Policy(load_profile(str(profile), host), host)
    decision = policy.decide("git am mv.patch")
    assert decision.decision == "deny" and "the patch names" in decision.refused[0].reason
    assert policy.decide("git am ok.patch").decision == "allow"
