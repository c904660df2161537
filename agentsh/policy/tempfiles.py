"""What `"$tmp"` names after `tmp=$(mktemp)`: a new file in the temporary directory.

`tmp=$(mktemp) && some_cmd > "$tmp" && ... && rm "$tmp"` was refused: `"$tmp"` is a write
target known only at run time.  But `mktemp` without arguments makes a new file (O_EXCL, so
no link planted before can be it) named tmp.XXXXXXXXXX in $TMPDIR, or /tmp when TMPDIR is
unset, and the profile's environment has no TMPDIR unless it passes or sets it, which a line
cannot do (a hazard variable).  So where every value the line gives `tmp` is such a
`$(mktemp)`, the word `"$tmp"` is one of two paths: that file, or the empty string (before the
assignment ran, in a subshell's sibling, or when mktemp failed).  A command's argument is
checked as both (the empty string is checked as the working directory, where a program that
takes it for a prefix or a default puts its file); a redirection's target as the file, since
bash opens nothing named by the empty string.  Anything else stays a run-time word:
mktemp with any argument (`-p DIR`, `-u`, a template, `-d`), the variable given another
value anywhere in the line (an assignment, `read`, `for`, `export tmp=`, `${tmp:=}`), a name
bash or the profile may set, the word unquoted (empty, it would vanish and shift the other
words) or with more text (`"$tmp".bak`), and a `cd` to it.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase

from ..parse import ParsedLine, Redirect, SimpleCommand, Word
from ..profile import Profile
from .loopvars import ASSIGNING, mentions_only_read, name_operands

# The value mktemp's file is checked as: its directory is what matters, the name is new
NEW_FILE = "tmp.XXXXXXXXXX"
_MKTEMP = frozenset({"$(mktemp)", '"$(mktemp)"'})
_NO_FOLLOW = frozenset({"cd", "pushd"})


def temp_names(parsed: ParsedLine, profile: Profile) -> dict[str, str]:
    """Each variable of the line whose every value is `$(mktemp)`, with the file's path."""
    if "mktemp" not in parsed.source or "TMPDIR" in parsed.source:
        return {}
    if "TMPDIR" in dict(profile.env_set) or any(fnmatchcase("TMPDIR", p) for p in profile.env_pass):
        return {}  # mktemp would use a directory the line does not show
    given: set[str] = set()
    other: set[str] = {name for name, _text, _line in parsed.assigned}  # for, ${x:=}, arithmetic
    for command in parsed.commands:
        for assignment in command.assignments:
            if not command.argv and assignment.value.text in _MKTEMP and not assignment.append:
                given.add(assignment.name)
            else:
                other.add(assignment.name)
        program = command.argv[0].value if command.argv else None
        if program in ASSIGNING:
            named = name_operands(program, command.argv[1:])
            if None in named:
                return {}  # a builtin assigning a name only known at run time
            other.update(n for n in named if n)
        for word in command.argv[1:]:
            text = word.value if word.value is not None else word.text
            other.add(text.split("=", 1)[0].split("+", 1)[0].split("[", 1)[0])  # `export tmp=`, `unset tmp`
    names = {}
    for name in given - other:
        if not mentions_only_read(parsed.source, name, _introduces):
            continue  # `: <<EOF` with `${tmp:=/etc/x}` in its body assigns tmp unseen
        passed = name in dict(profile.env_set) or any(fnmatchcase(name, p) for p in profile.env_pass)
        # `{name}>file` sets it to a descriptor's number (the parser refuses those anyway)
        if not passed and any(c.islower() for c in name) and not re.search(rf"(?<!\$){{{name}}}", parsed.source):
            names[name] = f"/tmp/{NEW_FILE}"
    return names


def _introduces(before: str, after: str) -> bool:
    """Is this mention of the name `NAME=$(mktemp)` at a statement's start?"""
    return after.startswith(("=$(mktemp)", '="$(mktemp)"')) and (not before or before[-1] in " \t\n;&|({")


def _spelled(names: dict[str, str], word: Word) -> str | None:
    """The file a quoted `"$name"` or `"${name}"` names, if name is one of `names`."""
    if word.value is not None or word.text[:2] not in ('"$',):
        return None
    name = word.text[2:-1].removeprefix("{").removesuffix("}")
    if word.text not in (f'"${name}"', f'"${{{name}}}"'):
        return None
    return names.get(name)


def command_rounds(names: dict[str, str], command: SimpleCommand) -> list[SimpleCommand]:
    """command with each `"$tmp"` argument as the new file, and as the empty string; [] if it
    has none (or is a cd: a directory it would enter is not followed from a stand-in)."""
    if not names or not command.argv or command.argv[0].value in _NO_FOLLOW:
        return []
    spots = [(i, path) for i, word in enumerate(command.argv) if i and (path := _spelled(names, word))]
    if not spots:
        return []
    rounds = []
    for empty in (False, True):
        argv = list(command.argv)
        for i, path in spots:
            argv[i] = argv[i]._replace(value="" if empty else path, why_dynamic="")
        rounds.append(command._replace(argv=tuple(argv)))
    return rounds


def redirect_targets(names: dict[str, str], redirect: Redirect) -> list[Word]:
    """The words a redirection to `"$tmp"` is checked as: the new file (bash opens no file
    named by the empty string: `> ""` fails)."""
    path = _spelled(names, redirect.target) if names and redirect.target is not None else None
    if path is None:
        return [redirect.target] if redirect.target is not None else []
    return [redirect.target._replace(value=path, why_dynamic="")]
