"""The files `md5sum -c LIST` (and sha*sum, b2sum, cksum) read: the names in LIST.

With --check the operands are lists of `HASH  NAME` lines, and the program reads every NAME:
`sha256sum -c sums` with `secrets/key` in it read the denied file (it says only OK or FAILED,
but a read outside the roots is one).  A list the line names is read when the line is checked
(up to MAX_LIST_BYTES) and each name is read-checked; a list on standard input, a missing one
or a bigger one is not looked into (docs/security-model.md).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from ..parse import Word
from .paths import PathChecker

PROGRAMS = frozenset({"md5sum", "sha1sum", "sha224sum", "sha256sum", "sha384sum", "sha512sum", "b2sum", "cksum"})
MAX_LIST_BYTES = 1 << 20
# `HASH  NAME`, `HASH *NAME` (a leading backslash: the name is escaped), `ALGO (NAME) = HASH`
_PLAIN = re.compile(r"^\\?[0-9A-Fa-f]+ [ *](.+)$")
_TAGGED = re.compile(r"^\\?[A-Z0-9a-z-]+ \((.+)\) = [0-9A-Za-z+/=]+$")


def problem(_program: str, args: tuple[Word, ...], cwds: Iterable[str], paths: PathChecker,
            reals: dict[str, str] | None = None) -> str:
    """The first name in a checked list that the read roots refuse ('' without --check)."""
    lists = _lists(args)
    if not lists:
        return ""
    for cwd in list(cwds):
        for word in lists:
            for name in names(os.path.join(cwd, word.value or "")):
                found = paths.check_read_word(Word(name, name), [cwd], reals)
                if found:
                    return f"{word.shown()} lists {name}: {found}"
    return ""


def names(path: str) -> list[str]:
    """The file names a checksum list gives; [] when it is not read here."""
    try:
        with open(path, "rb") as stream:
            if not os.path.isfile(path) or os.fstat(stream.fileno()).st_size > MAX_LIST_BYTES:
                return []
            text = stream.read(MAX_LIST_BYTES).decode("utf-8", "replace")
    except (OSError, ValueError):
        return []
    found: list[str] = []
    for line in re.split(r"[\n\0]", text):
        match = _TAGGED.match(line) or _PLAIN.match(line)
        if match:
            name = match.group(1)
            if line.startswith("\\"):  # GNU escapes \\ and \n in names so marked
                name = name.replace("\\n", "\n").replace("\\\\", "\\")
            found.append(name)
    return found


def _lists(args: tuple[Word, ...]) -> list[Word]:
    """The check lists of a command with -c/--check (static operands other than `-`)."""
    check = False
    operands: list[Word] = []
    done = False
    for word in args:
        value = word.value
        if value is None:
            continue  # a dynamic operand is read-checked as a word already
        if not done and value == "--":
            done = True
        elif not done and value.startswith("--"):
            name = value.partition("=")[0]
            check = check or (len(name) > 2 and "--check".startswith(name))
        elif not done and value.startswith("-") and value != "-":
            check = check or "c" in value[1:]
        elif value != "-":
            operands.append(word)
    return operands if check else []
