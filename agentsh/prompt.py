"""Prompt strings (PS0, PS1, PS2) expanded the way bash expands them, without running code.

Bash expands a prompt in two steps: it decodes the backslash escapes (`\\u`, `\\w`,
`\\$`, ...), then, with `promptvars` on (the default), expands the result as if it
were inside double quotes.  agentsh does the first step itself, and the second step
itself too for what cannot run anything: `$?`, `$$`, `$!`, `$NAME`, `${NAME}` and
backslash removal.  A prompt that needs more (`$(...)`, backquotes, `$((...))`,
`${NAME:-...}` and other operators) is code: `shell_word` turns it into one
double-quoted word that the interactive shell checks and runs like any line (see
interactive.py), so nothing in a prompt runs unchecked.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from typing import NamedTuple

# Interactive-shell state, not environment: the interactive shell keeps these from line to
# line itself (a line that sets them is done by agentsh, see interactive.py).
PROMPT_VARIABLES = ("PS0", "PS1", "PS2", "PROMPT_COMMAND")
# readline's markers around invisible prompt text (what bash makes of \[ and \]).
START_IGNORE, END_IGNORE = "\001", "\002"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SIMPLE_BRACE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*|[0-9]+|[?$!#0-])\}")
_DOUBLE_QUOTE_SPECIAL = '$`"\\'


class PromptContext(NamedTuple):
    """What a prompt can show: the shell's state at the time it is printed."""

    user: str
    host: str
    cwd: str
    home: str
    euid: int
    status: int  # $?
    command_number: int = 1  # \#
    history_number: int = 1  # \!
    shell: str = "agentsh"  # \s
    version: str = "5.2"  # \v (the bash that runs the lines)
    release: str = "5.2.0"  # \V
    tty: str = ""  # \l
    pid: int = 0  # $$
    variables: Mapping[str, str] = {}  # shell variables a prompt may name


def decode(prompt: str, ctx: PromptContext, *, now: float | None = None) -> str:
    """Step one: bash's backslash escapes.  Inserted values are quoted for step two,
    as bash does with promptvars on, so a directory named `$(x)` stays text."""
    out: list[str] = []
    moment = time.localtime(now)
    i, n = 0, len(prompt)
    while i < n:
        ch = prompt[i]
        if ch != "\\" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        code = prompt[i + 1]
        i += 2
        if code in "01234567":
            digits = code
            while i < n and len(digits) < 3 and prompt[i] in "01234567":
                digits += prompt[i]
                i += 1
            out.append(_quote(chr(int(digits, 8) & 0xFF)))
        elif code == "D" and i < n and prompt[i] == "{":
            end = prompt.find("}", i)
            if end < 0:
                out.append("\\D")
                continue
            fmt = prompt[i + 1:end] or "%X"
            out.append(_quote(time.strftime(fmt, moment)))
            i = end + 1
        elif code == "$":
            out.append("#" if ctx.euid == 0 else "\\$")
        elif code == "[":
            out.append(START_IGNORE)
        elif code == "]":
            out.append(END_IGNORE)
        elif code == "\\":
            out.append("\\\\")  # one backslash once step two has run
        else:
            value = _escape_value(code, ctx, moment)
            out.append("\\" + code if value is None else _quote(value))
    return "".join(out)


def _escape_value(code: str, ctx: PromptContext, moment: time.struct_time) -> str | None:
    simple = {"a": "\a", "e": "\033", "n": "\n", "r": "\r", "s": ctx.shell, "u": ctx.user,
              "h": ctx.host.split(".")[0], "H": ctx.host, "j": "0", "l": os.path.basename(ctx.tty) or "tty",
              "v": ctx.version, "V": ctx.release, "w": _tilde(ctx.cwd, ctx.home),
              "!": str(ctx.history_number), "#": str(ctx.command_number)}
    if code in simple:
        return simple[code]
    if code == "W":
        shown = _tilde(ctx.cwd, ctx.home)
        return shown if shown in ("~", "/") else os.path.basename(ctx.cwd.rstrip("/"))
    formats = {"d": "%a %b %d", "t": "%H:%M:%S", "T": "%I:%M:%S", "@": "%I:%M %p", "A": "%H:%M"}
    if code in formats:
        return time.strftime(formats[code], moment)
    return None


def _tilde(cwd: str, home: str) -> str:
    home = home.rstrip("/")
    if home and (cwd == home or cwd.startswith(home + "/")):
        return "~" + cwd[len(home):]
    return cwd


def _quote(value: str) -> str:
    return "".join("\\" + c if c in _DOUBLE_QUOTE_SPECIAL else c for c in value)


def needs_shell(decoded: str) -> bool:
    """Would step two run code or need bash's full expansion (not only names and `$?`)?"""
    i, n = 0, len(decoded)
    while i < n:
        ch = decoded[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "`":
            return True
        if ch == "$" and i + 1 < n:
            nxt = decoded[i + 1]
            if nxt in "([":
                return True
            if nxt == "{":
                match = _SIMPLE_BRACE.match(decoded, i + 1)
                if match is None:
                    return True
                i = match.end()
                continue
        i += 1
    return False


def expand_simple(decoded: str, ctx: PromptContext) -> str:
    """Step two for a prompt that `needs_shell` says runs nothing."""
    out: list[str] = []
    i, n = 0, len(decoded)
    while i < n:
        ch = decoded[i]
        if ch == "\\" and i + 1 < n:
            nxt = decoded[i + 1]
            if nxt == "\n":
                pass  # a quoted newline disappears, as in double quotes
            elif nxt in _DOUBLE_QUOTE_SPECIAL:
                out.append(nxt)
            else:
                out.append(ch + nxt)
            i += 2
            continue
        if ch == "$" and i + 1 < n:
            name, end = _parameter(decoded, i + 1)
            if name:
                out.append(_parameter_value(name, ctx))
                i = end
                continue
        out.append(ch)
        i += 1
    return "".join(out)


def _parameter(text: str, start: int) -> tuple[str, int]:
    """The parameter named after a `$` at start-1, and where its reference ends ('' if none)."""
    if text[start] == "{":
        match = _SIMPLE_BRACE.match(text, start)
        return (match.group(1), match.end()) if match else ("", start)
    if text[start] in "?$!#0-123456789":
        return text[start], start + 1
    match = _NAME.match(text, start)
    return (match.group(), match.end()) if match else ("", start)


def _parameter_value(name: str, ctx: PromptContext) -> str:
    special = {"?": str(ctx.status), "$": str(ctx.pid), "!": "", "#": "0", "0": ctx.shell, "-": "himBH"}
    if name in special:
        return special[name]
    if name == "PWD":
        return ctx.cwd
    return ctx.variables.get(name, "")


def shell_word(decoded: str) -> str:
    """The decoded prompt as one double-quoted bash word that expands to what bash would
    print: a plain `"` of the prompt is escaped; substitutions are kept as they are, since
    quotes inside them belong to the substitution."""
    out = ['"']
    i, n = 0, len(decoded)
    while i < n:
        ch = decoded[i]
        if ch == "\\":
            out.append(decoded[i:i + 2])
            i += 2
        elif ch == '"':
            out.append('\\"')
            i += 1
        elif ch == "`":
            end = _closing_backquote(decoded, i + 1)
            out.append(decoded[i:end])
            i = end
        elif ch == "$" and i + 1 < n and decoded[i + 1] in "({[":
            end = _closing(decoded, i + 1)
            out.append(decoded[i:end])
            i = end
        elif (ord(ch) < 0x20 and ch not in "\t\n") or ch == "\x7f":
            # colours (\e) and readline's markers: a line may not hold raw control characters,
            # so they leave the quotes for a moment as $'\xNN' (the word stays one word)
            out.append(f"\"$'\\x{ord(ch):02x}'\"")
            i += 1
        else:
            out.append(ch)
            i += 1
    out.append('"')
    return "".join(out)


def _closing_backquote(text: str, start: int) -> int:
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == "`":
            return i + 1
        i += 1
    return len(text)


def _closing(text: str, start: int) -> int:
    """The index after the bracket matching text[start] (one of ( { [), skipping quoted text."""
    pairs = {"(": ")", "{": "}", "[": "]"}
    stack = [pairs[text[start]]]
    i = start + 1
    while i < len(text) and stack:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "'" and stack[-1] == ")":
            end = text.find("'", i + 1)
            i = len(text) if end < 0 else end + 1
            continue
        if ch == '"':
            i = _closing_double_quote(text, i + 1)
            continue
        if ch in pairs:
            stack.append(pairs[ch])
        elif ch == stack[-1]:
            stack.pop()
        i += 1
    return min(i, len(text))


def _closing_double_quote(text: str, start: int) -> int:
    i = start
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == '"':
            return i + 1
        if ch == "$" and i + 1 < len(text) and text[i + 1] in "({":
            i = _closing(text, i + 1)
            continue
        if ch == "`":
            i = _closing_backquote(text, i + 1)
            continue
        i += 1
    return len(text)


def visible(prompt: str) -> str:
    """What the terminal shows of an expanded prompt (readline drops its markers)."""
    return prompt.replace(START_IGNORE, "").replace(END_IGNORE, "")


def ansi_c_quote(value: str) -> str:
    """A bash $'...' word for any string, on one line (so line numbers stay put)."""
    out = ["$'"]
    for ch in value:
        if ch in "\\'":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append("'")
    return "".join(out)
