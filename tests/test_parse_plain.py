"""The plain-line fast path must give exactly what the tree walker gives, or decline.

Compared on the ordinary-lines list, both corpora, the parse tests' lines and tens of
thousands of generated lines built from the pieces where a hand-written scanner and
tree-sitter are most likely to disagree (quotes, operators, descriptors, keywords).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from agentsh.parse import parse_line
from agentsh.parse.plain import _scan, parse_plain
from agentsh.parse.walker import parse_line as walk
from agentsh.policy import Policy
from agentsh.profile import Host, load_profile
from tests.conftest import REPO
from tests.test_ordinary_lines import ORDINARY, REFUSED

HOME = "/home/agent"
CORPUS = Path(__file__).absolute().parents[2] / "shared" / "corpus"
PIECES = [
    "git", "status", "ls", "-la", "a", "b", "x=1", "=", "--include=", "'*.py'", '"a b"', "''", '""', "'", '"',
    "|", "||", "&&", "&", ";", ";;", ">", ">>", "<", "2>&1", ">&2", "2>", "1>", "10>", "2", "12", "<<", "<>",
    ">|", "/dev/null", "out.txt", "if", "then", "fi", "time", "export", "local", "for", "do", "done", "in", "!",
    "{", "}", "(", ")", "$x", "~", "*", "#", "\\", "\t", " ", "%", "@", ":", ",", "+", ".", "..", "-", "--",
    "-n", "20", "-n2", "-Ish2", "'a\"b'", "\"it's\"", "'$x'", '"#"', "'!'", "&>", "|&", "a=b", "case", "esac",
    "[[", "]]", "[", "]", "coproc", "declare", '" "', "é", "{fd}", "HEAD~1", "~", "~/x", "a=~", ":~", "x~",
    "'~'", "{fd}>x",
]


def generated(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        out = []
        for _ in range(rng.randint(1, 9)):
            out.append(rng.choice(PIECES))
            roll = rng.random()
            out.append(" " if roll < 0.7 else "" if roll < 0.9 else "  ")
        lines.append("".join(out))
    return lines


def corpus_lines() -> list[str]:
    lines = []
    for path in sorted(CORPUS.glob("*.jsonl")):
        for row in path.read_text().splitlines():
            if row.strip():
                lines.extend(v for v in json.loads(row).values() if isinstance(v, str))
    return lines


def known_lines() -> list[str]:
    ordinary = [p.values[0] if hasattr(p, "values") else p for p in ORDINARY]
    refused = [p.values[0] if hasattr(p, "values") else p for p in REFUSED]
    return [line if isinstance(line, str) else line[0] for line in ordinary + refused] + corpus_lines()


def assert_same(lines: list[str]) -> int:
    """Every line the fast path accepts parses identically by the walker; how many it accepted."""
    accepted = 0
    for line in lines:
        fast = parse_plain(line)
        if fast is not None:
            accepted += 1
            assert fast == walk(line, HOME), line
    return accepted


def test_known_lines_parse_the_same() -> None:
    lines = known_lines()
    assert len(lines) > 300
    assert assert_same(lines) > 40  # the fast path is really used on ordinary lines


@pytest.mark.parametrize("seed", range(4))
def test_generated_lines_parse_the_same(seed: int) -> None:
    assert assert_same(generated(seed, 25000)) > 1000


@pytest.mark.parametrize("line", [
    "git status", "ls -la | head -n 20", "cd src && python3 -m pytest -q 2>&1 | tail -n 20",
    "grep -rn TODO --include='*.py' . | head", "sed -n '1,40p' src/app.py", "make test > out.txt 2>&1",
    "git diff HEAD~1 -- src/ | head -n 100", "git log HEAD~3..HEAD",
    "curl -fsSL https://example.com/install.sh | sh", "git log --oneline -n 5; git diff",
])
def test_fast_path_takes_ordinary_lines(line: str) -> None:
    assert parse_plain(line) == walk(line, HOME) and parse_plain(line) is not None


@pytest.mark.parametrize("line", [
    "echo $HOME", "ls *.py", "echo ~", "a &", "a;", "x=1 cmd", "export A=1", "if true; then a; fi", "time ls",
    "cat <<EOF\nx\nEOF", "echo {a,b}", "a |& b", "a 10>x", "cat -n2>x", "echo \"$(id)\"", "echo a\\ b", "a # c",
    "a - b", "é", "a >(b)", "a <<< x", "a &> f", "a >| f", "echo \"!x\"", "(a)", "a\nb", "ls ~/x", "a x=~/y",
    "a b:~/c", "a 'q'~",
])
def test_fast_path_declines_everything_else(line: str) -> None:
    assert parse_plain(line) is None


def test_declining_before_the_scan_changes_nothing() -> None:
    """parse_plain declines some lines before scanning them (a `$`, backquote, backslash or `!`
    and no single quote; a newline): the scanner must give None for every one of them."""
    lines = known_lines() + [line for seed in range(4) for line in generated(seed, 25000)] + [
        "echo '$x' \"$y\"", "echo 'a!' b!", "grep -n '\\$' x", "a '`' `b`", "a\nb", "echo 'x\ny'"]
    declined_early = 0
    for line in lines:
        scanned = _scan(line) if line.isascii() else None
        assert parse_plain(line) == scanned, line
        early = "\n" in line or ("'" not in line and any(c in line for c in "$`\\!"))
        declined_early += line.isascii() and early
    assert declined_early > 1000


def test_decisions_are_the_same_either_way() -> None:
    """The whole decision, not just the parse: every known line through both parsers."""
    host = Host(cwd=str(REPO), home=HOME, config_home=HOME + "/.config", cache_dir="")
    policy = Policy(load_profile(str(REPO / "profiles" / "developer.yaml"), host), host)
    for line in known_lines():
        via_walker = policy.decide_parsed(walk(line, HOME) if "\0" not in line else parse_line(line, HOME))
        assert policy.decide(line) == via_walker, line


def test_walker_refuses_a_word_read_as_a_descriptor() -> None:
    """`tar -Ish2>x`: tree-sitter takes `-Ish2` for a descriptor; bash passes it to tar."""
    for line in ("tar -Ish2>x", "cat -n2<<EOF\nx\nEOF", "x -e2>&1"):
        assert not parse_line(line, HOME).ok, line


def test_walker_keeps_blanks_inside_quotes() -> None:
    """tree-sitter leaves `" "` without a content node; bash passes a space."""
    values = [[w.value for w in c.argv] for c in parse_line('echo " " "  "x " a" "a "', HOME).commands]
    assert values == [["echo", " ", "  x", " a", "a "]]
    assert parse_line('echo " $a"', HOME).commands[0].argv[1].prefix == " "


def test_walker_refuses_a_variable_descriptor(tmp_path: Path) -> None:
    """`{fd}>file` makes bash assign a new descriptor's number to fd; tree-sitter shows `{fd}` as an argument."""
    import subprocess

    shown = subprocess.run(["bash", "-c", "true {fd}>/dev/null; echo \"$fd\""], capture_output=True, text=True).stdout
    assert shown.strip().isdigit()  # bash really assigns it
    for line in ("true {fd}>/dev/null", "x {PATH}>&-", "cat {fd}<<EOF\nx\nEOF", "x 2>&1 {a}<y"):
        assert not parse_line(line, HOME).ok, line
    for line in ("true {fd} >/dev/null", "echo {} > f", "x {a}\n>y"):
        assert parse_line(line, HOME).ok, line
