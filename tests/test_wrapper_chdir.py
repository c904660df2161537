"""A wrapper that sets the working directory (`env -C DIR`, `sudo -D DIR`, `unshare -w DIR`)
moves the wrapped command's relative paths with it: `env -C ~ cat .ssh/id_rsa` reads
~/.ssh/id_rsa, and is refused as such."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from agentsh.parse import Word
from agentsh.policy import Policy
from agentsh.policy.wrappers import unwrap
from agentsh.profile import Host, load_profile

Run = Callable[..., subprocess.CompletedProcess[str]]
SECRET = "SECRET-KEY-BYTES"


@pytest.fixture
def default_policy(home: Path, workspace: Path) -> Policy:
    (workspace / "src").mkdir()
    (workspace / "src" / "app.py").write_text("print(1)\n")
    host = Host(cwd=str(workspace), home=str(home), config_home=str(home / ".config"))
    return Policy(load_profile(None, host), host)


@pytest.mark.parametrize("form", ["-C {home}", "--chdir {home}", "-C{home}", "--chdir={home}", "-iC {home}",
                                  "-C /tmp -C {home}"])
def test_env_chdir_reads_are_resolved_from_the_new_directory(form: str, home: Path, default_policy: Policy,
                                                             run_agentsh: Run) -> None:
    line = f"env {form.format(home=home)} cat .ssh/id_rsa"
    assert default_policy.decide(line).decision == "deny", line
    done = run_agentsh("-c", line)
    assert done.returncode == 126, done.stderr
    assert SECRET not in done.stdout + done.stderr


def test_env_chdir_writes_are_resolved_from_the_new_directory(default_policy: Policy, run_agentsh: Run) -> None:
    planted = Path("/etc/agentsh-test-planted")
    line = f"env -C /etc touch {planted.name}"
    assert default_policy.decide(line).decision == "deny"
    try:
        done = run_agentsh("-c", line)
        assert done.returncode == 126, done.stderr
        assert not planted.exists()
    finally:
        planted.unlink(missing_ok=True)


def test_nested_and_relative_chdirs(home: Path, default_policy: Policy) -> None:
    assert default_policy.decide(f"env -C {home.parent} env -C {home.name} cat .ssh/id_rsa").decision == "deny"
    assert default_policy.decide("env -C src cat app.py").decision == "allow"
    assert default_policy.decide("cd src && env -C .. cat src/app.py").decision == "allow"


def test_unwrap_reports_the_directory() -> None:
    words = tuple(Word(t, t) for t in ("-C", "/x", "ls"))
    assert unwrap("env", words).chdir == Word("/x", "/x")
    assert unwrap("env", tuple(Word(t, t) for t in ("--chdir=/y", "ls"))).chdir.value == "/y"  # type: ignore[union-attr]
    assert unwrap("sudo", tuple(Word(t, t) for t in ("-D", "/z", "ls"))).chdir.value == "/z"  # type: ignore[union-attr]
    assert unwrap("env", tuple(Word(t, t) for t in ("-i", "ls"))).chdir is None
