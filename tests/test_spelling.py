"""policy/spelling.py against real bash: for each word, what bash writes out must be one of
the values `spell` gives (the check reads every one of them as a path)."""

from __future__ import annotations

import random
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
    assert any(spelled.fields(v) == fields or (fields == [""] and not spelled.fields(v)) for v in spelled.values), \
        (word, out, spelled)


@pytest.mark.parametrize("word", ["${f//[ab]/x}", "${f,,[A]}", "${f@E}", "${f:n+1}", "${f/a/&}", "${f@A}"])
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


# A small differential fuzzer: random words of literals, quotes, escapes and operators on
# random values; whenever spell answers, bash's fields must be among its values.
_VALUES = ["/h/u/.Ss", "src/a.py", "a b", "x*y", "it's", "", "A", "..", "/", "-n", "a\\b", "~/x", "$y", "%", "#"]
_PATTERNS = ["*", "?", ".*", "*/", "a", ".", "/", "[ab]", "'*'", '"."', "\\*", "$a", "", "s", "S"]
_OPERATORS = ["", ",,", "^^", ",", "^", "~~", "~", "@U", "@L", "@u", "@Q", "#p", "##p", "%p", "%%p", "/p/r",
              "//p/r", "/#p/r", "/%p/r", ":1", ":0:2", ": -2", ":1:-1", "-w", ":-w", "+w", ":+w", "=w", ":=w"]
_LITERALS = ["x", "/", ".", "h", "'q'", '"d"', "\\h", "'$a'", "\\$a", "~", "-", "' '", "$'\\x41'", "\\\\"]


def _part(r: random.Random, depth: int) -> str:
    if r.random() < 0.35 or depth > 2:
        return r.choice(_LITERALS)
    name = r.choice("abcu")  # u: unset
    if r.random() < 0.3:
        return "$" + name
    op = r.choice(_OPERATORS).replace("p", r.choice(_PATTERNS), 1).replace("r", r.choice(["", "z", "$b", "'/'"]), 1)
    if op.endswith("w"):
        op = op[:-1] + r.choice(["d", "$b", _word(r, depth + 1).replace("}", "")])
    return "${" + name + op + "}"


def _word(r: random.Random, depth: int = 0) -> str:
    word = "".join(_part(r, depth) for _ in range(r.randint(1, 3)))
    return '"' + word.replace('"', "") + '"' if r.random() < 0.3 else word


def test_random_words_against_bash() -> None:
    r = random.Random(2026)
    compared = 0
    for _ in range(400):
        values = {name: r.choice(_VALUES) for name in "abc"}
        word = _word(r)
        try:
            spelled = spell(word, {k: [v] for k, v in values.items()} | {"HOME": [HOME]}, HOME)
        except CannotFollow:
            continue
        if spelled is None:
            continue
        assignments = "; ".join(f"{k}={shlex.quote(v)}" for k, v in values.items())
        script = (f"set -f; {assignments}; HOME={HOME}; unset u; set --; "
                  f"for x in {word}; do printf '%s\\0' \"$x\"; done; printf '\\1'")
        done = subprocess.run(["bash", "-c", script], capture_output=True)
        if done.returncode or not done.stdout.endswith(b"\1"):
            continue  # an expansion error (`${u?}`): bash runs nothing
        fields = [f.decode("utf-8", "surrogateescape") for f in done.stdout[:-1].split(b"\0")[:-1]]
        compared += 1
        assert any(spelled.fields(v) == fields or (not fields and v == "") for v in spelled.values), \
            (word, values, fields, spelled)
    assert compared > 200, compared
