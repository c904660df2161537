"""Where tar reads the names it archives from: `-C DIR` changes tar's directory for every
name after it, so `tar -cf - -C ~ .ssh/id_rsa` reads ~/.ssh/id_rsa, while the operand check
resolved `.ssh/id_rsa` from the working directory (it printed the key in guardrail mode).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from ..parse import Word
from .moves import tar_directories
from .paths import PathChecker

# Each -C is relative to the one before it, so the directories a name may be read from
# multiply; a line with more than this many -C is refused rather than followed.
MAX_DIRECTORIES = 4


def read_problem(_program: str, args: tuple[Word, ...], cwds: Iterable[str], paths: PathChecker,
                 reals: dict[str, str] | None = None) -> str:
    """Each operand read-checked from every directory a `-C` may have put tar in (all of them
    for every operand: which -C comes before which name is not worth the cases)."""
    for i, word in enumerate(args):
        if _may_say_c(word.value, i):
            break
    else:
        return ""  # the common tar line: no word can be -C (a full reading costs a few µs)
    directories, operands = tar_directories(args)
    if not directories:
        return ""
    if len(directories) > MAX_DIRECTORIES:
        return f"tar changes directory more than {MAX_DIRECTORIES} times (-C): too many places to check"
    places = list(dict.fromkeys(cwds))
    for directory in directories:
        if directory.value is None:
            return f"tar reads names from {directory.text}, a directory only known at run time (-C)"
        places += [os.path.join(place, directory.value) for place in places]
    places = list(dict.fromkeys(places))
    for word in operands:
        problem = paths.check_read_word(word, places, reals)
        if problem:
            return f"{word.shown()} (tar -C): {problem}"
    return ""


def _may_say_c(value: str | None, index: int) -> bool:
    """Can this word be, or hold in a cluster, `-C` or `--directory` (or tar's dashless first
    word with a C)?"""
    if value is None:
        return False  # a dynamic word is refused as a write target or read-checked as one
    if value[:2] == "--":
        return value[2:3] in ("d", "")  # --directory (abbreviated), or `--` itself
    return "C" in value and (value[:1] == "-" or index == 0)
