"""The parser finds every simple command bash would run, and refuses what it cannot follow."""

from __future__ import annotations

import pytest

from agentsh.parse import MAX_LINE_BYTES, parse_line


def commands(line: str) -> list[list[str]]:
    parsed = parse_line(line, home="/home/agent")
    assert parsed.ok, parsed.problems
    return [[w.shown() for w in c.argv] for c in parsed.commands if c.argv]


def names(line: str) -> list[str]:
    parsed = parse_line(line, home="/home/agent")
    return [c.argv[0].shown() for c in parsed.commands if c.argv]


def problems(line: str) -> list[str]:
    return [p.reason for p in parse_line(line, home="/home/agent").problems]


@pytest.mark.parametrize("line, expected", [
    ("ls -la", ["ls"]),
    ("a | b | c", ["a", "b", "c"]),
    ("a; b && c || d & e", ["a", "b", "c", "d", "e"]),
    ("a\nb\n\nc", ["a", "b", "c"]),
    ("(a; b) | { c; d; }", ["a", "b", "c", "d"]),
    ("echo $(a) `b` \"$(c)\"", ["a", "b", "c", "echo"]),
    ("echo ${x:-$(a)} $((1 + $(b)))", ["a", "b", "echo"]),
    ("diff <(a) >(b)", ["a", "b", "diff"]),
    ("cat <<EOF\n$(a)\nEOF", ["cat", "a"]),
    ("cat <<EOF\nx `a` $((1 + 2)) ${y:-$(b)} \\\"$(c)\nEOF", ["cat", "a", "b", "c"]),
    ("cat - <<'EOF'\nx\nEOF", ["cat"]),
    ("cat <<EOF | b\nx\nEOF", ["cat", "b"]),
    ("if a; then b; elif c; then d; else e; fi", ["a", "b", "c", "d", "e"]),
    ("for f in $(a); do b \"$f\"; done", ["a", "b"]),
    ("while a; do b; done; until c; do d; done", ["a", "b", "c", "d"]),
    ("case $(a) in x) b;; y) c;; esac", ["a", "b", "c"]),
    ("! a", ["a"]),
    ("[[ $(a) == x ]] && b", ["a", "b"]),
    ("x=$(a) b", ["a", "b"]),
    ("x=$(a)", ["a"]),
    ("echo <<< \"$(a)\"", ["a", "echo"]),
    ("a > \"$(b)\"", ["b", "a"]),
    ("export X=$(a)", ["a", "export"]),
])
def test_every_simple_command_is_found(line: str, expected: list[str]) -> None:
    assert sorted(names(line)) == sorted(expected)


@pytest.mark.parametrize("line, argv", [
    ("echo 'a b' \"c d\" e\\ f", ["echo", "a b", "c d", "e f"]),
    ("echo 'q'\"w\"e", ["echo", "qwe"]),
    ("echo \"a\\\"b\\$c\\\\d\\e\"", ["echo", 'a"b$c\\d\\e']),
    ("echo $'\\x41\\n\\t\\'\\u00e9'", ["echo", "A\n\t'é"]),
    ("l\\s", ["ls"]),
    ("echo ~ ~/x", ["echo", "/home/agent", "/home/agent/x"]),
    ("echo \"~/x\" '~'", ["echo", "~/x", "~"]),
    ("ls \\\n  -la", ["ls", "-la"]),
    ("git $'\\x2d'c x", ["git", "-c", "x"]),
])
def test_static_word_values_match_bash(line: str, argv: list[str]) -> None:
    assert commands(line)[0] == argv


@pytest.mark.parametrize("line, why", [
    ("ls *.py", "glob"),
    ("ls a{b,c}", "brace expansion"),
    ("ls $x", "expansion"),
    ("ls \"$x\"", "expansion"),
    ("ls $(a)", "command substitution"),
    ("ls ~root", "tilde expansion"),
    ("ls a=~/x", "tilde expansion"),
])
def test_dynamic_words_are_marked(line: str, why: str) -> None:
    parsed = parse_line(line, home="/home/agent")
    word = next(c for c in parsed.commands if c.argv and c.argv[0].value == "ls").argv[1]
    assert word.value is None and word.why_dynamic == why


@pytest.mark.parametrize("line, reason", [
    ("f() { ls; }", "function definitions"),
    ("function f { ls; }", "function definitions"),
    ("echo ${!x}", "indirect expansion"),
    ("echo ${x@P}", "prompt expansion"),
    ("echo ${a[$i]}", "array subscript"),
    ("(( x[$(id)] ))", "array subscript"),
    ("coproc cat", "coproc"),
    ("ls (", "syntax error"),
    ("echo \\$(id)", "unsupported"),
    ("echo $\"x\"", "unsupported"),
    ("echo a\n\\touch /tmp/x", "inside a word"),
    # no character: Python's chr() raised, so the line was refused as an agentsh bug
    ("echo $'\\UFFFFFFFF'", "is no character"),
    ("echo $'\\U00110000'", "is no character"),
    ("echo $'\\ud800'", "is no character"),
    ("[ a > f ]", "redirection"),
    ("[ a < f ]", "redirection"),
    ("[ a 2> f ]", "unsupported syntax inside [ ]"),
    ("cat >&- ~/.ssh/id_rsa", "words after a redirection"),
    ("ls 2>/dev/null -la", "words after a redirection"),
])
def test_constructs_that_are_refused(line: str, reason: str) -> None:
    found = problems(line)
    assert found, f"{line!r} was not refused"
    assert any(reason in p for p in found), found


def test_quoted_heredoc_body_is_data() -> None:
    parsed = parse_line("cat > f <<'EOF'\n$(rm -rf /) `id`\nEOF", home="/h")
    assert parsed.ok
    assert [c.argv[0].value for c in parsed.commands] == ["cat"]


def test_redirections_are_collected() -> None:
    parsed = parse_line("a > out 2>&1 < in >> log &> both", home="/h")
    ops = [(r.op, r.target.value if r.target else None) for r in parsed.redirects]
    assert (">", "out") in ops and ("<", "in") in ops and (">>", "log") in ops and ("&>", "both") in ops
    assert (">&", None) in ops  # 2>&1 duplicates a descriptor; no file


@pytest.mark.parametrize("line, reason", [
    ("ls\r", "control character"),
    ("ls \x1b[31m", "control character"),
    ("ls \x7f", "DEL"),
    ("ls \udcff", "not valid UTF-8"),
    ("echo " + "a" * MAX_LINE_BYTES, "the limit is"),
], ids=["CR", "ESC", "DEL", "invalid-utf8", "too-long"])
def test_bad_input_is_refused_before_parsing(line: str, reason: str) -> None:
    found = problems(line)
    assert len(found) == 1 and reason in found[0]


@pytest.mark.parametrize("line", [
    "echo " + "$(" * 10000 + "id" + ")" * 10000,
    "(" * 10000 + "ls" + ")" * 10000,
    "if true; then " * 3000 + "ls; " + "fi; " * 3000,
    'echo "' + '$(echo "' * 5000 + "x" + '")' * 5000 + '"',
], ids=["substitutions", "subshells", "ifs", "quoted-substitutions"])
def test_deep_nesting_is_refused(line: str) -> None:
    assert any("nesting deeper" in p for p in problems(line))


def test_unicode_words_survive() -> None:
    assert commands("echo 'héllo wörld' ✓")[0] == ["echo", "héllo wörld", "✓"]
