"""What the linker (ld, also as the driver hands it words through `-Wl,` and `-Xlinker`)
and the assembler (as) write: their outputs, maps, listings and the files their other options
name (compilers.py reads the drivers' own options and hands these on)."""

from __future__ import annotations

import re

from ..parse import Word


def value_of(option: Word, following: Word | None) -> Word:
    """The value of an option that takes the next word.  With none in the words read, the
    value is the next word the program is handed: after `-Wl,-Map` the driver hands ld its next
    linker word or input (`cc -Wl,-Map ../x.o` overwrote ../x.o with the map), so the place is
    only known at run time."""
    if following is not None:
        return following
    return Word(f"{option.text} (the next word the program is handed)", None, "option value")


# ld's long options (one dash or two, any unambiguous prefix: getopt_long_only) whose value is
# a file it writes: the output, the link map, a dependency file, PE's import library and .def,
# and lld's reproduce archive, saved temporaries and reports.
_LD_WRITE = ("output", "Map", "dependency-file", "out-implib", "output-def", "pdb", "reproduce",
             "why-extract", "print-archive-stats", "lto-obj-path", "thinlto-cache-dir",
             "save-temps", "print-symbol-counts", "print-symbol-order", "time-trace-file",
             "thinlto-index-only", "separate-debug-file")
# Long options of ld starting with `o` that are no output (`-oformat`): not `-o` glued.
_LD_O_OTHERS = ("oformat", "orphan-handling")
# Long options of ld starting with `T` that set a section's address and name no linker script.
_LD_T_ADDRESSES = frozenset({"Ttext", "Tdata", "Tbss", "Ttext-segment", "Trodata-segment", "Tldata-segment"})


def _names_script(name: str) -> bool:
    """Does ld's option `name` (its dashes taken off) give a linker script: -T FILE, -TFILE,
    -dT, --script and --default-script, abbreviated as getopt_long_only takes them (-sc)?
    A script's OUTPUT(FILE) is the output when no -o is given (-o wins in bfd; gold has no
    OUTPUT): `ld -T evil.ld a.o` with OUTPUT(.git/hooks/pre-commit) wrote the hook."""
    if name[:1] == "T":
        return name not in _LD_T_ADDRESSES
    return name[:2] == "dT" or (len(name) >= 2 and "script".startswith(name)) or \
        (len(name) >= 3 and "default-script".startswith(name))


# ld's and as's options that print and write nothing (else, without -o, they write a.out here).
_INFO = frozenset({"--version", "-v", "-V", "-version", "--help", "-help", "--target-help"})


def linker_targets(args: tuple[Word, ...], default: bool, given_output: bool = False) -> list[Word]:
    """What ld writes, given its words (`default`: a.out in the working directory without -o;
    `given_output`: the driver that hands them on has its -o)."""
    targets: list[Word] = []
    output = save_temps = False
    script: Word | None = None
    i = 0
    while i < len(args):
        word = args[i]
        value = word.value
        following = args[i + 1] if i + 1 < len(args) else None
        i += 1
        if value is None:
            if word.why_dynamic != "glob" or word.prefix[:1] == "-":
                targets.append(Word(word.text, None, "option value"))  # may be `-Map=...`
            continue
        if value[:1] != "-" or value == "-":
            continue
        name, eq, rest = value.lstrip("-").partition("=")
        if _names_script(name):
            script = word
        if len(name) > len("plugin") and "plugin-opt".startswith(name):
            # gcc's linker plugin writes its symbol resolution to -plugin-opt=-fresolution=FILE
            given = rest if eq else (following.value or "" if following is not None else "")
            if given.startswith("-fresolution="):
                targets.append(Word(word.text, given.partition("=")[2]))
            i += 0 if eq else 1
            continue
        long_name = next((o for o in _LD_WRITE if len(name) >= 2 and o.startswith(name)), None)
        if long_name is None and value[:2] != "--" and value.startswith("-o") and \
                not (len(name) > 1 and any(o.startswith(name) for o in _LD_O_OTHERS)):
            # -o FILE, -oFILE
            output = True
            if value == "-o":
                targets.append(value_of(word, following))
                i += 1
            else:
                targets.append(Word(word.text, value[2:]))
            continue
        if long_name is None:
            continue
        output = output or long_name == "output"
        if long_name == "save-temps":
            save_temps = True
        elif eq:
            targets.append(Word(word.text, rest))
        else:
            targets.append(value_of(word, following))
            i += 1
    if default and not output and not _INFO.intersection(w.value for w in args):
        targets.append(Word(".", "."))
    if script is not None and not output and not given_output:
        targets.append(Word(f"{script.text} (a linker script's OUTPUT() names the output: give -o)", None,
                            "option value"))
    if save_temps:
        # lld's temporaries are the output's name with more after it (`-o ../proj` names the
        # workspace, ../proj.lto.o is outside): checked with a stand-in end
        targets.extend([Word(".", ".")] + [Word(t.text, t.value + ".x") for t in targets if t.value])
    return targets


# -- the assembler ---------------------------------------------------------------------------


def assembler_targets(args: tuple[Word, ...], default: bool) -> list[Word]:
    """What as writes: -o FILE, the listing of -a[cdghlmns]=FILE, the dependency file of --MD FILE."""
    targets: list[Word] = []
    output = False
    i = 0
    while i < len(args):
        word = args[i]
        value = word.value
        following = args[i + 1] if i + 1 < len(args) else None
        i += 1
        if value is None:
            if word.why_dynamic != "glob" or word.prefix[:1] == "-":
                targets.append(Word(word.text, None, "option value"))
            continue
        if value == "-o" or value in ("--MD", "-MD"):
            output = output or value == "-o"
            targets.append(value_of(word, following))
            i += 1
        elif value.startswith("-o"):
            output = True
            targets.append(Word(word.text, value[2:]))
        elif value.startswith(("--MD=", "-MD=")):
            targets.append(Word(word.text, value.partition("=")[2]))
        elif re.fullmatch(r"-a[a-z]*=.*", value):
            targets.append(Word(word.text, value.partition("=")[2]))
    if default and not output and not _INFO.intersection(w.value for w in args):
        targets.append(Word(".", "."))
    return targets
