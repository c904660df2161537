"""Redirections and here-documents: the words bash opens as files, and the here-document
bodies bash expands, which tree-sitter leaves as text."""

from __future__ import annotations

import re
from typing import Any, Protocol

from . import _ts_parser
from .disagree import WORD_KINDS, in_backticks
from .heredoc import as_double_quoted, heredoc_end_problem
from .model import Problem, Redirect, SimpleCommand, Word

# What a second expansion (of a `>&` target) would not leave as it is.
_EXPANDED_AGAIN = re.compile(r"""[$`\\'"*?\[~(]""")
# `{name}` right before a redirection operator: bash assigns a new descriptor's number to name.
_VARIABLE_DESCRIPTOR = re.compile(rb"\{[A-Za-z_][A-Za-z0-9_]*\}\Z")


class _Walker(Protocol):
    raw: bytes
    commands: list[SimpleCommand]
    redirects: list[Redirect]
    problems: list[Problem]
    assigned: list[tuple[str, str, int]]
    listed: list[tuple[str, Word, str, int]]

    def problem(self, node: Any, reason: str) -> None: ...
    def walk(self, node: Any, depth: int) -> None: ...
    def word(self, node: Any, depth: int) -> Word: ...
    def check_gaps(self, node: Any, children: list[Any] | None = None, *, one_command: bool = False) -> None: ...
    def nested(self, source: str) -> _Walker: ...
    def arithmetic(self, root: Any) -> None: ...


def redirect(walker: _Walker, node: Any, depth: int) -> list[Redirect]:
    """The redirections of one redirect node, added to the walker's and returned."""
    op = next((c.type for c in node.children if not c.is_named), "")
    found: list[Redirect] = []
    if _VARIABLE_DESCRIPTOR.search(walker.raw, max(0, node.start_byte - 80), node.start_byte):
        # `{fd}>file`: bash opens a new descriptor and assigns its number to fd, an
        # assignment tree-sitter shows as an argument `{fd}`.
        walker.problem(node, "a {name} redirection assigns a shell variable")
    descriptor = next((c for c in node.children if c.type == "file_descriptor"), None)
    if descriptor is not None and not _text(descriptor).isdigit():
        # tree-sitter reads `-Ish2>x` as descriptor `-Ish2`; bash passes `-Ish2` to the
        # command and redirects stdout: a word the checker would never see.
        walker.problem(node, f"'{_text(descriptor)}' before a redirection: put a space between "
                             "an argument and a redirection")
    if node.type == "heredoc_redirect":
        if in_backticks(node):
            # bash reads a backtick substitution's text again, and where its here-document
            # ends is not where tree-sitter ends it (a line after it ran as a command)
            walker.problem(node, "a here-document inside backticks (write $(...) instead)")
        start = next((c for c in node.named_children if c.type == "heredoc_start"), None)
        quoted = start is not None and any(q in _text(start) for q in "'\"\\")
        problem = heredoc_end_problem(walker.raw, node, start, quoted, strip_tabs=op == "<<-")
        if problem:  # bash would end the here-document on another line than tree-sitter
            walker.problem(node, problem)
        for child in node.named_children:
            if child.type == "heredoc_body":
                heredoc_body(walker, child, depth + 1, expands=not quoted)
            elif child.type in ("heredoc_start", "heredoc_end"):
                continue
            elif child.type in WORD_KINDS:
                # `cat <<E ../.ssh/id_rsa`: tree-sitter hangs the word on the here-document,
                # to bash it is an argument of the command (cat printed the key)
                walker.problem(child, "a word after a here-document's <<DELIMITER is an argument to bash "
                                      "but not to the parser: write the arguments before the <<")
            else:
                # The rest of the line after `<<EOF` (pipes, more redirects) hangs here.
                walker.walk(child, depth + 1)
        found.append(Redirect(op="<<", target=None, text=_text(node)))
    else:
        walker.check_gaps(node, one_command=True)  # `<<< \\<blank><newline>cmd`: tree-sitter skips `\\ `
        dest = node.child_by_field_name("destination")
        targets = [c for c in node.named_children if c.type not in ("file_descriptor", "comment")]
        if len(targets) > (op not in (">&-", "<&-")):
            # tree-sitter hangs the words after a redirection at the end of a command on the
            # redirection; to bash they are arguments (`cat 2>/dev/null ~/.ssh/id_rsa`).
            walker.problem(node, "words after a redirection are arguments to bash but not to the parser: "
                                 "write redirections after the arguments")
        if dest is None and targets:
            dest = targets[-1]
        word = walker.word(dest, depth + 1) if dest is not None else None
        if op in (">&", "<&") and word is not None and (word.value or "").rstrip("-").isdigit():
            word = None  # fd duplication, not a file
        elif op == ">&" and word is not None and (word.value is None or _EXPANDED_AGAIN.search(word.value)):
            # `>&WORD` whose value is no descriptor number becomes `&>VALUE`, and bash expands
            # VALUE again: `>&'$(cmd)'` ran cmd, `>&".g\\it/x"` wrote .git/x.
            walker.problem(node, "bash expands the file name after >& a second time: write &>FILE "
                                 "(or >FILE 2>&1) for a file, and a literal number for a descriptor")
        if op in (">&-", "<&-"):
            word = None
        found.append(Redirect(op=op, target=word, text=_text(node)))
    walker.redirects.extend(found)
    return found


def heredoc_body(walker: _Walker, node: Any, depth: int, *, expands: bool) -> None:
    """Check an unquoted here-document body by re-reading it as a double-quoted string.

    Its expansions follow double-quote rules, and tree-sitter parses strings far
    more reliably than here-doc bodies (it leaves backticks as plain text and
    reads `$((1+2))` as a command named 1).  `\\"` is literal in a here-doc, so
    quotes are escaped to keep that meaning.
    """
    if not expands:
        return
    body = walker.raw[node.start_byte:node.end_byte].decode("utf-8", "surrogateescape")
    source = ': "' + as_double_quoted(body) + '"'
    tree = _ts_parser().parse(source.encode("utf-8", "surrogateescape"))
    inner = walker.nested(source)
    inner.walk(tree.root_node, depth + 1)
    inner.arithmetic(tree.root_node)
    if tree.root_node.has_error and not inner.problems:
        inner.problems.append(Problem(text=body[:80], reason="here-document could not be parsed"))
    line = node.start_point[0]
    walker.commands.extend(c for c in inner.commands if c.argv[:1] != (Word(":", ":"),))
    walker.redirects.extend(inner.redirects)
    walker.problems.extend(p._replace(line=p.line + line) for p in inner.problems)
    # bash expands a builtin's here-document in the shell itself: `: <<EOF` with `${f:=$HOME/.ss}`
    # in its body gave f a value no check knew (`cat "${f}h/id_rsa"` printed ~/.ssh/id_rsa)
    walker.assigned.extend((name, text, at + line) for name, text, at in inner.assigned)
    walker.listed.extend((name, word, text, at + line) for name, word, text, at in inner.listed)


def _text(node: Any) -> str:
    return node.text.decode("utf-8", "surrogateescape")
