"""git's own ways to run programs: global options (`-c`, `-p`, `--exec-path`), options any
subcommand takes (`--upload-pack`, `--ext-diff` and their abbreviations), subcommands that run
commands (`bisect run`, `submodule foreach`, `config`), and where git's subcommand and its
`-C`/`--git-dir`/`--work-tree` directories are.  Conservative like scripts.py: what is not
understood is a hazard, so a rule must name it literally to allow it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..parse import Word
from .scripts import hazard as _hazard

if TYPE_CHECKING:
    from .hazards import Hazard


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
