"""The option forms agents use to call a shell: run each under real bash and under agentsh
and compare what the agent would see (stdout, exit status; stderr where it is bash's own)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agentsh.main import parse_shell_args


def run_both(argv: list[str], env: dict[str, str], cwd: Path, stdin: str | None = None
             ) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    def run(prefix: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*prefix, *argv], input=stdin, capture_output=True, text=True, cwd=cwd, env=env,
                              timeout=60, stdin=None if stdin is not None else subprocess.DEVNULL)
    # bash's long options must come first; they keep the user's start-up files out, as agentsh does
    return run(["/bin/bash", "--noprofile", "--norc"]), run([sys.executable, "-m", "agentsh"])


FORMS = [
    ["-c", 'echo "[$0|$1|$2|$#]"', "zero", "one", "two"],
    ["-c", 'echo "[$0|$#]"'],
    ["-lc", 'echo "[$1]" && exit 3', "zero", "one"],
    ["-c", "-l", 'echo login; echo "[$0]"', "zero"],
    ["-l", "-c", 'echo "[$0]"', "-l"],
    ["--login", "-c", "echo x"],
    ["-c", ""],
    ["-c", "exit 7"],
    ["-c", "false; echo x"],
    ["-ec", "false; echo x"],
    ["-e", "-c", "true && false; echo still-here; false; echo not-here"],
    ["-c", "-e", "false; echo x"],
    ["-lec", "false; echo x"],
    ["-ec", "if false; then :; fi; false || echo handled; echo reached"],
    ["-uc", 'echo "${NOT_SET_ANYWHERE:-default}"; echo "$NOT_SET_ANYWHERE"; echo after'],
    ["-eu", "-c", "echo one; echo $NOT_SET_ANYWHERE; echo two"],
    ["-c", 'printf "%s\\n" "$@"', "zero", "a b", "c"],
]


@pytest.mark.parametrize("argv", FORMS, ids=[" ".join(f) for f in FORMS])
def test_same_stdout_and_status_as_bash(argv: list[str], agentsh_env: dict[str, str], workspace: Path) -> None:
    bash, agentsh = run_both(argv, agentsh_env, workspace)
    assert (agentsh.stdout, agentsh.returncode) == (bash.stdout, bash.returncode), agentsh.stderr


def test_unbound_variable_message_matches(agentsh_env: dict[str, str], workspace: Path) -> None:
    bash, agentsh = run_both(["-uc", "echo $NOT_SET_ANYWHERE"], agentsh_env, workspace)
    assert agentsh.returncode == bash.returncode != 0
    assert bash.stderr.split(":", 1)[1] == agentsh.stderr.split(":", 1)[1]  # all but bash's $0


def test_xtrace_shows_the_line_not_agentsh_plumbing(agentsh_env: dict[str, str], workspace: Path) -> None:
    """-x traces the agent's commands exactly as bash does; agentsh's program pins are not traced."""
    bash, agentsh = run_both(["-xc", "echo hi; true x"], agentsh_env, workspace)
    assert agentsh.stderr == bash.stderr == "+ echo hi\n+ true x\n"
    assert agentsh.stdout == bash.stdout == "hi\n"


def test_stdin_script_with_s_and_arguments(agentsh_env: dict[str, str], workspace: Path) -> None:
    script = 'echo "[$1|$2|$#]"\necho second line\n'
    bash, agentsh = run_both(["-s", "a", "b c"], agentsh_env, workspace, stdin=script)
    assert (agentsh.stdout, agentsh.returncode) == (bash.stdout, bash.returncode) == ("[a|b c|2]\nsecond line\n", 0)


@pytest.mark.parametrize("argv", [[], ["-l"], ["--login"], ["-s"], ["-e"]])
def test_script_on_stdin_without_command(argv: list[str], agentsh_env: dict[str, str], workspace: Path) -> None:
    script = "echo one\nfalse\necho two\n"
    bash, agentsh = run_both(argv, agentsh_env, workspace, stdin=script)
    assert (agentsh.stdout, agentsh.returncode) == (bash.stdout, bash.returncode)


def test_e_flag_stops_a_script_on_stdin_too(agentsh_env: dict[str, str], workspace: Path) -> None:
    bash, agentsh = run_both(["-es"], agentsh_env, workspace, stdin="echo one\nfalse\necho two\n")
    assert (agentsh.stdout, agentsh.returncode) == (bash.stdout, bash.returncode) == ("one\n", 1)


def test_missing_command_is_a_usage_error(agentsh_env: dict[str, str], workspace: Path) -> None:
    bash, agentsh = run_both(["-c"], agentsh_env, workspace)
    assert agentsh.returncode == bash.returncode == 2
    assert "-c: option requires an argument" in agentsh.stderr


def test_flags_do_not_loosen_the_check(run_agentsh, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    canary = tmp_path / "canary"
    result = run_agentsh("-eux", "-c", f"touch {canary}; curl -s https://example.com")
    assert result.returncode == 126 and not canary.exists()


def test_parse_keeps_options_once_and_positional_for_s() -> None:
    args = parse_shell_args(["-eux", "-e", "-s", "a", "-x"])
    assert (args.options, args.stdin, args.args, args.command) == ("eux", True, ("a", "-x"), None)
    args = parse_shell_args(["-c", "-l", "LINE", "-e"])
    assert (args.command, args.args, args.login, args.options) == ("LINE", ("-e",), True, "")
