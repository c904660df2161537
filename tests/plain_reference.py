"""The plain-line scanner as it was before the regular-expression one (commit d864ddb), character by
character, kept only as the oracle of tests/test_parse_plain_scan.py: the new scanner must give exactly
what this one gives, ParsedLine or None, for every line.  Do not change it to follow agentsh/parse/plain.py.
"""

from __future__ import annotations

from agentsh.parse.model import ParsedLine, Redirect, SimpleCommand, Word

_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:+,=-~")
_SINGLE_QUOTED = frozenset(chr(c) for c in range(0x20, 0x7F)) - {"'"}
_DOUBLE_QUOTED = frozenset(chr(c) for c in range(0x20, 0x7F)) - set('"$`\\!')
_BLANK = " \t"
# Words tree-sitter gives a meaning of their own in command position, and builtins it
# parses as declarations: all left to the tree walker.
_NOT_A_NAME = frozenset({
    "if", "then", "else", "elif", "fi", "case", "esac", "for", "select", "while", "until", "do", "done",
    "in", "function", "time", "coproc", "declare", "typeset", "export", "readonly", "local", "unset",
    "unsetenv",
})


def reference_parse_plain(source: str) -> ParsedLine | None:
    """The ParsedLine of a line in the plain subset; None for any other line."""
    if not source.isascii() or "\n" in source:
        return None
    # The scanner accepts `$`, backquote, backslash and `!` only inside single quotes (and a
    # newline nowhere): a line with one of them and no single quote is declined before any
    # scanning, not at that character (`echo "exit=$?"`). Four `in` tests: ~0.06 µs.
    if "'" not in source and ("$" in source or "`" in source or "\\" in source or "!" in source):
        return None
    return _scan(source)


def _scan(source: str) -> ParsedLine | None:
    """parse_plain's scanner, character by character."""
    n = len(source)
    i = 0
    commands: list[SimpleCommand] = []
    redirects: list[Redirect] = []
    while True:
        # One simple command: words, then redirections.
        while i < n and source[i] in _BLANK:
            i += 1
        start = i
        argv: list[Word] = []
        end = start
        while True:
            digits = i
            while digits < n and source[digits].isdigit():
                digits += 1
            if digits > i and digits < n and source[digits] in "<>":
                if digits - i > 1:
                    return None  # `10>x`: a descriptor this scanner does not take
                break  # `2>...`: a redirection, not a word
            scanned = _word(source, i)
            if scanned is None:
                break
            word, i = scanned
            if i < n and source[i] in "<>":
                return None  # `-n2>&1`: tree-sitter splits such words its own way
            argv.append(word)
            end = i
            while i < n and source[i] in _BLANK:
                i += 1
        if not argv:
            return None
        name = argv[0]
        if name.text != name.value or "=" in name.text or name.text in _NOT_A_NAME:
            return None
        while i < n and source[i] not in "|&;":
            scanned_redirect = _redirect(source, i)
            if scanned_redirect is None:
                return None
            redirect, i = scanned_redirect
            redirects.append(redirect)
            while i < n and source[i] in _BLANK:
                i += 1
        commands.append(SimpleCommand(argv=tuple(argv), text=source[start:end]))
        if i == n:
            break
        if source.startswith(("&&", "||"), i):
            i += 2
        elif source[i] in "|;" and source[i + 1:i + 2] not in ("&", "|", ";"):
            i += 1
        else:
            return None  # `&`, `|&`, `;;`, `&>` ...
        if not source[i:].strip(_BLANK):
            return None  # a trailing operator
    return ParsedLine(source=source, commands=tuple(commands), redirects=tuple(redirects))


def _word(source: str, i: int) -> tuple[Word, int] | None:
    """The word starting at i and the index after it; None if none starts there (or an unsupported one)."""
    n = len(source)
    start = i
    parts: list[str] = []
    while i < n:
        ch = source[i]
        if ch in _PLAIN:
            j = i + 1
            while j < n and source[j] in _PLAIN:
                j += 1
            parts.append(source[i:j])
            i = j
        elif ch == "'" or ch == '"':
            allowed = _SINGLE_QUOTED if ch == "'" else _DOUBLE_QUOTED
            j = i + 1
            while j < n and source[j] in allowed:
                j += 1
            if j >= n or source[j] != ch:
                return None
            parts.append(source[i + 1:j])
            i = j + 1
        elif ch in _BLANK or ch in "|&;<>":
            break
        else:
            return None  # anything else: tree-sitter's business
    if i == start:
        return None
    text = source[start:i]
    if text == "-":
        return None  # tree-sitter drops a lone `-` in some places (see walker.lost_words)
    if "~" in text and (text[0] == "~" or "=~" in text or ":~" in text or "'" in text or '"' in text):
        return None  # a tilde that may expand (or that the walker treats as if it might)
    return Word(text, "".join(parts)), i


def _redirect(source: str, i: int) -> tuple[Redirect, int] | None:
    n = len(source)
    start = i
    if source[i].isdigit():
        i += 1
    if source.startswith(">&", i):
        j = i + 2
        if j < n and source[j].isdigit() and (j + 1 == n or source[j + 1] in _BLANK or source[j + 1] in "|&;"):
            if j + 1 < n and source[j + 1] == "&":
                return None
            return Redirect(op=">&", target=None, text=source[start:j + 1]), j + 1
        return None
    if source.startswith(">>", i):
        op = ">>"
    elif source[i:i + 1] in (">", "<"):
        op = source[i]
    else:
        return None
    i += len(op)
    if source[i:i + 1] in ("|", "&", "<", ">", "("):
        return None  # `>|`, `>&`, `<<`, `<>`, `>(`
    while i < n and source[i] in _BLANK:
        i += 1
    scanned = _word(source, i)
    if scanned is None:
        return None
    target, i = scanned
    return Redirect(op=op, target=target, text=source[start:i]), i
