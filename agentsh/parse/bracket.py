"""`[ ... ]`: a command to bash, an expression to tree-sitter.

bash parses `[` like any command: its words are split, expanded and handed to the `[`
builtin, and `<`, `>` and `>>` between them are redirections.  tree-sitter parses the same
text as a test expression (`binary_expression`, `unary_expression`), reading `[ a > f ]` as
a comparison, where bash creates or truncates `f`.  And `[ -v 'a[$(cmd)]' ]` evaluates the
subscript, running cmd, which no command of the line showed while `[` was walked as mere
structure.  So the walker turns each `[ ... ]` back into the simple command bash runs (argv
`[`, the words, `]`), which the policy then checks like `test` (policy/builtins.py), and
refuses what bash would read as a redirection or an operator inside it.
"""

from __future__ import annotations

from typing import Any, Protocol

from . import arith
from .model import SimpleCommand, Word
from .wordnodes import MAX_DEPTH

# Builtins that read an option naming a variable (`test -v NAME`, `printf -v NAME`, `wait -p
# NAME`), whose dynamic words policy/builtins.py checks.
OPTION_READERS = frozenset({"[", "test", "printf", "wait"})

# Nodes tree-sitter builds from the words; their leaves are the words themselves.
_EXPRESSIONS = frozenset({"binary_expression", "unary_expression"})
# Tokens tree-sitter gives the words of a test as operators, which are plain words to bash.
_OPERATOR_WORDS = frozenset({"!", "=", "==", "!=", "=~", "~"})
# Leaves whose text is an unquoted word to bash: their value follows the unquoted-word rules.
_PLAIN = frozenset({"word", "test_operator", "extglob_pattern", "number"})


class _Walker(Protocol):
    raw: bytes

    def problem(self, node: Any, reason: str) -> None: ...
    def check_gaps(self, node: Any, children: list[Any] | None = None, *, one_command: bool = False) -> None: ...
    def word(self, node: Any, depth: int) -> Word: ...
    def plain_word(self, node: Any, text: str) -> Word: ...


def bracket_words(walker: _Walker, node: Any, depth: int) -> tuple[list[Word], list[tuple[int, Any]]] | None:
    """The words bash hands to `[` (without `[` and `]`), with the (index, node) of each that
    is a lone `$x` or `${x}`; None if the line is refused."""
    walker.check_gaps(node, one_command=True)
    leaves: list[Any] = []
    if not _leaves(walker, node.children[1:-1], leaves, depth):
        return None
    groups: list[list[Any]] = []
    for leaf in leaves:
        if groups and leaf.start_byte == groups[-1][-1].end_byte:
            groups[-1].append(leaf)
        else:
            groups.append([leaf])
    words = [_word(walker, group, depth) for group in groups]
    expansions = [(i, group[0]) for i, group in enumerate(groups)
                  if len(group) == 1 and words[i].why_dynamic == "expansion"]
    return words, expansions


def known_numbers(commands: list[SimpleCommand], expansions: list[tuple[int, list[tuple[int, Any]]]],
                  root: Any, raw: bytes) -> None:
    """Mark the `$x` words of OPTION_READERS that are known numbers (`$?`, `$i` after `i=0`,
    arith.py) with why_dynamic "number": they neither split nor hold an option."""
    numeric = arith.numeric_names(root, raw)  # one scan of the tree for all of them
    for index, spots in expansions:
        numbers = [arith.known_number(node, numeric, raw) for _, node in spots]
        if any(numbers):
            argv = list(commands[index].argv)
            for (position, _), number in zip(spots, numbers, strict=True):
                if number:
                    argv[position] = argv[position]._replace(why_dynamic="number")
            commands[index] = commands[index]._replace(argv=tuple(argv))


def _leaves(walker: _Walker, children: list[Any], out: list[Any], depth: int) -> bool:
    """Collect the leaves of an expression in order; False (and a problem) for anything else."""
    for child in children:
        kind = child.type
        if kind in _EXPRESSIONS:
            if depth > MAX_DEPTH:
                walker.problem(child, f"nesting deeper than {MAX_DEPTH} levels")
                return False
            walker.check_gaps(child, one_command=True)
            if not _leaves(walker, child.children, out, depth + 1):
                return False
        elif not child.is_named and child.type not in _OPERATOR_WORDS:
            # `<`, `>`, `>>` (or `(`, `&`...): bash redirects or ends the command there.
            walker.problem(child, f"'{child.type}' inside [ ] is a redirection or an operator to bash, "
                                  "not a comparison: use [[ ]]")
            return False
        elif child.is_named and kind in ("command", "redirected_statement", "file_redirect",
                                         "parenthesized_expression", "ERROR"):
            walker.problem(child, "unsupported syntax inside [ ]: use [[ ]] or test")
            return False
        else:
            out.append(child)
    return True


def _word(walker: _Walker, group: list[Any], depth: int) -> Word:
    """One bash word from the adjacent leaves tree-sitter split it into (`~` `/x` is `~/x`)."""
    if len(group) == 1 and group[0].is_named and group[0].type not in _PLAIN:
        return walker.word(group[0], depth + 1)
    if all(leaf.type in _PLAIN or not leaf.is_named for leaf in group):
        text = walker.raw[group[0].start_byte:group[-1].end_byte].decode("utf-8", "surrogateescape")
        return walker.plain_word(group[0], text)
    # Quoted text or expansions glued to other leaves: walked for what they run, dynamic as a whole.
    text = walker.raw[group[0].start_byte:group[-1].end_byte].decode("utf-8", "surrogateescape")
    parts = [walker.word(leaf, depth + 1) if leaf.is_named else Word(leaf.type, leaf.type) for leaf in group]
    if all(part.value is not None for part in parts) and all(leaf.type not in _PLAIN for leaf in group):
        return Word(text, "".join(part.value or "" for part in parts))
    return Word(text, None, "expression")
