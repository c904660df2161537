"""Differential fuzzing of the tree walk against real bash (generator: tests/parse_fuzz.py).

Every generated line the parser accepts is run under bash with only canary programs on
PATH; each canary bash ran must be a command the parse reported, with the arguments the
parse reported, each file bash created a reported redirection target.  The fixed seeds keep the run the same from one day to the
next; the bypasses the campaign found are kept below as explicit cases.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentsh.parse import parse_line
from tests.conftest import run_guardrail
from tests.parse_fuzz import Sandbox, generated, misread_arguments, unreported


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    box = Sandbox()
    yield box
    import shutil

    shutil.rmtree(box.root, ignore_errors=True)


def test_accepted_generated_lines_report_what_bash_runs(sandbox: Sandbox) -> None:
    checked = 0
    for seed in (7, 1350, 2024):
        for line in generated(seed, 120):
            parsed = parse_line(line)
            if not parsed.ok:
                continue
            ran, made = sandbox.run(line)
            assert not unreported(parsed, ran, made), line
            assert not misread_arguments(parsed, sandbox.arguments()), line
            checked += 1
    assert checked > 40, checked  # the generator still produces lines the parser takes


# Found by the campaign: bash ran the canary, the parser accepted the line without reporting it.
FOUND = [
    # `V=\<newline><blank>cmd`: bash removes the continuation, `V=` ends at the blank and cmd runs;
    # tree-sitter took cmd for the value of V
    pytest.param("TERM=\\\n c1", id="continuation-then-blank-after-equals"),
    pytest.param("TERM=\\\n\tc1 a", id="continuation-then-tab-after-equals"),
    # an escaped blank before a continuation joins the word: `a\ \<newline>#x` is `a #x` to
    # bash, the word `a ` and a comment to tree-sitter
    pytest.param("c1 a\\ \\\n#x", id="continuation-after-escaped-blank"),
    # a `#` glued to a word is part of it: `]#c` is one word, and the substitution after it runs
    pytest.param("[ -z x ]#c $(c1)", id="hash-glued-to-the-closing-bracket"),
    # bash reads a backtick substitution again: its here-document ends elsewhere
    pytest.param("x=`c2 <<-\\E1\n`\n$(c1)\nx\\\nE1\n`", id="here-document-inside-backticks"),
    # `time` is a keyword to bash, a command name to tree-sitter: what follows it is syntax
    pytest.param("time x=1 c1", id="assignment-after-time"),
    pytest.param("time -p x='a b' c1", id="assignment-after-time-p"),
    pytest.param("time ! c1", id="negation-after-time"),
    pytest.param("time coproc c1", id="coproc-after-time"),
    pytest.param("time time ! c1", id="negation-after-two-times"),
    # the right side of =~ (and an extglob pattern) is one opaque token to tree-sitter
    pytest.param("[[ a =~ `c1` ]]", id="backticks-in-regex"),
    pytest.param("[[ a =~ ^x`c1`$ ]]", id="backticks-inside-regex"),
    pytest.param("[[ a =~ <(c1) ]]", id="process-substitution-as-regex"),
    pytest.param("[[ a =~ >(c1) ]]", id="output-process-substitution-as-regex"),
    pytest.param("[[ a =~ ${x:-`c1`} ]]", id="default-with-backticks-in-regex"),
    pytest.param("[[ a =~ x$[`c1`] ]]", id="old-arithmetic-in-regex"),
    pytest.param("[[ a == @(`c1`) ]]", id="backticks-in-extglob"),
    pytest.param("shopt -s extglob\ncase a in @(`c1`)) ;; esac", id="backticks-in-case-extglob"),
    # in backticks bash joins `#\<newline>` with the next line into a comment: the here-doc
    # tree-sitter saw there does not start, and its body runs
    pytest.param("x=`#\\\nc8 <<E1\nc1\nE1\n`", id="continued-comment-in-backticks"),
    # in a double-quoted ${x-...} single quotes are plain characters, also when they are
    # only part of the operand (the refusal looked at a lone '...' only)
    pytest.param("c2 \"${x-'$(c1)'a}\"", id="false-quotes-glued-in-default"),
    pytest.param("c2 \"${x-a'$(c1)'}\"", id="false-quotes-after-text-in-default"),
    pytest.param("c2 \"${x-${y-'$(c1)'a}}\"", id="false-quotes-in-nested-default"),
    pytest.param("c2 \"${x-$'$(c1) 'a' '}\"", id="false-ansi-c-quotes-glued-in-default"),
    # `>&WORD` that is no descriptor number becomes `&>VALUE`, and bash expands VALUE again
    pytest.param("c2 >&'$(c1)'", id="second-expansion-after-duplication"),
    pytest.param("c2 1>&'`c1`'", id="second-expansion-of-backticks-after-1-duplication"),
    pytest.param("c2 >&\"\\$(c1)\"", id="second-expansion-of-escaped-dollar"),
    pytest.param("x='$(c1)'; c2 >&$x", id="second-expansion-of-a-variable"),
    # inside ${x:-...} tree-sitter reads `$((` as a command substitution of a subshell, bash
    # as arithmetic, in which (inside double quotes) single quotes do not quote
    pytest.param("c2 \"${x:-$((c8 [[ '$(c1)'))}\"", id="arithmetic-read-as-subshell-in-default"),
    pytest.param("c2 ${x:-$((c8 '$(c1)'))}", id="arithmetic-read-as-subshell-in-unquoted-default"),
    # in double quotes (and an unquoted here-document) bash removes `\<newline>` first, so
    # `$\<newline>(cmd)` is `$(cmd)`; tree-sitter read a lone `$` and the text `(cmd)`
    pytest.param("c2 \"$\\\n(c1)\"", id="continuation-after-dollar-in-double-quotes"),
    pytest.param("x=\"a$\\\n\\\n(c1)\"", id="two-continuations-after-dollar-in-an-assignment"),
    pytest.param("c2 <<E\n$\\\n(c1)\nE", id="continuation-after-dollar-in-a-here-document"),
    # unquoted, tree-sitter read `$\<newline>` as a variable named by the continuation; bash
    # reads `$[...]` arithmetic, which decodes and expands $'...'
    pytest.param("c2 $\\\n[$'$(c1)']", id="continuation-after-dollar-before-old-arithmetic"),
    pytest.param("c2 a$\\\n{x-$(c3)}$\\\n[$'$(c1)']", id="continuation-after-dollar-in-a-word"),
    # a here-document body line holding only a backslash: body text to bash, a continuation
    # to tree-sitter, which took the next line for a word and started the body after it
    pytest.param("c2 <<\"E\"\n\\\nE\nc1\nE\n", id="here-document-body-line-of-a-lone-backslash"),
    pytest.param("c2 <<E\n\\\n\\\nE\nc1\nE\n", id="here-document-body-lines-of-lone-backslashes"),
    # a `#` right after the `)` of an array assignment is part of the word to bash (`a=(x)#a`
    # is a plain assignment for the command after it); tree-sitter read a comment
    pytest.param("x=1 a=(x)#a c1", id="hash-glued-to-an-array-assignment"),
    pytest.param("a=(x)# c1", id="hash-alone-after-an-array-assignment"),
    # in a ${...} inside "$(...)" bash decodes $'...' and expands the result again
    pytest.param("c2 \"$(c3 ${y-$'\\x24(c1)'})\"", id="ansi-c-text-expanded-again-in-quoted-substitution"),
    pytest.param("c2 \"$(c3 ${y-$'$(c1)'})\"", id="ansi-c-quotes-do-not-quote-in-quoted-substitution"),
    pytest.param("c2 \"${x-$(c3 ${y:-a$'\\x60c1\\x60'})}\"", id="ansi-c-backticks-in-nested-substitution"),
    # tree-sitter reads `0<<<x` after a redirection as the program `0` and a here-string
    pytest.param(">f2 0<<<x c1", id="descriptor-of-a-here-string-read-as-the-program"),
    pytest.param("x=1 0<<<x c1", id="descriptor-of-a-here-string-after-an-assignment"),
    # after `!` tree-sitter reads `((` as two subshells, bash as an arithmetic command whose
    # operand it expands with quotes that do not quote
    pytest.param("!(( '$(c1)' ))", id="arithmetic-read-as-two-subshells-after-negation"),
    # with no command before it, tree-sitter ends a redirection's file name at a backtick and
    # reads the rest as a command: bash wrote `f2<output>x`, the parse showed a write to f2
    # bash removes line continuations first: `(\<newline>(` and `$(\<newline>(` are `((` and `$((`
    pytest.param("(\\\n(c8 '$(c1)'))", id="arithmetic-split-by-a-continuation-read-as-two-subshells"),
    pytest.param("c2 \"$(\\\n(c8 '$(c1)'))\"", id="arithmetic-split-by-a-continuation-read-as-substitution"),
    pytest.param("2>f2`c1`x", id="file-name-split-at-backticks"),
    pytest.param("x=1 >f2`c1`x", id="file-name-split-at-backticks-after-an-assignment"),
    # third widening: tree-sitter splits `{\,a}` into `{` and `,a}`; to bash it is one word
    # (`x={,a}`, an assignment for the command after it)
    pytest.param("x={\\,a} c1", id="brace-before-a-backslash-split-after-an-assignment"),
    pytest.param("for v in {\\,a}; do c1; done", id="brace-before-a-backslash-split-in-a-for-list"),
    # and ends an assignment's value at a backslash after a quote or an expansion: to bash
    # `x='a'\x` is one assignment word for the command after it
    pytest.param("x='a'\\x c1", id="backslash-after-single-quotes-in-an-assignment"),
    pytest.param("x=\"a\"\\x c1", id="backslash-after-double-quotes-in-an-assignment"),
    pytest.param("x=$y\\x c1", id="backslash-after-an-expansion-in-an-assignment"),
    pytest.param("x+=$'a'\\x'b' c1", id="backslash-after-ansi-c-quotes-in-an-assignment"),
    # after `x=\|\<newline> ` tree-sitter took the next assignment for the program name
    pytest.param("x=\\|\\\n x='a b'\\\n c1 \\done", id="assignment-read-as-the-program-after-a-continuation"),
]


def test_a_unicode_blank_glued_to_a_quoted_word_does_not_split_it(sandbox: Sandbox) -> None:
    """Found by the campaign: tree-sitter ends a quoted word or an expansion before a Unicode
    blank (U+2028, U+3000 ...); to bash it is a word character.  `>"f5"\u2028c1` wrote the
    file `f5\u2028c1` while the parse showed a write to f5 and a program `\u2028c1`."""
    for line in (">\"f5\"\u2028c1", "c2 'a'\u3000b", "c2 $x\u2000>f3"):
        assert not parse_line(line).ok, line
    _ran, made = sandbox.run(">\"f5\"\u2028c1")
    assert made == {"f5\u2028c1"}
    for line in ("c2 a\u3000b", "c2 \"a\" \u3000b", "c2 \u2028b"):  # no quoted word or expansion before it
        assert parse_line(line).ok, line


def test_a_hash_glued_to_a_quoted_file_name_before_a_continuation_is_refused(sandbox: Sandbox) -> None:
    """Found by the campaign: in `>"f2"#\\<newline>c1` tree-sitter put a comment `#\\` into the
    file name and checked `f2#\\c1`; bash removes the continuation and wrote `f2#c1`."""
    line = "c2 >\"f2\"#\\\nc1"
    _ran, made = sandbox.run(line)
    assert made == {"f2#c1"}
    assert not parse_line(line).ok
    assert parse_line("c2 >\"f2\"#c1").ok  # on one line the name is read right


@pytest.mark.parametrize("line", FOUND)
def test_found_bypasses_are_refused(line: str, sandbox: Sandbox) -> None:
    ran, _made = sandbox.run(line)
    assert "c1" in ran, "bash no longer runs the canary: the case proves nothing"
    parsed = parse_line(line)
    assert not parsed.ok, parsed


@pytest.mark.parametrize("line", [
    "x=1 c1", "time c1", "time -p c1 a", "time -- c1", "[[ a =~ ^a$|^b$ ]] && c1", "[[ a =~ ^[0-9]+$ ]]",
    "[[ a =~ $(c1) ]]", "shopt -s extglob\ncase a in @(x|y)) c1;; esac",
    "c1 \"${x-'a'b}\"", "c1 ${x-'$(c2)'a}",
    "c1 \"a$ b\" \"$\"", "c1 \"$(c2)\\\n\"", "c1 <<E\nx\n\\\nE\n", "c1 <<E\na\\\nb\nE\n", "a=(x) #c2\nc1",
    "(c1)#c2", "a=(x);#c2", "c1 \"$(c2 ${y-'$(c3)'})\"", "c1 $(c2 ${y-$'\\x24(c3)'})", "c1 >f2 2>&1",
    "c1 0 <<<x", "(( 1 )) && c1", "(( !(1) )) || c1", "!(c1)", "( (c1) )",
    ">f2`c1`", ">f2$(c1)x", ">f2<f3 c1", "(\\\n c1)", "c2 $(\\\n c1)",
    "c1 {a,b}", "c1 \\{a,b\\}", "c1 '{,a}'", "c1 a\\{b", "c1 {a\\,b}", "c1 \\{\\,a}",
])
def test_nearby_lines_are_still_read(line: str, sandbox: Sandbox) -> None:
    parsed = parse_line(line)
    assert parsed.ok, parsed
    assert not unreported(parsed, *sandbox.run(line)), line


def test_a_carriage_return_before_a_syntax_error_does_not_crash_the_parser() -> None:
    """Found by the campaign: the syntax-error message looked the line up with splitlines(),
    which also splits at `\\r`, and raised IndexError instead of refusing."""
    parsed = parse_line("c11 <<<\\\t | time 1> f7 2>&1 \\\n")
    assert not parsed.ok
    assert not parse_line("c1 \r\r\n(").ok


@pytest.mark.parametrize(("word", "value"), [
    ('a$', "a$"), ('"a"$', "a$"), ('"a$"', "a$"), ('"a"$"b"', "ab"), ('x$"y"z', "xyz"),
    ('"f5"$$', None), ("a$$", None),  # `$$` is the PID: the walker took `"f5"$$` for f5
])
def test_a_dollar_sign_in_a_word_is_read_as_bash_reads_it(word: str, value: str | None) -> None:
    parsed = parse_line(f"echo {word}")
    assert parsed.ok and parsed.commands[0].argv[1].value == value
    printed = subprocess.run(["/bin/bash", "--noprofile", "--norc", "-c", f"echo {word}"], capture_output=True,
                             text=True, check=True).stdout[:-1]
    assert printed == value if value is not None else printed != word.replace('"', "")


def test_a_continuation_after_an_escaped_blank_reads_nothing_hidden(home: Path, tmp_path: Path,
                                                                    agentsh_env: dict[str, str]) -> None:
    """`cat a\\ \\<newline>#/../../.ssh/id_rsa` was checked as `cat 'a '`; bash read the path
    `a #/../../.ssh/id_rsa`, which (with the directory `a #` made first) is ~/.ssh/id_rsa."""
    project = home / "proj"
    (project / "a #").mkdir(parents=True)
    done = run_guardrail("cat a\\ \\\n#/../../.ssh/id_rsa", project, agentsh_env, tmp_path)
    assert done.returncode == 126, done.stdout + done.stderr
    assert "SECRET-KEY-BYTES" not in done.stdout + done.stderr



def test_a_duplication_target_expanded_twice_plants_no_hook(home: Path, tmp_path: Path,
                                                            agentsh_env: dict[str, str]) -> None:
    """`echo ... >&".g\\\\it/hooks/pre-commit"` was checked as a write to `.g\\it/...`, a harmless
    name; bash expands a `>&` file name twice and wrote .git/hooks/pre-commit."""
    project = home / "proj"
    (project / ".git" / "hooks").mkdir(parents=True)
    hook = project / ".git" / "hooks" / "pre-commit"
    done = run_guardrail("echo touch PWNED >&\".g\\\\it/hooks/pre-commit\"", project, agentsh_env, tmp_path)
    assert done.returncode in (2, 126), done.stdout + done.stderr
    assert not hook.exists()
    assert "second time" in done.stderr


@pytest.mark.parametrize("line", [
    'echo "$\\\n(cat ~/.ssh/id_rsa)"',  # `$\<newline>(` is `$(` to bash
    'cat <<"E"\n\\\nE\ncat ~/.ssh/id_rsa\nE',  # the here-document ends at the first E for bash
    "x=1 a=(x)#a cat ~/.ssh/id_rsa",  # `a=(x)#a` is one word to bash, not an array and a comment
    "echo \"$(echo ${y-$'\\x24(cat ~/\\x2essh/id_rsa)'})\"",  # bash expands the decoded $'...' again
    "!((echo '$(cat ~/.s\"\"sh/id_rsa)'))",  # bash's arithmetic error message shows the expanded key
    "(\\\n(echo '$(cat ~/.s\"\"sh/id_rsa)'))",  # the same, `((` split by a line continuation
    "echo $\\\n[$'$(cat ~/\\x2essh/id_rsa)']",  # `$\<newline>[` is `$[`, arithmetic
], ids=["continuation-after-dollar", "lone-backslash-here-document-line", "hash-after-array", "ansi-c-decoded",
        "arithmetic-after-negation", "arithmetic-split-by-a-continuation", "old-arithmetic-after-continuation"])
def test_lines_the_parser_read_otherwise_print_no_key(line: str, home: Path, tmp_path: Path,
                                                      agentsh_env: dict[str, str]) -> None:
    """Each line was accepted as echo, cat of a here-document or a bare assignment, while bash
    ran `cat ~/.ssh/id_rsa` (found by the second widening of the fuzzer; guardrail mode)."""
    project = home / "proj"
    project.mkdir()
    done = run_guardrail(line, project, agentsh_env, tmp_path)
    assert done.returncode == 126, done.stdout + done.stderr
    assert "SECRET-KEY-BYTES" not in done.stdout + done.stderr


def test_a_brace_before_a_backslash_stays_one_word(home: Path, tmp_path: Path, agentsh_env: dict[str, str]) -> None:
    """Found by the third widening: tree-sitter splits `{\\,a}` into the words `{` and `,a}`;
    bash reads the one word `{,a}` (no brace expansion: the comma is quoted).  Through a
    link `{, -> ..` that an earlier line may make, `cat {\\,/.ssh/id_rsa` was checked as reading
    `{` and `,/.ssh/id_rsa` in the workspace, and printed ~/.ssh/id_rsa (guardrail mode)."""
    project = home / "proj"
    project.mkdir()
    made = run_guardrail("ln -s .. '{,'", project, agentsh_env, tmp_path)
    assert made.returncode == 0, made.stdout + made.stderr
    done = run_guardrail("cat {\\,/.ssh/id_rsa", project, agentsh_env, tmp_path)
    assert done.returncode == 126, done.stdout + done.stderr
    assert "SECRET-KEY-BYTES" not in done.stdout + done.stderr


@pytest.mark.parametrize("line", [
    "TERM=$TERM\\echo tee ../.bashrc <<<PWNED",  # read as `TERM=$TERM` and the program `echo`
    "TERM=\"xterm\"\\ls tee ../.bashrc <<<PWNED",
    "TERM='xterm'\\echo tee ../.bashrc <<<PWNED",
    "cat ~/.ss\"\"\\h/id_rsa",  # read as the two files ~/.ss and h/id_rsa
    "cat ~/'.ss'\\h/id_rsa",
])
def test_a_backslash_after_a_quote_or_an_expansion_splits_no_word(
        line: str, home: Path, tmp_path: Path, agentsh_env: dict[str, str]) -> None:
    """Found by the third widening: tree-sitter ends a word at a backslash right after a quote
    or an expansion and starts another word there.  `TERM="xterm"\\ls tee FILE` was checked
    as the assignment `TERM="xterm"` and `ls tee FILE` (bash: one assignment word, and `tee
    ../.bashrc` wrote ~/.bashrc); `cat ~/.ss""\\h/id_rsa` as reading `~/.ss` and `h/id_rsa`
    (bash read ~/.ssh/id_rsa).  Guardrail mode."""
    project = home / "proj"
    project.mkdir()
    done = run_guardrail(line, project, agentsh_env, tmp_path)
    assert done.returncode == 126, done.stdout + done.stderr
    assert "SECRET-KEY-BYTES" not in done.stdout + done.stderr
    assert "PWNED" not in ((home / ".bashrc").read_text() if (home / ".bashrc").exists() else "")


@pytest.mark.parametrize("line", ["TERM=$TERM\\echo tee x", "cat ~/.ss\"\"\\h/id_rsa", "cat $f\\h/id_rsa",
                                  "for f in $x\\h; do :; done", "a=(x $y\\z)"])
def test_the_walkers_own_check_refuses_split_words_too(line: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """disagree.split_words runs only on lines with a backslash or `$` and a blank; the
    walker's check_gaps refuses two words side by side on every line, so the two checks cover
    each other: with split_words switched off, each of these is still refused."""
    from agentsh.parse import disagree
    from agentsh.parse.walker import parse_line as walk

    monkeypatch.setattr(disagree, "split_words", lambda root: None)
    assert any(p.reason == disagree.GLUED_WORDS for p in walk(line).problems), walk(line)


@pytest.mark.parametrize(("line", "passed"), [
    ("c1 \\;\\\n/x", [";/x"]),  # an escaped operator character before a line continuation
    ("c1 \\>\\\nf2", [">f2"]),
    ("c1 \\|\\\n\\\nx", ["|x"]),
    ("c1 a\\\n 2>&1", ["a"]),  # tree-sitter read the argument `2` and `>&1`
    ("[[ a ]] && c1 a\\\n 2>&1", ["a"]),  # ... and put `>&1` on the whole list
    ("c1 '\\'\\\n 2>f2", ["\\"]),
])
def test_words_joined_by_a_continuation_are_refused(line: str, passed: list[str], sandbox: Sandbox) -> None:
    """Found by checking the canaries' arguments (the third widening): bash joins `\\;` and
    the next line into one word, and reads `a\\<newline> 2>f` as `a 2>f`; tree-sitter read
    two words, or the argument `2` and a redirection of stdout."""
    sandbox.run(line)
    assert sandbox.arguments() == [("c1", tuple(passed))]
    assert not parse_line(line).ok


def test_an_escaped_operator_before_a_continuation_reads_no_key(home: Path, tmp_path: Path,
                                                               agentsh_env: dict[str, str]) -> None:
    """`cat \\;\\<newline>/../../.ssh/id_rsa` was checked as reading `;` and `/.ssh/id_rsa`;
    bash read `;/../../.ssh/id_rsa`, through the directory `;` the line made first, which is
    ~/.ssh/id_rsa (guardrail mode)."""
    project = home / "proj"
    project.mkdir()
    done = run_guardrail("mkdir -p ';' && cat \\;\\\n/../../.ssh/id_rsa", project, agentsh_env, tmp_path)
    assert done.returncode == 126, done.stdout + done.stderr
    assert "SECRET-KEY-BYTES" not in done.stdout + done.stderr


@pytest.mark.parametrize(("line", "passed"), [
    ("c1 <<E a\nE", ["a"]),  # tree-sitter hung `a` on the here-document
    ("c1 <<'E' \"$x\"b\nE", ["b"]),
    ("c1 <<<$ a", ["a"]),  # tree-sitter read `$ a` as the variable `$a`
])
def test_arguments_the_parser_hung_elsewhere_are_refused(line: str, passed: list[str], sandbox: Sandbox) -> None:
    """Found by checking the canaries' arguments: words bash passes to the command that the
    parse did not show as its arguments."""
    sandbox.run(line)
    assert sandbox.arguments() == [("c1", tuple(passed))]
    assert not parse_line(line).ok


@pytest.mark.parametrize("line", ["c1 \"\n/x\"", "c1 \"a\n\"", "c1 \"\n\n a \n\"", "c1 \"a\\\n b\"", "c1 \"$ a\"",
                                  "c1 <<E | c2\nE", "c1 - <<E\nE"])
def test_blanks_and_words_near_those_are_read_as_bash_reads_them(line: str, sandbox: Sandbox) -> None:
    """A newline inside double quotes that no token of tree-sitter's spans is part of the
    word (the parse had `"<newline>/x"` as `/x`)."""
    parsed = parse_line(line)
    assert parsed.ok, parsed
    ran, made = sandbox.run(line)
    assert not unreported(parsed, ran, made) and not misread_arguments(parsed, sandbox.arguments()), line


@pytest.mark.parametrize("line", [
    "cat <<E ../.ssh/id_rsa\nE",  # checked as `cat` of a here-document
    "mkdir -p '\n' && cat \"\n/../../.ssh/id_rsa\"",  # checked as reading /.ssh/id_rsa
    "xargs <<<$ sh",  # checked as `xargs` (echo) of the here-string `$sh`; bash ran `sh $`
    "echo `cat '../.ss\\\nh/id_rsa'`",  # bash removes `\<newline>` in backticks, also inside quotes
], ids=["word-after-here-document", "newline-in-double-quotes", "lone-dollar-here-string",
        "continuation-in-quotes-in-backticks"])
def test_words_the_parser_read_otherwise_print_no_key(line: str, home: Path, tmp_path: Path,
                                                     agentsh_env: dict[str, str]) -> None:
    """Found by checking the canaries' arguments (guardrail mode): each line printed ~/.ssh/id_rsa
    (the last one through a workspace script named `$` holding `cat ../.ssh/id_rsa`)."""
    project = home / "proj"
    project.mkdir()
    (project / "$").write_text("cat ../.ssh/id_rsa\n")
    done = run_guardrail(line, project, agentsh_env, tmp_path)
    assert done.returncode == 126, done.stdout + done.stderr
    assert "SECRET-KEY-BYTES" not in done.stdout + done.stderr
