"""What `mv`, `cp` and `ln` move, copy and link, and where an extraction's members land.

writes.py reads a program's options the way getopt does; this module puts that reading to
the questions the engine and madelinks.py ask about transfers: the sources and destination of
`mv`/`cp` (a moved directory takes what is below it along), the symbolic links `ln -s`/`cp -s`
make, existing links `mv`/`cp -a`/`ln` put at a new place, and the directories `tar -x` and
`unzip` extract below.
"""

from __future__ import annotations

import os

from ..parse import Word
from .writes import UNZIP_NO_WRITE, read_options

# What `mv` or `cp` moves or copies, and where to: (sources, destination (the directory after
# -t, else the last operand), recursive (cp -r/-R/-a: directories with what is below them),
# contents (-T: the single source becomes the destination itself)).  A plain tuple: a
# NamedTuple's annotations cost import time on every `agentsh -c` (tests/test_startup_imports.py).
Transfer = tuple[list[Word], Word | None, bool, bool]


def transfer(program: str, args: tuple[Word, ...]) -> Transfer | None:
    """mv's or cp's operands, read as for their write targets; None for other programs."""
    if program not in ("mv", "cp"):
        return None
    directories, operands, seen, _, _, dangling = read_options(program, args)
    recursive = _recursive(seen)
    contents = "-T" in seen or any(len(given) > 4 and "--no-target-directory".startswith(given) for given in seen)
    if directories and not dangling:  # -t DIR: every operand is a source
        return operands, directories[-1], recursive, contents
    return operands[:-1], (operands[-1] if operands else None), recursive, contents


# The symbolic links `ln -s` or `cp -s` makes: (their targets as written, the places they are
# made in, each a word and whether the link's directory is that word's parent (the word names
# the link) rather than the word itself (a directory the link is made in), whether cp makes a
# tree of links for each directory (-r)).  A plain tuple, as Transfer.
Symlinks = tuple[list[Word], list[tuple[Word, bool]], bool]
# The programs that make symbolic links themselves (the engine asks about no other).
LINKERS = frozenset({"ln", "cp", "mv"})
_SYMBOLIC = {"ln": "--symbolic", "cp": "--symbolic-link"}


def symlinks(program: str, args: tuple[Word, ...]) -> Symlinks | None:
    """What `ln -s`/`cp -s` link to and where; None when the command makes no symbolic link.

    `-s` counts in every spelling getopt takes (`-sf`, `-snf`, `-st DIR`, `--sym`; `--s`,
    which getopt finds ambiguous, too).  Whether the last operand names the link or a
    directory to make it in is known only when the command runs (an earlier command of the
    line may make that directory), so both places are given unless `-t DIR` says which.
    `-T` and `ln -r` are not read: they only narrow what both places cover (ln -r takes a
    target from the working directory, where every operand is read-checked anyway)."""
    if program not in _SYMBOLIC or not any(_may_say_symbolic(word.value) for word in args):
        return None  # every cp pays only this look, not a second reading of its options
    directories, operands, seen, _, _, dangling = read_options(program, args)
    symbolic = _SYMBOLIC[program]
    if "-s" not in seen and not any(given.startswith("--s") and symbolic.startswith(given) for given in seen):
        return None
    return (*_sources_and_places(directories, operands, dangling), program == "cp" and _recursive(seen))


def relinks(program: str, args: tuple[Word, ...]) -> tuple[list[Word], list[tuple[Word, bool]]] | None:
    """The sources of a command that puts files at new places as they are, a symbolic link as
    a link, and the places (as in symlinks()): mv always; cp with -P, -d, -a or -r/-R, unless
    -L or -H; ln without -s (a hard link to a link is a link: GNU ln's default -P), unless -L.
    A relative link leads elsewhere from its new place.  Which sources are links, the engine
    asks the disk."""
    if program not in LINKERS:
        return None
    directories, operands, seen, _, _, dangling = read_options(program, args)
    follows = "-L" in seen or any(len(given) > 4 and "--dereference".startswith(given) for given in seen)
    if program == "cp":
        keeps_links = _recursive(seen) or bool(seen & {"-P", "-d"}) or any(
            len(given) > 4 and "--no-dereference".startswith(given) for given in seen)
        if not keeps_links or follows or "-H" in seen:
            return None
    elif program == "ln" and (follows or any(len(given) > 3 and "--logical".startswith(given) for given in seen)):
        return None
    if len(operands) < 2 and program != "ln" and not (directories and not dangling):
        return None  # `mv X`, `cp -a X`: no destination, nothing moved (`ln X` links ./X)
    return _sources_and_places(directories, operands, dangling)


def _sources_and_places(directories: list[Word], operands: list[Word],
                        dangling: bool) -> tuple[list[Word], list[tuple[Word, bool]]]:
    """What ln, cp or mv puts at a new place, and where: each place a word and whether the
    new name's directory is that word's parent (the word names the new file) rather than the
    word itself (a directory to put it in).  Which one the last operand is, only the run
    knows (an earlier command of the line may make that directory), so both, unless -t DIR
    says; with one operand, `ln` makes its link here."""
    if directories and not dangling:  # -t DIR
        return operands, [(directories[-1], False)]
    if len(operands) < 2:
        return operands, [(Word(".", "."), False)]
    last = operands[-1]
    return operands[:-1], [(last, False), (last, True)]


def extraction_words(program: str, args: tuple[Word, ...]) -> list[tuple[Word, list[Word] | None]]:
    """For `tar -x` and `unzip`: each archive, with the directories its members may land below
    (`-C DIR`, `-d DIR`, else `.`; with several, every place tar_places gives: a member is
    checked below each, as which -C comes before which member is not worth the cases); None
    for too many `-C`s to follow."""
    if program not in ("tar", "unzip"):
        return []
    targets, operands, seen, archives, _, _ = read_options(program, args)
    if program == "tar":
        if not seen & {"-x", "--extract", "--get"}:
            return []
        given = [t.value for t in targets if t not in archives and t.value is not None]  # dynamic: refused apart
        places = tar_places([""], given)
        directories = None if places is None else [Word(p, p) for p in places[1:]] or [Word(".", ".")]
        # no -f: GNU tar reads the archive from standard input (`tar -x < a.tar`, `... | tar -x`)
        return [(archive, directories) for archive in archives or [Word("-", "-")]]
    if seen & set(UNZIP_NO_WRITE) or not operands:
        return []
    return [(operands[0], targets or [Word(".", ".")])]


# More `-C`s than this (with tar's other output options' values) are refused, not followed.
MAX_TAR_DIRECTORIES = 4


def tar_places(bases: list[str], directories: list[str]) -> list[str] | None:
    """Every directory tar may be in, from each base, bases first; None for more than
    MAX_TAR_DIRECTORIES directories (too many places to check).

    Each -C is relative to the one before it (`-C .git -C hooks` is .git/hooks). The
    values read_options gives as tar's output targets also hold those of `-g`,
    `--index-file` and `--volno-file`, which do not move tar, so every in-order selection
    of them counts: one of them is the real chain."""
    if len(directories) > MAX_TAR_DIRECTORIES:
        return None
    places = list(bases)
    for directory in directories:
        places += [os.path.join(place, directory) for place in places]
    return list(dict.fromkeys(places))


def tar_directories(args: tuple[Word, ...]) -> tuple[list[Word], list[Word]]:
    """tar's `-C DIR`s (and, over-read, its other output option values but the archive) and
    its operands; no directories when no -C is given."""
    targets, operands, seen, archives, _, _ = read_options("tar", args)
    if not seen & {"-C", "--directory"}:
        return [], operands
    return [t for t in targets if t not in archives], operands


def _may_say_symbolic(value: str | None) -> bool:
    """Can this word be, or hold in its cluster, `-s` or `--s...`?"""
    return value is not None and value[:1] == "-" and (value[:3] == "--s" or ("s" in value and value[1:2] != "-"))


def _recursive(seen: set[str]) -> bool:
    """cp -r/-R/-a (or --recursive, --archive, abbreviated): directories with what is below them."""
    return bool(seen & {"-r", "-R", "-a"}) or any(
        len(given) > 3 and ("--recursive".startswith(given) or "--archive".startswith(given)) for given in seen)
