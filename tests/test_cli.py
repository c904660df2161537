"""The click subcommands: profile check, explain, version, help."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from agentsh import __version__
from tests.conftest import REPO, write_profile

Run = Callable[..., subprocess.CompletedProcess[str]]


def test_profile_check_passes_and_warns(run_agentsh: Run) -> None:
    default = REPO / "agentsh" / "data" / "profiles" / "default.yaml"
    result = run_agentsh("profile", "check", str(default))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok   <embedded>/default.yaml: ")
    assert "tests passed" in result.stdout
    assert "warn " in result.stdout and "allows find with open arguments" in result.stdout
    assert "allows wc with open arguments" in result.stdout and "`--files0-from` reads the names" in result.stdout


def test_profile_check_strict_fails_on_warnings(run_agentsh: Run) -> None:
    default = REPO / "agentsh" / "data" / "profiles" / "default.yaml"
    assert run_agentsh("profile", "check", "--strict", str(default)).returncode == 2


def test_profile_check_reports_each_broken_file(run_agentsh: Run, tmp_path: Path) -> None:
    good = write_profile(tmp_path, "good", "agentsh: 1\nextends: [base]\n")
    bad = write_profile(tmp_path, "bad", "agentsh: 1\ncommands:\n  - {name: x, run: ls, decision: alow}\n")
    failing = write_profile(tmp_path, "failing", "agentsh: 1\nextends: [base]\ntests: {allow: [ls]}\n")
    missing = write_profile(tmp_path, "missing", "agentsh: 1\ncommands:\n  - {name: x, run: no-such-tool, decision: allow}\n")
    result = run_agentsh("profile", "check", str(good), str(bad), str(failing), str(missing))
    assert result.returncode == 2
    assert f"ok   {good}" in result.stdout
    assert f"FAIL {bad}:3: commands[0].decision: 'alow' is not one of allow, ask, deny" in result.stderr
    assert "self-test failed" in result.stderr and "'ls' was deny, not allow" in result.stderr
    assert "no-such-tool is found on the profile's path; the rule matches nothing" in result.stdout


def test_explain_with_a_broken_profile_exits_2(run_agentsh: Run) -> None:
    result = run_agentsh("explain", "-p", "no-such-profile", "ls")
    assert result.returncode == 2 and "profile 'no-such-profile' not found" in result.stderr


def test_version_and_help(run_agentsh: Run) -> None:
    assert run_agentsh("--version").stdout.strip().endswith(__version__)
    assert run_agentsh("version").stdout.strip() == f"agentsh {__version__}"
    help_text = run_agentsh("--help").stdout
    assert "explain" in help_text and "profile" in help_text
