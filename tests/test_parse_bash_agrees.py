"""Lines where tree-sitter and bash once read different commands (found by red-teaming the
parser): each is a real bypass under plain bash, so the test runs it three ways.  bash runs
the refused command (`sh SCRIPT`, which creates a canary file), the embedded default profile
refuses the line, and `agentsh -c` refuses it with 126 and creates nothing."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from agentsh.policy import Decision

# {p} is a command the default profile refuses (`sh SCRIPT`); in each line tree-sitter takes
# it for data, bash runs it.
BYPASSES = [
    # here-doc delimiters: tree-sitter compares body lines with the word as written, bash with
    # the word after quote removal
    pytest.param("cat <<$'EOF'\nx\nEOF\n{p}\n$'EOF'\n", id="ansi-c-delimiter"),
    pytest.param('cat <<$"EOF"\nx\nEOF\n{p}\n$"EOF"\n', id="translated-delimiter"),
    pytest.param('cat <<E"O"F\nx\nEOF\n{p}\nE"O"F\n', id="partly-quoted-delimiter"),
    pytest.param("cat <<'E\\OF'\nx\nE\\OF\n{p}\nEOF\n", id="backslash-in-single-quotes"),
    pytest.param('cat <<"E\\OF"\nx\nE\\OF\n{p}\nEOF\n', id="backslash-in-double-quotes"),
    # an unquoted body: bash joins `EO\` and `F` into the delimiter line `EOF`
    pytest.param("cat <<EOF\nEO\\\nF\n{p}\nEOF\n", id="continued-delimiter"),
    pytest.param("cat <<-EOF\n\tEO\\\nF\n{p}\nEOF\n", id="continued-delimiter-tabs"),
    # backticks: bash removes `\`` and parses again, a nested substitution tree-sitter reads as words
    pytest.param("echo `echo \\`{p}\\``", id="escaped-backticks"),
    # ${x#PATTERN}: tree-sitter keeps the pattern as one opaque token, bash expands it
    pytest.param("x=a; echo ${{x#*$({p})}}", id="comsub-in-pattern"),
    pytest.param("x=a; echo ${{x#`{p}`}}", id="backticks-in-pattern"),
    # ...and honours its quotes: bash ends ${x//'/'} at the first `}`, tree-sitter after `#'`
    pytest.param("echo ${{x//'/'}}; {p} #'}}", id="quote-in-pattern"),
    # single quotes inside "${...}" are plain characters to bash, quoting to tree-sitter
    pytest.param("echo \"${{x:='$({p})'}}\"", id="single-quotes-in-double-quoted-default"),
    pytest.param("x=a; echo \"${{x:+'$({p})'}}\"", id="single-quotes-in-double-quoted-alternative"),
    pytest.param("echo \"${{x:-$'$({p})'}}\"", id="ansi-c-in-double-quoted-default"),
    # tree-sitter ends a word at `\<newline>`, bash removes the pair and reads on: `a#` is no comment
    pytest.param("echo a\\\n#; {p}", id="continuation-before-comment"),
    pytest.param("echo a\\\n\\\n#; {p}", id="continuations-before-comment"),
    # tree-sitter skips `\\<blank>` after a redirection operator and takes the next line's first
    # word as the target; bash redirects to a file named ` ` and runs the next line
    pytest.param(":<<<\\ # \n{p}", id="herestring-escaped-blank"),
    pytest.param("cat <<< \\ \n{p}", id="herestring-escaped-blank-alone"),
    pytest.param("echo x > \\ \n{p}", id="redirect-escaped-blank"),
    pytest.param("TERM=\\ \neval echo '$({p})'", id="assignment-escaped-blank"),
    # tree-sitter carries a command over a newline followed by `\\<newline>`; bash ends it there
    pytest.param(" printf \n\\\n{p}", id="newline-then-continuation"),
    # tree-sitter skips a leading `\\<tab>` (or `\\<blank>`) and reads `#...` as a comment; to bash
    # it is an escaped blank, `#` inside a word, and then the command
    pytest.param("\\\t# -- :-; {p} ;", id="escaped-tab-before-comment"),
    pytest.param("\\ # x; {p}", id="escaped-blank-before-comment"),
    pytest.param("echo $(\\\t# ; {p} )", id="escaped-tab-in-substitution"),
    # found by the differential fuzzer (tests/test_parse_fuzz.py): `TERM=\\<newline> CMD` is
    # `TERM=` then CMD to bash, TERM=CMD to tree-sitter; `=~ <(...)` is an opaque regex token
    pytest.param("TERM=\\\n {p}", id="continuation-then-blank-after-equals"),
    pytest.param("[[ a =~ <({p}) ]]", id="process-substitution-as-regex"),
]
RUN_UNDER_AGENTSH = {"ansi-c-delimiter", "partly-quoted-delimiter", "continued-delimiter", "escaped-backticks",
                     "comsub-in-pattern", "quote-in-pattern", "single-quotes-in-double-quoted-default",
                     "continuation-before-comment", "herestring-escaped-blank", "redirect-escaped-blank",
                     "assignment-escaped-blank", "newline-then-continuation",
                     "escaped-tab-before-comment", "continuation-then-blank-after-equals",
                     "process-substitution-as-regex"}


@pytest.fixture
def payload(tmp_path: Path) -> tuple[str, Path]:
    script = tmp_path / "x.sh"
    canary = tmp_path / "CANARY"
    script.write_text(f"touch {canary}\n")
    return f"sh {script}", canary


@pytest.mark.parametrize("template", BYPASSES)
def test_bash_runs_it_and_agentsh_refuses_it(template: str, payload: tuple[str, Path], workspace: Path,
                                             decide: Callable[..., Decision],
                                             run_agentsh: Callable[..., subprocess.CompletedProcess[str]],
                                             request: pytest.FixtureRequest) -> None:
    command, canary = payload
    line = template.format(p=command)
    subprocess.run(["/bin/bash", "--noprofile", "--norc", "-c", line], cwd=workspace, capture_output=True,
                   stdin=subprocess.DEVNULL, timeout=30)
    assert canary.exists(), "bash no longer runs the hidden command: the case proves nothing"
    canary.unlink()
    decision = decide(line)
    assert decision.decision == "deny", decision
    if request.node.callspec.id in RUN_UNDER_AGENTSH:
        result = run_agentsh("-c", line)
        assert result.returncode == 126, result
        assert not canary.exists()


@pytest.mark.parametrize("line", [
    "cat <<EOF\nhi\nEOF",
    "cat <<'EOF'\n$(id)\nEO\\\nF\nEOF",  # quoted: no joining
    "cat <<EOF\nEO\\\\\nF\nEOF",  # an escaped backslash does not continue the line
    "cat <<-EOF\n\thi\n\t\tEOF\n",
    "cat <<\"E F\"\nx\nE F\n",
    "cat <<E\\ F\nx\nE F\n",
    "x=$(cat <<EOF\nhi\nEOF\n)",
    "cat <<A | grep a\na\nA\n",
    "echo ${f%.py} ${x//-/_} ${x#*/} ${x%%.*}",
    "echo \"${x:-default}\" \"${x:-'a b'}\" ${x:-'$(id)'}",  # unquoted: the single quotes do quote
    "echo `date` \"`git rev-parse HEAD`\" `printf 'a\\n'`",
    # line continuations after a blank or an operator, or inside quotes or a here-document
    "python3 -m pytest \\\n  -q \\\n  tests/", "ls -la |\\\n  grep x", "ls &&\\\nls", "echo \"a\\\nb\"",
    "cat <<EOF\nx = 1 + \\\n2\nEOF", "find . -name '*.py' \\\n  -exec wc -l {} +", "x=(a\\\n b)",
])
def test_lines_bash_reads_as_tree_sitter_does_still_pass(line: str, decide: Callable[..., Decision]) -> None:
    assert decide(line).decision == "allow", decide(line)


@pytest.mark.parametrize("line", ["cat ~/.ss\\\nh/id_rsa", "cat ~\\\n/.ssh/id_rsa", "shopt -q\\\ns dotglob; cat ~/*/id_rsa"])
def test_a_continuation_inside_a_word_does_not_hide_a_read(line: str, workspace: Path, home: Path,
                                                          run_agentsh: Callable[..., subprocess.CompletedProcess[str]]
                                                          ) -> None:
    """Found by red-teaming: tree-sitter read `~/.ss` and `h/id_rsa` as two words (no denied
    path), bash reads `~/.ssh/id_rsa` and printed the key."""
    under_bash = subprocess.run(["/bin/bash", "--noprofile", "--norc", "-c", line], cwd=workspace,
                                capture_output=True, text=True, env={"HOME": str(home), "PATH": "/usr/bin:/bin"})
    assert "SECRET-KEY-BYTES" in under_bash.stdout, "bash no longer reads it: the case proves nothing"
    result = run_agentsh("-c", line)
    assert result.returncode == 126, result
    assert "SECRET-KEY-BYTES" not in result.stdout + result.stderr
    assert "line continuation inside a word" in result.stderr


@pytest.mark.parametrize("line", ["cat 2>/dev/null ~/.ssh/id_rsa", "cat </dev/null ~/.ssh/id_rsa",
                                  "cat <&0 ~/.ssh/id_rsa", "cat 2>&1 ~/.ssh/id_rsa"])
def test_words_after_a_redirection_are_not_hidden(line: str, workspace: Path, home: Path,
                                                  run_agentsh: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    """Found by red-teaming: tree-sitter hangs the words after a command's redirection on the
    redirection, so the check saw `cat` without arguments; bash reads the key."""
    under_bash = subprocess.run(["/bin/bash", "--noprofile", "--norc", "-c", line], cwd=workspace,
                                capture_output=True, text=True, env={"HOME": str(home), "PATH": "/usr/bin:/bin"})
    assert "SECRET-KEY-BYTES" in under_bash.stdout + under_bash.stderr, "bash no longer reads it"
    result = run_agentsh("-c", line)
    assert result.returncode == 126, result
    assert "SECRET-KEY-BYTES" not in result.stdout + result.stderr
    assert "words after a redirection" in result.stderr


@pytest.mark.parametrize("line", [
    "echo $\\\n(sh x.sh)", "echo a &\\\n& sh x.sh", "echo {PS4}<<<'$(sh x.sh)'; set -x; :",
    "[[ a == @(x|`sh x.sh`) ]]", "[[ a =~ ^x`sh x.sh`$ ]]", "echo x\u3000#; sh x.sh", "echo x\u00a0# `sh x.sh`",
    "echo ${x/a/$(sh x.sh)}", "x=a; echo ${x^^$(sh x.sh)}", "echo $((sh x.sh) )", "((sh x.sh); true)",
    "echo \"${x:-'`sh x.sh`'}\"", "cat <<EOF\nx\\\nEOF\nsh x.sh\nEOF\n", "x=$(cat <<EOF\nEOF)\nsh x.sh\nEOF\n)",
    "shopt -s extglob; echo @($(sh x.sh))", "coproc sh x.sh", "a=([$(sh x.sh)]=1)", "echo $'\\c@'",
    "shopt -u globasciiranges; cat ~/.[R-T]sh/id_rsa", "shopt -u globskipdots; cat .*/.s*/id_rsa",
    "PS4='$(sh x.sh)'; set -x; :", "BASH_CMDS=([ls]=/tmp/x.sh); ls", "HOME=/tmp; cat ~/x", "CDPATH=/ cd etc",
])
def test_probes_that_were_already_refused(line: str, decide: Callable[..., Decision]) -> None:
    """Red-team probes that bash and the checker already read alike (or that are refused for
    another reason): kept so that a change cannot quietly let them through."""
    assert decide(line).decision == "deny", line
