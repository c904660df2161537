"""Match argv against `args:` patterns, element by element, never as a joined string.

sudo's lesson: matching `*` against one joined string lets `*` swallow extra
arguments.  Here `*` stays inside one argv element, and only `...` spans
elements.  A dynamic argument (its value is only known at run time) matches
only a pattern element that accepts any value: `...`, and `*` when it is one argument
for certain (`"$x"`; bash splits an unquoted `$x` into any number of words, so
`-n * get ...` does not cover `-n $ns get` with ns='x delete pod y --').
"""

from __future__ import annotations

import re
from collections.abc import Callable
from fnmatch import translate

from ..parse import Word
from ..profile import ANY_REST, ArgPattern

ANY_VALUE = frozenset({"*", ANY_REST})
_GLOB = frozenset("*?[")


_LITERAL, _GLOBBED, _REST = 0, 1, 2
# A glob element's compiled test: fnmatchcase(value, glob) is exactly
# `re.compile(fnmatch.translate(glob)).match(value) is not None`; compiled once per element
# here, it skips fnmatchcase's per-call layers (its cache lookup and a call).
GlobMatch = Callable[[str], "re.Match[str] | None"]
Element = tuple[int, str, GlobMatch | None]  # kind, the element, its glob test (None: not a glob)
# (each element, the literal elements the pattern starts with, how many arguments it needs
# at least, whether it takes exactly that many (no `...`), and for a pattern whose every
# element but a final `...` takes the argument in its own position, the (position, element,
# glob test) of each after the literal start; None for patterns that need a search)
Compiled = tuple[tuple[Element, ...], tuple[str, ...], int, bool, tuple[tuple[int, str, GlobMatch | None], ...] | None]
_COMPILED: dict[ArgPattern, Compiled] = {}


def _glob_match(glob: str) -> GlobMatch:
    return re.compile(translate(glob)).match


def _kind(element: str) -> int:
    return _REST if element == ANY_REST else _GLOBBED if _GLOB.intersection(element) else _LITERAL


def _compile(pattern: ArgPattern) -> Compiled:
    """Each element's kind, and the literal elements the pattern starts with."""
    compiled = _COMPILED.get(pattern)
    if compiled is None:
        kinds = tuple((kind, e, _glob_match(e) if kind == _GLOBBED else None)
                      for e in pattern.elements for kind in (_kind(e),))
        prefix = []
        for kind, element, _ in kinds:
            if kind != _LITERAL:
                break
            prefix.append(element)
        rest = sum(1 for kind, _, _ in kinds if kind == _REST)
        least = len(kinds) - rest
        # No `...`, or one at the end (the commonest shapes): nothing to search.
        positional = rest == 0 or (rest == 1 and kinds[-1][0] == _REST)
        checks = tuple((i, element, glob) for i, (_, element, glob) in enumerate(kinds[len(prefix):least],
                                                                                  start=len(prefix)))
        compiled = _COMPILED[pattern] = (kinds, tuple(prefix), least, rest == 0, checks if positional else None)
    return compiled


def match(pattern: ArgPattern, args: tuple[Word, ...]) -> tuple[str, ...] | None:
    """Return, per argument, the pattern element that matched it; None if no match."""
    return match_compiled(_compile(pattern), pattern.elements, args)


def compiled(pattern: ArgPattern) -> Compiled:
    """The pattern's compiled form, for callers that match it many times (the engine)."""
    return _compile(pattern)


def match_compiled(compiled: Compiled, elements: tuple[str, ...], args: tuple[Word, ...]) -> tuple[str, ...] | None:
    """`match` for a pattern compiled once: `compiled(pattern)` and `pattern.elements`."""
    kinds, prefix, least, exact, checks = compiled
    count = len(args)
    # Every element but `...` takes exactly one argument: a pattern that needs more arguments
    # than there are (or, without `...`, another number) cannot match.
    if count < least or (exact and count != least):
        return None
    # Most patterns start with literal words (a subcommand, a flag): a cheap first test.
    if prefix:
        i = 0
        for literal in prefix:
            if args[i].value != literal:
                return None
            i += 1
    if checks is None:
        return _search(kinds, elements, args)
    # Every other element takes the argument in its own position (_matches, inlined).
    for i, element, glob in checks:
        value = args[i].value
        if value is None:
            if element != ANY_REST and (element != "*" or not _one_argument(args[i])):
                return None
        elif glob is None:
            if value != element:
                return None
        elif glob(value) is None:
            return None
    return elements if exact else elements[:-1] + (ANY_REST,) * (count - least)


def _search(kinds: tuple[Element, ...], elements: tuple[str, ...], args: tuple[Word, ...]) -> tuple[str, ...] | None:
    """Match a pattern with `...` before its end: a search over where each `...` stops."""
    count = len(kinds)
    memo: dict[tuple[int, int], tuple[str, ...] | None] = {}

    def walk(p: int, a: int) -> tuple[str, ...] | None:
        key = (p, a)
        if key in memo:
            return memo[key]
        result: tuple[str, ...] | None = None
        if p == count:
            result = () if a == len(args) else None
        else:
            kind, element, glob = kinds[p]
            if kind == _REST:
                # Prefer consuming as few elements as possible, so later literals bind.
                for k in range(a, len(args) + 1):
                    rest = walk(p + 1, k)
                    if rest is not None:
                        result = (ANY_REST,) * (k - a) + rest
                        break
            elif a < len(args) and _matches(element, glob, args[a]):
                rest = walk(p + 1, a + 1)
                result = None if rest is None else (elements[p],) + rest
        memo[key] = result
        return result

    return walk(0, 0)


def could_match(compiled: Compiled, args: tuple[Word, ...]) -> bool:
    """Could the pattern match once the words only known at run time are known?

    A dynamic word inside double quotes alone (`"$r"`) is one argument of any value; any
    other (`$r`, `$(cmd)`, a glob) may split into any number of arguments, none included."""
    kinds = compiled[0]
    first = args[0].value if args else None
    if first is not None and kinds:  # most deny patterns part at once from a static first word
        kind, element, glob = kinds[0]
        if (kind == _LITERAL and first != element) or (kind == _GLOBBED and glob is not None and glob(first) is None):
            return False
    count = len(kinds)
    memo: dict[tuple[int, int], bool] = {}

    def walk(p: int, a: int) -> bool:
        key = (p, a)
        if key not in memo:
            if a == len(args):
                result = all(kind == _REST for kind, _, _ in kinds[p:])
            elif args[a].value is None and not _one_argument(args[a]):
                result = any(walk(q, a + 1) for q in range(p, count + 1))
            elif p == count:
                result = False
            elif kinds[p][0] == _REST:
                result = walk(p + 1, a) or walk(p, a + 1)
            else:
                _, element, glob = kinds[p]
                result = (args[a].value is None or _matches(element, glob, args[a])) and walk(p + 1, a + 1)
            memo[key] = result
        return memo[key]

    return walk(0, 0)


def _one_argument(word: Word) -> bool:
    text = word.text
    return len(text) >= 2 and text[0] == '"' == text[-1] and text.count('"') == 2 and "[@]" not in text \
        and "$@" not in text


def literal_prefix(pattern: ArgPattern) -> tuple[str, ...]:
    """The elements the pattern starts with that must equal argv[1], argv[2]... exactly."""
    return _compile(pattern)[1]


def _matches(element: str, glob: GlobMatch | None, word: Word) -> bool:
    value = word.value
    if value is None:  # `*` is one argument: `$x` unquoted may be several, or none
        return element == ANY_REST or (element == "*" and _one_argument(word))
    if glob is None:  # a literal
        return value == element
    return glob(value) is not None


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
