"""`[ ... ]` and the builtins that read an option naming a variable (test -v, printf -v,
wait -p).  tree-sitter parses `[ ... ]` as an expression, bash as a command: the walker used
to walk it as structure only, so `[ -v 'a[$(cmd)]' ]` ran cmd (bash evaluates the subscript)
and `[ a > f ]` created f (a redirection to bash, a comparison to tree-sitter).  A word known
only at run time can be the option itself (`o=-v; test $o 'a[$(cmd)]'`), or an unquoted one
can split into it (`x='-v a[$(cmd)]'; [ $x -gt 1 ]`).  A compound array assignment's
`[SUBSCRIPT]=` is evaluated the same way (`x='b[$(cmd)]'; a=([x]=1)`).  Each bypass below is shown to work under
plain bash, then refused by the policy and by `agentsh -c` (exit 126, nothing created)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from agentsh.policy import Decision

# {c} is `touch CANARY`: a command the default profile allows, so that under `agentsh -c` the
# exec guard lets it run too and only the static check can stop it.  {s} is the same without
# blanks (`touch${IFS}CANARY`) for a value that word splitting cuts.
BYPASSES = [
    pytest.param("[ -v 'a[$({c})]' ]", id="bracket-v-subscript"),
    pytest.param("[ ! -v 'a[$({c})]' ]", id="bracket-not-v-subscript"),
    pytest.param("[ -n x -a -v \"a[\\$({c})]\" ]", id="bracket-and-v-subscript"),
    pytest.param("x='a[$({c})]'; [ -v \"$x\" ]", id="bracket-v-variable"),
    pytest.param("o=-v; test $o 'a[$({c})]'", id="test-dynamic-option"),
    pytest.param("o=-v; test \"$o\" 'a[$({c})]'", id="test-quoted-dynamic-option"),
    pytest.param("x='-v a[$({s})]'; [ $x -gt 3 ]", id="bracket-split-option"),
    pytest.param("x='-v a[$({s})]'; [ $x ]", id="bracket-split-alone"),
    pytest.param("o=-v; printf $o 'a[$({c})]' %s 1", id="printf-dynamic-option"),
    pytest.param("o=-v; printf \"$o\" PS4 '$({c})'; set -x; :", id="printf-dynamic-option-ps4"),
    pytest.param("sleep 0.1 & o=-p; wait -n \"$o\" 'a[$({c})]'", id="wait-dynamic-option"),
    # words after a redirection: tree-sitter hung them on it, so `test` had no arguments
    pytest.param("test >/dev/null -v 'a[$({c})]'", id="test-args-after-redirection"),
    pytest.param("printf 2>/dev/null -v 'a[$({c})]' x", id="printf-args-after-redirection"),
    # the option's value glued to it or to other options: getopt reads it all the same
    pytest.param("printf -v'a[$({c})]' x", id="printf-glued-option"),
    pytest.param("sleep 0.1 & wait -np 'a[$({c})]'", id="wait-clustered-option"),
    pytest.param("sleep 0.1 & wait -p'a[$({c})]' -n", id="wait-glued-option"),
    # not `[`, but the same evaluation: a compound assignment's `[SUBSCRIPT]=` is arithmetic
    pytest.param("x='b[$({c})]'; a=([x]=1)", id="array-compound-subscript"),
    pytest.param("a=(['b[$({c})]']=1)", id="array-compound-quoted-subscript"),
    pytest.param("x='b[$({c})]'; a+=([0]=1 [x+1]=2)", id="array-compound-append-subscript"),
]


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    return tmp_path / "CANARY"


def _line(template: str, canary: Path) -> str:
    return template.format(c=f"touch {canary}", s=f"touch${{IFS}}{canary}")


@pytest.mark.parametrize("template", BYPASSES)
def test_bash_runs_it_and_agentsh_refuses_it(template: str, canary: Path, workspace: Path,
                                             decide: Callable[..., Decision],
                                             run_agentsh: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    line = _line(template, canary)
    subprocess.run(["/bin/bash", "--noprofile", "--norc", "-c", line], cwd=workspace, capture_output=True,
                   stdin=subprocess.DEVNULL, timeout=30)
    assert canary.exists(), "bash no longer runs the hidden command: the case proves nothing"
    canary.unlink()
    assert decide(line).decision == "deny"
    result = run_agentsh("-c", line)
    assert result.returncode == 126, result
    assert not canary.exists()


@pytest.mark.parametrize("line", ["[ a > .git/hooks/pre-commit ]", "[ a >> .git/hooks/pre-commit ]",
                                  "[ -n x -a a > .git/hooks/pre-commit ]"])
def test_a_redirection_inside_brackets_is_refused(line: str, workspace: Path, decide: Callable[..., Decision],
                                                  run_agentsh: Callable[..., subprocess.CompletedProcess[str]]
                                                  ) -> None:
    hook = workspace / ".git" / "hooks" / "pre-commit"
    hook.parent.mkdir(parents=True)
    subprocess.run(["/bin/bash", "--noprofile", "--norc", "-c", line], cwd=workspace, capture_output=True,
                   stdin=subprocess.DEVNULL, timeout=30)
    assert hook.exists(), "bash no longer redirects there: the case proves nothing"
    hook.unlink()
    decision = decide(line)
    assert decision.decision == "deny"
    assert "redirection" in " ".join(v.reason for v in decision.verdicts)
    result = run_agentsh("-c", line)
    assert result.returncode == 126, result
    assert not hook.exists()


def test_a_read_redirection_inside_brackets_is_refused(decide: Callable[..., Decision]) -> None:
    assert decide("[ a < ~/.ssh/id_rsa ]").decision == "deny"


def test_brackets_are_checked_like_test(decide: Callable[..., Decision]) -> None:
    # `test -f ~/.ssh/id_rsa` was refused (a read of a denied root) while `[ -f ... ]` passed.
    assert decide("test -f ~/.ssh/id_rsa").decision == "deny"
    assert decide("[ -f ~/.ssh/id_rsa ]").decision == "deny"
    assert decide("[ -f ~/.ssh/id_rsa ] && echo yes").decision == "deny"


@pytest.mark.parametrize("line", [
    "[ -f README.md ] && echo yes",
    "[ -d src ] || mkdir src",
    "[ -n \"$x\" ] && echo \"$x\"",
    "[ \"$a\" = \"$b\" ]",
    "[ \"x$a\" != xb ]",
    "[ $? -eq 0 ] && echo ok",
    "i=0; while [ $i -lt 3 ]; do i=$((i+1)); done; echo $i",
    "n=5; test $n -gt 1",
    "for i in 1 2 3; do [ $i -gt 1 ] && echo $i; done",
    "[ -v HOME ] && echo set",
    "[ ! -e x ]",
    "[ a = ~/x ]",
    "[ -f *.md ]",
    "printf '%s\\n' \"$x\" $y",
    "printf \"$fmt\" a b",
    "wait \"$pid\"",
    "sleep 1 & wait $!",
    "[ \"$(wc -l < README.md)\" -gt 0 ]",
    "a=([0]=x [1]=y); echo \"${a[1]}\"",
    "[ -s <(ls) ] && echo listed",  # a process substitution is one /dev/fd/N word
    "a=(1 \"[x]=2\" '[y]=3' \\[z]=4)",
])
def test_ordinary_test_lines_still_pass(line: str, decide: Callable[..., Decision]) -> None:
    decision = decide(line)
    assert decision.decision == "allow", decision


@pytest.mark.parametrize("line", [
    "[ $x -gt 3 ]", "[ -z $x ]", "[ x$a = xb ]", "[ * ]", "test $x", "printf $fmt", "wait $pid",
    "[ $i -lt 3 ]; i=0", "for i in a b; do [ $i = a ]; done", "printf \"$fmt\" \"$x\"",
    "[ $(wc -l < README.md) -gt 0 ]",
])
def test_words_that_may_split_into_the_option_are_refused(line: str, decide: Callable[..., Decision]) -> None:
    decision = decide(line)
    assert decision.decision == "deny", decision
    assert any("quote it" in v.reason or "may be" in v.reason for v in decision.verdicts), decision
