"""Names a program makes by gluing an option's value to another name (agentsh/policy/suffixes.py).
Each line below was allowed before under the default profile in guardrail mode: `zcat -f -S
ets/key secr` printed secrets/key (gzip tries NAME+SUFFIX), and sed's and patch's backups
(`sed -i'.git/hooks/*'`, `patch -b -B .git/hooks/`) and `cp --parents hooks/pre-commit .git`
planted .git/hooks/pre-commit."""

from __future__ import annotations

import gzip
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from agentsh.parse import Word
from agentsh.policy import Policy
from agentsh.policy.suffixes import derived
from tests.conftest import SECRETS_DENIED

Run = Callable[[str], subprocess.CompletedProcess[str]]
CANARY = "WS-CANARY-PLUGH"
PROFILE = SECRETS_DENIED
PATCH = "--- pre-commit\n+++ pre-commit\n@@ -1 +1 @@\n-echo one\n+echo two\n"


@pytest.fixture
def work(workspace: Path) -> Path:
    (workspace / "secrets").mkdir()
    (workspace / "secrets" / "key").write_text(CANARY + "\n")
    (workspace / ".git" / "hooks").mkdir(parents=True)
    (workspace / "pre-commit").write_text("echo one\n")
    (workspace / "fix.patch").write_text(PATCH)
    (workspace / "hooks").mkdir()
    (workspace / "hooks" / "pre-commit").write_text("echo planted\n")
    return workspace


@pytest.fixture
def work_profile() -> str:
    return PROFILE


@pytest.mark.parametrize("line", [
    "zcat -f -S ets/key secr",
    "gzip -dcf -S ets/key secr",
    "gzip -cf -Sets/key secr",
    "gunzip -cf --suffix=ets/key secr",
    "xz -dcf -S ets/key secr",
])
def test_a_suffixed_name_in_a_denied_root_prints_nothing(line: str, guardrail: Run, policy: Policy) -> None:
    assert policy.decide(line).decision == "deny", line
    done = guardrail(line)
    assert done.returncode == 126, done.stdout + done.stderr
    assert CANARY not in done.stdout + done.stderr


@pytest.mark.parametrize("line", [
    "sed -i'.git/hooks/*' -n p pre-commit",
    "sed -ni'.git/hooks/*' p pre-commit",
    "sed --in-place='.git/hooks/*' -n p pre-commit",
    "sed --in='.git/hooks/*' -n p pre-commit",
    "patch -b -B .git/hooks/ -p0 -i fix.patch",
    "patch -b --prefix=.git/hooks/ -p0 -i fix.patch",
    "patch -b -Y .git/hooks/ -p0 -i fix.patch",
    "patch -b --basename-prefix=.git/hooks/ -p0 -i fix.patch",
    "cp --parents hooks/pre-commit .git",
    "cp --pa hooks/pre-commit .git/",
    "cp -t .git --parents hooks/pre-commit",
])
def test_a_backup_in_a_denied_root_is_not_written(line: str, work: Path, guardrail: Run, policy: Policy) -> None:
    assert policy.decide(line).decision == "deny", line
    done = guardrail(line)
    assert done.returncode == 126, done.stdout + done.stderr
    assert list((work / ".git" / "hooks").iterdir()) == []
    assert (work / "pre-commit").read_text() == "echo one\n"


@pytest.mark.parametrize("line", ["gzip -k README.md", "gzip -S .z -k README.md", "zcat -f README.md",
                                  "sed -i.bak s/one/two/ pre-commit", "sed -i s/one/two/ pre-commit",
                                  "patch -b -p0 -i fix.patch", "patch -b -z .orig -p0 -i fix.patch",
                                  "xz -k -T 2 README.md", "cp --parents hooks/pre-commit /tmp",
                                  "cp -r --preserve=mode hooks /tmp"])
def test_ordinary_suffixes_stay_allowed(line: str, policy: Policy) -> None:
    assert policy.decide(line).decision == "allow", policy.decide(line).refused


@pytest.mark.parametrize(("program", "argv", "reads", "writes"), [
    ("gzip", ("-S", "x", "a"), ["ax"], ["ax"]),
    ("gzip", ("-c", "-S", "x", "a"), ["ax"], []),
    ("xz", ("-T", "2", "-Sx", "a"), ["2x", "ax"], ["ax"]),  # 2 is -T's: read-checked (harmless), not written
    ("sed", ("-i.bak", "p", "f"), [], ["f.bak"]),
    ("sed", ("-ibk/*", "-e", "p", "d/f"), [], ["bk/f", "d/bk/f"]),
    ("sed", ("-e", "p", "-i", "f"), [], []),  # no suffix: no backup
    ("patch", ("-B", "pre/", "-z", ".o"), [], ["pre/FILE", "FILE.o"]),
])
def test_derived_names(program: str, argv: tuple[str, ...], reads: list[str], writes: list[str]) -> None:
    found = derived(program, tuple(Word(a, a) for a in argv))
    assert ([w.value for w in found[0]], [w.value for w in found[1]]) == (reads, writes)


@pytest.mark.parametrize("line", ["gunzip -Nf .git/x.gz", "gzip -dNf .git/x.gz", "gzip --decompress --name -f .git/x.gz"])
def test_gunzip_takes_no_name_from_the_archive(line: str, work: Path, guardrail: Run, policy: Policy) -> None:
    """x.gz's header names `config`: gunzip -N wrote the archive's content to .git/config."""
    (work / ".git" / "config").write_text("[core]\n")
    with open(work / ".git" / "x.gz", "wb") as raw, \
            gzip.GzipFile(filename="config", mode="wb", fileobj=raw) as packed:
        packed.write(b"[core]\n\tfsmonitor = touch PWNED\n")
    assert policy.decide(line).decision == "deny", line
    done = guardrail(line)
    assert done.returncode == 126, done.stdout + done.stderr
    assert (work / ".git" / "config").read_text() == "[core]\n"
    assert policy.decide("gunzip -N -c .git/x.gz").decision == "allow"  # to stdout: nothing named
