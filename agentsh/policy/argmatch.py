"""Match argv against `args:` patterns, element by element, never as a joined string.

sudo's lesson: matching `*` against one joined string lets `*` swallow extra
arguments.  Here `*` stays inside one argv element, and only `...` spans
elements.  A dynamic argument (its value is only known at run time) matches
only a pattern element that accepts any value.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from ..parse import Word
from ..profile import ANY_REST, ArgPattern

ANY_VALUE = frozenset({"*", ANY_REST})


def match(pattern: ArgPattern, args: tuple[Word, ...]) -> tuple[str, ...] | None:
    """Return, per argument, the pattern element that matched it; None if no match."""
    elements = pattern.elements
    memo: dict[tuple[int, int], tuple[str, ...] | None] = {}

    def walk(p: int, a: int) -> tuple[str, ...] | None:
        key = (p, a)
        if key in memo:
            return memo[key]
        result: tuple[str, ...] | None
        if p == len(elements):
            result = () if a == len(args) else None
        elif elements[p] == ANY_REST:
            result = None
            # Prefer consuming as few elements as possible, so later literals bind.
            for k in range(a, len(args) + 1):
                rest = walk(p + 1, k)
                if rest is not None:
                    result = (ANY_REST,) * (k - a) + rest
                    break
        elif a < len(args) and element_matches(elements[p], args[a]):
            rest = walk(p + 1, a + 1)
            result = None if rest is None else (elements[p],) + rest
        else:
            result = None
        memo[key] = result
        return result

    return walk(0, 0)


def element_matches(element: str, word: Word) -> bool:
    if word.value is None:
        return element in ANY_VALUE
    return fnmatchcase(word.value, element)


def names_explicitly(element: str, option: str) -> bool:
    """Does a pattern element name `option` itself, rather than accept it by wildcard?

    `--checkpoint-action=*` names `--checkpoint-action`; `-*`, `*` and `...` do not.
    """
    if element == ANY_REST:
        return False
    literal = element
    for i, ch in enumerate(element):
        if ch in "*?[":
            literal = element[:i]
            break
    return bool(option) and literal.startswith(option)
