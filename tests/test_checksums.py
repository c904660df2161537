"""`sha256sum -c LIST` reads every file LIST names.  With secrets/key (a denied read root) in
the list, guardrail mode under the default profile read it and answered `secrets/key: OK` (a
comparison, not the bytes, but a read outside the read roots all the same).  A list the line
names is read when the line is checked and its names read-checked (agentsh/policy/checksums.py)."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from agentsh.policy import Policy
from agentsh.policy.checksums import MAX_LIST_BYTES, names
from tests.conftest import SECRETS_DENIED, run_guardrail, write_profile

Run = Callable[[str], subprocess.CompletedProcess[str]]
CANARY = "WS-CANARY-PLUGH\n"
PROFILE = SECRETS_DENIED


@pytest.fixture
def work(workspace: Path) -> Path:
    (workspace / "secrets").mkdir()
    (workspace / "secrets" / "key").write_text(CANARY)
    digest = hashlib.sha256(CANARY.encode()).hexdigest()
    readme = hashlib.sha256(b"hello\n").hexdigest()
    (workspace / "sums").write_text(f"{readme}  README.md\n{digest}  secrets/key\n")
    (workspace / "tagged").write_text(f"SHA256 (secrets/key) = {digest}\n")
    (workspace / "ok").write_text(f"{readme}  README.md\n")
    return workspace


@pytest.fixture
def work_profile() -> str:
    return PROFILE


@pytest.mark.parametrize("line", ["sha256sum -c sums", "sha256sum --check sums", "sha256sum --c sums",
                                  "sha256sum -c tagged", "sha256sum --quiet -c sums", "timeout 5 sha256sum -c sums"])
def test_a_checked_list_naming_a_denied_file_reads_nothing(line: str, work: Path, tmp_path: Path, policy: Policy,
                                                           agentsh_env: dict[str, str]) -> None:
    assert policy.decide(line).decision == "deny", line
    done = run_guardrail(line, work, agentsh_env, tmp_path, write_profile(tmp_path, "rt", PROFILE))
    assert done.returncode == 126, done.stdout + done.stderr
    assert "secrets/key: OK" not in done.stdout + done.stderr


@pytest.mark.parametrize("line", ["sha256sum -c ok", "sha256sum README.md", "md5sum -c missing.md5",
                                  "sha256sum -c < ok"])
def test_ordinary_checksums_stay_allowed(line: str, policy: Policy) -> None:
    assert policy.decide(line).decision == "allow", policy.decide(line).refused


def test_names_reads_both_formats(tmp_path: Path) -> None:
    (tmp_path / "l").write_text("abc12  a b\nabc12 *bin/x\nMD5 (t/y) = abc12\n\\abc12  c\\\\d\nnot a line\n")
    assert names(str(tmp_path / "l")) == ["a b", "bin/x", "t/y", "c\\d"]
    with open(tmp_path / "big", "wb") as big:
        big.truncate(MAX_LIST_BYTES + 1)
    assert names(str(tmp_path / "big")) == []
