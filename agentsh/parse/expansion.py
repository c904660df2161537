"""Parameter expansions and subscripts: what bash evaluates there that tree-sitter keeps inert."""

from __future__ import annotations

import re
from typing import Any, Protocol

from .model import Word

# In a ${name...} pattern: what bash would expand or unquote, tree-sitter not.
_REGEX_EXPANDS = re.compile(r"""[$`'"\\]""")


class _Walker(Protocol):
    assigned: list[tuple[str, str, int]]
    listed: list[tuple[str, Word, str, int]]

    def problem(self, node: Any, reason: str) -> None: ...
    def word(self, node: Any, depth: int) -> Word: ...


# Variables whose value is the line's own text, comments and quoted here-documents included,
# which no check reads as a path: `cat "${BASH_EXECUTION_STRING##* }" # /home/u/.ssh/id_rsa`
# printed the key (guardrail mode).
_OWN_TEXT = frozenset({"BASH_EXECUTION_STRING", "BASH_COMMAND"})


def check_expansion(walker: _Walker, node: Any, depth: int) -> None:
    """Refuse what bash evaluates in a ${...} or subscript that tree-sitter shows as inert."""
    kids = node.children
    if node.type in ("simple_expansion", "expansion") and any(
            c.type == "variable_name" and _text(c) in _OWN_TEXT for c in node.named_children):
        walker.problem(node, "an expansion of the line's own text (comments and here-documents included), "
                             "which the checks do not read as paths")
    if node.type == "expansion" and any(not c.is_named and c.type in (":=", "=") for c in kids):
        name = next((c for c in node.named_children if c.type == "variable_name"), None)
        if name is not None:  # ${NAME:=value} assigns NAME
            text = _text(node)
            walker.assigned.append((_text(name), text, node.start_point[0] + 1))
            rest = text[2 + len(_text(name)):-1]  # `:=WORD` or `=WORD`, if NAME has no subscript
            if rest[:2] == ":=" or rest[:1] == "=":
                operand = rest[2:] if rest[:1] == ":" else rest[1:]
                walker.listed.append((_text(name), Word(operand, None, "expansion"), text, node.start_point[0] + 1))
    if node.type == "expansion" and len(kids) > 1 and kids[1].type == "!":
        walker.problem(node, "indirect expansion ${!name} (bash can evaluate the target as code)")
    if node.type == "expansion":
        ops = [c.type for c in kids if not c.is_named]
        if "@" in ops and "P" in ops:
            walker.problem(node, "${name@P} prompt expansion runs command substitutions")
    if node.type == "subscript":
        index = node.child_by_field_name("index")
        if index is not None and not (index.type == "number" or _text(index) in ("@", "*")):
            walker.problem(node, "array subscript with an expression (bash evaluates it as code)")
    for child in node.named_children:
        if child.type == "regex" and _REGEX_EXPANDS.search(_text(child)):
            # tree-sitter keeps a ${x#PATTERN} or ${x/PATTERN/...} pattern as one opaque
            # token, where bash expands `$(...)` and backticks and honours quotes (it ends
            # `${x/'/'}` at the second `}`, tree-sitter at a `'` further on).
            walker.problem(child, "quotes or expansions in a ${name...} pattern")
            continue
        quoted = _false_quotes(child) if _in_double_quotes(node) else None
        if quoted is not None:
            # Inside "${x:-'...'}" single quotes are plain characters: bash expands what
            # they enclose, tree-sitter reads them as quoting (also as part of a longer
            # word: "${x-'$(cmd)'a}" ran cmd).
            walker.problem(quoted, "quotes inside a double-quoted ${...} do not quote what they enclose")
            continue
        decoded = _false_quotes(child, ansi_c_only=True) if _under_double_quotes(node) else None
        if decoded is not None:
            # in a ${...} inside "$(...)" bash decodes $'...' and expands the result again, as
            # in double quotes: "$(cmd ${x-$'\\x24(id)'})" ran id, which tree-sitter read as text
            walker.problem(decoded, "$'...' inside a ${...} within a double-quoted $(...): bash expands "
                                    "its decoded text again (put the text in a variable first)")
            continue
        if child.type in ("variable_name", "special_variable_name", "regex", "number"):
            continue
        if child.type == "subscript":
            check_expansion(walker, child, depth + 1)
        else:
            walker.word(child, depth + 1)


def _false_quotes(node: Any, *, ansi_c_only: bool = False) -> Any:
    """The first '...' or $'...' in an operand (alone or glued into a longer word) that
    holds a `$` or a backtick (every $'...' does: its own `$`); None if there is none.
    ansi_c_only: only $'...', which holds or may decode to anything."""
    if node.type == "ansi_c_string" or (node.type == "raw_string" and not ansi_c_only):
        return node if any(c in _text(node) for c in "$`") else None
    if node.type == "concatenation":
        return next((found for part in node.children
                     if (found := _false_quotes(part, ansi_c_only=ansi_c_only)) is not None), None)
    return None


def _in_double_quotes(node: Any) -> bool:
    """Whether node is inside "..." (and not in a command substitution within them)."""
    parent = node.parent
    while parent is not None:
        if parent.type == "string":
            return True
        if parent.type in ("command_substitution", "process_substitution", "program"):
            return False
        parent = parent.parent
    return False


def _under_double_quotes(node: Any) -> bool:
    """Whether node is inside "..." at any depth, also through command substitutions."""
    parent = node.parent
    while parent is not None:
        if parent.type == "string":
            return True
        parent = parent.parent
    return False


def _text(node: Any) -> str:
    return node.text.decode("utf-8", "surrogateescape")
