"""A symbolic link that a line makes must be the last thing the line does.

Paths are resolved when the line is checked, before anything runs, so a link an earlier
command makes is not there yet for the commands after it: `ln -s .. up && cat
up/.ssh/id_rsa` would be checked as reading `up/.ssh/id_rsa` in the working directory.  So
a command that makes a symbolic link (`ln -s`, `cp -s`, moves.symlinks), or may (git
writing a work tree, an archive extracted: madelinks.py), must be the line's last command,
with nothing of the line run beside it (`&`, a pipeline, a process substitution, a wrapper
that detaches), nor in a loop or a command substitution; wrappers that run it once per
input (`xargs`, `find -exec`) are refused.  Its targets are checked by the engine
(madelinks.py).  docs/security-model.md says what stays open.
"""

from __future__ import annotations

import os

from ..parse import ParsedLine, SimpleCommand, Word
from ..parse.order import last_command
from .decision import Verdict
from .wrappers import WRAPPERS, unwrap

RULE = "symlink"
HINT = ("end the line with the command that makes the link, or run it in a line of its own: later "
        "commands of this line could reach through the new link unchecked")
REPEATED_HINT = "make the links with ln -s and literal names, at the end of a line"
# Wrappers that run the program they wrap again and again, each with why that matters.
REPEATERS = {
    "xargs": "xargs runs it with names read from stdin, which cannot be checked, possibly more than once",
    "find": "find runs it once for each file it finds",
}
_MAX_WRAPPERS = 8


def order_problem(parsed: ParsedLine, command: SimpleCommand) -> str:
    """Why another command of the line could reach through the link `command` makes ("" if none can)."""
    if command is not parsed.commands[-1] or last_command(parsed.source) != (command.text, command.line):
        return ("makes (or may make: ln -s, cp -a, tar -x, git writing work-tree files) a symbolic link "
                "that other commands of the line may run after or beside (later in the line, in a pipeline, "
                "a loop, a command substitution or the background) and reach through "
                "unchecked: the link is not there when the line is checked")
    for other in parsed.commands:
        detached = _detaches(other.argv)
        if detached:
            return (f"makes (or may make) a symbolic link in a line where {detached} runs a program in the background, "
                    "which could reach through the link unchecked: it is not there when the line is checked")
    return ""


def refuse(verdict: Verdict, reason: str, hint: str = HINT) -> Verdict:
    """`verdict`, refused under this module's rule."""
    return verdict._replace(decision="deny", reason=reason, rule=RULE, hint=hint)


def _detaches(argv: tuple[Word, ...]) -> str:
    """The wrapper in argv's chain of wrappers that leaves its program running in the background
    (`setsid` without -w, `sudo -b`), or ""."""
    for _ in range(_MAX_WRAPPERS):
        name = os.path.basename(argv[0].value or "") if argv else ""
        unwrapped = unwrap(name, argv[1:]) if name in WRAPPERS else None
        if unwrapped is None or not unwrapped.inner:
            return ""
        given = [w.value or "" for w in unwrapped.wrapper_args]
        letters = "".join(v[1:] for v in given if v[:1] == "-" and v[:2] != "--")  # short options, clusters too
        longs = set(given)
        if name == "setsid" and "w" not in letters and "--wait" not in longs:
            return "setsid (without -w)"
        if name == "sudo" and ("b" in letters or "--background" in longs):
            return "sudo -b"
        argv = unwrapped.inner
    return ""
