"""What a line typed at the interactive prompt is, before it is checked: unfinished (bash
would print PS2 and read more), or a line that only sets prompt variables (the interactive
shell's own state, which agentsh keeps itself; see interactive.py)."""

from __future__ import annotations

import re

from .parse import parse_line
from .parse.model import SimpleCommand
from .prompt import PROMPT_VARIABLES

_PROMPT_ASSIGNMENT = re.compile(r"(PS0|PS1|PS2|PROMPT_COMMAND)(\+?=)(.*)", re.S)
_INCOMPLETE = ("unexpected end of file", "unexpected EOF", "delimited by end-of-file")


class Statement:
    """One change a prompt-setting line makes: NAME=value, NAME+=value, unset NAME, export NAME."""

    def __init__(self, name: str, op: str, source: str = "", value: str | None = None) -> None:
        self.name, self.op = name, op
        self.source = source  # the value as bash source text (what bash would expand)
        self.value = value  # its value when it is static, else None


def prompt_statements(line: str, home: str | None = None) -> list[Statement] | None:
    """The changes, if the line does nothing but set, export or unset prompt variables."""
    parsed = parse_line(line, home)
    if not parsed.ok:
        return None
    found: list[Statement] = []
    rest = line
    for command in parsed.commands:
        statements = _statements(command)
        if statements is None:
            continue  # a command inside a value's substitution, or one that makes this no prompt line
        found.extend(statements)
        rest = rest.replace(command.text, "", 1)
    if not found or rest.strip(" \t\n;&"):
        return None
    return found


def _statements(command: SimpleCommand) -> list[Statement] | None:
    if command.redirects:
        return None
    if not command.argv:
        if command.assignments and all(a.name in PROMPT_VARIABLES for a in command.assignments):
            return [Statement(a.name, "+=" if a.append else "=", a.value.text, a.value.value)
                    for a in command.assignments]
        return None
    head = command.argv[0].value
    args = command.argv[1:]
    if head == "unset":
        names = [w.value for w in args if w.value != "-v"]
        if names and all(n in PROMPT_VARIABLES for n in names):
            return [Statement(str(n), "unset") for n in names]
        return None
    if head not in ("export", "declare", "typeset") or not command.declaration:
        return None
    out = []
    for word in args:
        if word.value in ("-x", "-g", "-gx", "-xg"):
            continue
        match = _PROMPT_ASSIGNMENT.fullmatch(word.text)
        if match:
            value = word.value.split("=", 1)[1] if word.value is not None else None
            out.append(Statement(match.group(1), match.group(2), match.group(3), value))
        elif word.value in PROMPT_VARIABLES:
            out.append(Statement(word.value, "export"))
        else:
            return None
    return out or None


def continuation(text: str) -> str | None:
    """How an unfinished command goes on: 'join' (a trailing backslash), 'newline', or None."""
    if _ends_in_backslash(text):
        return "join"
    if parse_line(text).ok and "<<" not in text:
        return None
    import subprocess

    # bash -n only parses (it runs nothing); its message tells unfinished from wrong.
    checked = subprocess.run(["/bin/bash", "--noprofile", "--norc", "-n"], input=text.encode("utf-8", "surrogateescape"),
                             capture_output=True, env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"}, check=False)
    message = checked.stderr.decode("utf-8", "replace")
    return "newline" if any(m in message for m in _INCOMPLETE) else None


def _ends_in_backslash(text: str) -> bool:
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if quote == "'":
            quote = "" if ch == "'" else quote
        elif ch == "\\":
            if i == len(text) - 1:
                return True
            i += 1
        elif ch in "'\"":
            quote = "" if quote == ch else (quote or ch)
        i += 1
    return False
