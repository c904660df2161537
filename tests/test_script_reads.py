"""Files read by name from inside a script argument.

sed's `r FILE` and `R FILE` read a file named inside the script, where the operand checks
do not look: `sed 'r ~/.ssh/id_rsa' notes.txt` printed the key under the default profile in
guardrail mode.  The names are read-checked like operands, as GNU sed takes them: the rest of
the script's line, `;` and `}` included.  An awk program that assigns ARGV reads the files it
names there (`BEGIN{ARGV[1]="/etc/shadow"; ARGC=2}`): a hazard, refused unless a rule names
the program."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from agentsh.parse import Word
from agentsh.policy.decision import Decision
from agentsh.policy.scripts import sed_reads

SECRET = "SECRET-KEY-BYTES"


@pytest.mark.parametrize(("args", "names"), [
    (["r /x/y", "f"], ["/x/y"]),
    (["1R  /x/y", "f"], ["/x/y"]),
    (["-n", "-e", "p", "-e", "$r /x/y", "f"], ["/x/y"]),
    (["--expression=r /x/y"], ["/x/y"]),
    (["-e", "1r a;p"], ["a;p"]),  # GNU sed: the name runs to the end of the line
    (["1{r a\n}", "f"], ["a"]),
    (["/r/p", "f"], []),  # an address, not the command
    (["s/r/R/", "f"], []),
    (["-n", "1,40p", "r-file"], []),  # an operand, read-checked as one already
    (["-f", "script.sed", "f"], []),  # a script file: refused as a hazard unless a rule names it
])
def test_sed_reads_names_what_gnu_sed_reads(args: list[str], names: list[str]) -> None:
    assert [w.value for w in sed_reads(tuple(Word(a, a) for a in args))] == names


@pytest.mark.parametrize("line", [
    "sed 'r {home}/.ssh/id_rsa' README.md",
    "sed -n '1R {home}/.ssh/id_rsa' README.md",
    "sed -e p -e '$r {home}/.ssh/id_rsa' README.md",
    "sed --expression='1r {home}/.ssh/id_rsa' README.md",
    "timeout 5 sed '1r {home}/.ssh/id_rsa' README.md",
])
def test_sed_reading_a_denied_file_is_refused(line: str, home: Path, decide: Callable[..., Decision],
                                              run_agentsh: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    _refused_and_reads_nothing(line.format(home=home), "denied read root", decide, run_agentsh)


def test_sed_reading_an_allowed_file_runs(workspace: Path, decide: Callable[..., Decision],
                                          run_agentsh: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    (workspace / "header.txt").write_text("HEADER\n")
    line = "sed '1r header.txt' README.md"
    assert decide(line).decision == "allow"
    done = run_agentsh("-c", line)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "hello\nHEADER\n"


@pytest.mark.parametrize("program", [
    'BEGIN{{ARGV[1]="{home}/.ssh/id_rsa"; ARGC=2}} {{print}}',
    'BEGIN{{ARGV[ARGC++]="{home}/.ssh/id_rsa"}} {{print}}',
    'BEGIN{{split("{home}/.ssh/id_rsa", ARGV); ARGC=2}} {{print}}',
])
def test_awk_changing_argv_is_refused(program: str, home: Path, decide: Callable[..., Decision],
                                      run_agentsh: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    _refused_and_reads_nothing(f"awk '{program.format(home=home)}' README.md", "ARGV", decide, run_agentsh)


def test_awk_without_argv_still_runs(decide: Callable[..., Decision],
                                     run_agentsh: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    line = "awk '{print NR\": \"$0}' README.md"
    assert decide(line).decision == "allow"
    done = run_agentsh("-c", line)
    assert (done.returncode, done.stdout) == (0, "1: hello\n"), done.stderr


def _refused_and_reads_nothing(line: str, says: str, decide: Callable[..., Decision],
                               run_agentsh: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    """Refused with a reason that says `says`, and run for real: status 126, the key unread."""
    decision = decide(line)
    assert decision.decision == "deny", line
    assert any(says in v.reason for v in decision.refused), decision.refused
    done = run_agentsh("-c", line)
    assert done.returncode == 126, done.stderr
    assert SECRET not in done.stdout + done.stderr
