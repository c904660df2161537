"""Quote removal for the literal parts of shell words, done the way bash does it.

These helpers work on text tree-sitter has already classified (an unquoted word,
the inside of double quotes, a ``$'...'`` string).  Anything they cannot
reproduce exactly is reported as an error so the caller can fail closed.
"""

from __future__ import annotations

import re

GLOB_CHARS = frozenset("*?[")
_SEPARATORS = frozenset(" \t\n;&|<>()")
_SPECIAL = re.compile(r"[\\`$ \t\n;&|<>()*?\[]")


class WordError(ValueError):
    """The text holds something bash would expand that the parser did not see."""


def unquoted(text: str) -> tuple[str, bool]:
    """Value of an unquoted word fragment and whether it contains glob characters.

    Raises WordError for an unescaped ``$`` or backtick: tree-sitter should have
    given those their own nodes, so seeing one here means the parsers disagree.
    """
    if not _SPECIAL.search(text):
        return text, False  # the common case: a plain word, nothing to undo
    out: list[str] = []
    glob = False
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            if i + 1 < n:
                if text[i + 1] != "\n":
                    out.append(text[i + 1])
                i += 2
                continue
            raise WordError("trailing backslash")
        if ch == "`":
            raise WordError("backtick the parser did not recognise")
        if ch == "$" and i + 1 < n:
            raise WordError("'$' expansion the parser did not recognise")
        if ch in _SEPARATORS:
            # bash would end the word (or the command) here; the parsers disagree.
            raise WordError(f"unquoted {ch!r} inside a word: the parser and bash would disagree")
        if ch in GLOB_CHARS:
            glob = True
        out.append(ch)
        i += 1
    return "".join(out), glob


def double_quoted(text: str) -> str:
    """Value of literal text inside double quotes (bash removes only these escapes)."""
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n:
            nxt = text[i + 1]
            if nxt in '$`"\\':
                out.append(nxt)
                i += 2
                continue
            if nxt == "\n":
                i += 2
                continue
            out.append(ch)
            i += 1
            continue
        if ch == "`":
            raise WordError("backtick the parser did not recognise")
        if ch == "$" and i + 1 < n and (text[i + 1].isalnum() or text[i + 1] in "_{([@*#?$!-"):
            raise WordError("'$' expansion the parser did not recognise")
        out.append(ch)
        i += 1
    return "".join(out)


_SIMPLE_ESCAPES = {
    "a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n",
    "r": "\r", "t": "\t", "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?",
}
_HEX = "0123456789abcdefABCDEF"


def ansi_c(body: str) -> str:
    """Decode the inside of ``$'...'`` as bash does (enough to never be wrong).

    Sequences whose bash result is unusual (``\\c`` control letters, a NUL that
    truncates the word) raise WordError instead of guessing.
    """
    out: list[str] = []
    i = 0
    n = len(body)
    while i < n:
        ch = body[i]
        if ch != "\\" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        esc = body[i + 1]
        i += 2
        if esc in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[esc])
        elif esc in "01234567":
            j = i
            while j < n and j < i + 2 and body[j] in "01234567":
                j += 1
            code = int(esc + body[i:j], 8) & 0xFF
            i = j
            if code == 0:
                raise WordError("NUL in $'...' string")
            out.append(chr(code) if code < 0x80 else _byte_char(code))
        elif esc in "xuU":
            limit = {"x": 2, "u": 4, "U": 8}[esc]
            j = i
            while j < n and j < i + limit and body[j] in _HEX:
                j += 1
            if j == i:
                out.append("\\" + esc)
                continue
            code = int(body[i:j], 16)
            i = j
            if code == 0:
                raise WordError("NUL in $'...' string")
            if esc == "x":
                out.append(chr(code) if code < 0x80 else _byte_char(code))
            elif code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                # No character: bash writes invalid UTF-8 or nothing (and Python's chr fails).
                raise WordError(f"\\{esc}{code:X} in $'...' string is no character")
            else:
                out.append(chr(code))
        else:
            raise WordError(f"unsupported escape \\{esc} in $'...' string")
    return "".join(out)


def _byte_char(code: int) -> str:
    # A raw byte >= 0x80 is not a character on its own; keep it distinguishable
    # the same way Python's surrogateescape does, so it never equals a real letter.
    return chr(0xDC00 + code)
