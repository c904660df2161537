"""The plain-line scanner gives, for every line, exactly what the character-by-character one
it replaced gave (tests/plain_reference.py): the same ParsedLine, field by field and type by
type, or None.  tests/test_parse_plain.py compares the scanner with tree-sitter; this compares
it with its former self, on many more lines (every line is compared, not only accepted ones),
so that a faster scanner cannot move the subset's edge by a single character.
"""

from __future__ import annotations

import random

import pytest

from agentsh.parse.plain import parse_plain
from tests.plain_reference import reference_parse_plain
from tests.test_parse_differential import corpus
from tests.test_parse_plain import PIECES, known_lines

# Every character the subset treats specially, and a few it never takes: quotes, the tilde and
# what may precede one, descriptors, operators, blanks, expansions, globs, non-ASCII, newline
# and control characters.
EDGE_CHARS = list("'\"~=:0129<>&|;  \t$`\\!#*?[]{}()-_./+,%@^aAzZ") + ["é", "\n", "\r", "\x00", "\x01", "\x7f", "\x0b"]
MORE_PIECES = PIECES + [
    "2>&1", ">&2", "2>&", ">&", ">&1&", ">&12", "2>>", ">>>", "<(", ">(", "<&", "1<", "0<x", "9>", "99>",
    "'a b'", "' '", '"x y"', '"\'"', "'\"'", "'a\tb'", '"a\tb"', "-", "--", "-x", "x-", "HEAD~1", "a~b", "=~",
    ":~", "~x", "x=~y", "a:~b", "'~'", '"~"', "a'~'", "~'a'", "&&", "||", "|", ";", " ", "\t", "  ", "\t ",
    "git", "ls", "cat", "f", "out", "x.txt", "/dev/null", "'$x'", "'`id`'", "'\\'", "'!'", '"!"', '"$"',
    "time", "in", "do", "export", "unsetenv", "a=b", "=a", "a=", "2", "20", "007", "'", '"', "#", "a#b",
]


def soup(rng: random.Random) -> str:
    """Up to a dozen pieces and edge characters, glued or blank-separated."""
    out = []
    for _ in range(rng.randint(1, 12)):
        out.append(rng.choice(MORE_PIECES) if rng.random() < 0.6 else rng.choice(EDGE_CHARS))
        roll = rng.random()
        out.append(" " if roll < 0.5 else "" if roll < 0.85 else rng.choice(["  ", "\t", " \t"]))
    return "".join(out)


def near_plain(rng: random.Random) -> str:
    """A plain line (commands of words, redirections, operators) with a character or two
    changed, inserted or removed at random: the scanner's edge, from the inside."""
    words = ["git", "ls", "-la", "status", "'*.py'", '"a b"', "--x='y z'", "HEAD~1", "src/", "-n", "20", "a=b",
             "x:y", "''", '""', "a'b'c", "2"]
    redirects = ["2>&1", ">&2", "> out", ">>log", "<in", "2>/dev/null", "1> f", ">f"]
    commands = []
    for _ in range(rng.randint(1, 3)):
        command = [rng.choice(["git", "ls", "cat", "make", "x", "a.b", "./run"])]
        command += rng.choices(words, k=rng.randint(0, 4))
        command += rng.choices(redirects, k=rng.choice([0, 0, 1, 2]))
        commands.append(rng.choice([" ", "", "  ", "\t"]).join(command) if rng.random() < 0.2 else " ".join(command))
    line = "".join(c + rng.choice([" | ", " && ", "||", "; ", " ;", "|"]) for c in commands[:-1]) + commands[-1]
    for _ in range(rng.choice([0, 1, 1, 2])):
        at = rng.randint(0, len(line))
        roll = rng.random()
        if roll < 0.6:
            line = line[:at] + rng.choice(EDGE_CHARS) + line[at:]
        elif roll < 0.8:
            line = line[:at] + line[at + 1:]
        else:
            line = line[:at] + rng.choice(MORE_PIECES) + line[at:]
    return line


def generated_edges(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    return [soup(rng) if rng.random() < 0.5 else near_plain(rng) for _ in range(count)]


EDGE_CASES = [
    "", " ", "\t", "a", "-", "a -", "a - b", "a -- b", "-a", "a > -", "a >-", "~", "a ~", "a ~/x", "a b~", "a~",
    "a~ b", "a x=~", "a x=~y", "a x:~y", "a:~", "a 'x'~", "a ~'x'", "a x'~'", "a \"~\"", "a ~=", "a =~", "a >~x",
    "a >x~", "a 2>x", "a 2> x", "a 2 >x", "a 12>x", "a 1>&2", "a >&2", "a >&12", "a >& 2", "a >&-", "a >&2&&b",
    "a >&2 &&b", "a >&2|b", "a >&2;b", "a >&2;", "a >&2 ", "a 2>&1 3", "a <&0", "a <x", "a << x", "a <>x", "a >|x",
    "a >>x", "a >>>x", "a >>(x)", "a >(x)", "a <(x)", "a > (x)", "a &>x", "a >x y", "a >x >y", "a >x>y", "a >x2>y",
    "a >x<y", "a > 2>y", "a b>c", "a>b", "a<b", "a b<c", "-n2>&1", "cat -n2>&1", "2>x", "2>x a", "12>x", "a 2",
    "a 2 ", "a 2|b", "a|b", "a||b", "a&&b", "a;b", "a | b", "a |", "a ||", "a &&", "a ;", "a ; ", "a;;b", "a ;; b",
    "a|&b", "a &b", "a &", "a&", "a |;b", "a ;|b", "a ;&b", "a &&&b", "a |||b", "a | | b", "a && ;", "| a", "; a",
    "&& a", " a", "a ", "\ta\t", "a\t|\tb", "a\nb", "a\n", "\na", "a\rb", "a\x0bb", "a\x0cb", "a\x00", "é", "a é",
    "a 'é'", "a ''", 'a ""', "''", "'' a", "a'' b", "x=1", "x=1 a", "a=b c", "=a", "a= b", "if", "if a", "fi",
    "time a", "in", "do x", "export a", "local a", "declare", "unsetenv x", "ifx", "doo", "a if", "a | time",
    "a | export x", "a 'b c'", "a \"b c\"", "a 'b\"c'", "a \"b'c\"", "a 'b'\"c\"d", "a 'b", "a \"b", "a b'",
    "a 'b\tc'", "a \"b\tc\"", "a \"$x\"", "a '$x'", "a \"`x`\"", "a '`x`'", "a \"\\\"", "a '\\'", "a \"!\"",
    "a '!'", "a $x", "a `x`", "a \\x", "a !", "a '' $x", "a #", "a #b", "a b#", "a '#'", "a \"#\"", "a *", "a b*",
    "a ?", "a [x]", "a {x}", "a {a,b}", "a (x)", "(a)", "{ a; }", "a %", "a @", "a ^", "a ,", "a +", "a .",
    "a ./x", "a /", "a :", "a ::", "a =", "a ==", "a --include='*.py'", "a -e 'x' -e \"y\"", "a 'a''b'",
    "a \"a\"\"b\"", "a 'x'\"y\"'z'", "a \"'\"", "a '\"'", "a \"''\"", "a '\"\"'", "git diff HEAD~1 -- src/ | head -n 100",
    "cd src && python3 -m pytest -q 2>&1 | tail -n 20", "a 0<x", "a 9>x", "a 2>>x", "a 2>&1>x", "a 2>&1 >x",
    "a 1>&2 2>&1", "a >x 2>&1 | b >y", "a > x", "a >\tx", "a >  x y", "a >'x y'", "a >\"x\"", "a >''",
    "a > ~", "a > a:~", "a > a=~", "a > -x", "a > --", "a '~' b", "a b~c:d", "a b:c~d", "a b=c~d", "a.b~c",
]


def assert_same_as_before(lines: list[str]) -> int:
    """The new scanner equals the reference on every line, to the type of each field; how many it accepted."""
    accepted = 0
    for line in lines:
        new, old = parse_plain(line), reference_parse_plain(line)
        if new != old or repr(new) != repr(old):
            pytest.fail(f"{line!r}:\n  new {new!r}\n  old {old!r}")
        accepted += new is not None
    return accepted


def test_the_corpora_scan_as_before() -> None:
    lines = list(dict.fromkeys(known_lines() + corpus()))
    assert len(lines) > 5000
    assert assert_same_as_before(lines) > 1500


def test_edge_cases_scan_as_before() -> None:
    accepted = assert_same_as_before(EDGE_CASES)
    assert 40 < accepted < len(EDGE_CASES) - 100


@pytest.mark.parametrize("seed", range(4))
def test_generated_lines_scan_as_before(seed: int) -> None:
    """200,000 lines in all, at and around the subset's edge; both sides well represented."""
    lines = generated_edges(seed, 50_000)
    accepted = assert_same_as_before(lines)
    assert 8000 < accepted < 42_000, accepted
