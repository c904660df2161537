"""Look inside script-like arguments (sed scripts, awk and jq programs, make variables;
git's are in githazards.py).

These readers are deliberately conservative: when a script is not understood,
it is reported as a hazard, so a rule must name it literally to allow it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..parse import Word

if TYPE_CHECKING:
    from .hazards import Hazard


def hazard(index: int, option: str, reason: str) -> Hazard:
    from .hazards import Hazard

    return Hazard(index, option, reason)


def _first_operand(args: tuple[Word, ...], value_options: tuple[str, ...]) -> int | None:
    skip = False
    for i, word in enumerate(args):
        if skip:
            skip = False
            continue
        value = word.value
        if value == "--":
            return i + 1 if i + 1 < len(args) else None
        if value is not None and value.startswith("-") and value != "-":
            skip = value in value_options
            continue
        return i
    return None


# -- sed ---------------------------------------------------------------------

_SED_VALUE_OPTS = ("-e", "--expression", "-f", "--file", "-l", "--line-length")


# The last answer of _sed_scripts, with the very tuple of words it was for: the hazard
# reader and the read check (sed_reads) ask it of one command in turn.  A pure function of
# the words, and the tuple is kept, so its id cannot name another one meanwhile.
_LAST_SED: tuple[tuple[Word, ...], tuple[tuple[int, str | None], ...]] = ((), ())


def _sed_scripts(args: tuple[Word, ...]) -> tuple[tuple[int, str | None], ...]:
    """(index of the word, script text) of each script sed runs from its arguments."""
    global _LAST_SED
    last = _LAST_SED
    if last[0] is args:
        return last[1]
    found = tuple(_read_sed_scripts(args))
    _LAST_SED = (args, found)
    return found


def _read_sed_scripts(args: tuple[Word, ...]) -> list[tuple[int, str | None]]:
    scripts: list[tuple[int, str | None]] = []  # (index of the word, script text)
    from_file = False
    skip = False
    for i, word in enumerate(args):
        if skip:
            skip = False
            continue
        value = word.value
        if value is None or not value.startswith("-") or value == "-":
            continue
        if value == "--":
            break
        if value.startswith("--"):
            name, eq, rest = value.partition("=")
            if name == "--file":
                from_file = True
                skip = not eq
            elif name == "--expression":
                if eq:
                    scripts.append((i, rest))
                elif i + 1 < len(args):
                    scripts.append((i + 1, args[i + 1].value))
                    skip = True
            continue
        for j, letter in enumerate(value[1:], start=1):
            if letter == "f":
                from_file = True
                skip = j + 1 == len(value)
                break
            if letter == "e":
                if j + 1 < len(value):
                    scripts.append((i, value[j + 1:]))
                elif i + 1 < len(args):
                    scripts.append((i + 1, args[i + 1].value))
                    skip = True
                break
            if letter in "il":
                break  # the rest is a suffix or a number
    if not scripts and not from_file:
        first = _first_operand(args, _SED_VALUE_OPTS)
        if first is not None:
            scripts.append((first, args[first].value))
    return scripts


# Option letters that neither take a value nor name a script or a script file (-n, -E, -r, -s,
# -u, -z), and script characters _sed_reason passes over one at a time (addresses, `;{}!`,
# and commands with no argument: `p`, `d`, `q` ...): a script of these alone is harmless.
_QUIET_SED_LETTERS = frozenset("nErsuz")
_PLAIN_SED_SCRIPT = frozenset(" \t\n;{}!0123456789$,~+=dDgGhHlnNpPqQxz")


def sed_may_find(args: tuple[Word, ...]) -> bool:
    """sed's quick look (hazards.Spec.quick): may the full reading find a hazard or mind a
    dynamic word?  False only when every word is static, every option a cluster of quiet
    letters, and the script (the first operand) plain: `sed -n '1,40p' src/app.py`, `sed 1d f`.
    Then _split finds no -f, _read_sed_scripts no -e, -f or --file, and _sed_reason passes
    over every character of the script; a `+` word (an option to _split, the script to
    _first_operand), `--` and a lone `-` (itself a script) take the full reading."""
    script_seen = False
    for word in args:
        value = word.value
        if value is None or value[:1] == "+":
            return True
        if value[:1] == "-" and value != "-":
            if not _QUIET_SED_LETTERS.issuperset(value[1:]):
                return True
        elif not script_seen:
            script_seen = True
            if not _PLAIN_SED_SCRIPT.issuperset(value):
                return True
    return False


def sed_hazards(args: tuple[Word, ...]) -> list[Hazard]:
    found = []
    for i, text in _sed_scripts(args):
        if text is None:
            found.append(hazard(i, "*", "sed script is not a static string"))
            continue
        reason = _sed_reason(text)
        if reason:
            found.append(hazard(i, args[i].value or "", f"sed script {reason}"))
    return found


def sed_reads(args: tuple[Word, ...]) -> list[Word]:
    """The files sed's `r FILE` and `R FILE` commands read, as words for the read check: the
    names are inside the script, where the operand checks do not look."""
    reads: list[str] = []
    for _i, text in _sed_scripts(args):
        if text is not None and ("r" in text or "R" in text):
            _sed_reason(text, reads)
    return [Word(name, name) for name in reads]


def _sed_reason(script: str, reads: list[str] | None = None) -> str:
    """Why a sed script can run commands or write files; '' if it cannot.  The names that
    `r` and `R` read are added to `reads` (the rest of the line: GNU sed takes `;` and `}`
    into the name, so the walk on from `;` below reads more commands than sed does)."""
    i = 0
    n = len(script)
    while i < n:
        ch = script[i]
        if ch in " \t\n;{}!":
            i += 1
            continue
        if ch.isdigit() or ch in "$,~+":
            i += 1
            continue
        if ch in "/\\":
            delim = script[i + 1] if ch == "\\" and i + 1 < n else "/"
            i = _skip_delimited(script, i + (2 if ch == "\\" else 1), delim)
            if i < 0:
                return "could not be read"
            if i < n and script[i] in "IM":
                i += 1
            continue
        if ch == "#":
            i = _line_end(script, i)
            continue
        if ch in "eEwW":
            return "runs a command or writes a file ('e'/'w')"
        if ch == "s" or ch == "y":
            if i + 1 >= n:
                return "could not be read"
            delim = script[i + 1]
            end = _skip_delimited(script, i + 2, delim)
            end = _skip_delimited(script, end, delim) if end >= 0 else -1
            if end < 0:
                return "could not be read"
            flags_end = end
            while flags_end < n and script[flags_end] not in ";\n}":
                flags_end += 1
            flags = script[end:flags_end]
            if ch == "s" and ("e" in flags or "w" in flags or "W" in flags):
                return "runs a command or writes a file (s///e or s///w)"
            i = flags_end
            continue
        if ch in "aic":
            i = _line_end(script, i)
            continue
        if ch in "rRbtTvL:":
            if ch in "rR" and reads is not None:
                end = script.find("\n", i)
                name = script[i + 1:end if end >= 0 else n].lstrip(" \t")
                if name:
                    reads.append(name)
            i = _line_end(script, i) if ch in "rRbtTv:" else i + 1
            continue
        if ch in "=dDgGhHlnNpPqQxz":
            i += 1
            continue
        return f"has a command sed-reader does not know ('{ch}')"
    return ""


def _skip_delimited(text: str, i: int, delim: str) -> int:
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == delim:
            return i + 1
        i += 1
    return -1


def _line_end(text: str, i: int) -> int:
    end = text.find("\n", i)
    semi = text.find(";", i)
    ends = [e for e in (end, semi) if e >= 0]
    return min(ends) if ends else len(text)


# -- awk ---------------------------------------------------------------------

_AWK_VALUE_OPTS = ("-F", "-v", "-f", "--file", "--assign", "--field-separator", "-E", "-i", "-l")
# ARGV names the files awk reads next: `BEGIN{ARGV[1]="/etc/shadow"; ARGC=2}` reads a file no
# operand names.  @include (gawk) reads more program from a file, as -f does.
_AWK_RISK = re.compile(r"\bsystem\s*\(|\|\s*&?|\bgetline\b|\bprintf?\b[^;{}\n]*>|@load|@include|\bENVIRON\b"
                       r"|\bARGV\b")


def awk_hazards(args: tuple[Word, ...]) -> list[Hazard]:
    if any((w.value or "").startswith(("-f", "--file", "-E", "--exec")) for w in args):
        return []  # the program comes from a file; the option itself is the hazard
    first = _first_operand(args, _AWK_VALUE_OPTS)
    if first is None:
        return []
    program = args[first].value
    if program is None:
        return [hazard(first, "*", "awk program is not a static string")]
    if _AWK_RISK.search(program):
        return [hazard(first, program, "awk program runs commands, pipes, writes files "
                        "or changes the files it reads (system, |, getline, print >, ARGV, @include)")]
    return []


# -- jq ----------------------------------------------------------------------

# jq's options that take values: how many words follow each.
_JQ_VALUES = {"-L": 1, "--indent": 1, "--arg": 2, "--argjson": 2, "--slurpfile": 2, "--rawfile": 2}
# `import "PATH" as $name;` reads PATH.json (from the working directory or -L's), `include`
# and `import ... as name` read PATH.jq: files named inside the program, which the read
# check does not see (`jq -n 'import "../home/.docker/config" as $c; $c'` printed it).
# (A field `.include` or a variable `$import` is no directive.)
_JQ_IMPORT = re.compile(r"(?<![\w.$])(?:import|include)\b")


def jq_hazards(args: tuple[Word, ...]) -> list[Hazard]:
    """A jq program (its first operand) that imports or includes files."""
    i = 0
    while i < len(args):
        value = args[i].value
        if value == "--":
            i += 1
            break
        if value is None or not value.startswith("-") or value == "-":
            break
        i += 1 + _JQ_VALUES.get(value, 0)
    if i >= len(args) or args[i].value is None or not _JQ_IMPORT.search(args[i].value or ""):
        return []
    return [hazard(i, "import", "jq program imports or includes files named inside it, which the read "
                    "roots cannot check")]


# -- make --------------------------------------------------------------------

_MAKE_VARS = re.compile(r"^(SHELL|\.SHELLFLAGS|MAKEFLAGS|MFLAGS|MAKE|MAKESHELL)\s*[:+?!]?=")


def make_hazards(args: tuple[Word, ...]) -> list[Hazard]:
    return [hazard(i, (w.value or "").split("=", 1)[0] + "=",
                    "overrides the shell make runs recipes with")
            for i, w in enumerate(args) if w.value is not None and _MAKE_VARS.match(w.value)]
