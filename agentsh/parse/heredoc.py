"""Here-documents as bash reads them: where a body ends (bash compares lines with the
delimiter after quote removal, and joins backslash-continued lines of an unquoted body),
and an unquoted body rewritten as a double-quoted string so the walker can check its
expansions.  tree-sitter does neither, so the walker refuses a here-document whose end
bash would put elsewhere.
"""

from __future__ import annotations

import re
from typing import Any

from .model import Word

_PLAIN_WORD = re.compile(r"[A-Za-z0-9_./:@%+,=-]+")


def heredoc_end_problem(raw: bytes, node: Any, start: Any, quoted: bool, *, strip_tabs: bool) -> str:
    """Why bash would end this here-document elsewhere than tree-sitter does ("" if not).

    tree-sitter compares body lines with the delimiter as written, bash with the word
    after quote removal (`<<E"O"F` ends at `EOF`, `<<$'EOF'` too), and in an unquoted
    body bash joins a line ending in `\\` to the next first (`EO\\` + `F` is `EOF`).
    Where they differ, the lines in between are data to tree-sitter and commands to bash.
    """
    delimiter = None if start is None else heredoc_delimiter(_text(start))
    if delimiter is None:
        return "a here-document delimiter other than plain or quoted text"
    end = next((c for c in node.children if c.type == "heredoc_end"), None)
    body = next((c for c in node.children if c.type == "heredoc_body"), None)
    if end is None or end.is_missing:
        return "a here-document without its end line"
    end_line = raw.rfind(b"\n", 0, end.start_byte) + 1
    first = end_line if body is None else body.start_byte
    if strip_tabs:  # tree-sitter starts a `<<-` body after the first line's tabs
        while first > 0 and raw[first - 1:first] == b"\t":
            first -= 1
    if first > end_line or (first > 0 and raw[first - 1:first] != b"\n"):
        return "a here-document body that does not start on a line of its own"
    if start is not None and b"\n\\\n" in raw[start.end_byte:first]:
        # a body line that is a lone backslash (`<<E`, `\\`, `E`, cmd): it is body text to bash,
        # a line continuation to tree-sitter, which started the body later (cmd was data to it)
        return "a here-document body line holding only a backslash (bash ends the body elsewhere)"
    line_end = raw.find(b"\n", end.end_byte)
    text = raw[first:len(raw) if line_end < 0 else line_end].decode("utf-8", "surrogateescape")
    lines = text.split("\n")
    if not quoted:  # bash removes backslash-newline first, so joined lines are compared
        lines = _joined_lines(lines)
    if strip_tabs:
        lines = [line.lstrip("\t") for line in lines]
    # bash ends the body at the first line equal to the delimiter: that must be the
    # line tree-sitter ended it on (the last one here), and it must hold nothing else.
    if lines[-1] != delimiter or delimiter in lines[:-1] or _text(end) != delimiter:
        return "bash would end this here-document on another line than the parser"
    return ""


def heredoc_delimiter(word: str) -> str | None:
    """The delimiter bash compares body lines with: the word after quote removal.

    None for a word with `$` or a backtick outside single quotes (`<<$'EOF'` is decoded
    as ANSI-C text, `<<$"EOF"` translated) or a newline: not worth reproducing."""
    out: list[str] = []
    i = 0
    n = len(word)
    while i < n:
        ch = word[i]
        if ch == "'":
            close = word.find("'", i + 1)
            if close < 0:
                return None
            out.append(word[i + 1:close])
            i = close + 1
        elif ch == '"':
            i += 1
            while i < n and word[i] != '"':
                if word[i] in "$`":
                    return None
                if word[i] == "\\" and i + 1 < n and word[i + 1] in '$`"\\':
                    i += 1
                out.append(word[i])
                i += 1
            if i >= n:
                return None
            i += 1
        elif ch in "$`":
            return None
        elif ch == "\\":
            if i + 1 >= n:
                return None
            out.append(word[i + 1])
            i += 2
        else:
            out.append(ch)
            i += 1
    delimiter = "".join(out)
    return None if "\n" in delimiter else delimiter


def _joined_lines(lines: list[str]) -> list[str]:
    """Lines of an unquoted here-doc body as bash compares them: a line ending in an odd
    number of backslashes is joined to the next, without the backslash-newline."""
    out: list[str] = []
    pending = ""
    for line in lines:
        line = pending + line
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2:
            pending = line[:-1]
        else:
            out.append(line)
            pending = ""
    if pending:
        out.append(pending)
    return out


def as_double_quoted(body: str) -> str:
    """Here-doc text rewritten so that inside double quotes it means the same."""
    out = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            # `\"` is two literal characters in a here-doc; other escapes mean the same.
            out.append('\\\\\\"' if nxt == '"' else ch + nxt)
            i += 2
            continue
        out.append('\\"' if ch == '"' else ch)
        i += 1
    return "".join(out)


def _text(node: Any) -> str:
    return node.text.decode("utf-8", "surrogateescape")


def lost_words(raw: bytes, node: Any) -> list[Word] | None:
    """Plain words between a command and its here-document that no node covers: tree-sitter
    drops a lone `-` operand there (`cat - <<EOF`), which the walker gives back."""
    kids = node.children
    if len(kids) < 2 or kids[0].type != "command" or kids[1].type != "heredoc_redirect":
        return None
    gap = raw[kids[0].end_byte:kids[1].start_byte].decode("utf-8", "surrogateescape")
    words = gap.split()
    if not words or not all(_PLAIN_WORD.fullmatch(w) for w in words):
        return None
    return [Word(w, w) for w in words]
