"""The plain scanner's shortcut for lines of words and operators one blank apart
(plain._scan_bare) gives exactly what the full scanner and its character-by-character
reference give, on generated lines in and around that shape (every line compared, accepted
or not), field by field and type by type."""

from __future__ import annotations

import random

import pytest

from agentsh.parse.plain import _scan, _scan_bare, parse_plain
from tests.plain_reference import reference_parse_plain

# Words the shortcut takes, and the ones it leaves to _scan: a lone `-`, names with `=` or
# that tree-sitter reads as keywords or declarations, tildes that may expand, glued operators.
TOKENS = ["git", "status", "diff", "HEAD~1", "--", "src/", "head", "-n", "100", "ls", "-la", "x.py", "a:b", "a,b",
          "+x", "./run", "/usr/bin/env", "-", "--x=y", "a=b", "=a", "time", "if", "in", "do", "export", "local",
          "~", "~x", "a~b", "x=~", "a:~b", ":~", "~/x", "2", "007", "|", "&&", "||", ";", "&", "|&", "a|b", "a;b",
          "_", "-x-", "a.b~c", "unsetenv", "'1,40p'", "'*.py'", "--include='*.py'", '"a"', "'a b'", "'$x'",
          '"$x"', "'ls'", "a'b'", "''", '""', "'~'", "\"x'y\"", "'x\"y'", "'|'", 'a"|"b', "-'x'", "'-'", "'a;b'",
          '"!"', "'!'", "'`id`'", "'\\'", '"#"', "a'~'", "~'a'"]
BLANKS = [" "] * 12 + ["  ", "\t", ""]


def bare_line(rng: random.Random) -> str:
    tokens = rng.choices(TOKENS, k=rng.randint(1, 9))
    if rng.random() < 0.7:  # a word first, as most lines have
        tokens[0] = rng.choice(TOKENS[:20])
    line = tokens[0]
    for token in tokens[1:]:
        line += rng.choice(BLANKS) + token
    return rng.choice(["", "", "", " "]) + line + rng.choice(["", "", "", " "])


@pytest.mark.parametrize("seed", range(2))
def test_bare_lines_scan_as_the_full_scanner_and_the_reference(seed: int) -> None:
    rng = random.Random(seed)
    taken = 0
    for _ in range(40_000):
        line = bare_line(rng)
        new, old = parse_plain(line), reference_parse_plain(line)
        if new != old or repr(new) != repr(old):
            pytest.fail(f"{line!r}:\n  new {new!r}\n  old {old!r}")
        bare = _scan_bare(line)
        if bare is not None:
            assert repr(bare) == repr(_scan(line)), line
            taken += 1
    assert 3000 < taken < 36_000, taken  # both the shortcut and the full scan were exercised
