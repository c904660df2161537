"""bash evaluates some values as arithmetic (`[[ A -eq B ]]`, `[[ -v NAME ]]`, `$((x))`,
`((x))`, `for ((...))`, `${s:x}`), through variable values recursively, and an array
subscript in such a value runs its command substitutions: `x='a[$(sh ...)]'; [[ $x -eq 1 ]]`
runs `sh ...`, which no command of the line shows. Only known numbers are accepted there
(agentsh/parse/arith.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from agentsh.policy import Decision, Policy
from agentsh.profile import Host, load_profile
from tests.conftest import run_guardrail

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def decide(home: Path, workspace: Path) -> Callable[[str], Decision]:
    host = Host(cwd=str(workspace), home=str(home), config_home=str(home / ".config"))
    return Policy(load_profile(None, host), host).decide


# `python3 -c` is refused by the default profile: run this way, it would make the canary.
PAYLOAD = '$(python3 -c "open(\\"{canary}\\", \\"w\\")")'  # no single quote: it sits inside one


@pytest.mark.parametrize("shape", [
    "[[ -v 'a[{p}]' ]]",
    "[[ 'a[{p}]' -eq 1 ]]",
    "x='a[{p}]'; [[ $x -eq 1 ]]",
    "x='a[{p}]'; [[ 1 -lt x ]]",
    "x='a[{p}]'; echo $((x))",
    "x='a[{p}]'; echo $(($x + 1))",
    "x='a[{p}]'; ((x))",
    "x='a[{p}]'; for ((i=0; i<x; i++)); do :; done",
    "x='a[{p}]'; s=abc; echo ${{s:x}}",
    "x='a[{p}]'; echo $[x]",
    "n=$((n+1))",  # n comes from the environment here
    "for f in *; do echo $((f)); done",  # a file named a[$(...)] would do it
    "read n; echo $((n))",
    "set -- 'a[{p}]'; [[ $1 -gt 0 ]]",  # a positional parameter: `set --` or agentsh -c's caller sets it
    "set -- x 'a[{p}]'; echo $(( ${{2}} + 1 ))",
    "set -- 'a[{p}]'; echo $(($@))",
    # assigned by a builtin that spells the name quoted or glued to its options, or by ${n:=...}
    "n=1; printf -vn %s 'a[{p}]'; echo $((n))",
    "n=1; printf -v 'n' %s 'a[{p}]'; echo $((n))",
    "n=1; read \"n\" <<< 'a[{p}]'; echo $((n))",
    "n=1; \"read\" n <<< 'a[{p}]'; echo $((n))",
    "n=; : ${{n:='a[{p}]'}}; echo $((n))",
])
def test_arithmetic_on_values_not_known_numbers_is_refused(shape: str, decide: Callable[[str], Decision],
                                                           run_agentsh: Run, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    line = shape.format(p=PAYLOAD.format(canary=canary))
    decision = decide(line)
    assert decision.decision == "deny", line
    assert any("evaluates it as arithmetic" in v.reason for v in decision.refused), decision.refused
    done = run_agentsh("-c", line, input="")
    assert done.returncode == 126, done.stderr
    assert not canary.exists()


@pytest.mark.parametrize("line", [
    "n=5; echo $((n + 1))", "for ((i=0; i<3; i++)); do echo $i; done", "for i in 1 2 3; do echo $((i*2)); done",
    "count=0; ((count++)); echo $count", "i=0; while ((i < 3)); do ((i++)); done", "echo $((1 + 2))",
    "[[ $? -ne 0 ]] && echo failed", "[[ $# -gt 2 ]]", "[[ -v HOME ]]", "[[ -v a[1] ]]", "[ \"$x\" -eq 1 ]",
    "test \"$n\" -gt 3", "total=0; for f in a b; do total=$((total + 1)); done; echo $total",
    "s=abcdef; i=2; echo ${s:i:2}", "echo ${x:-default}",
])
def test_ordinary_arithmetic_is_allowed(line: str, decide: Callable[[str], Decision]) -> None:
    decision = decide(line)
    assert decision.decision == "allow", decision.refused


def test_the_hint_points_to_test(decide: Callable[[str], Decision]) -> None:
    refused = decide("[[ $x -eq 1 ]]").refused[0]
    assert "[ \"$x\" -eq N ]" in refused.reason and refused.command == "x"


# Allowed by the default profile, so that under `agentsh -c` the exec guard lets it run and
# only the static check can stop it.
TOUCH = "$(touch {canary})"


@pytest.mark.parametrize("shape", [
    "OPTIND='b[{p}]'",
    "x='b[{p}]'; OPTIND=x",
    "x='b[{p}]'; RANDOM=$x",
    "SRANDOM='b[{p}]'",
    "HISTCMD='b[{p}]'",
    "read OPTIND <<< 'b[{p}]'",
    "printf -v RANDOM %s 'b[{p}]'",
    "for OPTIND in 'b[{p}]'; do :; done",
])
def test_variables_whose_assignment_is_arithmetic(shape: str, decide: Callable[[str], Decision],
                                                  run_agentsh: Run, workspace: Path, tmp_path: Path) -> None:
    """Found by red-teaming: bash evaluates a value assigned to OPTIND, RANDOM, SRANDOM or
    HISTCMD as arithmetic, so `OPTIND='b[$(touch CANARY)]'` ran touch under `agentsh -c`."""
    canary = tmp_path / "canary"
    line = shape.format(p=TOUCH.format(canary=canary))
    subprocess.run(["/bin/bash", "--noprofile", "--norc", "-c", line], cwd=workspace, capture_output=True,
                   stdin=subprocess.DEVNULL, timeout=30)
    assert canary.exists(), "bash no longer runs it: the case proves nothing"
    canary.unlink()
    decision = decide(line)
    assert decision.decision == "deny", line
    assert any("evaluates the value as arithmetic" in v.reason for v in decision.refused), decision.refused
    done = run_agentsh("-c", line, input="")
    assert done.returncode == 126, done.stderr
    assert not canary.exists()


@pytest.mark.parametrize("line", ["OPTIND=1; getopts ab o", "RANDOM=42; echo $RANDOM", "OPTIND=$((1 + 1))"])
def test_numbers_may_still_be_assigned_to_them(line: str, decide: Callable[[str], Decision]) -> None:
    decision = decide(line)
    assert decision.decision == "allow", decision.refused


@pytest.mark.parametrize("line", [
    "n=1; o=-vn; printf \"$o\" %s 'a[$(touch {canary})]'; echo $((n))",
    "n=1; o=-vn; printf $o %s 'a[$(touch {canary})]'; echo $((n))",
    "n=1; o=-pn; sleep 0 & wait -n \"$o\"; echo $((n))",
])
def test_a_dynamic_option_word_may_name_any_variable(line: str, tmp_path: Path, workspace: Path,
                                                      agentsh_env: dict[str, str]) -> None:
    """printf's -v (wait's -p) may come from a word only known at run time with the name glued
    to it: `o=-vn; printf "$o" %s 'a[$(cmd)]'` assigns n, and `$((n))` ran cmd in guardrail
    mode (only the word's own name, o, was taken as assigned).  Then no variable of the line
    is a known number."""
    canary = tmp_path / "canary"
    done = run_guardrail(line.format(canary=canary), workspace, agentsh_env, tmp_path)
    assert done.returncode == 126, done.stdout + done.stderr
    assert not canary.exists()


@pytest.mark.parametrize("line", ["sleep 0 & pid=$!; wait $pid", "true; rc=$?; [ $rc -eq 0 ]",
                                  "n=1; printf '%s\\n' \"$x\"; echo $((n))"])
def test_numbers_from_special_parameters_and_printf_operands(line: str, decide: Callable[[str], Decision]) -> None:
    """`pid=$!` holds a number, and a job or printf's operands name no variable."""
    assert decide(line).decision == "allow", decide(line).refused
