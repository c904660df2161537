"""The directories a line's commands run in: where `cd` and `pushd` lead (again and again
inside a loop), and where `git -C`, `make -C` and `env -C` move a program before it reads
its other arguments.  Each path is resolved once per line (`cd_real`), so a command's read
check and the directories later commands are checked from are the very same.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from fnmatch import fnmatchcase

from ..parse import ParsedLine, SimpleCommand, Word
from ..profile import Profile
from . import chdirs
from .decision import Verdict
from .loopvars import iteration_bound, loop_rounds
from .paths import PathChecker
from .realpaths import THROUGH_OWN_PROCESS, names_own_process, own_process, real_path


def follow_cd(command: SimpleCommand, verdict: Verdict, cwds: list[str], home: str,
              cd_real: dict[str, str] | None = None) -> None:
    """After `cd DIR`, relative paths in later commands may be relative to DIR."""
    if verdict.program not in ("builtin:cd", "builtin:pushd") or verdict.decision == "deny":
        return
    for target in cd_targets(command.argv[1:], cwds, home, cd_real):
        if target not in cwds:
            cwds.append(target)


def follow_loops(parsed: ParsedLine, walked: list[Verdict], cwds: list[str], home: str,
                 cd_real: dict[str, str]) -> bool:
    """`for i in 1 2; do cd ..; done; cat home/.netrc`: a loop's cd runs again from where the
    last one led.  Those are followed until no directory is new (only into directories there
    now: see docs/security-model.md, Known open gaps), or, if that does not end, a refusal is
    added to `walked`.  True if the line must be walked again from the `cwds` found."""
    for verdict in walked:  # most lines have no cd at all: no pairs to build
        if verdict.program in ("builtin:cd", "builtin:pushd"):
            break
    else:
        return False
    looped = [(c, v) for c, v in zip(parsed.commands, walked, strict=True)
              if v.program in ("builtin:cd", "builtin:pushd") and chdirs.in_loop(parsed.source, c.text)]
    if not looped:
        return False
    # The walk followed each cd once; `for i in 1 2 3` runs it at most twice more, so that
    # many passes hold every directory it reaches (however deep `x/x/x/...` already is).
    bound = iteration_bound(parsed)
    passes = chdirs.MAX_PASSES if bound is None or bound > chdirs.MAX_PASSES else bound - 1
    for _ in range(passes):
        found = len(cwds)
        for command, verdict in looped:
            if verdict.decision != "deny":
                for one in loop_rounds(parsed, command):  # `cd "$d"` of `for d in a b`: each word
                    cwds += [t for t in cd_targets(one.argv[1:], cwds, home, cd_real)
                             if t not in cwds and os.path.isdir(t)]
        if len(cwds) == found:
            break
    else:
        if passes == chdirs.MAX_PASSES:
            walked.append(Verdict(command=parsed.source, decision="deny", rule="read-roots",
                                  reason="a cd inside a loop leads to ever more directories"))
    return True


def oldpwd_inherited(profile: Profile) -> bool:
    """May $OLDPWD hold a value when the line starts?  Not unless the profile passes or sets it:
    the environment is rebuilt, and the line cannot assign it (a hazard), so `cd -` can only
    go back to a directory the line was in."""
    return "OLDPWD" in dict(profile.env_set) or any(fnmatchcase("OLDPWD", p) for p in profile.env_pass)


def cd_operands(args: tuple[Word, ...]) -> list[Word]:
    """The words `cd` or `pushd` takes for its directory: those that are no option, and every
    word after `--` (`cd -- -x` enters the directory `-x`, which may be a link to anywhere)."""
    operands = []
    ended = False
    for word in args:
        value = word.value or ""
        if ended or not value.startswith("-") or value == "-":
            operands.append(word)
        elif value == "--":
            ended = True
    return operands


def pushd_problem(args: tuple[Word, ...]) -> str:
    """`pushd -n DIR` puts DIR on the stack as written, without entering it: a later `popd`
    (or `pushd`, `pushd +N`) enters it from wherever the line is then (`pushd -n .ssh; cd ~;
    popd`), which is no directory checked here."""
    for word in args:
        if word.value == "--":
            break
        if word.value == "-n":
            return "pushd -n keeps a relative directory to enter later from elsewhere: use pushd DIR"
    return ""


def cd_targets(args: tuple[Word, ...], cwds: Iterable[str], home: str,
               cd_real: dict[str, str] | None = None) -> list[str]:
    """The directories `cd ARGS` may change to; `cd_real` (one line's) remembers each
    path's real path from the command's read check to its follow_cd."""
    operands = cd_operands(args)
    if not operands:
        paths = [home]
    else:
        value = operands[0].value
        if value is None or value == "-":
            return []
        paths = [own_directory(os.path.join(cwd, value), cwd) for cwd in cwds]
        if ".." in value.split("/"):
            # bash's cd takes `..` off the path as written before it follows links (cd -L,
            # the default): `cd link/../..` from ~/proj is ~, not the grandparent of link's
            # target.  `cd -P`, and bash when that path fails, go the kernel's way.  Both.
            paths += [os.path.normpath(path) for path in paths]
    return list(dict.fromkeys(real_dir(path, cd_real) for path in paths))


def moved_directories(paths: PathChecker, program: str, moves: list[Word], trees: list[Word], cwds: list[str],
                      cd_real: dict[str, str] | None) -> tuple[list[str], str]:
    """The directories a program's paths are read from, from each of `cwds`, or why not: the
    one `git -C A -C B ...` (or `make -C`) runs in, and each git `--work-tree` (relative to
    that one)."""
    found = []
    for cwd in cwds:
        directory = cwd
        for word in moves:
            directory, problem = _place(paths, directory, f"{program} -C", word, cd_real)
            if problem:
                return cwds, problem
        found.append(directory)
        for word in trees:
            tree, problem = _place(paths, directory, f"{program} --work-tree", word, cd_real)
            if problem:
                return cwds, problem
            found.append(tree)
    return list(dict.fromkeys(found)), ""


def _place(paths: PathChecker, base: str, option: str, word: Word,
           cd_real: dict[str, str] | None) -> tuple[str, str]:
    """The real directory an option names (from base), which must be readable; or why not."""
    shown = f"{option.split()[0]} {word.text}" if word.text[:1] == "-" else f"{option} {word.text}"  # -CDIR
    if word.value is None:
        return base, f"{shown} is a directory only known at run time"
    directory = real_dir(own_directory(os.path.join(base, word.value), base), cd_real)
    problem = paths.read_problem(directory)
    return directory, f"{shown} {problem}" if problem else ""


def real_dir(path: str, cd_real: dict[str, str] | None) -> str:
    """real_path(path), once per line (`cd_real`, None for a command checked alone)."""
    if path == THROUGH_OWN_PROCESS:
        return path  # refused by the read check, and no directory to resolve
    if cd_real is None:
        return real_path(path)
    if path not in cd_real:
        cd_real[path] = real_path(path)
    return cd_real[path]


def own_directory(path: str, cwd: str) -> str:
    """A directory to change to, as the command sees it (realpaths.own_process); one of its own
    process's (`cd /dev/fd`, then `cat 3/.netrc 3< ~`) is known only to it."""
    path = own_process(path, cwd)
    return THROUGH_OWN_PROCESS if names_own_process(path) else path
