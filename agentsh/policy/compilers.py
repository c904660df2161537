"""What the compiler drivers (gcc, cc, g++, c++, clang, clang++), the linker (ld) and the
assembler (as) write besides `-o FILE` (the linker's and the assembler's own options are read by
linkers.py; which options make them run or load a program the line does not show is
compiler_hazards.py).

The developer profile allows these with any arguments (make recipes run them), so every file or
directory they write must be a write target, checked against the write roots and `write.deny`:
dependency files (`-MF FILE`, `-MD` beside the output), dump and temporary files (`-fdump-*`,
`-save-temps`, `-dumpdir DIR`, `-dumpbase NAME`), the linker's map (`-Wl,-Map=FILE`,
`-Xlinker -Map -Xlinker FILE`), `-aux-info FILE`, profile data (`-fprofile-generate=DIR`) and
the rest below.  Files written *beside the output* (`-MD`, `-fstack-usage`, `-save-temps`,
`-gsplit-dwarf`, `-fdump-tree-all` without `=FILE`, ...) make the output's directory and the
working directory targets: that is where the compiler puts them (its "dump directory").
"""

from __future__ import annotations

import functools
import os
import re

from ..parse import Word
from .linkers import assembler_targets, linker_targets, value_of

# The names a driver, linker or assembler goes by, with a target triple before and a version
# after (`x86_64-linux-gnu-gcc-12`, which `cc` resolves to on Debian; `ld.bfd`, `ld.gold`).
_KINDS = (("driver", re.compile(r"(?:[\w.]+-)*(?:gcc|g\+\+|cc|c\+\+|clang|clang\+\+|c89|c99)(?:-[0-9][0-9.]*)?")),
          ("ld", re.compile(r"(?:[\w.]+-)*ld(?:\.\w+)?|ld\.lld|lld|ld64\.lld|mold")),
          ("as", re.compile(r"(?:[\w.]+-)*as(?:-[0-9][0-9.]*)?")))


def kind(program: str) -> str:
    """"driver", "ld", "as", or "" for a program that is none of these (asked for every
    command's write targets: the common case costs one `endswith`)."""
    if not program.endswith(("cc", "++", "clang", "c89", "c99", "ld", "mold", "as", "gold", "bfd")) and \
            not program[-1:].isdigit():
        return ""
    return _kind_by_pattern(program)


@functools.lru_cache(maxsize=256)
def _kind_by_pattern(program: str) -> str:
    for name, pattern in _KINDS:
        if pattern.fullmatch(program):
            return name
    return ""


# -- the driver --------------------------------------------------------------------------------

# Driver options whose value (the next word, or glued) is a file or directory it writes, or the
# start of the names of those it writes (`-dumpbase ../x` writes ../x.d, ../x.su, ...).
_WRITE_VALUE = ("-o", "-MF", "-MJ", "-aux-info", "-dumpdir", "-dumpbase", "-index-store-path",
                # clang's dependency file and graph, module dependency and compilation database dirs
                "-dependency-file", "-dependency-dot", "-module-dependency-dir", "-gen-cdb-fragment-path")
# Their long spellings (`--output=FILE`, `--output FILE`, abbreviated: fail closed), and clang's
# serialized diagnostics.
_WRITE_LONG = ("--output", "--output-pch", "--serialize-diagnostics")
# Options whose next word is a value that is no file written and no option (skipped).
_SKIP_VALUE = frozenset({"-MT", "-MQ", "-dumpbase-ext", "-x", "-I", "-L", "-D", "-U", "-include", "-imacros",
                         "-isystem", "-iquote", "-idirafter", "-iprefix", "-isysroot", "--param", "-T", "-u",
                         "-e", "-target", "-arch", "-Xclang"})
# `-fNAME=VALUE` options whose VALUE is a file or directory written (profile data is written by the
# built program when it runs, to this directory: a write all the same).
_F_WRITE = ("-fprofile-generate", "-fcs-profile-generate", "-fprofile-instr-generate", "-fprofile-dir",
            "-fprofile-note", "-fmodules-cache-path", "-fmodule-output", "-fcrash-diagnostics-dir",
            "-foptimization-record-file", "-ftime-trace", "-fltrans-output-list", "-fopt-info", "-fdump-",
            "-flto-incremental", "-fproc-stat-report")
# Options that make the driver write files beside its output (or in the working directory).
_BESIDE = ("-MD", "-MMD", "-write-dependencies", "-write-user-dependencies", "-save-temps", "-save-stats",
           "-fstack-usage", "-fcallgraph-info", "-fdump-", "-ftest-coverage", "-fprofile-arcs", "-fprofile-generate",
           "-fcs-profile-generate", "-fprofile-instr-generate", "-coverage", "-gsplit-dwarf", "-fcompare-debug",
           "-fsave-optimization-record", "-ftime-trace", "-fmodule", "-fdiagnostics-format",
           "-fdiagnostics-add-output", "-fdiagnostics-set-output", "-frepo")
# An unknown `-fNAME=VALUE` whose name says it may be a place written to is one (fail closed),
# unless the name says it is read or is no place.
_MAY_WRITE = re.compile(r"file|dir|output|dump|record|trace|path|generate|log|cache|note")
_READ_OR_NO_PLACE = re.compile(r"prefix-map|-use|list|module-file|module-map|compilation-dir|exclude|filter|"
                               r"sample|remapping|prebuilt|granularity|path-format|prefix-path|sanitize|plugin")
# Modes in which, without `-o`, the driver writes only to standard output (or nothing), as
# read here (`--version` is `-version` once its second dash is taken off; `-v` and `--help`
# with an input still compile it).
_NO_OUTPUT = frozenset({"-E", "-M", "-MM", "-fsyntax-only", "-###", "-version", "-dumpversion", "-dumpmachine",
                        "-dumpspecs", "-dumpfullversion"})
_STD_STREAMS = ("stdout", "stderr")


# gcc's long options that matter here (it takes `--write-d` for `--write-dependencies`: a
# word that starts one of these is read as it, fail closed; an ambiguous one gcc refuses).
_LONG = ("--output", "--output-pch", "--serialize-diagnostics", "--for-linker", "--for-assembler", "--prefix",
         "--write-dependencies", "--write-user-dependencies", "--save-temps", "--coverage", "--dumpdir",
         "--dumpbase", "--specs")


def long_name(value: str) -> str:
    """`--write-d` -> `--write-dependencies`, `--for-linker=X` as it is, anything else as it is."""
    if value[:2] != "--":
        return value
    name, eq, rest = value.partition("=")
    if len(name) < 4 or name in _LONG:
        return value
    full = next((o for o in _LONG if o.startswith(name)), None)
    return value if full is None else full + eq + rest


class _Reading:
    """What one reading of a driver's words found."""

    def __init__(self) -> None:
        self.targets: list[Word] = []
        self.output: Word | None = None  # -o's value
        self.dumpdir: Word | None = None  # -dumpdir's and -dumpbase's values
        self.dumpbase: Word | None = None
        self.beside = False  # writes files beside its output
        self.inputs = False
        self.no_output = False  # -E, -M, -fsyntax-only, ...
        self.script: Word | None = None  # -T SCRIPT, handed to the linker
        self.headers: list[Word] = []  # inputs compiled as headers (into NAME.gch beside them)
        self.language = ""  # the last -x LANGUAGE
        self.linker: list[tuple[int, Word]] = []  # (index of the driver word, linker argument)
        self.assembler: list[tuple[int, Word]] = []
        self.preprocessor: list[tuple[int, Word]] = []


def _split_commas(word: Word, start: int) -> list[Word]:
    """`-Wl,-Map,x.map` -> [-Map, x.map] (each a word of its own)."""
    assert word.value is not None
    return [Word(part, part) for part in word.value[start:].split(",") if part]


def read_driver(args: tuple[Word, ...], cpp: bool = False) -> _Reading:
    """Read a driver's words (or, with `cpp`, those handed to its preprocessor by -Wp, where
    `-MD FILE` and `-MMD FILE` take a value)."""
    found = _Reading()
    i = 0
    while i < len(args):
        word = args[i]
        value = word.value
        following = args[i + 1] if i + 1 < len(args) else None
        i += 1
        if value is None:
            # The hazard check refuses a dynamic word that may be an option, except the value
            # of a literal `-opt=` (`-DV=$(git describe)`); here: is that option a writing one?
            if word.prefix[:1] == "-" and _dynamic_writes(word.prefix):
                found.targets.append(Word(word.text, None, "option value"))
            elif word.prefix[:1] != "-":
                found.inputs = True
                if _is_header(word.text, found.language):
                    found.headers.append(Word(word.text, None, "option value"))
            continue
        if value[:1] != "-" or value == "-":
            found.inputs = found.inputs or value[:1] != "@"
            if value[:1] != "@" and value != "-" and _is_header(value, found.language):
                found.headers.append(Word(word.text, value + ".gch"))
            continue
        value = long_name(value)
        name, eq, rest = value.partition("=")
        if name in ("--for-linker", "--for-assembler"):
            # -Xlinker's and -Xassembler's long names, with the value glued after `=` too
            into = found.linker if name == "--for-linker" else found.assembler
            given = Word(word.text, rest) if eq else following
            if given is not None:
                into.append((i - 1, given))
            i += 0 if eq else 1
            continue
        if name.startswith("--") and len(name) >= 4 and any(o.startswith(name) or name == o for o in _WRITE_LONG):
            # --output=FILE, --output FILE, --output-pch=FILE and their abbreviations
            given = Word(word.text, rest) if eq else following
            if given is not None:
                found.targets.append(given)
                if "--output".startswith(name):
                    found.output = given  # -o's long name: no a.out in the working directory
            i += 0 if eq else 1
            continue
        if value.startswith("--") and not value.startswith("---"):
            value = value[1:]  # gcc takes `--save-temps`, `--coverage`, `--dumpdir` as their one-dash forms
            name, eq, rest = value.partition("=")
        if value in _NO_OUTPUT:
            found.no_output = True
        if value.startswith("-T"):
            found.script = word  # -T SCRIPT and -TSCRIPT go to the linker as they are
        if value.startswith("-x"):
            found.language = value[2:] or (following.value or "header?" if following is not None else "")
        if value in _SKIP_VALUE:
            i += 1
            continue
        if value.startswith(("-Wl,", "-Wa,", "-Wp,")):
            into = {"l": found.linker, "a": found.assembler, "p": found.preprocessor}[value[2]]
            into.extend((i - 1, part) for part in _split_commas(word, 4))
            continue
        if value in ("-Xlinker", "-Xassembler", "-Xpreprocessor"):
            if following is not None:
                into = {"-Xlinker": found.linker, "-Xassembler": found.assembler}.get(value, found.preprocessor)
                into.append((i - 1, following))
                i += 1
            continue
        if cpp and value in ("-MD", "-MMD"):
            found.targets.append(value_of(word, following))
            i += 1
            continue
        written = next((o for o in _WRITE_VALUE if value.startswith(o)), None)
        if written is not None and not value.startswith("-dumpbase-ext"):
            if value == written:
                found.targets.append(value_of(word, following))
                i += 1
            else:
                glued = value[len(written):]
                if written not in ("-o", "-MF") and glued[:1] == "=":
                    glued = glued[1:]  # -aux-info=FILE
                found.targets.append(Word(word.text, glued))
            if written == "-o":
                found.output = found.targets[-1]
            elif written == "-dumpdir":
                found.dumpdir = found.targets[-1]
            elif written == "-dumpbase":
                found.dumpbase = found.targets[-1]
            continue
        if value.startswith(_BESIDE):
            found.beside = True
        if value.startswith("-f") and eq:
            found.targets.extend(_f_value_targets(word, name, rest))
    return found


# What gcc compiles as a header, by name (without -x) or by -x's language
_HEADER_SUFFIXES = (".h", ".hh", ".H", ".hp", ".hxx", ".hpp", ".HPP", ".h++", ".tcc", ".cuh")


def _is_header(name: str, language: str) -> bool:
    """Is an input `name` compiled as a header (a precompiled one written beside it), given the
    last `-x LANGUAGE` (`none`, or no -x: by the name's suffix)?"""
    if language and language != "none":
        return "header" in language or language.endswith("?")
    return name.endswith(_HEADER_SUFFIXES)


def _f_value_targets(word: Word, name: str, rest: str) -> list[Word]:
    """The place an `-fNAME=VALUE` option writes to, if it names one."""
    if name.startswith("-fdiagnostics-") and name.endswith("-output"):
        # -fdiagnostics-add-output=sarif:file=PATH,...: the file= key names the file
        return [Word(word.text, part[5:]) for part in re.split(r"[,:]", rest) if part.startswith("file=")]
    if name.startswith("-fdump-"):
        return [] if rest in _STD_STREAMS else [Word(word.text, rest)]
    if _READ_OR_NO_PLACE.search(name):
        return []
    if name.startswith(_F_WRITE):
        return [] if rest in _STD_STREAMS else [Word(word.text, rest)]
    if _MAY_WRITE.search(name):
        return [Word(word.text, rest)]  # an option not known here that may name a place it writes
    return []


def _dynamic_writes(prefix: str) -> bool:
    """May a word that starts with `prefix` (and goes on with an expansion) name a place written?"""
    name = prefix.partition("=")[0]
    if name.startswith("--") and "=" in prefix:
        return len(name) >= 4 and any(o.startswith(name) for o in _WRITE_LONG)  # `--output=$f`, not `--sysroot=$d`
    if prefix.startswith(("-Wl,", "-Wa,", "-Wp,", *_WRITE_VALUE)):
        return True
    if name.startswith("-f") and "=" in prefix:
        return bool(_f_value_targets(Word(prefix, prefix), name, "x"))
    return "=" not in prefix  # `-f$x`: the option itself is only known at run time


def _driver_targets(args: tuple[Word, ...]) -> list[Word]:
    found = read_driver(args)
    targets = found.targets
    if found.preprocessor:
        inner = read_driver(tuple(w for _, w in found.preprocessor), cpp=True)
        targets.extend(inner.targets)
        found.beside = found.beside or inner.beside
    linked = tuple(w for _, w in found.linker) + ((found.script,) if found.script is not None else ())
    if linked:
        targets.extend(linker_targets(linked, default=False, given_output=found.output is not None))
    if found.assembler:
        targets.extend(assembler_targets(tuple(w for _, w in found.assembler), default=False))
    here = Word(".", ".")
    # -dumpdir and -dumpbase are the starts of names, not names: `-dumpdir ../proj` writes
    # ../proja.i, `-dumpbase ../proj` writes ../proj.su, and a -dumpbase with no directory is put
    # after -dumpdir (`-dumpdir .git/ -dumpbase hooks`).  Each is checked with a stand-in end.
    starts = [w.value for w in (found.dumpdir, found.dumpbase) if w is not None and w.value is not None]
    if found.dumpdir is not None and found.dumpbase is not None and len(starts) == 2 and "/" not in starts[1]:
        starts.append(starts[0] + starts[1])
    targets.extend(Word(start + "x", start + "x") for start in starts if not start.endswith("/"))
    if found.output is None and found.inputs and not found.no_output:
        targets.append(here)  # a.out, X.o, X.s in the working directory
        # but a header is compiled to NAME.gch beside it (`gcc ../other/h.h` wrote ../other/h.h.gch)
        targets.extend(found.headers)
    if found.beside:
        targets.append(here)
        if found.output is not None and found.output.value is not None:
            beside = os.path.dirname(found.output.value)
            if beside:
                targets.append(Word(found.output.text, beside))
    return targets


# -- the linker ------------------------------------------------------------------------------


def write_targets(program: str, args: tuple[Word, ...]) -> list[Word]:
    """Every file or directory the driver, linker or assembler `program` writes, as far as the
    line shows ([] for any other program)."""
    found = kind(program)
    if found == "driver":
        return _driver_targets(args)
    if found == "ld":
        return linker_targets(args, default=True)
    if found == "as":
        return assembler_targets(args, default=True)
    return []


# -- what makes them run another program ----------------------------------------------------------
