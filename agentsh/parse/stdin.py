"""Where a simple command of a line reads its standard input from.

The walker lists a line's commands and its redirections, but not which redirection feeds
which command, nor which command a pipe feeds.  A checker that must know what a command
reads on stdin (`patch -p1 < fix.diff`: the patch names the files it writes) asks here.
This reads tree-sitter's tree again, which only such rare lines pay for.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from . import _ts_parser


class Stdin(NamedTuple):
    """What a command reads on stdin.

    ``kind``: "file" (``text`` is the redirection's word as written, `< FILE`), "text"
    (``text`` is what a here-document or here-string holds, fully known), "pipe" (the
    command before it in a pipeline), "inherited" (agentsh's own stdin: the caller's), or
    "unknown" (a here-document that expands, a descriptor duplicated, anything else)."""

    kind: str
    text: str = ""


_STDIN_OPS = ("<", "<<", "<<-", "<<<", "<&", "<>")


def stdin_of(source: str, command_text: str, line: int) -> list[Stdin]:
    """What the command written `command_text`, starting on `line`, reads on stdin: one entry
    for each command of `source` written so on that line (`patch -p1 < a; patch -p1 < b` has
    two, and the caller cannot say which it means), ["unknown"] when there is none."""
    root = _ts_parser().parse(source.encode("utf-8", "surrogateescape")).root_node
    return [_stdin(node) for node in _find(root, command_text, line)] or [Stdin("unknown")]


def _stdin(node: Any) -> Stdin:
    found = _redirected(node)
    while found is None and node.parent is not None:
        parent = node.parent
        if parent.type == "pipeline" and _position(parent, node) > 0:
            return Stdin("pipe")
        node = parent
        found = _redirected(node)
    return found if found is not None else Stdin("inherited")


def _find(root: Any, command_text: str, line: int) -> list[Any]:
    found = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type == "command" and node.start_point[0] + 1 == line and _text(node) == command_text:
            found.append(node)
        stack.extend(node.children)
    return found


def _position(pipeline: Any, child: Any) -> int:
    """Which stage of the pipeline `child` is (0: the first, which reads no pipe)."""
    stages = [c for c in pipeline.named_children if c.type != "comment"]
    return next((i for i, stage in enumerate(stages) if stage.id == child.id), 0)


def _redirected(node: Any) -> Stdin | None:
    """The stdin that redirections on `node` itself give (the last one wins, as in bash)."""
    found = None
    for child in node.children:
        if child.type == "heredoc_redirect":
            found = _heredoc(child)
        elif child.type == "herestring_redirect":
            found = Stdin("unknown")  # `<<< "$x"`: rare; its word's expansions are not followed here
        elif child.type == "file_redirect":
            descriptor = next((c for c in child.children if c.type == "file_descriptor"), None)
            op = next((c.type for c in child.children if not c.is_named), "")
            if op not in _STDIN_OPS or (descriptor is not None and _text(descriptor) != "0"):
                continue
            if op != "<":
                found = Stdin("unknown")  # `<&3`, `<>`: a descriptor or a file read and written
                continue
            destination = child.child_by_field_name("destination")
            found = Stdin("file", _text(destination)) if destination is not None else Stdin("unknown")
    return found


def _heredoc(node: Any) -> Stdin:
    start = next((c for c in node.named_children if c.type == "heredoc_start"), None)
    body = next((c for c in node.named_children if c.type == "heredoc_body"), None)
    if start is None or body is None:
        return Stdin("text", "") if start is not None else Stdin("unknown")
    text = _text(body)
    quoted = any(q in _text(start) for q in "'\"\\")
    if not quoted and any(c in text for c in "$`\\"):
        return Stdin("unknown")  # bash expands it: only known at run time
    return Stdin("text", text)


def _text(node: Any) -> str:
    return node.text.decode("utf-8", "surrogateescape")
