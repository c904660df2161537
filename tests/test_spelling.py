"""policy/spelling.py against real bash: for each word, what bash writes out must be one of
the values `spell` gives (the check reads every one of them as a path)."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from agentsh.policy.spelling import CannotFollow, spell

VARIABLES = {"f": "src/a.py", "d": "/h/u/.Ss", "e": "X/h/u/.s", "w": "two words", "t": "a*b", "q": "it's"}
HOME = "/h/u"

WORDS = [
    "$f", "${f}", '"$f"', "'$f'", "$f/x", '"$f"/x', "\"$f\"'/x'", "$f\\x", '"$f\\x"', '"a\\$f"',
    "${f##*/}", "${f#*/}", "${f%/*}", "${f%%.*}", "${f%.py}.txt", "${f#src}", '"${f%"."py}"',
    "${d,,}", "${d^^}", "${d,}", "${d^}", "${d~~}", "${d@L}", "${d@U}", "${d@u}", "${d@Q}",
    "${f/a/b}", "${f//./_}", "${f/#src/lib}", "${f/%py/rb}", "${f/q/z}",
    "${f:4}", "${f:4:1}", "${f: -2}", "${f:1:-1}", "${f:99}",
    "${#f}", "${u-def}", "${u:-$f}", "${f:+alt}", "${u:+alt}x", "${f-'q'}", '"${f-\'q\'}"',
    "$f$d", "${e#X}h", "$u$f", "${u}x", "~/x", "~", "$HOME/x", "$1", '"$@"',
    "$'a\\x41'$f", '$"x"', "${t}", '"$t"', "${w}", "${q}", "a${f}b${d}c",
]


@pytest.mark.parametrize("word", WORDS)
def test_bash_writes_out_one_of_the_spelled_values(word: str) -> None:
    spelled = spell(word, {k: [v] for k, v in VARIABLES.items()} | {"HOME": [HOME]}, HOME)
    assert spelled is not None, word
    assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in VARIABLES.items())
    script = f"set -f; {assignments}; HOME={HOME}; unset u; set --; printf '%s\\n' {word}"
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout
    fields = out.split("\n")[:-1]
    written = " ".join(fields)  # unquoted words split into fields: compare the joined text
    assert written in spelled.values or (len(fields) > 1 and spelled.unquoted
                                         and all(any(f in v.split() for v in spelled.values) for f in fields)), \
        (word, out, spelled)


@pytest.mark.parametrize("word", ["${f//[ab]/x}", "${f,,[A]}", "${f@E}", "${f:$n}", "${f/a/&}", "${f@A}"])
def test_what_spell_cannot_compute_is_said(word: str) -> None:
    with pytest.raises(CannotFollow):
        spell(word, {"f": ["src/a.py"], "n": ["1"]}, HOME)


@pytest.mark.parametrize("word", ["$(cat x)/y", "`x`", "$((1+2))", "$RANDOM/x", "$$", "${f}$(x)", "$r/x"])
def test_a_run_time_value_is_not_guessed(word: str) -> None:
    assert spell(word, {"f": ["src/a.py"], "r": None}, HOME) is None


def test_a_brace_expansion_is_not_guessed() -> None:
    with pytest.raises(CannotFollow):
        spell("{$f,x}/y", {"f": ["a"]}, HOME)
    assert spell("${f}", {"f": ["a"]}, HOME) is not None
