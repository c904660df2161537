"""Which simple command of a line bash runs last, with nothing of the line after or beside it.

The walker lists a line's commands without saying when each runs.  A command whose effect
later commands must not see unchecked (one that makes a symbolic link: policy/links.py)
needs that: it is fine at the end of a line, and only there.  This reads tree-sitter's tree
again, which only such rare lines pay for.
"""

from __future__ import annotations

from typing import Any

from . import _ts_parser

# Nodes whose last statement is what runs last in them.
_SEQUENCES = frozenset({"program", "subshell", "compound_statement"})
# Nodes that run other commands beside the ones before and after them: `&` (a job in the
# background) and `<(...)`/`>(...)` (a process bash does not wait for).
_ALONGSIDE = frozenset({"&", "process_substitution"})


def last_command(source: str) -> tuple[str, int] | None:
    """(text, line) of the simple command that runs last in `source`, when the line's shape
    says that nothing else of it runs after that command or beside it; None otherwise.

    Only sequences (`;`, newlines, `&&`, `||`, `( )`, `{ }`), `!` and redirections without a
    here-document are followed to their last command.  Anything else there (a pipeline, a
    loop, `if`, `case`, a here-document, whose line can go on past `<<EOF`), or a `&` or a
    process substitution anywhere in the line, gives None.
    """
    root = _ts_parser().parse(source.encode("utf-8", "surrogateescape")).root_node
    if _runs_alongside(root):
        return None
    node = root
    while True:
        kind = node.type
        if any(child.type == "heredoc_redirect" for child in node.children):
            return None
        if kind == "command":
            return node.text.decode("utf-8", "surrogateescape"), node.start_point[0] + 1
        if kind in _SEQUENCES or kind == "list" or kind == "negated_command":
            statements = [child for child in node.named_children if child.type != "comment"]
            if not statements:
                return None
            node = statements[-1]  # `a && b`, `a || b`: b, if anything, runs last
        elif kind == "redirected_statement" and node.child_by_field_name("body") is not None:
            node = node.child_by_field_name("body")
        else:
            return None


def _runs_alongside(node: Any) -> bool:
    """A background job or a process substitution anywhere below node."""
    stack = [node]
    while stack:
        node = stack.pop()
        if node.type in _ALONGSIDE and node.parent is not None and node.parent.type != "binary_expression":
            return True  # (`&` in arithmetic is a bitwise and)
        stack.extend(node.children)
    return False
