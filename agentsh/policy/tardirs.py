"""Where tar reads the names it archives from: `-C DIR` changes tar's directory for every
name after it, so `tar -cf - -C ~ .ssh/id_rsa` reads ~/.ssh/id_rsa, while the operand check
resolved `.ssh/id_rsa` from the working directory (it printed the key in guardrail mode).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..parse import Word
from .moves import MAX_TAR_DIRECTORIES, tar_directories, tar_places
from .paths import PathChecker


def read_problem(_program: str, args: tuple[Word, ...], cwds: Iterable[str], paths: PathChecker,
                 reals: dict[str, str] | None = None) -> str:
    """Each operand read-checked from every directory a `-C` may have put tar in (moves.tar_places:
    all of them for every operand, as which -C comes before which name is not worth the cases)."""
    for i, word in enumerate(args):
        if _may_say_c(word.value, i):
            break
    else:
        return ""  # the common tar line: no word can be -C (a full reading costs a few µs)
    directories, operands = tar_directories(args)
    if not directories:
        return ""
    dynamic = next((d for d in directories if d.value is None), None)
    if dynamic is not None:
        return f"tar reads names from {dynamic.text}, a directory only known at run time (-C)"
    places = tar_places(list(dict.fromkeys(cwds)), [d.value for d in directories if d.value is not None])
    if places is None:
        return f"tar changes directory more than {MAX_TAR_DIRECTORIES} times (-C): too many places to check"
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
