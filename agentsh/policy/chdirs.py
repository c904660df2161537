"""Programs that change directory before they read their other arguments (`make -C DIR`,
`ruby -C DIR`, `go -C DIR`, `ninja -C DIR`), so their paths are checked from there, as for
`env -C`, `git -C` (githazards.git_directories) and `tar -C` (tardirs.py).

`make -C sub -C ../secrets -p -f .env` printed `secrets/.env` as make variables: each
-C was read-checked from the working directory alone, and `.env` too.  The options are
read as each program's parser reads them: clusters (`-pC DIR`), glued values (`-CDIR`),
long options and their abbreviations (`--dir=DIR`).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ..parse import Word
from .optvalues import option_values


class _Options(NamedTuple):
    values: str  # short options that take a value (the rest of the word, else the next word)
    optional: str  # short options whose value, if any, is the rest of the word
    long_chdir: tuple[str, ...]  # the long form of -C (none: ())
    long_values: tuple[str, ...]  # other long options whose value may be the next word
    permute: bool = True  # options after operands count too (GNU getopt), until `--`
    first_only: bool = False  # `go -C DIR` must be go's first word


_MAKE = _Options("EfIoW", "jlO", ("--directory",),
                 ("--file", "--makefile", "--include-dir", "--old-file", "--assume-old", "--what-if",
                  "--new-file", "--assume-new", "--eval", "--jobs", "--load-average", "--output-sync"))
_PROGRAMS: dict[str, _Options] = {
    "make": _MAKE, "gmake": _MAKE,
    # ruby reads its own options; each takes a glued value or none, except these
    "ruby": _Options("eEFIr", "0KTWxl", (), ("--encoding",), permute=False),  # to the script name
    "ninja": _Options("dfjkltw", "", (), ()),
    "go": _Options("", "", (), (), permute=False, first_only=True),
}
PROGRAMS = frozenset(_PROGRAMS)


def directories(program: str, args: tuple[Word, ...]) -> list[Word]:
    """The directories the program changes to (`-C DIR`), in order (each relative to the one
    before).  A dynamic word is not read: these programs run others, so one is refused."""
    options = _PROGRAMS[program]
    return option_values(args, "C", options.long_chdir, options.values, optional=options.optional,
                         longs_taking=options.long_values, permute=options.permute, first_only=options.first_only)


# A loop keyword, and the word that ends a loop's body.
_LOOP = re.compile(r"(?<![\w-])(?:for|while|until|select)(?![\w-])")
_DONE = re.compile(r"(?<![\w-])done(?![\w-])")
MAX_PASSES = 32


def in_loop(source: str, command: str) -> bool:
    """May this command of the line run more than once: does its text stand between a loop
    keyword and the last `done` (bash's line continuations taken out first)?  Text only, so it
    errs towards yes (`echo for; cd x; echo done`): that costs a walk of the line, nothing else."""
    text = source.replace("\\\n", "") if "\\\n" in source else source
    start = _LOOP.search(text)
    if start is None:
        return False
    ends = [m.end() for m in _DONE.finditer(text, start.end())]
    return command.replace("\\\n", "") in text[start.start():ends[-1] if ends else len(text)]
