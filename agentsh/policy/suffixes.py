"""Files a program names by gluing an option's value to another name: a suffix or prefix.

The operand checks see `secr` and `ets/key`, not the `secrets/key` gzip opens:

- gzip, xz and their aliases with `-S SUFFIX`: a name that does not exist is tried with the
  suffix (`zcat -f -S ets/key secr` printed secrets/key), and compressing writes
  NAME+SUFFIX;
- `sed -i SUFFIX` keeps a backup of each file it edits: NAME+SUFFIX, or, when the suffix
  has a `*`, the suffix with each `*` replaced by the file's base name (`sed -i'.git/hooks/*'
  -n p pre-commit` planted .git/hooks/pre-commit);
- patch's backups: `-B PREFIX` (PREFIX+NAME), `-Y PREFIX` (PREFIX+base name, in the file's
  directory) and `-z SUFFIX` (NAME+SUFFIX) (`patch -b -B .git/hooks/ -i fix.patch` planted a
  hook).  The names patch edits are in the patch, so a stand-in name (`FILE`) marks where
  the prefix puts them;
- `gunzip -N` writes under the name in the archive's header, beside the archive (`gunzip -Nf
  .git/x.gz` with `config` there overwrote .git/config): a name known only at run time;
- `cp --parents SOURCE... DEST` copies each source to DEST/SOURCE (`cp --parents
  hooks/pre-commit .git` planted .git/hooks/pre-commit).

cp, mv and ln refuse a backup suffix with a `/` themselves.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from ..parse import Word
from .moves import transfer
from .optvalues import option_values
from .paths import PathChecker
from .writes import write_targets

COMPRESSORS = frozenset({"gzip", "gunzip", "zcat", "xz", "unxz", "xzcat", "lzma", "unlzma", "lzcat"})
PROGRAMS = COMPRESSORS | {"sed", "gsed", "patch", "cp"}
# patch's backup options, and what each does with the name
_PATCH_PREFIX = ("-B", "--prefix")
_PATCH_BASENAME_PREFIX = ("-Y", "--basename-prefix")
_PATCH_SUFFIX = ("-z", "--suffix")
# The option words a program's suffix or prefix options are spelled with, for a quick look.
_QUICK = {"sed": frozenset("i"), "gsed": frozenset("i"), "patch": frozenset("BYz"), "cp": frozenset(),
          **dict.fromkeys(COMPRESSORS, frozenset("S")), "gzip": frozenset("SN"), "gunzip": frozenset("SN")}
# Stands for a file the patch names: only the patch knows which.
_PATCHED = "FILE"


def problem(program: str, args: tuple[Word, ...], cwds: Iterable[str], paths: PathChecker,
            reals: dict[str, str] | None = None) -> str:
    """The first name `derived` gives that the read or write roots refuse; '' if none."""
    if not may_hold(program, args):
        return ""  # the common case: no word can be one of the options read here
    reads, writes = derived(program, args)
    for word in reads:
        found = paths.check_read_word(word, cwds, reals)
        if found:
            return f"{word.shown()} (a name it makes by gluing words together): {found}"
    for word in writes:
        found = paths.check_write_word(word, cwds, reals)
        if found:
            return found if word.value is None else f"{word.shown()} (a name it makes by gluing words together): {found}"
    return ""


def derived(program: str, args: tuple[Word, ...]) -> tuple[list[Word], list[Word]]:
    """(names read, names written) that `program` makes from its options' values and its
    operands.  A value known only at run time is a write to a place only known then."""
    if not may_hold(program, args):
        return [], []
    if program in COMPRESSORS:
        return _compressor(program, args)
    if program == "patch":
        return [], _patch(args)
    if program == "cp":
        return [], _parents(args)
    return [], _sed(program, args)


def may_hold(program: str, args: tuple[Word, ...]) -> bool:
    """A quick look: can any word be one of the options read here?"""
    letters = _QUICK[program]
    for word in args:
        value = word.value
        if value is None or (value[:1] == "-" and (value[1:2] == "-" or not letters.isdisjoint(value))):
            return True
    return False


def _compressor(program: str, args: tuple[Word, ...]) -> tuple[list[Word], list[Word]]:
    taking = "FCTM" if program.startswith(("xz", "unxz", "lzma", "unlzma", "lzcat")) else ""
    suffixes = option_values(args, "S", ("--suffix",), taking)
    restored = _restored_name(program, args)
    if not suffixes:
        return [], restored
    values = {id(s) for s in suffixes}
    operands = [w for w in args if id(w) not in values and (w.value is None or not w.value.startswith("-"))]
    written = {id(w) for w in write_targets(program, args)}
    reads: list[Word] = []
    writes: list[Word] = []
    for suffix in suffixes:
        for operand in operands:
            name = _glued(operand, suffix)
            reads.append(name)
            if id(operand) in written:  # compressing writes NAME+SUFFIX beside NAME
                writes.append(name)
    return reads, writes + restored


def _restored_name(program: str, args: tuple[Word, ...]) -> list[Word]:
    """`gunzip -N` names what it writes after the name in the archive's header, beside the
    archive: `gunzip -Nf .git/x.gz` with `config` in x.gz's header overwrote .git/config.
    That name is only in the archive, so the write is one known only at run time."""
    if program not in ("gzip", "gunzip"):
        return []  # zcat writes to stdout; xz keeps no name
    decompress = program == "gunzip"
    name = False
    for word in args:
        value = word.value or ""
        if value == "--":
            break
        if value.startswith("--"):
            option = value.partition("=")[0]
            name = name or (len(option) > 3 and "--name".startswith(option))
            decompress = decompress or (len(option) > 3 and ("--decompress".startswith(option)
                                                             or "--uncompress".startswith(option)))
        elif value[:1] == "-":
            letters = value[1:].partition("S")[0]  # -S takes the rest of the word
            name = name or "N" in letters
            decompress = decompress or "d" in letters
    if not (name and decompress and write_targets(program, args)):
        return []  # compressing only stores the name; with -c, -l or -t nothing is written
    return [Word("the name in the archive's header (-N)", None, "archive")]


def _sed(program: str, args: tuple[Word, ...]) -> list[Word]:
    suffixes: list[Word] = []
    for word in args:
        value = word.value
        if value is None:
            continue
        name, eq, rest = value.partition("=")
        if value.startswith("--") and eq and len(name) > 2 and "--in-place".startswith(name):
            suffixes.append(Word(word.text, rest))
        elif value[:1] == "-" and value[1:2] != "-":
            for at, letter in enumerate(value[1:], start=2):
                if letter in "efl":
                    break  # takes the rest (or the next word) as its value
                if letter == "i":
                    if at < len(value):
                        suffixes.append(Word(word.text, value[at:]))
                    break
    if not suffixes:
        return []
    edited = write_targets(program, args)
    backups: list[Word] = []
    for suffix in suffixes:
        for target in edited:
            if suffix.value is None or target.value is None:
                backups.append(Word(suffix.text, None, "backup name"))
            elif "*" in suffix.value:
                # The `*`s become the file's base name; checked from here and from the file's
                # directory, whichever sed takes it from.
                named = suffix.value.replace("*", os.path.basename(target.value))
                backups.append(Word(suffix.text, named))
                backups.append(Word(suffix.text, os.path.join(os.path.dirname(target.value), named)))
            else:
                backups.append(_glued(target, suffix))
    return backups


def _patch(args: tuple[Word, ...]) -> list[Word]:
    takes = "DFiopVgrd"  # patch's other letters that take a value
    backups: list[Word] = []
    for word in option_values(args, "BY", (*_PATCH_PREFIX[1:], *_PATCH_BASENAME_PREFIX[1:]), takes + "z"):
        backups.append(Word(word.text, None if word.value is None else word.value + _PATCHED, "backup name"))
    for word in option_values(args, "z", _PATCH_SUFFIX[1:], takes + "BY"):
        backups.append(Word(word.text, None if word.value is None else _PATCHED + word.value, "backup name"))
    return backups


def _parents(args: tuple[Word, ...]) -> list[Word]:
    """cp --parents (any prefix from `--pa`): each source lands at DEST/SOURCE, its whole path."""
    if not any(len(name) > 3 and "--parents".startswith(name)
               for name in ((w.value or "").partition("=")[0] for w in args)):
        return []
    moved = transfer("cp", args)
    if moved is None or moved[1] is None:
        return []
    sources, destination = moved[0], moved[1]
    return [_glued(destination, Word(f"/{s.text}", None if s.value is None else "/" + s.value.lstrip("/")))
            for s in sources]


def _glued(name: Word, suffix: Word) -> Word:
    if name.value is None or suffix.value is None:
        return Word(f"{name.text}{suffix.text}", None, "a name glued at run time")
    return Word(f"{name.text}{suffix.text}", name.value + suffix.value)
