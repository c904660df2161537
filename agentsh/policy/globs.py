"""How bash expands a glob or a brace group, as far as the path checks need it: where a
glob's literal directory ends, which names its components can match (a leading `.` only
by a literal `.`), and the words a comma group makes.  Pure functions of text."""

from __future__ import annotations

import fnmatch
import itertools
import re

from ..parse.words import GLOB_CHARS
from .gitruns import GIT_RUNS_FROM


def glob_parts(text: str, home: str) -> tuple[str, list[str]] | None:
    """(literal directory, components of the pattern from there) of a plain glob, `~/` as
    HOME; None when quotes, escapes, expansions or another `~` make the text not the path."""
    if any(c in text for c in "'\"\\$`{"):
        return None
    if text == "~" or text.startswith("~/"):
        text = home.rstrip("/") + text[1:]
    elif "~" in text:
        return None
    head = text[:min((text.find(c) for c in GLOB_CHARS if c in text), default=len(text))]
    cut = head.rfind("/") + 1  # the pattern starts after the literal directory, if any
    return head[:cut] or ".", text[cut:].split("/")


# A brace group with a comma and nothing that would change its meaning inside it.
BRACE_GROUP = re.compile(r"\{([^{}'\"\\\\$`]*,[^{}'\"\\\\$`]*)\}")
_MAX_ALTERNATIVES = 256


def brace_alternatives(text: str) -> list[str]:
    """The words bash's brace expansion makes of `text`, for its simple comma groups (up to
    _MAX_ALTERNATIVES; a group it cannot read stays as written)."""
    out = [text]
    i = 0  # the words before i have no group left: each is searched until it has none
    while i < len(out) and len(out) < _MAX_ALTERNATIVES:
        match = BRACE_GROUP.search(out[i])
        if match is None:
            i += 1
            continue
        out[i:i + 1] = [out[i][:match.start()] + alt + out[i][match.end():] for alt in match.group(1).split(",")]
    return out[:_MAX_ALTERNATIVES]


PARAMETERS = re.compile(r"\$[?*@#$!-]")


def components_may_spell(parts: list[str], globs: list[int], wanted: tuple[str, ...]) -> bool:
    """Can consecutive components of a word (`parts`, `globs` the indexes of those with a
    glob in them), globs matched as bash matches names, spell the components of a name
    (`.s*h` for `.ssh`; `/etc/sha*` for `/etc/shadow`; `$HOME/**/key` for `proj/secrets`)?
    Windows without a glob were already compared as text."""
    if "**" in parts:  # globstar: one component may stand for several, so no fixed window
        # A window may start at `**` only after what this check cannot place (`$d/**/key`,
        # `~/**/key` handed to a variable); after literal text (`src/**`, `**` first, relative
        # to the directory) the plain glob check is exact.
        return any(_pattern_covers(parts[j:], list(wanted)) for j in range(max(globs) + 1)
                   if parts[j] != "**" or (j and any(c in parts[j - 1] for c in "$`~")))
    size = len(wanted)
    for j in range(len(parts) - size + 1):  # each window of the word as long as the name
        if any(j <= g < j + size for g in globs) and \
                all(component_may_name(parts[j + k], wanted[k]) for k in range(size)):
            return True
    return False


def component_may_name(part: str, name: str) -> bool:
    """glob_may_name for one component (the spelling check's inner loop)."""
    if name[:1] == "." and part[:1] != ".":
        return False
    return "[" in part or fnmatch.fnmatchcase(name, part)


def glob_may_name(pattern: list[str], names: list[str]) -> bool:
    """Can a glob's components (from its literal directory on) match these path components
    and so name that path or something below it?  As bash matches: a leading `.` is matched
    only by a literal `.` (not by `*`, `?`, `**` or a bracket); a bracket expression is
    otherwise taken to match anything it might; `**` (with `shopt -s globstar`, which a line
    may set) stands for any number of directories."""
    if "**" in pattern:
        return _pattern_covers(pattern, names)
    if len(pattern) < len(names):
        return False  # the glob names directories above the root at most, like a literal parent
    for part, name in zip(pattern, names, strict=False):  # the pattern may go deeper
        if name.startswith(".") and not part.startswith("."):
            return False
        if "[" not in part and not fnmatch.fnmatchcase(name, part):
            return False
    return True


def _pattern_covers(pattern: list[str], names: list[str]) -> bool:
    """Can the components of `pattern`, from its first, match all of `names` (and maybe go
    deeper)?  A `**` component matches zero or more names, none with a leading `.`: under
    globstar `~/**/key` reads proj/secrets/key."""
    if not names:
        return True
    if not pattern:
        return False
    part = pattern[0]
    if part == "**":
        return _pattern_covers(pattern[1:], names) or \
            (not names[0].startswith(".") and _pattern_covers(pattern, names[1:]))
    return component_may_name(part, names[0]) and _pattern_covers(pattern[1:], names[1:])


def glob_may_reach_git(components: list[str]) -> bool:
    """Can a path of these components, globs matched as bash matches them, name what
    gitruns.git_dir_problem refuses (`sub/.g*/hooks/x`, `sub/.git/h*/x`)?"""
    return any(glob_may_name([part], [".git"]) and any(glob_may_name([after], [name]) for name in GIT_RUNS_FROM)
               for part, after in itertools.pairwise(components))
