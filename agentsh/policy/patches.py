"""The files a patch names, read from the patch file when the line is checked.

patch and `git apply` read, write, create, delete and rename the files a patch names, not
the ones the line names: `patch -p0 -o - -i r.patch` with r.patch adding a line to
secrets/key printed it, `git apply mv.patch && cat leak` with a rename from secrets/key to
leak did, and a patch creating .git/hooks/pre-commit planted a hook.  When the patch is a
file the line names (`patch -i FILE`, `patch ORIG FILE`, `git apply FILE...`), each name in
it is a read and a write target from where it applies.  A patch on standard input, one an
earlier command of the line writes, or one over MAX_PATCH_BYTES is not looked into
(docs/security-model.md says so), as archives are not (archives.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from ..parse import Word
from .paths import PathChecker

MAX_PATCH_BYTES = 8 << 20
MAX_NAMES = 10000
# Header lines that name a file: `diff --git a/X b/Y` is read apart (two names in one line).
_NAMED = re.compile(r"^(?:--- |\+\+\+ |\*\*\* |Index: |rename from |rename to |copy from |copy to )(.+)$",
                    re.MULTILINE)
_GIT_HEADER = re.compile(r"^diff --git (.+)$", re.MULTILINE)
_CONTEXT_HUNK = re.compile(r"^[0-9]+(?:,[0-9]+)? (?:\*\*\*\*|----)$")  # `*** 1,3 ****`, `--- 1,3 ----`: context hunks
# patch's options that take a value (so the value is no operand), as getopt reads them
_PATCH_VALUES = "BDFVYgiopdrz"
_PATCH_LONG_VALUES = ("--prefix", "--ifdef", "--fuzz", "--version-control", "--basename-prefix", "--get",
                      "--input", "--output", "--strip", "--directory", "--reject-file", "--suffix",
                      "--quoting-style", "--reject-format", "--read-only")
_GIT_APPLY_VALUES = ("-p", "-C", "--directory", "--include", "--exclude", "--whitespace",
                     "--build-fake-ancestor")
# git's own options before the subcommand that take the next word
_GIT_GLOBAL_VALUES = ("-C", "-c", "--git-dir", "--work-tree", "--namespace", "--config-env")


def problem(program: str, args: tuple[Word, ...], cwds: Iterable[str], paths: PathChecker,
            reals: dict[str, str] | None = None) -> str:
    """The first name in a patch the line applies that the read or write roots refuse."""
    found = _patch_files(args) if program == "patch" else _git_apply_files(args)
    if found is None:
        return ""
    files, strip, directory = found
    cwds = list(cwds)
    # git applies a patch's names from the top of the working tree
    bases = cwds + [top for top in map(_work_tree_top, cwds) if top] if program == "git" else cwds
    for patch_file in files:
        if patch_file.value is None:
            continue  # a dynamic operand is read-checked (and its name fragment-checked) already
        for cwd in cwds:
            names = patch_names(os.path.join(cwd, patch_file.value))
            if not names:
                continue
            places = [os.path.join(base, directory) if directory else base for base in bases]
            for name in names:
                for stripped in _stripped(name, strip):
                    word = Word(stripped, stripped)
                    trouble = paths.check_read_word(word, places, reals) or \
                        paths.check_write_word(word, places, reals)
                    if trouble:
                        return f"{patch_file.shown()} patches {stripped}: {trouble}"
    return ""


def _work_tree_top(cwd: str) -> str:
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


def patch_names(path: str) -> list[str]:
    """The file names a patch file's headers give (as written, `a/`... included); [] when it
    is not read here (missing, not a regular file, too big)."""
    try:
        with open(path, "rb") as stream:
            if not os.path.isfile(path) or os.fstat(stream.fileno()).st_size > MAX_PATCH_BYTES:
                return []
            text = stream.read(MAX_PATCH_BYTES).decode("utf-8", "replace")
    except (OSError, ValueError):
        return []
    names: list[str] = []
    for match in _NAMED.finditer(text):
        name = match.group(1).split("\t")[0].rstrip("\r")
        if not _CONTEXT_HUNK.match(name):
            names.append(_unquoted(name))
    for match in _GIT_HEADER.finditer(text):
        names.extend(_git_header_names(match.group(1)))
    return [name for name in dict.fromkeys(names) if name and name != "/dev/null"][:MAX_NAMES]


def _git_header_names(rest: str) -> list[str]:
    """`a/X b/Y` (each possibly quoted): both, and, since names may hold spaces, every split."""
    if rest.startswith('"'):
        quoted = re.findall(r'"((?:[^"\\]|\\.)*)"', rest)
        return [_unquoted(f'"{q}"') for q in quoted] + [part for part in rest.split(" ") if part]
    parts = rest.split(" ")
    return [" ".join(parts[:i]) for i in range(1, len(parts))] + [" ".join(parts[i:]) for i in range(1, len(parts))]


def _unquoted(name: str) -> str:
    """git's C-style quoting (`"a/\\303\\251"`) undone; other names as they are."""
    if len(name) < 2 or name[0] != '"' or name[-1] != '"':
        return name
    try:
        return name[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape").encode(
            "latin-1").decode("utf-8", "replace")
    except (UnicodeError, ValueError):
        return name[1:-1]


def _stripped(name: str, strip: int | None) -> list[str]:
    """The name after patch's -p: exactly `strip` leading components when given, else every
    number of them (which one patch takes depends on the patch's format and its version)."""
    parts = [part for part in name.split("/") if part]
    if strip is not None:
        return ["/".join(parts[strip:])] if len(parts) > strip else []
    return list(dict.fromkeys("/".join(parts[i:]) for i in range(len(parts))))


def _patch_files(args: tuple[Word, ...]) -> tuple[list[Word], int | None, str] | None:
    """patch's patch file (`-i FILE`, or the second operand), its -p and its -d."""
    files: list[Word] = []
    operands: list[Word] = []
    strip: int | None = None
    directory = ""
    i = 0
    while i < len(args):
        word = args[i]
        value = word.value or ""
        i += 1
        if word.value is None or not value.startswith("-") or value == "-":
            operands.append(word)
            continue
        if value == "--":
            operands.extend(args[i:])
            break
        if value.startswith("--"):
            name, eq, rest = value.partition("=")
            full = next((o for o in _PATCH_LONG_VALUES if len(name) > 3 and o.startswith(name)), "")
            if full and not eq and i < len(args):
                rest, i = args[i].value or "", i + 1
            option = {"--input": "i", "--strip": "p", "--directory": "d"}.get(full, "")
        else:
            at = next((k for k, letter in enumerate(value[1:], start=1) if letter in _PATCH_VALUES), None)
            if at is None:
                continue
            option, rest = value[at], value[at + 1:]
            if not rest and i < len(args):
                rest, i = args[i].value or "", i + 1
            if option == "i":
                files.append(Word(word.text, rest))
        if option == "i" and value.startswith("--"):
            files.append(Word(word.text, rest))
        elif option == "p":
            strip = int(rest) if rest.isdigit() else None
        elif option == "d":
            directory = rest
    if len(operands) > 1:
        files.append(operands[1])
    return (files, strip, directory) if files else None


def _git_apply_files(args: tuple[Word, ...]) -> tuple[list[Word], int | None, str] | None:
    """`git apply`'s patch files, its -p (1 unless given) and where the names apply from:
    --directory below git's -C directory, from the top of the working tree (git takes the
    names from there; the engine checks them from the working directory too)."""
    for word in args:
        if word.value == "apply":
            break
    else:
        return None  # the common git line: no patch
    chdir = ""
    i = 0
    while i < len(args) and (args[i].value or "-").startswith("-") and args[i].value != "apply":
        if args[i].value in _GIT_GLOBAL_VALUES:
            if args[i].value == "-C" and i + 1 < len(args):
                chdir = os.path.join(chdir, args[i + 1].value or "")
            i += 1
        i += 1
    if i >= len(args) or args[i].value != "apply":
        return None  # `apply` is an operand of another subcommand (`git log apply`)
    files: list[Word] = []
    strip: int | None = 1
    directory = ""
    i += 1
    while i < len(args):
        word = args[i]
        value = word.value
        i += 1
        if value is None or not value.startswith("-") or value == "-":
            files.append(Word(word.text, None if value is None else os.path.join(chdir, value)))
            continue
        name, eq, rest = value.partition("=")
        if name in ("-p", "--directory") or value.startswith("-p"):
            if value.startswith("-p") and len(name) > 2:
                rest = value[2:]
            elif not eq and i < len(args):
                rest, i = args[i].value or "", i + 1
            if name == "--directory":
                directory = rest
            else:
                strip = int(rest) if rest.isdigit() else None
        elif name in _GIT_APPLY_VALUES and not eq:
            i += 1
    return (files, strip, os.path.join(chdir, directory) if chdir or directory else "") if files else None
