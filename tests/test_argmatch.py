"""argmatch.match against a plain reference: element by element, `*` inside one argument,
`...` over any number of them (as few as possible, so later elements bind), a dynamic
argument only where the element takes any value, globs as fnmatchcase reads them."""

from __future__ import annotations

import random
from fnmatch import fnmatchcase

import pytest

from agentsh.parse import Word
from agentsh.policy.argmatch import compiled, could_match, match
from agentsh.profile import ArgPattern

ELEMENTS = ["...", "*", "-n", "-m", "pytest", "status", "--color=*", "*.py", "src/*", "-[ab]", "?", "x",
            "--force", "[!-]*", "-*"]
VALUES = ["-n", "-m", "pytest", "status", "--color=auto", "--color", "a.py", "src/a", "-a", "-c", "x", "xy",
          "--force", "", "*", "...", "[", "-", None]


def reference(elements: tuple[str, ...], args: tuple[Word, ...]) -> tuple[str, ...] | None:
    if not elements:
        return () if not args else None
    first, rest = elements[0], elements[1:]
    if first == "...":
        for taken in range(len(args) + 1):
            tail = reference(rest, args[taken:])
            if tail is not None:
                return ("...",) * taken + tail
        return None
    if not args:
        return None
    value = args[0].value
    if value is None:  # `*` is one argument: only a quoted "$x" is one for certain
        fits = first == "..." or (first == "*" and args[0].text == '"$x"')
    elif any(c in first for c in "*?["):
        fits = fnmatchcase(value, first)
    else:
        fits = value == first
    tail = reference(rest, args[1:]) if fits else None
    return None if tail is None else (first,) + tail


@pytest.mark.parametrize("seed", range(4))
def test_match_is_the_reference(seed: int) -> None:
    rng = random.Random(seed)
    matched = 0
    for _ in range(5000):
        elements = tuple(rng.choice(ELEMENTS) for _ in range(rng.randint(0, 5)))
        pattern = ArgPattern(" ".join(elements), elements)
        args = tuple(Word(v if v is not None else rng.choice(['"$x"', "$x"]), v, "" if v is not None else "expansion")
                     for v in (rng.choice(VALUES) for _ in range(rng.randint(0, 5))))
        expected = reference(elements, args)
        assert match(pattern, args) == expected, (elements, args)
        matched += expected is not None
    assert matched > 150  # the cases are not all failures


def _w(text: str) -> Word:
    return Word(text, None, "expansion") if "$" in text else Word(text, text)


@pytest.mark.parametrize(("pattern", "args", "expected"), [
    ("get *secret* ...", 'get "$r" -o yaml', True),  # one argument of any value
    ("get *secret* ...", "get pods -o yaml", False),  # no dynamic word: as match() says
    ("-n * delete ...", "-n $ns get pods", True),  # $ns may split into `x delete ...`
    ("-n * delete ...", '-n "$ns" get pods', False),  # one argument: get stays get
    ("... --force ...", 'push origin "$b"', True),
    ("push --force", 'push "$a" "$b"', False),  # three arguments never match two
    ("push --force", "push $a $b", True),  # either may be empty
    ("delete", '"$a" x', False),
])
def test_could_match_counts_a_dynamic_word_as_anything_it_could_be(pattern: str, args: str, expected: bool) -> None:
    words = tuple(_w(a) for a in args.split())
    assert could_match(compiled(ArgPattern(pattern, tuple(pattern.split()))), words) is expected

