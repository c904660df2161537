"""A file name glued to a short option (`-fFILE`) is read-checked whole.  Only the part from
the first `/` was taken before, so `date -fsecrets/key` was checked as reading `/key` and
printed the denied file in its error message (`date: invalid date '...'`), as `hexdump -f`
and `file -m` did.  Which letter of a cluster takes the rest as its value only the program
knows, so every rest of the word that starts before its first `/` (or at a `.`, for a
dotfile such as `.env`) is checked."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from agentsh.policy import Policy
from agentsh.policy.argfiles import arg_candidates as _candidates

Run = Callable[[str], subprocess.CompletedProcess[str]]
CANARY = "WS-CANARY-PLUGH"
PROFILE = 'agentsh: 1\nname: rt\nextends: [default]\nread:\n  deny: ["{workspace}/secrets", "{workspace}/.env"]\n'


@pytest.fixture
def work(workspace: Path) -> Path:
    (workspace / "secrets").mkdir()
    (workspace / "secrets" / "key").write_text(CANARY + "\n")
    (workspace / ".env").write_text(CANARY + "\n")
    return workspace


@pytest.fixture
def work_profile() -> str:
    return PROFILE


@pytest.mark.parametrize(("value", "candidates"), [
    ("-fsecrets/key", ["secrets/key", "ecrets/key", "crets/key", "rets/key", "ets/key", "ts/key", "s/key", "/key"]),
    ("-I/usr/include", ["/usr/include"]),
    ("-f.env", [".env"]),
    ("-la", []),
    ("--file=x", ["x"]),
    ("--x/y", ["/y"]),
    ("-/x", ["/x"]),
])
def test_candidates_of_an_option_word(value: str, candidates: list[str]) -> None:
    assert _candidates(value) == candidates


@pytest.mark.parametrize("line", [
    "date -fsecrets/key",
    "hexdump -fsecrets/key README.md",
    "file -msecrets/key README.md",
    "date -f.env",
    "timeout 5 date -fsecrets/key",
])
def test_a_glued_file_name_in_a_denied_root_prints_nothing(line: str, guardrail: Run, policy: Policy) -> None:
    decision = policy.decide(line)
    assert decision.decision == "deny", line
    assert any("denied read root" in v.reason for v in decision.refused), decision.refused
    done = guardrail(line)
    assert done.returncode == 126, done.stdout + done.stderr
    assert CANARY not in done.stdout + done.stderr


@pytest.mark.parametrize("line", ["sort -k1.2 README.md", "ls -la", "grep -rn hello .", "head -n5 README.md",
                                  "grep -e/usr README.md", "sort -t. -k2 README.md"])
def test_ordinary_option_words_stay_allowed(line: str, policy: Policy) -> None:
    assert policy.decide(line).decision == "allow", line
