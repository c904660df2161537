"""Look inside script-like arguments (sed scripts, awk programs, git subcommands).

These readers are deliberately conservative: when a script is not understood,
it is reported as a hazard, so a rule must name it literally to allow it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..parse import Word

if TYPE_CHECKING:
    from .hazards import Hazard


def _hazard(index: int, option: str, reason: str) -> Hazard:
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


def _sed_scripts(args: tuple[Word, ...]) -> list[tuple[int, str | None]]:
    """(index of the word, script text) of each script sed runs from its arguments."""
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


def sed_hazards(args: tuple[Word, ...]) -> list[Hazard]:
    found = []
    for i, text in _sed_scripts(args):
        if text is None:
            found.append(_hazard(i, "*", "sed script is not a static string"))
            continue
        reason = _sed_reason(text)
        if reason:
            found.append(_hazard(i, args[i].value or "", f"sed script {reason}"))
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
        return [_hazard(first, "*", "awk program is not a static string")]
    if _AWK_RISK.search(program):
        return [_hazard(first, program, "awk program runs commands, pipes, writes files "
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
    return [_hazard(i, "import", "jq program imports or includes files named inside it, which the read "
                    "roots cannot check")]


# -- git ---------------------------------------------------------------------

_GIT_GLOBAL_VALUE = ("-C", "--git-dir", "--work-tree", "--namespace", "--super-prefix", "--list-cmds")
_GIT_GLOBAL_HAZARDS = {
    "-c": "sets configuration that can run programs (core.pager, alias.*, core.fsmonitor)",
    "--config-env": "sets configuration that can run programs",
    "-p": "runs the configured pager", "--paginate": "runs the configured pager",
    "--exec-path": "runs git helpers from another directory",
}
_GIT_ANY_HAZARDS = {
    "--upload-pack": "runs a program", "--receive-pack": "runs a program", "--exec": "runs a program",
    "--extcmd": "runs a program", "--ext-diff": "runs an external diff program",
    "--textconv": "runs a text conversion program", "--open-files-in-pager": "runs a pager",
    "--template": "copies hooks from a template directory", "--config": "sets configuration",
    "--unsafe-paths": "writes outside the working tree",
    # `git add --pathspec-from-file=list && git diff --cached` printed what list names.
    "--pathspec-from-file": "takes the paths it reads from a file, where the read roots cannot check them",
}
_GIT_SUBCOMMAND_SHORT = {
    ("rebase", "-x"): "runs a command after each commit",
    ("grep", "-O"): "runs a pager",
    ("clone", "-u"): "runs a program on the remote side",
    ("clone", "-c"): "sets configuration that can run programs",
    ("difftool", "-x"): "runs a program", ("difftool", "-t"): "runs a configured tool",
    ("mergetool", "-t"): "runs a configured tool",
}
# Every name the loop over _GIT_ANY_HAZARDS accepts: each option and every abbreviation
# (`--` and a letter or more).  git's parse-options takes any prefix that is unambiguous
# among the subcommand's own options: `git rebase --ex=CMD` is --exec, and
# `git ls-remote --u=CMD` is --upload-pack.
_GIT_ANY_ABBREVIATIONS = frozenset(option[:end] for option in _GIT_ANY_HAZARDS
                                   for end in range(3, len(option) + 1))
# _GIT_SUBCOMMAND_SHORT by subcommand, in the table's order (most subcommands have none).
_GIT_SHORT_BY_SUBCOMMAND: dict[str, tuple[tuple[str, str], ...]] = {}
for (_command, _option), _reason in _GIT_SUBCOMMAND_SHORT.items():
    _GIT_SHORT_BY_SUBCOMMAND[_command] = (*_GIT_SHORT_BY_SUBCOMMAND.get(_command, ()), (_option, _reason))
_GIT_HAZARD_SUBCOMMANDS = {
    "config": "changes configuration that can run programs (core.pager, alias.*, core.fsmonitor)",
    "filter-branch": "runs shell commands", "bisect": "'bisect run' runs commands",
    "submodule": "'submodule foreach' runs commands", "difftool": "runs external tools",
    "mergetool": "runs external tools", "send-email": "runs programs and sends mail",
    "daemon": "serves the repository", "instaweb": "runs a web server",
    "web--browse": "runs a browser", "credential": "talks to credential helpers",
    "upload-pack": "server side program", "receive-pack": "server side program",
    "shell": "restricted login shell", "archimport": "runs external tools",
    "cvsimport": "runs external tools", "svn": "runs external tools", "p4": "runs external tools",
    "remote-ext": "runs a command as a remote", "hook": "runs hooks",
}
_GIT_READONLY_CONFIG = ("--get", "--get-all", "--get-regexp", "--list", "-l", "--get-urlmatch",
                        "--show-origin", "--show-scope", "--name-only", "--null", "-z")


def git_subcommand(args: tuple[Word, ...]) -> int | None:
    """Where git's subcommand is in args (after global options and their values); None when
    there is none, or a dynamic word comes first (it could be an option or the subcommand)."""
    return _git_globals(args)[0]


def git_directories(args: tuple[Word, ...]) -> tuple[list[Word], list[Word]]:
    """The values of git's global `-C DIR` options, in order (git changes to each, relative
    to the one before, before it reads its other arguments), and of `--work-tree` (git reads
    paths from there when the directory it runs in is outside it: `git --work-tree=$HOME add
    .ssh/id_rsa` adds ~/.ssh/id_rsa)."""
    _, directories, trees = _git_globals(args)
    return directories, trees


def _git_globals(args: tuple[Word, ...]) -> tuple[int | None, list[Word], list[Word]]:
    """git's global options read as git reads them: (the subcommand's index, or None at a
    dynamic word or the end; the `-C` values and the `--work-tree` values before that)."""
    directories: list[Word] = []
    trees: list[Word] = []
    skip = False
    for i, word in enumerate(args):
        value = word.value
        if skip:
            skip = False
        elif value is None:
            return None, directories, trees
        elif not value.startswith("-"):
            return i, directories, trees
        else:
            if value in ("-C", "--work-tree") and i + 1 < len(args):
                (directories if value == "-C" else trees).append(args[i + 1])
            elif value.startswith("--work-tree="):
                trees.append(Word(word.text, value[len("--work-tree="):]))
            skip = value in _GIT_GLOBAL_VALUE or value in ("-c", "--config-env")
    return None, directories, trees


def git_hazards(args: tuple[Word, ...]) -> list[Hazard]:
    found = []
    sub_index = None
    skip = False
    for i, word in enumerate(args):
        if skip:
            skip = False
            continue
        value = word.value
        if value is None:
            found.append(_hazard(i, "*", "a dynamic word before git's subcommand could be an option"))
            continue
        if not value.startswith("-"):
            sub_index = i
            break
        name = value.split("=", 1)[0]
        for option, reason in _GIT_GLOBAL_HAZARDS.items():
            if name == option and (option != "--exec-path" or "=" in value):
                found.append(_hazard(i, option, f"git {option} {reason}"))
        skip = value in _GIT_GLOBAL_VALUE or value in ("-c", "--config-env")
    if sub_index is None:
        return found
    sub = args[sub_index].value or ""
    if sub in _GIT_HAZARD_SUBCOMMANDS:
        rest = [w.value for w in args[sub_index + 1:]]
        readonly = sub == "config" and any(r in _GIT_READONLY_CONFIG for r in rest)
        if not readonly:
            found.append(_hazard(sub_index, sub, f"git {sub} {_GIT_HAZARD_SUBCOMMANDS[sub]}"))
    short_hazards = _GIT_SHORT_BY_SUBCOMMAND.get(sub, ())
    for i in range(sub_index + 1, len(args)):
        value = args[i].value
        if value is None or not value.startswith("-"):
            continue
        if value == "--":
            break
        # Every _GIT_ANY_HAZARDS option is long (`--...`), so only a long word can name one
        # (exactly or abbreviated); _GIT_SUBCOMMAND_SHORT is only for words that are not long.
        if value.startswith("--"):
            name = value.split("=", 1)[0]
            if name not in _GIT_ANY_ABBREVIATIONS:
                continue  # names none of them (--oneline, --stat): nothing to loop over
            for option, reason in _GIT_ANY_HAZARDS.items():
                if option.startswith(name):  # name is one of _GIT_ANY_ABBREVIATIONS
                    found.append(_hazard(i, option, f"git {option} {reason}"))
            continue
        for option, reason in short_hazards:
            # Short options cluster (`git rebase -qx CMD`); where a letter takes a glued
            # value its letters are no options, but which letters do is git's per subcommand:
            # the letter anywhere in the word counts (fail closed).
            if option[1] in value[1:]:
                found.append(_hazard(i, option, f"git {sub} {option} {reason}"))
    return found


# -- make --------------------------------------------------------------------

_MAKE_VARS = re.compile(r"^(SHELL|\.SHELLFLAGS|MAKEFLAGS|MFLAGS|MAKE|MAKESHELL)\s*[:+?!]?=")


def make_hazards(args: tuple[Word, ...]) -> list[Hazard]:
    return [_hazard(i, (w.value or "").split("=", 1)[0] + "=",
                    "overrides the shell make runs recipes with")
            for i, w in enumerate(args) if w.value is not None and _MAKE_VARS.match(w.value)]


# Subcommands with no option that runs a program, opens a pager or writes to a named
# file: a word known only at run time (a file name, a message) cannot make them do so.
_GIT_DYNAMIC_SAFE = frozenset({
    "add", "rm", "mv", "restore", "checkout", "switch", "reset", "status", "blame", "ls-files",
    "commit", "branch", "tag", "stash", "rev-parse", "show-ref", "cat-file", "check-ignore",
    "merge-base", "describe", "rev-list", "shortlog", "apply", "init", "clean", "worktree",
})
# Options whose next word is a plain value (a message, a date, a count, a pattern).
_GIT_VALUE_OPTIONS = frozenset({
    "-m", "--message", "-F", "--file", "--author", "--date", "--since", "--until", "--after", "--before",
    "--grep", "-n", "--max-count", "-S", "-G", "--format", "--pretty", "-b", "-B", "--branch", "--onto",
})


def git_dynamic_ok(args: tuple[Word, ...], index: int) -> bool:
    # The subcommand as git finds it: `git -C add grep "$x"` is grep, not add.
    sub = git_subcommand(args)
    if sub is None or index <= sub:
        return False  # before the subcommand, a word could be -c or --exec-path
    previous = args[index - 1].value
    if previous in _GIT_VALUE_OPTIONS:
        return True
    return args[sub].value in _GIT_DYNAMIC_SAFE
