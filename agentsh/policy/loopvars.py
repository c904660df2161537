"""What a `for NAME in WORDS` loop tells about `"$NAME"` in its body, and how often its body runs.

`for f in tests/*.py; do python3 "$f"; done` was refused: `"$f"` is only known at run time,
and a word an interpreter reads before its script could be an option (`-c`, `-i`, `-`).
Here every value of f starts with `tests/`, so the word is the script, whatever the glob
matches.  known_starts() gives such a word that static start as its `prefix` (what the
parser gives `"tests/$f"`), and hazards.dynamic_ok() lets an interpreter's dynamic operand
through when its prefix cannot start an option.

`for i in 1 2 3; do mkdir -p x && cd x; done` was refused once `x/x/x/...` existed deeper
than directories.follow_loops follows (32 passes): iteration_bound() counts the rounds a
line of static `for` lists can make, and no more are followed.

Both read the statement's text, and give up (the old answer) on anything but the plain
forms: list words of a few safe characters only (no quotes, expansions, braces or
substitutions, so nothing in the list runs or splits), and the variable set by nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from ..parse import ParsedLine, SimpleCommand
from .builtins import _name_operands as name_operands

# The builtins that assign variables they name (what builtins.py reads their names from)
ASSIGNING = frozenset({"read", "wait", "printf", "mapfile", "readarray", "unset", "export", "getopts"})

# One list word: a literal first character that no option, tilde or expansion starts with,
# then literal characters and the glob characters * and ?.
_WORD = r"[A-Za-z0-9_./][A-Za-z0-9_./*?+@%,:=-]*"
_FOR = re.compile(rf"for[ \t]+([A-Za-z_][A-Za-z0-9_]*)[ \t]+in((?:[ \t]+{_WORD})+)[ \t]*(?:;|\n)\s*do(?=\s)(.*)"
                  r"(?<![\w-])done\s*", re.S)
_GLOB = re.compile(r"[*?]")
# `..`, or a glob that can match it (`.?`, `.*`)
_CLIMB = re.compile(r"(?:^|/)\.(?:\.|[*?])")
# How known_starts marks the words it gives a start (hazards.dynamic_ok trusts only those:
# a parser's prefix may go on with `../../dev/stdin`)
LOOP_VALUE = "a value of a for loop over literal words"
# A name with a lower-case letter: bash's own variables (and `_`) have none
_USER_NAME = re.compile(r"[A-Za-z_0-9]*[a-z][A-Za-z_0-9]*")
# A loop keyword anywhere in the text (as chdirs._LOOP spells it)
_LOOP = re.compile(r"(?<![\w-])(?:for|while|until|select)(?![\w-])")


class ForLoop(NamedTuple):
    """One `for NAME in WORDS; do BODY done`."""

    name: str
    words: tuple[str, ...]
    body: str


def _loops(parsed: ParsedLine) -> tuple[list[ForLoop], bool]:
    """The plain `for` loops of the line, and whether every statement that set a variable
    other than by NAME=value (parsed.assigned: for, arithmetic, `${x:=}`) is one of them."""
    loops = []
    for _name, text, _line in parsed.assigned:
        match = _FOR.fullmatch(text)
        if match is None:
            return loops, False
        loops.append(ForLoop(match.group(1), tuple(match.group(2).split()), match.group(3)))
    return loops, True


def known_starts(parsed: ParsedLine, command: SimpleCommand) -> SimpleCommand:
    """command with each `"$NAME"` (or `"${NAME}"`) argument that can only be one of a plain
    loop's values given the literal text all those values start with as its prefix."""
    if not parsed.assigned or not any('"$' in w.text for w in command.argv[1:]):
        return command
    loops, plain = _loops(parsed)
    if not plain:
        return command
    argv = list(command.argv)
    for i, word in enumerate(argv[1:], 1):
        if word.value is not None or word.prefix:
            continue
        for name in {loop.name for loop in loops}:
            if word.text not in (f'"${name}"', f'"${{{name}}}"'):
                continue
            start = _start(parsed, command, name, loops)
            if start:
                argv[i] = word._replace(prefix=start, why_dynamic=LOOP_VALUE)
    return command._replace(argv=tuple(argv))


def _start(parsed: ParsedLine, command: SimpleCommand, name: str, loops: list[ForLoop]) -> str:
    """The literal start of every value `"$name"` may have in command, or ''."""
    loop = _sole_setter(parsed, command, name, loops)
    if loop is None or not mentions_only_read(parsed.source, name, _loop_header):
        return ""  # (`$((f=-1))` in a builtin's here-document sets f unseen)
    if any(word[:1] == "/" or _CLIMB.search(word) for word in loop.words):
        return ""  # each value must be a path below the working directory: not /dev/stdin
    heads = [_GLOB.split(word, 1)[0] for word in loop.words]
    common = heads[0]
    for head in heads[1:]:
        while not head.startswith(common):
            common = common[:-1]
    return common


def _sole_setter(parsed: ParsedLine, command: SimpleCommand, name: str, loops: list[ForLoop]) -> ForLoop | None:
    """The one loop that sets `name` when command runs, if `"$name"` there can only be one of
    its list words; None otherwise."""
    if not _USER_NAME.fullmatch(name):
        return None  # bash sets its own (`$_`, REPLY for a bare `read`, RANDOM, DIRSTACK ...)
    mine = [loop for loop in loops if loop.name == name]
    if len(mine) != 1 or re.search(rf"(?<!\$){{{name}}}", parsed.source):
        return None  # two loops, or `{name}>file` (which sets it to a descriptor number)
    loop = mine[0]
    # In the body, and only there: not before the loop (name unset: `python3 ""` runs ./__main__.py,
    # `node ''` reads stdin), nor after it or beside it (a loop that ran no round, `( )`, `&`, `|`).
    if parsed.source.count(command.text) != loop.body.count(command.text) or not loop.body.count(command.text):
        return None
    # Set by nothing but the loop: no `name=...` (also in front of a command), no builtin
    # naming it (`read name`, `printf -vname`, `wait -pname`, `unset name`, as builtins.py
    # reads their names), no word that is the name or assigns it.
    for other in parsed.commands:
        if any(a.name == name for a in other.assignments):
            return None
        program = other.argv[0].value if other.argv else None
        if program in ASSIGNING and any(n in (name, None) for n in name_operands(program, other.argv[1:])):
            return None
        for w in other.argv[1:]:
            text = w.value if w.value is not None else w.text
            if text == name or text.startswith((f"{name}=", f"{name}+=", f"{name}[")):
                return None
    return loop


def iteration_bound(parsed: ParsedLine) -> int | None:
    """How many times, at most, any command of the line runs, when its only loops are plain
    `for` loops over words without globs; None when that is not known."""
    loops, plain = _loops(parsed)
    text = parsed.source.replace("\\\n", "")  # `whi\<newline>le` is a loop too
    if not plain or not loops or len(_LOOP.findall(text)) != len(loops):
        return None  # a while/until/select, a C-style for, or `for` in text the count cannot place
    bound = 1
    for loop in loops:
        if any(_GLOB.search(word) for word in loop.words):
            return None
        bound *= len(loop.words)
    return bound


def cd_rounds(parsed: ParsedLine, command: SimpleCommand) -> list[SimpleCommand]:
    """`for d in src tests; do (cd "$d" && ls); done`: the `cd` (or `pushd`) of a plain loop's
    body over its own variable, once for each list word, with that word as the operand's value,
    so every directory it may enter gets the read check and later commands are checked from
    each.  Only words without glob characters (what `*` matches is no word of the line), the
    variable set by nothing but the loop, and the command in its body only (before the loop
    `"$d"` is empty); [] for anything else (the command stays refused as known at run time)."""
    if len(command.argv) != 2 or command.argv[1].value is not None or not parsed.assigned:
        return []
    loops, plain = _loops(parsed)
    if not plain:
        return []
    text = command.argv[1].text
    for name in {loop.name for loop in loops}:
        # quoted or not: the values hold no blank and no glob character, so they do not split
        if text not in (f'"${name}"', f'"${{{name}}}"', f"${name}", f"${{{name}}}"):
            continue
        loop = _sole_setter(parsed, command, name, loops)
        if loop is None or any(_GLOB.search(word) for word in loop.words) or \
                not mentions_only_read(parsed.source, name, _loop_header):
            return []  # (`: <<EOF` with `$((d=5))` in its body assigns d unseen)
        return [command._replace(argv=(command.argv[0], command.argv[1]._replace(value=word, why_dynamic="")))
                for word in loop.words]
    return []



def loop_rounds(parsed: ParsedLine, command: SimpleCommand) -> list[SimpleCommand]:
    """cd_rounds(parsed, command) for a cd or pushd that has them, else [command] (what
    follow_cd and follow_loops follow)."""
    if command.argv and command.argv[0].value in ("cd", "pushd") and parsed.assigned:
        return cd_rounds(parsed, command) or [command]
    return [command]


# What may stand before and after a mention of a name that neither assigns it nor reads it in
# a way the parse may have missed: a path component (`/tmp/x`, `.d`), or an expansion
_PATH_BEFORE = frozenset("/.-")
_ASSIGNING_AFTER = ("=", ":=", "[", "+=")


def mentions_only_read(source: str, name: str, introduces: Callable[[str, str], bool]) -> bool:
    """Is every mention of `name` in the line's text `$name`, a `${name...}` that assigns
    nothing, the statement that gives it its values (`introduces(text before, text after)`),
    or letters of a path component?  A text check on top of the parse, which does not list
    every way of assigning: bash expands a builtin's here-document in the shell itself, so
    `: <<EOF` with `${tmp:=/etc/x}` or `$((d=5))` in its body assigns the name unseen.  Any
    other mention (a comment, `echo d`) fails it."""
    for match in re.finditer(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", source):
        before, after = source[:match.start()], source[match.end():]
        if before.endswith("${"):
            if after.startswith(_ASSIGNING_AFTER):
                return False
        elif before.endswith("$") or introduces(before, after):
            continue
        elif not (before and before[-1] in _PATH_BEFORE and not after.startswith(_ASSIGNING_AFTER)):
            return False
    return True


def _loop_header(before: str, after: str) -> bool:
    """Is this mention of the name the NAME of `for NAME in`?"""
    return re.search(r"(?<![\w-])for[ \t]+$", before) is not None and re.match(r"[ \t]+in[ \t\n;]", after) is not None
