"""A removal that takes a denied root along with the directory above it.

The write check compares each target with the denied roots, but removing a directory removes
what is below it: `rm -rf .git` took `.git/hooks` (write.deny) with it, and once it was gone
the line could put it back where no check looks.  `cp -r .git g && echo ... > g/hooks/pre-commit
&& rm -rf .git && mv g .git && git commit` ran the planted hook in guardrail mode: the check
took `mv g .git` for a move into the existing `.git` (to .git/g).  So a recursive removal
(`rm -r`, `find -delete`, `find -exec rm ... {}`) of a directory that holds a denied root is
refused, as moving one is (paths.move_problem).

`find . -name __pycache__ -exec rm -rf {} +` and `find . -name '*.pyc' -delete` stay allowed:
find removes only what its expression selected, and a `-name PATTERN` that every file it acts
on must match (a plain conjunction before the action) and that matches no name on the way
from the start point down to the denied root (`.`, `.git`, `hooks`) cannot select the root or
a directory holding it.  What is below the root has names no check knows, so a file in it
may still be selected (`find . -name pre-commit -delete`): removing it plants nothing, and
the root itself stays, denied.
"""

from __future__ import annotations

import os
from fnmatch import fnmatchcase

from ..parse import Word
from .globs import glob_may_name, glob_parts
from .paths import PathChecker
from .realpaths import resolve
from .rules import find_exec_spans
from .writes import find_options_end, find_start_points

# How engine._exec_args marks the start points it puts where find's `-exec rm` has `{}`: the
# find is judged by find_problem here, not by rm's own recursive removal of its start point.
FIND_START = "a start point of find, for the {} of its -exec"
# find's operators: with any of them a -name test no longer binds every file an action sees
_OPERATORS = frozenset({"-o", "-or", ",", "!", "-not", "(", ")"})
_REMOVERS = frozenset({"rm", "rmdir"})


def rm_recursive(args: tuple[Word, ...]) -> bool:
    """Does `rm ARGS` remove directories with what is below them (-r, -R, --recursive, as
    GNU rm takes options anywhere before `--`, long ones by any unique prefix)?"""
    for word in args:
        value = word.value
        if value is None:
            return True  # could be -r (a dynamic operand is refused as a write target anyway)
        if value == "--":
            return False
        if value.startswith("--"):
            if len(value) >= 3 and "--recursive".startswith(value):
                return True
        elif value.startswith("-") and ("r" in value or "R" in value):
            return True
    return False


def rm_problem(_program: str, args: tuple[Word, ...], cwds: list[str], paths: PathChecker,
               reals: dict[str, str] | None) -> str:
    """`rm -r DIR` where DIR holds a denied root (find's start points excepted: find_problem),
    or a glob that may name such a directory (`rm -rf .?it`: the write check matched the glob
    against the denied roots' own names only)."""
    if not rm_recursive(args):
        return ""
    for word in args:
        if word.value is None and word.why_dynamic == "glob":
            problem = _glob_holds(word, cwds, paths, reals)
        elif word.value is None or word.why_dynamic == FIND_START or word.value.startswith("-") or not word.value:
            continue  # (an option; a word known only at run time is refused as a write target)
        else:
            problem = next((p for cwd in cwds if (p := _holds(resolve(word.value, cwd, reals), paths, word.text))), "")
        if problem:
            return problem
    return ""


def _glob_holds(word: Word, cwds: list[str], paths: PathChecker, reals: dict[str, str] | None) -> str:
    found = glob_parts(word.text, paths.home)
    if found is None:
        return ""  # quotes or expansions in a glob: refused as a write target known at run time
    directory, pattern = found
    for cwd in cwds:
        base = resolve(directory, cwd, reals)
        for root in paths.held_roots(base):
            names = root[len(base.rstrip("/")) + 1:].split("/")
            # a pattern as deep as a directory holding the root (or `**`, any depth) may name it
            if any((len(pattern) == k or "**" in pattern) and glob_may_name(pattern, names[:k])
                   for k in range(1, len(names))):
                return f"removes {word.text}, which can name a directory holding the denied root {root}"
    return ""


# Archivers that remove what they archive: `tar --remove-files` (any unique prefix of it) and
# `zip -m`/`--move`.  Their operands are read through -C, -T, `-@` and recursion, so where a
# removal lands is not followed: refused, the line can archive and then `rm` what it names.
_TAR_REMOVE = "--remove-files"


def archive_removal_problem(program: str, args: tuple[Word, ...], _cwds: list[str], _paths: PathChecker,
                            _reals: dict[str, str] | None) -> str:
    for word in args:
        value = word.value or ""
        if program == "tar" and len(value) >= 5 and _TAR_REMOVE.startswith(value):
            return f"tar {value} removes the files it archives (archive them, then remove them with rm)"
        if program == "zip" and (value in ("--move", "--mo", "--mov") or (
                value.startswith("-") and not value.startswith("--") and "m" in value)):
            return f"zip {value} removes the files it archives (archive them, then remove them with rm)"
    return ""


def cmake_problem(_program: str, args: tuple[Word, ...], cwds: list[str], paths: PathChecker,
                  reals: dict[str, str] | None) -> str:
    """`cmake -E remove_directory DIR...` and `cmake -E rm -r DIR...`, as `rm -r` (`cmake -E
    remove_directory .git` took .git/hooks along as `rm -rf .git` did)."""
    values = [w.value for w in args]
    at = values.index("-E") if "-E" in values else -1
    if at < 0 or at + 1 >= len(args):
        return ""
    tool, rest = values[at + 1], args[at + 2:]
    if tool == "remove_directory" or tool is None:
        return rm_problem("rm", (Word("-r", "-r"), *rest), cwds, paths, reals)
    return rm_problem("rm", rest, cwds, paths, reals) if tool == "rm" else ""


def _holds(path: str, paths: PathChecker, text: str) -> str:
    roots = paths.held_roots(path)
    return f"removes {text} ({path}), which holds the denied root {roots[0]}" if roots else ""


def find_problem(_program: str, args: tuple[Word, ...], cwds: list[str], paths: PathChecker,
                 reals: dict[str, str] | None) -> str:
    """find's `-delete`, or `-exec rm ... {}` / `-exec rmdir ... {}`, below a start point that
    holds a denied root: refused unless a `-name` every acted-on file must match names nothing
    on the way from the start point to that root (see the module's text)."""
    spans = find_exec_spans(args)
    inside = {i for first, end in spans for i in range(first, end + 1)}
    actions = [i for i, w in enumerate(args) if w.value == "-delete" and i not in inside]
    actions += [first for first, end in spans
                if args[first].value == "-exec" and first + 1 < end and args[first + 1].value in _REMOVERS
                and any(w.value == "{}" for w in args[first + 2:end])]
    if not actions:
        return ""
    expression = find_options_end(args)
    while expression < len(args) and (args[expression].value or "-")[:1] not in "-(!" \
            and args[expression].value != ")":
        expression += 1  # past the start points (a word known at run time ends them: nothing excludes)
    points = [w for w in find_start_points(args) if w.value is not None]
    for word in points:
        for cwd in cwds:
            top = resolve(word.value or ".", cwd, reals)
            for root in paths.held_roots(top):
                names = {os.path.basename((word.value or ".").rstrip("/")) or "/", os.path.basename(top) or "/",
                         *root[len(top.rstrip("/")) + 1:].split("/")}
                for action in actions:
                    if not _name_excludes(args, expression, action, inside, names):
                        what = "-delete" if args[action].value == "-delete" else f"-exec {args[action + 1].value}"
                        return (f"find {word.text} {what} may remove {root}, a denied root below its start point "
                                "(a -name that matches none of " + ", ".join(sorted(names)) + " would keep it out)")
    return ""


def _name_excludes(args: tuple[Word, ...], first: int, action: int, inside: set[int], names: set[str]) -> bool:
    """Does the expression before args[action], a plain conjunction, hold a -name or -iname
    whose pattern matches none of `names`?  Patterns with `[` or `\\` are not read (find's
    classes and escapes are not Python's), nor is anything with an operator."""
    found = False
    for i in range(first, action):
        if i in inside:
            continue  # another -exec's words are its command's, not tests
        value = args[i].value
        if value is None or value in _OPERATORS:
            return False
        if value in ("-name", "-iname") and i + 1 < action:
            pattern = args[i + 1].value
            if pattern is None or "[" in pattern or "\\" in pattern:
                continue
            fold = value == "-iname"
            if not any(fnmatchcase(n.lower() if fold else n, pattern.lower() if fold else pattern) for n in names):
                found = True
    return found
