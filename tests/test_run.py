"""`agentsh -c` behaves like `bash -c` for allowed lines and runs nothing of a refused one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO, write_profile

Run = Callable[..., subprocess.CompletedProcess[str]]

TEST_PROFILE = """\
agentsh: 1
name: runner-test
extends: [base]
write: {{allow: ["{{workspace}}", "{tmp}"]}}
path: [{path}]
env: {{pass: [GOOD_VAR]}}
approval: {{timeout: 1}}
commands:
  - name: tools
    run: [cat, sleep, printenv, touch, cp, sh, kill, tool, ls, wc, head, bash]
    decision: allow
  - name: restart
    run: git
    args: ["restart ..."]
    decision: ask
"""


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    return write_profile(tmp_path, "runner", TEST_PROFILE.format(tmp=tmp_path, path="/usr/bin, /bin"))


def test_exit_status_and_streams(run_agentsh: Run, profile: Path) -> None:
    result = run_agentsh("-p", str(profile), "-c", "echo out; echo err >&2; exit 7")
    assert (result.returncode, result.stdout, result.stderr) == (7, "out\n", "err\n")


def test_stdin_is_passed_through(run_agentsh: Run, profile: Path) -> None:
    result = run_agentsh("-p", str(profile), "-c", "cat | wc -l", input="a\nb\nc\n")
    assert result.stdout.strip() == "3"


def test_extra_arguments_become_positional_parameters(run_agentsh: Run, profile: Path) -> None:
    result = run_agentsh("-p", str(profile), "-c", 'echo "$0|$1|$2"', "zero", "one", "two")
    assert result.stdout == "zero|one|two\n"


@pytest.mark.parametrize("form", [["-c"], ["-lc"], ["-c", "-l"], ["-l", "-c"], ["--login", "-c"], ["-ic"]])
def test_bash_option_forms(run_agentsh: Run, profile: Path, form: list[str]) -> None:
    args = ["-p", str(profile), *form]
    if form == ["-c", "-l"]:
        args = ["-p", str(profile), "-c", "-l"]
    result = run_agentsh(*args, "echo ok") if form != ["-c", "-l"] else run_agentsh(*args[:-1], "-l", "-c", "echo ok")
    assert (result.returncode, result.stdout) == (0, "ok\n"), result.stderr


def test_script_on_stdin(run_agentsh: Run, profile: Path) -> None:
    result = run_agentsh("-p", str(profile), "-s", input="echo one\necho two\n")
    assert result.stdout == "one\ntwo\n"


def test_signal_death_is_128_plus_n(run_agentsh: Run, profile: Path) -> None:
    result = run_agentsh("-p", str(profile), "-c", "kill -TERM $$")
    assert result.returncode == 128 + signal.SIGTERM


def test_runs_in_callers_directory(run_agentsh: Run, profile: Path, workspace: Path) -> None:
    sub = workspace / "sub"
    sub.mkdir()
    assert run_agentsh("-p", str(profile), "-c", "pwd", cwd=sub).stdout == f"{sub}\n"


def test_environment_is_rebuilt(run_agentsh: Run, profile: Path, agentsh_env: dict[str, str]) -> None:
    env = dict(agentsh_env, GOOD_VAR="kept", AWS_SECRET_ACCESS_KEY="leak-me", BASH_ENV="/tmp/x",
               LD_PRELOAD="/tmp/evil.so", PAGER="evil-pager", BASH_FUNC_ls__="() { echo pwned; }")
    result = run_agentsh("-p", str(profile), "-c", "printenv", env=env)
    seen = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert seen["GOOD_VAR"] == "kept"
    assert seen["PAGER"] == "cat" and seen["PATH"] == "/usr/bin:/bin"
    for name in ("AWS_SECRET_ACCESS_KEY", "BASH_ENV", "LD_PRELOAD", "BASH_FUNC_ls__", "PYTHONPATH"):
        assert name not in seen
    assert "leak-me" not in result.stdout


def test_denied_line_runs_nothing(run_agentsh: Run, profile: Path, workspace: Path) -> None:
    canary = workspace / "canary"
    result = run_agentsh("-p", str(profile), "-c", f"touch {canary}; curl http://127.0.0.1/")
    assert result.returncode == 126
    assert not canary.exists()
    assert result.stdout == ""
    assert result.stderr.startswith("agentsh: denied: curl http://127.0.0.1/: ")
    assert "(rule default-deny)" in result.stderr and "agentsh: hint:" in result.stderr


def test_ask_waits_and_times_out_as_a_denial(run_agentsh: Run, profile: Path) -> None:
    result = run_agentsh("-p", str(profile), "-c", "git restart now")
    assert result.returncode == 126
    assert "waiting for approval" in result.stderr and "(rule restart)" in result.stderr
    assert "timed out" in result.stderr


def test_program_is_pinned_to_the_checked_file(run_agentsh: Run, tmp_path: Path) -> None:
    """A file that appears earlier on PATH after the check must not replace the checked program."""
    early, late = tmp_path / "early", tmp_path / "late"
    early.mkdir()
    late.mkdir()
    (late / "tool").write_text("#!/bin/sh\necho real\n")
    (tmp_path / "evil").write_text("#!/bin/sh\necho evil\n")
    for f in (late / "tool", tmp_path / "evil"):
        f.chmod(0o755)
    profile = write_profile(tmp_path, "pin", TEST_PROFILE.format(tmp=tmp_path, path=f"{early}, {late}, /usr/bin, /bin"))
    result = run_agentsh("-p", str(profile), "-c", f"cp {tmp_path / 'evil'} {early / 'tool'}; tool")
    assert (early / "tool").exists()
    assert result.stdout == "real\n", result.stderr


def test_sigterm_reaches_the_whole_command(agentsh_env: dict[str, str], profile: Path, workspace: Path) -> None:
    marker = "31.4159"
    proc = subprocess.Popen([sys.executable, "-m", "agentsh", "-p", str(profile), "-c",
                             f"sleep {marker} | cat"], cwd=workspace, env=agentsh_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while not _pids_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _pids_with(marker), "sleep never started"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 128 + signal.SIGTERM
    deadline = time.monotonic() + 5
    while _pids_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _pids_with(marker), "the command's process group outlived agentsh"


def _pids_with(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes() == b"sleep\0" + marker.encode() + b"\0":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


@pytest.mark.parametrize("args, message", [
    (["-p", "nosuchprofile", "-c", "true"], "profile 'nosuchprofile' not found"),
    (["-c"], "-c: option requires an argument"),
    (["-Z", "-c", "true"], "unknown option -Z"),
    (["script.sh"], "running script files is not supported"),
])
def test_usage_and_config_errors_exit_2(run_agentsh: Run, args: list[str], message: str) -> None:
    result = run_agentsh(*args)
    assert result.returncode == 2 and message in result.stderr


def test_broken_profile_exits_2_naming_file_and_line(run_agentsh: Run, tmp_path: Path, workspace: Path) -> None:
    bad = write_profile(tmp_path, "bad", "agentsh: 1\ncommands:\n  - name: x\n    run: ls\n    decison: allow\n")
    canary = workspace / "canary"
    result = run_agentsh("-p", str(bad), "-c", f"touch {canary}")
    assert result.returncode == 2
    assert f"{bad}:5: commands[0].decison: unknown key 'decison'" in result.stderr
    assert not canary.exists()


def test_invalid_utf8_argument_is_refused(agentsh_env: dict[str, str], workspace: Path, profile: Path) -> None:
    canary = workspace / "canary"
    line = b"touch " + str(canary).encode() + b" \xff\xfe"
    result = subprocess.run([sys.executable.encode(), b"-m", b"agentsh", b"-p", str(profile).encode(), b"-c", line],
                            cwd=workspace, env=agentsh_env, capture_output=True, timeout=60)
    assert result.returncode == 126
    assert b"not valid UTF-8" in result.stderr
    assert not canary.exists()


@pytest.mark.parametrize("line", [
    "echo " + "a" * (1 << 20),
    "echo " + "a" * 200_000,
    "echo " + "$(" * 10000 + "id" + ")" * 10000,
], ids=["1MiB", "200KB", "10000-deep"])
def test_huge_and_deep_lines_are_refused_quickly(run_agentsh: Run, profile: Path, line: str) -> None:
    started = time.monotonic()
    result = run_agentsh("-p", str(profile), "-s", input=line, timeout=30)
    assert result.returncode == 126
    assert any(m in result.stderr for m in ("the limit is", "larger than 1 MiB", "nesting deeper"))
    assert time.monotonic() - started < 30


def test_default_profile_is_used_without_p(run_agentsh: Run, workspace: Path) -> None:
    assert run_agentsh("-c", "ls README.md").stdout == "README.md\n"
    result = run_agentsh("-c", "curl http://127.0.0.1/")
    assert result.returncode == 126 and "(rule no-network)" in result.stderr


def test_module_and_repo_agree() -> None:
    assert (REPO / "agentsh" / "data" / "profiles" / "default.yaml").is_file()
    assert os.access(REPO / ".ci" / "run", os.X_OK)


def test_sigpipe_has_its_default_action(run_agentsh: Run, profile: Path, tmp_path: Path) -> None:
    """Python ignores SIGPIPE; the command must not inherit that, or `yes | head` never ends."""
    result = run_agentsh("-p", str(profile), "-c", "cat /dev/zero | head -c 5 | wc -c", timeout=20)
    assert result.stdout.strip() == "5"
    assert "Broken pipe" not in result.stderr and result.stderr == ""
