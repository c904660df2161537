"""git's own names for files, which the generic read check takes for plain file names.

- A pathspec can start with magic: `:/secrets/key` and `:(top)secrets/key` name a path
  from the top of the work tree, wherever git runs (`cd src && git add ':/secrets/key'`
  added a denied file); `:(icase)` and `:(attr:...)` match paths no check can list.
- A pathspec is a pattern unless it is literal: `git add 'secr*/key'` (quoted, so bash
  leaves it alone) matches `secrets/key`.
- An object name `REV:PATH` or `:PATH` (`:N:PATH` for a merge stage) reads PATH as the
  commit or the index holds it: `git show HEAD:secrets/key` prints the committed file.

Each such word is checked as the path or glob it names.  A pattern's `*` also matches `/`
in git, so `'*key'` reaches below the directory it is written in, like `git add .` does:
that stays with the recursive readers (docs/security-model.md).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from ..parse import Word
from .githazards import git_subcommand
from .paths import PathChecker

PROGRAMS = ("git",)
_GLOB = frozenset("*?[")
_SHORT_MAGIC = {"/": "top", "!": "exclude", "^": "exclude"}
_FOLLOWED = frozenset({"top", "literal", "glob", "exclude"})
_STAGE = re.compile(r":[0-3]:")


def names_nothing(args: tuple[Word, ...]) -> bool:
    """No word holds pathspec magic, a pattern or an object path: `problem` answers ''."""
    for word in args:
        value = word.value
        if value is not None and (":" in value or "*" in value or "?" in value or "[" in value):
            return False
    return True


def problem(_program: str, args: tuple[Word, ...], cwds: Iterable[str], paths: PathChecker,
            reals: dict[str, str] | None = None) -> str:
    """Why one of git's words names a denied path as a pathspec or an object name ('' if none)."""
    if names_nothing(args):
        return ""  # the common git line: no magic, no pattern, no object path
    sub = git_subcommand(args)
    if sub is None:
        return ""  # no subcommand, or a dynamic word before it: refused as a hazard
    literal_all = any(w.value == "--literal-pathspecs" for w in args[:sub])
    cwds = list(cwds)
    for word in args[sub + 1:]:
        value = word.value
        if value is None:
            continue
        if value[:1] == "-":
            # An option's value can be an object name too: `--blob=HEAD:x`, `-L1,2:x`,
            # `-L:func:x`.  The value is read as an object name (never as a plain name).
            value = value.partition("=")[2] if value[:2] == "--" else value[2:]
            if ":" not in value:
                continue
            problem_ = _object_name_problem(word, value, cwds, paths, reals)
        else:
            problem_ = _word_problem(word, value, literal_all, cwds, paths, reals)
        if problem_:
            return problem_
    return ""


def _word_problem(word: Word, value: str, literal_all: bool, cwds: list[str], paths: PathChecker,
                  reals: dict[str, str] | None) -> str:
    """A pathspec or object name git reads a file by ('' if it names none that is denied)."""
    if value[:1] == ":":
        found = _magic(value)
        if found is None:
            return f"{word.text}: git pathspec magic that the read check cannot follow"
        magic, rest = found
        if "exclude" in magic:
            return ""  # only narrows what the other pathspecs match
        unknown = magic - _FOLLOWED
        if unknown:
            return (f"{word.text}: git pathspec magic {', '.join(sorted(unknown))} matches paths the read "
                    "check cannot list")
        pattern = "glob" in magic or ("literal" not in magic and not literal_all)
        return _check(word, rest, pattern, _from_top(rest, cwds), paths, reals) or \
            _object_name_problem(word, value, cwds, paths, reals)
    if ":" in value:
        return _object_name_problem(word, value, cwds, paths, reals)
    if not literal_all and not _GLOB.isdisjoint(value):
        return _check(word, value, True, cwds, paths, reals)
    return ""  # a plain name: the generic check has read it already


def _object_name_problem(word: Word, value: str, cwds: list[str], paths: PathChecker,
                         reals: dict[str, str] | None) -> str:
    """REV:PATH (and `-L START,END:PATH`, `-L:FUNC:PATH`): PATH from the top of the work tree, or
    from here if it starts with ./ or ../.  The path is after the first colon, or the last."""
    for rest in dict.fromkeys((value.split(":", 1)[1], value.rsplit(":", 1)[1])):
        found = _check(word, rest, False, _from_top(rest, cwds), paths, reals)
        if found:
            return found
    return ""


def _check(word: Word, rest: str, pattern: bool, bases: list[str], paths: PathChecker,
           reals: dict[str, str] | None) -> str:
    if not rest:
        return ""
    if pattern and not _GLOB.isdisjoint(rest):
        found = paths.check_read_word(Word(rest, None, "glob"), bases, reals)
    else:
        found = paths.check_read_word(Word(rest, rest), bases, reals)
    return f"{word.text} (a git path): {found}" if found else ""


def _magic(value: str) -> tuple[frozenset[str], str] | None:
    """A `:`-word's pathspec magic and the rest (None: magic git would refuse or not read so).

    `:(top,icase)x` is long magic; `:/x`, `:!x`, `:^x` short magic, optionally closed by
    `:`; `:N:x` a merge stage of the index (an object name, read as a path from the top)."""
    if _STAGE.match(value):
        return frozenset({"top", "literal"}), value[3:]
    if value.startswith(":("):
        close = value.find(")")
        if close < 0:
            return None
        words = {w.strip().split(":", 1)[0] for w in value[2:close].split(",") if w.strip()}
        return frozenset(words), value[close + 1:]
    magic: set[str] = set()
    i = 1
    while i < len(value) and value[i] in _SHORT_MAGIC:
        magic.add(_SHORT_MAGIC[value[i]])
        i += 1
    if i < len(value) and value[i] == ":":
        i += 1
    # `:path` with no magic is the index's copy of path (`git show :secrets/key`): from the top
    return frozenset(magic or {"top", "literal"}), value[i:]


def _from_top(rest: str, cwds: list[str]) -> list[str]:
    """Where a path from the top of the work tree is resolved from, for each cwd."""
    if rest.startswith(("./", "../")):
        return cwds
    return list(dict.fromkeys(work_tree_top(cwd) or cwd for cwd in cwds))


def work_tree_top(cwd: str) -> str:
    """The nearest directory at or above cwd holding `.git`; '' if none."""
    path = cwd
    for _ in range(64):
        if os.path.lexists(os.path.join(path, ".git")):
            return path
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return ""
