"""Programs that change directory before they read their other arguments (`make -C DIR`,
`ruby -C DIR`, `go -C DIR`, `ninja -C DIR`), so their paths are checked from there, as for
`env -C`, `git -C` (scripts.git_directories) and `tar -C` (tardirs.py).

`make -C sub -C ../secrets -p -f .env` printed `secrets/.env` as make variables: each
-C was read-checked from the working directory alone, and `.env` too.  The options are
read as each program's parser reads them: clusters (`-pC DIR`), glued values (`-CDIR`),
long options and their abbreviations (`--dir=DIR`).
"""

from __future__ import annotations

from typing import NamedTuple

from ..parse import Word


class _Options(NamedTuple):
    values: str  # short options that take a value (the rest of the word, else the next word)
    optional: str  # short options whose value, if any, is the rest of the word
    chdir: str  # the short option that changes directory
    long_chdir: str  # its long form ('' if none)
    long_values: tuple[str, ...]  # other long options whose value may be the next word
    permute: bool = True  # options after operands count too (GNU getopt), until `--`
    first_only: bool = False  # `go -C DIR` must be go's first word


_MAKE = _Options("CEfIoW", "jlO", "C", "--directory",
                 ("--file", "--makefile", "--include-dir", "--old-file", "--assume-old", "--what-if",
                  "--new-file", "--assume-new", "--eval", "--jobs", "--load-average", "--output-sync"))
_PROGRAMS: dict[str, _Options] = {
    "make": _MAKE, "gmake": _MAKE,
    # ruby reads its own options; each takes a glued value or none, except these
    "ruby": _Options("CeEFIr", "0KTWxl", "C", "", ("--encoding",), permute=False),  # to the script name
    "ninja": _Options("dfjkltwC", "", "C", "", ()),
    "go": _Options("C", "", "C", "", (), permute=False, first_only=True),
}
PROGRAMS = frozenset(_PROGRAMS)


def directories(program: str, args: tuple[Word, ...]) -> list[Word]:
    """The directories the program changes to, in order (each relative to the one before)."""
    options = _PROGRAMS[program]
    found: list[Word] = []
    i = 0
    while i < len(args):
        word = args[i]
        value = word.value
        i += 1
        if value is None:
            if word.text[:1] == "-" or (word.prefix or "")[:1] == "-":
                found.append(Word(word.text, None, word.why_dynamic))  # an option and a value unknown
            continue
        if value == "--" or (not options.permute and (value[:1] != "-" or value == "-")):
            break
        if value[:1] != "-" or value == "-":
            continue
        if value[:2] == "--":
            name, eq, rest = value.partition("=")
            if options.long_chdir and len(name) > 3 and options.long_chdir.startswith(name):
                if eq:
                    found.append(Word(word.text, rest))
                elif i < len(args):
                    found.append(args[i])
                    i += 1
            elif not eq and any(long.startswith(name) for long in options.long_values if len(name) > 3):
                i += 1  # its value, the next word
            continue
        for at in range(1, len(value)):
            letter = value[at]
            if letter in options.values:
                rest = value[at + 1:]
                if not rest and i < len(args):
                    rest_word: Word | None = args[i]
                    i += 1
                else:
                    rest_word = Word(word.text, rest) if rest else None
                if letter == options.chdir and rest_word is not None:
                    found.append(rest_word)
                break
            if letter in options.optional:
                break
        if options.first_only:
            break
    return found
