"""Which arguments a program writes to, as far as the line shows: operands of known writers
(`rm`, `cp DEST`, `gzip FILE`, `tar -x` into the working directory) and output options
(`-o FILE`, `--target-directory=DIR`), read the way getopt reads options.
"""

from __future__ import annotations

import os
import re

from ..parse import Word
from . import compilers
from .githazards import git_subcommand
from .rules import find_exec_spans
from .write_table import (
    CMAKE_E_WRITES,
    CMAKE_NOT_CONFIGURING,
    COMPRESS_NO_WRITE,
    COMPRESS_NO_WRITE_LETTERS,
    OUTPUT_LETTERS,
    OUTPUT_OPTIONS,
    TAR_READS_ARCHIVE,
    TAR_WRITES_ARCHIVE,
    UNZIP_NO_WRITE,
    VALUE_OPTIONS,
    WRITERS,
)

# A chmod mode may be written as an option (`chmod -w FILE`): then no operand is the mode.
_CHMOD_MODE_OPTION = re.compile(r"-[rwxXstugoa0-7=+,-]+")


# find's own options before its start points (GNU findutils): -H, -L, -P, `-D LIST`, -ON, `--`
_FIND_LEVEL = re.compile(r"-O[0-9]+")
# What a start point is checked as when find follows links below it: where they lead is known
# only to find (`find -L . -delete` deleted through a workspace link to a directory elsewhere).
_FOLLOWED = Word("the files find -L or -follow reaches through links", None, "links find follows")


# find's tests and actions that take the next word as their value: a word known only at run
# time there is no `-follow` (anywhere else it may be one)
_FIND_VALUED = frozenset({
    "-name", "-iname", "-path", "-ipath", "-wholename", "-iwholename", "-regex", "-iregex", "-lname",
    "-ilname", "-newer", "-anewer", "-cnewer", "-samefile", "-type", "-xtype", "-user", "-group", "-uid",
    "-gid", "-perm", "-size", "-mtime", "-mmin", "-atime", "-amin", "-ctime", "-cmin", "-used", "-links",
    "-inum", "-maxdepth", "-mindepth", "-fstype", "-context", "-printf", "-regextype"})


def _find_options(args: tuple[Word, ...]) -> tuple[int, str]:
    """Where find's own options end (-H, -L, -P, `-D LIST`, -ON and `--`, as findutils reads
    them before the start points), and the last of -H/-L/-P among them."""
    i, mode = 0, "-P"
    while i < len(args) and args[i].value is not None:
        value = args[i].value or ""
        if value in ("-H", "-L", "-P"):
            mode = value
            i += 1
        elif _FIND_LEVEL.fullmatch(value):
            i += 1
        elif value == "-D":
            i += 2
        else:
            return i + (value == "--"), mode
    return i, mode


def find_options_end(args: tuple[Word, ...]) -> int:
    """Where find's own options (-H, -L, -P, `-D LIST`, -ON, `--`) end."""
    return _find_options(args)[0]


def find_start_points(args: tuple[Word, ...]) -> list[Word]:
    """find's start points: the words after its own options and before its first expression
    (`.` if there are none).  The options were taken for the expression before, so `find -P
    /etc -delete` was checked as deleting in `.`."""
    points = []
    for word in args[_find_options(args)[0]:]:
        if word.value is None or word.value.startswith(("-", "(", "!")) or word.value in (")",):
            if word.value is None:
                points.append(word)  # unknown: checked (and refused) as a write target
            break
        points.append(word)
    return points or [Word(".", ".")]


def find_follows_links(args: tuple[Word, ...], execs: list[tuple[int, int]]) -> bool:
    """Does find follow symbolic links below its start points (`-L`, or `-follow` anywhere in
    its expression), or may it (a word known only at run time where a test could stand)?
    `execs`: the spans of its -exec commands, whose words are the command's."""
    start, mode = _find_options(args)
    start += len([w for w in find_start_points(args[start:]) if w.value is not None])
    for i in range(start, len(args)):
        if any(first < i <= end for first, end in execs):
            continue
        value = args[i].value
        if value == "-follow" or (value is None and args[i - 1].value not in _FIND_VALUED):
            return True
    return mode == "-L"


# xxd [options] [infile [outfile]]: its options that take a value, each with the rest of its
# one-dash long name (`-cols`, `-seek`).
_XXD_VALUES = {"-c": "ols", "-g": "roupsize", "-l": "en", "-s": "eek", "-o": "ffset", "-n": "ame", "-R": ""}
# Programs whose options are read one to a word: only `-oFILE` is read as an output option
# glued to its value.  (The compilers, which were here too, are read by compilers.py.)
_NO_CLUSTERS = frozenset({"tree", "cmake"})


def _long_option(name: str, outputs: tuple[str, ...], values: tuple[str, ...]) -> str:
    """"out", "value" or "" for `--name`: getopt takes any unambiguous prefix of a long option
    (`--outp` is `--output`), so a prefix of an output option counts as one (fail closed)."""
    if name in outputs:
        return "out"
    if name in values:
        return "value"
    if any(o.startswith(name) for o in outputs if o.startswith("--")):
        return "out"
    if any(o.startswith(name) for o in values if o.startswith("--")):
        return "value"
    return ""


def _no_output_option(program: str, args: tuple[Word, ...]) -> bool:
    """A quick look (the full reading below costs a few µs on every git command): can no
    word of the line be, or hold, one of the program's output options?"""
    shorts, longs = OUTPUT_LETTERS[program]
    for word in args:
        value = word.value
        if value == "--" and program not in VALUE_OPTIONS:
            return True  # the rest are operands (`--` is no option's value here), not written
        if value is None or (value[:2] == "--" and "\0" + value.partition("=")[0] in longs) \
                or (value[:1] == "-" and value[1:2] != "-" and not shorts.isdisjoint(value[1:])):
            return False
    return True


def _not_in_place(args: tuple[Word, ...]) -> bool:
    """A quick look for sed: no word can be `-i`, a cluster holding it, or `--in-place`.
    (`--` may be the value of `-e`, so it ends nothing here.)"""
    for word in args:
        value = word.value
        if value is None or (value[:1] == "-" and "i" in value):
            return False
    return True


def write_targets(program: str, args: tuple[Word, ...]) -> list[Word]:
    """The arguments `program` will write to, as far as the line shows.

    Options are read the way getopt reads them: clusters (`-rt DIR`, `-czf FILE`), values glued
    or in the next word, long options abbreviated, tar's old dashless first word (`czf FILE`).
    Where the program writes without naming the place (tar extracting, `ln -s TARGET`, `split
    FILE`, `patch`, `unzip`), the working directory `.` is a target."""
    if program == "git":
        return _git_targets(args) + _option_targets(program, args)
    if compilers.kind(program):
        # its -o and its dependency, map, dump, listing and profile files (compilers.py)
        return compilers.write_targets(program, args)
    return _option_targets(program, args)


def never_writes(program: str) -> bool:
    """Is write_targets(program, args) [] whatever the args?  True for most programs (ls, head,
    grep): no git, no compiler, neither in WRITERS nor in OUTPUT_OPTIONS (the two tables
    _option_targets reads first).  A pure function of the name and those constant tables,
    so it is remembered per name (bounded), and the engine skips the call altogether."""
    found = _NEVER_WRITES.get(program)
    if found is None:
        found = program != "git" and not compilers.kind(program) and WRITERS.get(program) is None \
            and not OUTPUT_OPTIONS.get(program, ())
        if len(_NEVER_WRITES) < 4096:
            _NEVER_WRITES[program] = found
    return found


_NEVER_WRITES: dict[str, bool] = {}


def git_writes_nothing(args: tuple[Word, ...]) -> bool:
    """write_targets("git", args) is [] (the quick looks _git_targets and _option_targets
    start with, in one call): no `mv`, no subcommand that creates a directory, and no word
    that can be one of git's output options."""
    values = [w.value for w in args]
    return "mv" not in values and _GIT_CREATES.keys().isdisjoint(values) and _no_output_option("git", args)


def _option_targets(program: str, args: tuple[Word, ...]) -> list[Word]:
    mode = WRITERS.get(program)
    options = OUTPUT_OPTIONS.get(program, ())
    if mode is None and not options:
        return []  # most programs: nothing below could add a target
    if mode is None and _no_output_option(program, args):
        return []  # only an output option could add a target here, and no word can be one
    if program == "time":
        args = _before_program(args)  # the program it runs has its own -o (`time sort -o f`)
    if mode == "in-place" and not options and _not_in_place(args):
        return []  # sed writes only with -i, and no option word holds an `i`
    targets, operands, seen, archives, in_place, _ = read_options(program, args)
    here = Word(".", ".")
    if mode in ("all", "patch"):
        targets.extend(operands)
    elif mode == "last" and not {"-t", "--target-directory"} & seen:  # with -t, operands are sources
        if len(operands) > 1:
            targets.append(operands[-1])
        elif program in ("ln", "split"):
            targets.append(here)  # `ln -s /x/y` links ./y; `split FILE` writes ./xaa ...
    elif mode == "after-first":
        mode_given = seen & {"--reference", "-MODE"}
        targets.extend(operands if mode_given else operands[1:])
    elif mode == "first" and operands:
        targets.append(operands[0])
    elif mode == "find-delete" and any(w.value == "-delete" for w in args):
        follows = find_follows_links(args, find_exec_spans(args))
        targets.extend([_FOLLOWED] if follows else find_start_points(args))
    elif mode == "in-place" and in_place:
        script_given = seen & {"-e", "--expression", "-f", "--file"}
        targets.extend(operands if script_given else operands[1:])
    elif mode == "compress":
        to_stdout = seen & {*COMPRESS_NO_WRITE, *("-" + c for c in COMPRESS_NO_WRITE_LETTERS)}
        if not to_stdout:
            targets.extend(operands)  # FILE.gz is written beside FILE, and FILE deleted
    elif mode == "mktemp":
        targets.extend(_mktemp_targets(operands, targets, seen))
    elif mode == "compile":
        if any(w.value is None or w.value == "--compile" or
               ((w.value or "")[:1] == "-" and (w.value or "")[1:2] != "-" and "C" in (w.value or "")) for w in args):
            targets.append(here)
    elif mode == "cmake-e":
        values = [w.value for w in args]
        at = values.index("-E") if "-E" in values else -1
        if 0 <= at < len(args) - 1 and (values[at + 1] in CMAKE_E_WRITES or values[at + 1] is None):
            targets.extend(args[at + 2:])
        elif at < 0 and not seen & CMAKE_NOT_CONFIGURING and not any(v is None or v.startswith("--help") for v in values):
            # configuring: the build tree is -B's (a target already), else the working directory
            # (`cd .. && cmake proj` wrote ../CMakeCache.txt); an operand that is a build tree
            # already is configured again in place, which is not looked for (`cmake ..` from a
            # build directory names the source)
            if "-B" not in seen:
                targets.append(here)
    if program == "patch" and not seen & {"-d", "--directory"}:
        targets.append(here)  # the files the patch names, from here
    if program == "unzip" and not seen & {"-d", *UNZIP_NO_WRITE}:
        targets.append(here)
    if program == "tar" and archives and seen & TAR_READS_ARCHIVE and not seen & TAR_WRITES_ARCHIVE:
        targets = [t for t in targets if t not in archives]  # read: `tar -xzf ~/Downloads/x.tgz`
    if program == "ar":
        targets.extend(_ar_extract_targets(args, seen))
    if program == "tar" and seen & {"-x", "--extract", "--get"}:
        if seen & {"-P", "--absolute-names"}:
            # Members with absolute names or `..` land wherever they say: only the archive knows.
            targets.append(Word("the archive's member names (tar -P)", None, "archive"))
        if not seen & {"-C", "--directory"}:
            targets.append(here)
    return targets


def _ar_extract_targets(args: tuple[Word, ...], seen: set[str]) -> list[Word]:
    """Where `ar x` puts the members: the working directory, or --output DIR (a target of its
    own already), or, with the P modifier, the paths the archive stored (`ar rcP` keeps
    `.git/hooks/pre-commit` as it is: `ar xP lib.a` planted the hook)."""
    letters = ""
    skip = False
    for word in args:
        value = word.value
        if value is None:
            return [Word(word.text, None, "archive")]  # the operation itself may be x with P
        if skip:
            skip = False  # the value of `--target NAME`, `--plugin NAME`, `--output DIR`
        elif value.startswith("--"):
            skip = "=" not in value and value[2:3] in ("t", "p", "o")
        elif value.startswith("-") or not letters:
            letters += value.lstrip("-")  # `ar xP`, `ar -xP`, `ar -x -P`
            if not value.startswith("-"):
                break  # the operation, dashless; the archive and members follow
    if "x" not in letters:
        return []
    if "P" in letters:
        return [Word("the archive's member paths (ar xP)", None, "archive")]
    return [] if any(o.startswith("--o") for o in seen) else [Word(".", ".")]


def _before_program(args: tuple[Word, ...]) -> tuple[Word, ...]:
    """A wrapper's own words: those before the first operand (its values taken out)."""
    values = VALUE_OPTIONS.get("time", ()) + OUTPUT_OPTIONS["time"]
    i = 0
    while i < len(args) and (args[i].value or "").startswith("-") and args[i].value != "--":
        i += 2 if args[i].value in values else 1
    return args[:i]


# What getopt makes of a writer's words: (values of its output options (and dd's of=), its
# operands, the options given (long ones by their full name when known), tar's -f archives,
# sed's -i, whether the last word is an output option missing its value).  A plain tuple:
# see moves.Transfer.
_Reading = tuple[list[Word], list[Word], set[str], list[Word], bool, bool]


def read_options(program: str, args: tuple[Word, ...]) -> _Reading:
    """Read `args` the way getopt does for `program` (clusters, glued or separate values,
    abbreviated long options, tar's dashless first word)."""
    options = OUTPUT_OPTIONS.get(program, ())
    values = VALUE_OPTIONS.get(program, ())
    targets: list[Word] = []
    operands: list[Word] = []
    seen: set[str] = set()  # options given (long ones by their full name when known)
    archives: list[Word] = []  # tar's -f: written when tar creates or adds to it, else read
    in_place = False
    dangling = False
    after_dashdash = False
    i = 0

    def take(option: str, rest: str, word: Word) -> None:
        """An option with a value: `rest` glued to it, else the next word."""
        nonlocal i, dangling
        if rest:
            value: Word | None = Word(word.text, rest)
        elif i + 1 < len(args):
            i += 1
            value = args[i]
        else:
            value = None
            dangling = option in options
        if value is not None and option in options:
            targets.append(value)
            if option in ("-f", "--file") and program == "tar":
                archives.append(value)

    while i < len(args):
        word = args[i]
        value = word.value
        if program == "tar" and i == 0 and value and value[0] != "-" and value.isalpha():
            # Old-style tar: `czf ARCHIVE ...`, each letter that takes a value takes the next word.
            for letter in value:
                option = "-" + letter
                seen.add(option)
                if option in options or option in values:
                    take(option, "", word)
            i += 1
            continue
        if value is None and not after_dashdash and word.prefix[:1] == "-" and options \
                and _dynamic_output_option(word.prefix, options, values, program in _NO_CLUSTERS):
            # `--output=$HOME/.bashrc`, `-o"$f"`: the option is in the line, its value only known at
            # run time (the word was taken for an operand, and `sort --output=$HOME/.bashrc` and
            # `git diff --output=$HOME/...` wrote a start-up file and a hook in guardrail mode)
            targets.append(Word(word.text, None, "option value"))
            i += 1
            continue
        if value is not None and not after_dashdash and value.startswith("-") and value != "-":
            if value == "--":
                after_dashdash = True
            elif value.startswith("--"):
                name, eq, rest = value.partition("=")
                kind = _long_option(name, options, values)
                full = next((o for o in (*options, *values) if o.startswith(name)), name) if kind else name
                seen.add(full)
                if kind == "out":
                    if eq:
                        targets.append(Word(word.text, rest))
                    elif full != "--tmpdir":  # mktemp's value is optional: only with `=`
                        take(full, "", word)
                elif kind == "value" and not eq:
                    take(full, "", word)
            elif program == "xxd" and value[:2] in _XXD_VALUES:
                # xxd reads `-c8`, `-c 8` and `-cols 8` alike: the rest of the word is the value
                # unless it is the rest of the option's long name.
                rest = value[2:]
                take(value[:2], "" if rest in ("", _XXD_VALUES[value[:2]]) else rest, word)
            elif program in _NO_CLUSTERS:
                seen.add(value[:2])
                if value[:2] in options or value[:2] in values:
                    take(value[:2], value[2:], word)
            elif program == "chmod" and _CHMOD_MODE_OPTION.fullmatch(value):
                seen.add("-MODE")  # `chmod -w FILE`: the mode is this word, not an operand
            else:
                for at, letter in enumerate(value[1:], start=2):
                    option = "-" + letter
                    seen.add(option)
                    if program == "sed" and letter == "i":
                        in_place = True  # its value (a backup suffix) is optional: the rest
                        break
                    if option in options or option in values:
                        take(option, value[at:], word)
                        break
            if program == "sed" and len(value.partition("=")[0]) > 2 and \
                    "--in-place".startswith(value.partition("=")[0]):
                in_place = True  # getopt_long takes any prefix: `--in`, `--i=.bak` (no other starts so)
            i += 1
            continue
        if program == "dd" and value is not None and value.startswith("of="):
            targets.append(Word(word.text, value[3:]))
        operands.append(word)
        i += 1
    return targets, operands, seen, archives, in_place, dangling


def _dynamic_output_option(prefix: str, options: tuple[str, ...], values: tuple[str, ...], whole: bool) -> bool:
    """Can a word that starts with `prefix` and goes on with an expansion be, or hold, one of
    these output options?  A long name cut short by the expansion (`--out$x`) may still become
    one, and so may a lone `-$x`; letters before the expansion count as a cluster (`-uo$f`)."""
    if prefix.startswith("--"):
        name, eq, _ = prefix.partition("=")
        return _long_option(name, options, values) == "out" if eq else \
            any(o.startswith(name) for o in options if o.startswith("--"))
    if whole:  # one option per word: `-o$f` (a program without clusters)
        return prefix[:2] in options or len(prefix) < 2
    for letter in prefix[1:]:
        if "-" + letter in options:
            return True
        if "-" + letter in values:
            return False  # the rest of the word is that option's value
    return prefix == "-"


def _mktemp_targets(operands: list[Word], targets: list[Word], seen: set[str]) -> list[Word]:
    """mktemp's file: TEMPLATE under `-p DIR`/`--tmpdir=DIR` when given (already a target),
    under /tmp with a bare `--tmpdir` or `-t` (the profile's environment has no TMPDIR, and a
    line cannot set it), else TEMPLATE from the working directory."""
    if not operands:
        return []  # /tmp/tmp.XXXXXXXXXX, or under -p DIR, which is a target already
    template = operands[-1]
    if template.value is None:
        return [template]
    directory = targets[-1].value if targets else None
    if directory is None and seen & {"-t", "--tmpdir"}:
        directory = "/tmp"
    if directory is None:
        return [template]
    return [Word(template.text, os.path.join(directory, template.value))]


# git subcommands that create a directory named by an operand, and the options of theirs
# that take a value (so that value is no operand).
_GIT_CREATES = {"init": ("--template", "--separate-git-dir", "-b", "--initial-branch", "--object-format",
                         "--ref-format"),
                "worktree": ("-b", "-B", "--reason")}


def _git_targets(args: tuple[Word, ...]) -> list[Word]:
    """`git init DIR`, `git init --separate-git-dir=DIR` and `git worktree add PATH` create
    what they name; `git init` alone creates .git in the working directory; `git mv SRC...
    DEST` removes each source and writes DEST."""
    values = [w.value for w in args]  # two C-level membership tests below, not two generators
    if "mv" in values:
        sub = git_subcommand(args)
        if sub is not None and args[sub].value == "mv":
            # no write was checked here: `git mv README.md .git/hooks/post-checkout` planted a
            # hook and `git mv README.md link/x` wrote where the link leads (guardrail mode).
            # git mv's options take no value, so every other word is a path (all after `--`).
            rest = args[sub + 1:]
            end = next((i for i, w in enumerate(rest) if w.value == "--"), len(rest))
            return [w for w in rest[:end] if not (w.value or "").startswith("-")] + list(rest[end + 1:])
    if _GIT_CREATES.keys().isdisjoint(values):
        return []  # the common case: no subcommand that creates a directory
    sub = git_subcommand(args)  # after the global options and their values (`git -C x init DIR`)
    if sub is None or args[sub].value not in _GIT_CREATES:
        return []
    values = _GIT_CREATES[args[sub].value or ""]
    rest = list(args[sub + 1:])  # a dynamic operand is a target too: refused as only known at run time
    if args[sub].value == "worktree":
        if not rest or rest[0].value != "add":
            return []
        rest = rest[1:]
    targets: list[Word] = []
    operands: list[Word] = []
    i = 0
    while i < len(rest):
        value = rest[i].value or ""
        name, eq, given = value.partition("=")
        if value.startswith("-") and name in values:
            if name == "--separate-git-dir":
                targets.append(Word(rest[i].text, given) if eq else rest[min(i + 1, len(rest) - 1)])
            i += 1 if eq else 2
            continue
        if not value.startswith("-"):
            operands.append(rest[i])
        i += 1
    if args[sub].value == "init":
        return targets + (operands[:1] or [Word(".", ".")])
    return targets + operands[:1]
