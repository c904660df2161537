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
_GLOB = frozenset("*?[")


_LITERAL, _GLOBBED, _REST = 0, 1, 2
# (each element's kind, the literal elements it starts with, how many arguments it needs at
# least, whether it takes exactly that many (no `...`))
Compiled = tuple[tuple[tuple[int, str], ...], tuple[str, ...], int, bool]
_COMPILED: dict[ArgPattern, Compiled] = {}


def _compile(pattern: ArgPattern) -> Compiled:
    """Each element's kind, and the literal elements the pattern starts with."""
    compiled = _COMPILED.get(pattern)
    if compiled is None:
        kinds = tuple((_REST if e == ANY_REST else _GLOBBED if _GLOB.intersection(e) else _LITERAL, e)
                      for e in pattern.elements)
        prefix = []
        for kind, element in kinds:
            if kind != _LITERAL:
                break
            prefix.append(element)
        rest = sum(1 for kind, _ in kinds if kind == _REST)
        compiled = _COMPILED[pattern] = (kinds, tuple(prefix), len(kinds) - rest, rest == 0)
    return compiled


def match(pattern: ArgPattern, args: tuple[Word, ...]) -> tuple[str, ...] | None:
    """Return, per argument, the pattern element that matched it; None if no match."""
    return match_compiled(_compile(pattern), pattern.elements, args)


def compiled(pattern: ArgPattern) -> Compiled:
    """The pattern's compiled form, for callers that match it many times (the engine)."""
    return _compile(pattern)


def match_compiled(compiled: Compiled, elements: tuple[str, ...], args: tuple[Word, ...]) -> tuple[str, ...] | None:
    """`match` for a pattern compiled once: `compiled(pattern)` and `pattern.elements`."""
    kinds, prefix, least, exact = compiled
    # Every element but `...` takes exactly one argument: a pattern that needs more arguments
    # than there are (or, without `...`, another number) cannot match.
    if len(args) < least or (exact and len(args) != least):
        return None
    # Most patterns start with literal words (a subcommand, a flag): a cheap first test.
    for i, literal in enumerate(prefix):
        if args[i].value != literal:
            return None
    count = len(kinds)
    if count == len(prefix):  # all literal: already compared
        return elements if len(args) == count else None
    if exact or (least == count - 1 and kinds[-1][0] == _REST):
        # No `...`, or one at the end (the commonest shapes): every other element takes the
        # argument in its own position, so there is nothing to search.
        for i in range(len(prefix), least):
            kind, element = kinds[i]
            if not _matches(kind, element, args[i]):
                return None
        return elements if exact else elements[:-1] + (ANY_REST,) * (len(args) - least)
    memo: dict[tuple[int, int], tuple[str, ...] | None] = {}

    def walk(p: int, a: int) -> tuple[str, ...] | None:
        key = (p, a)
        if key in memo:
            return memo[key]
        result: tuple[str, ...] | None = None
        if p == count:
            result = () if a == len(args) else None
        else:
            kind, element = kinds[p]
            if kind == _REST:
                # Prefer consuming as few elements as possible, so later literals bind.
                for k in range(a, len(args) + 1):
                    rest = walk(p + 1, k)
                    if rest is not None:
                        result = (ANY_REST,) * (k - a) + rest
                        break
            elif a < len(args) and _matches(kind, element, args[a]):
                rest = walk(p + 1, a + 1)
                result = None if rest is None else (elements[p],) + rest
        memo[key] = result
        return result

    return walk(0, 0)


def literal_prefix(pattern: ArgPattern) -> tuple[str, ...]:
    """The elements the pattern starts with that must equal argv[1], argv[2]... exactly."""
    return _compile(pattern)[1]


def _matches(kind: int, element: str, word: Word) -> bool:
    value = word.value
    if value is None:
        return element in ANY_VALUE
    if kind == _LITERAL:
        return value == element
    return fnmatchcase(value, element)


def element_matches(element: str, word: Word) -> bool:
    return _matches(_GLOBBED if _GLOB.intersection(element) else _LITERAL, element, word)


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
