"""Which options make a compiler driver (gcc, cc, g++, c++, clang, clang++), the linker (ld)
or the assembler (as) run or load a program the line does not show, beyond those
hazard_table lists.  What they write is compilers.py, which also reads the words a driver
hands on to the linker and the assembler (`-Wl,`, `-Xlinker`)."""

from __future__ import annotations

import re

from ..parse import Word
from .compilers import kind, long_name, read_driver

# The names hazard_specs gives this check to (a resolved name is looked up without its version).
HAZARD_NAMES = ("gcc", "g++", "cc", "c++", "c89", "c99", "clang", "clang++", "ld", "as", "ar", "nm", "ranlib")
# binutils that load a plugin with `--plugin PATH` (getopt_long: any prefix, `--plug`), as
# gcc's gcc-ar, gcc-nm and gcc-ranlib have them load its LTO plugin.
PLUGIN_TAKERS = frozenset({"ar", "nm", "ranlib"})
_RUNS = "makes the compiler run the program it names"
_LOADS = "makes the compiler or linker load a library or plugin"
_FRONT_END = "hands clang's front end an option that loads a plugin or writes a file not checked here"
_FRONT_END_HAZARD = re.compile(r"\$|load|plugin|file|dir|log|output|dump|path|stats|trace|^-o|^-M")
# A module mapper file names where each compiled module interface is written (`x ../../y.gcm`).
_MAPPER = ("names in a file where the compiler writes module interfaces, which the write roots cannot check "
           "(leave it out: gcm.cache/ in the working directory is checked)")
_RESPONSE = ("reads more arguments (options and file names) from the file after @, where the read roots "
             "cannot check them (name them in the line instead)")


# ld's options (one dash or two, abbreviated) that load a plugin (bfd and gold's -plugin, lld's
# pass plugins) or run a script when the link fails (bfd's --error-handling-script).
_LD_HAZARDS = ("plugin", "load-pass-plugin", "error-handling-script")


# Where the toolchains keep the linker plugins they hand ld themselves (gcc's collect2 runs
# `ld -plugin /usr/lib/gcc/.../liblto_plugin.so -plugin-opt=/usr/lib/gcc/.../lto-wrapper ...`
# on every link, which the exec guard decides too): no write root is below these.
_TOOLCHAIN_DIRS = ("/usr/lib/gcc/", "/usr/libexec/gcc/", "/usr/lib64/gcc/", "/usr/lib/bfd-plugins/",
                   "/usr/lib/llvm-", "/usr/lib64/llvm")


def _toolchain_file(path: str | None) -> bool:
    return path is not None and path.startswith(_TOOLCHAIN_DIRS) and not {"..", "."} & set(path.split("/"))


def _linker_hazards(args: list[tuple[int, Word]]) -> list[tuple[int, str, str]]:
    found = []
    for at, (index, word) in enumerate(args):
        value = word.value or ""
        name, eq, rest = value.lstrip("-").partition("=")
        given = rest if eq else (args[at + 1][1].value if at + 1 < len(args) else None)
        if value[:1] != "-" or len(name) < 3:
            if value[:1] == "@":
                found.append((index, value, _RESPONSE))
            continue
        if "plugin-opt".startswith(name) and len(name) > len("plugin"):
            # gcc's plugin runs the first option that is no option (its lto-wrapper)
            if given is None or (given[:1] != "-" and not _toolchain_file(given)):
                found.append((index, value, f"{value} {_RUNS}"))
        elif any(o.startswith(name) for o in _LD_HAZARDS) and not (name[0] == "p" and _toolchain_file(given)):
            found.append((index, value, f"{value} {_RUNS if name[0] == 'e' else _LOADS}"))
    return found


def _plugin_hazards(args: tuple[Word, ...]) -> list[tuple[int, str, str]]:
    """ar's, nm's and ranlib's `--plugin PATH` outside the toolchain's own directories
    (`ar --plug ./x.so t lib.a` ran x.so's code)."""
    found = []
    for index, word in enumerate(args):
        value = word.value or ""
        if value == "--":
            break
        name, eq, rest = value[2:].partition("=")
        if value[:2] != "--" or not name or not "plugin".startswith(name):
            continue
        given = rest if eq else (args[index + 1].value if index + 1 < len(args) else None)
        if not _toolchain_file(given):
            found.append((index, value, f"--plugin {_LOADS}"))
    return found


def hazards(program: str, args: tuple[Word, ...]) -> list[tuple[int, str, str]]:
    """(index of the word, the option, why) for each option that makes the driver, the linker or
    the assembler run or load a program the line does not show, beyond those hazard_table lists
    (-wrapper, -B, -fplugin, -specs, @FILE): -B's long name `--prefix`, a linker by path
    (`-fuse-ld=/x`, `--ld-path=`),
    a pass plugin, a module mapper program (`-fmodule-mapper=|cmd`), a clang plugin through
    `-Xclang -load`, another toolchain's programs, and the linker's own plugins, error script
    and response files handed through `-Wl,` and `-Xlinker`."""
    if program in PLUGIN_TAKERS:
        return _plugin_hazards(args)
    found_kind = kind(program)
    if found_kind == "ld":
        return _linker_hazards(list(enumerate(args)))
    if found_kind != "driver":
        return []
    found: list[tuple[int, str, str]] = []
    for index, word in enumerate(args):
        value = long_name(word.value or "")
        if value.startswith("-B"):
            # -BDIR or -B DIR: the programs it runs (cc1, as, collect2, ld) from DIR; only at
            # the word's start (a driver has no clusters: `-DX=B` and `-Iinc/B` are no -B)
            found.append((index, word.value or "", f"-B {_RUNS}"))
            continue
        if value.startswith("--prefix"):
            # gcc's long name of -B: the programs it runs (cc1, as, collect2, ld) from DIR
            found.append((index, word.value or "", f"--prefix {_RUNS}"))
            continue
        value = value.replace("--", "-", 1) if value[:2] == "--" else value
        name, _, rest = value.partition("=")
        if (name == "-fuse-ld" and "/" in rest) or name in ("-ld-path", "-gcc-toolchain", "-gcc-install-dir",
                                                               "-ccc-install-dir", "-ccc-gcc-name") or \
                (name == "-fmodule-mapper" and "|" in rest):
            found.append((index, word.value or "", f"{name} {_RUNS}"))
        elif name == "-fmodule-mapper":
            found.append((index, word.value or "", f"{name} {_MAPPER}"))
        elif name == "-fpass-plugin":
            found.append((index, word.value or "", f"{name} {_LOADS}"))
        elif value == "-Xclang" and index + 1 < len(args) and _FRONT_END_HAZARD.search(args[index + 1].value or "$"):
            # -Xclang hands the next word to clang's front end, whose options are not read
            # here: one that loads a plugin or names a file it writes is refused
            found.append((index, value, f"-Xclang {args[index + 1].value} {_FRONT_END}"))
    reading = read_driver(args)
    found.extend(_linker_hazards(reading.linker))
    # the assembler's and the preprocessor's (cc1's) own response files (`-Wp,@opts` with
    # `-MD .git/hooks/pre-commit` in opts wrote the hook)
    found.extend((i, w.value or "", _RESPONSE) for i, w in (*reading.assembler, *reading.preprocessor)
                 if (w.value or "")[:1] == "@")
    return found
