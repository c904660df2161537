"""Which commands make symbolic links, what those links lead to, and what an extraction writes.

A line's paths are resolved before it runs, so a link the line makes is not there yet for its
later commands: links.py keeps such a command at the end of its line.  Here the engine learns
which commands make one: `ln -s` and `cp -s`; `mv`, `cp -a`/`-r`/`-P` and `ln` moving an
existing link, or a directory holding links, to a new place; `tar -x` and `unzip` of an
archive holding one (archives.py); git, when it writes files of a work tree (a checkout of
a commit can hold any link: `h -> .git/hooks`).  What a new link leads to must pass the read check from
the directory it is made in, and what an archive extracts is checked as a write target.
"""

from __future__ import annotations

import os
import stat

from ..parse import Word
from . import links
from .archives import AS_NAMED, landed, members, tar_landing, unzip_landing
from .decision import Verdict
from .githazards import git_subcommand
from .moves import LINKERS, MAX_TAR_DIRECTORIES, Symlinks, extraction_words, relinks, symlinks
from .paths import PathChecker
from .realpaths import PROCESS_DIRECTORIES, names_own_process, resolve

# The programs the engine asks check() about.
MAKERS = LINKERS | {"tar", "unzip", "git"}

# git subcommands that write no file of a work tree.  Any other (checkout, switch, restore,
# reset --hard, merge, rebase, pull, cherry-pick, revert, stash, apply, am, clone, worktree
# add, submodule update, sparse-checkout, bisect, mv, an alias) may put a symbolic link
# there that is not on disk when the line is checked, so it must end its line (links.py).
_GIT_KEEPS_TREE = frozenset({
    "status", "log", "diff", "show", "branch", "blame", "annotate", "rev-parse", "rev-list", "ls-files",
    "ls-tree", "ls-remote", "grep", "describe", "shortlog", "tag", "add", "commit", "rm", "clean", "fetch",
    "push", "remote", "config", "help", "version", "cat-file", "show-ref", "for-each-ref", "symbolic-ref",
    "update-ref", "merge-base", "reflog", "count-objects", "fsck", "gc", "prune", "repack", "notes", "var",
    "check-ignore", "check-attr", "check-ref-format", "name-rev", "whatchanged", "range-diff",
    "format-patch", "archive", "diff-tree", "diff-files", "diff-index", "hash-object", "write-tree",
    "commit-tree", "mktree", "verify-commit", "verify-tag", "show-branch", "cherry", "update-index",
    "init", "maintenance", "interpret-trailers", "stripspace", "column", "request-pull",
})
# A first word that settles it (`git status`): the engine need not ask (init may be --bare).
GIT_READS_ONLY = _GIT_KEEPS_TREE - {"init"}
# The forms of other subcommands that write none either.
_GIT_LISTS = {"stash": ("list", "show"), "worktree": ("list",), "submodule": ("status", "summary"),
              "bisect": ("log",), "sparse-checkout": ("list",)}
_GIT_NEW_BRANCH = {"checkout": ("-b", "-B"), "switch": ("-c", "-C", "--create", "--force-create")}


def check(verdict: Verdict, program: str, args: tuple[Word, ...], cwds: list[str], paths: PathChecker) -> Verdict:
    """`verdict`, marked as making a link (links.py) when the command makes one, refused when
    a new link or an extracted member fails its check."""
    if program in LINKERS:
        return _link(verdict, program, args, cwds, paths)
    if program == "git":
        return verdict._replace(makes_link=True) if git_writes_tree(args) else verdict
    return _extraction(verdict, program, args, cwds, paths) if verdict.decision != "deny" else verdict


def _link(verdict: Verdict, program: str, args: tuple[Word, ...], cwds: list[str], paths: PathChecker) -> Verdict:
    """`ln -s`, `cp -s`, and a command that moves or copies an existing link: marked as making
    a link (links.py), and refused when a target, taken from the directory the link is made
    in, fails the read check."""
    made = symlinks(program, args)
    if made is None:
        made = _moved_links(program, args, cwds)
        if made is None:
            return verdict
    verdict = verdict._replace(makes_link=True)
    problem = _link_problem(made, cwds, paths) if verdict.decision != "deny" else ""
    if problem:
        return verdict._replace(decision="deny", reason=problem, rule="read-write-roots", hint="")
    return verdict


def _extraction(verdict: Verdict, program: str, args: tuple[Word, ...], cwds: list[str],
                paths: PathChecker) -> Verdict:
    """`tar -x`, `unzip`: each member the archive holds (archives.py) is a write target
    below the directory it lands in, and a member that is a symbolic link makes this a
    command that makes a link (links.py); a member below such a link is refused outright,
    since the extraction writes through it."""
    makes_link = False
    extracted = extraction_words(program, args)
    landing = AS_NAMED
    if extracted and program == "tar":
        # every option that moves a member is long; a word only known at run time is passed as
        # its static start and a NUL (`--one-top-level=$HOME/x` wrote below $HOME/x unchecked)
        given = tuple(w.value if w.value is not None else w.prefix + "\0" for w in args)
        if any(value[:2] == "--" for value in given):
            landing = tar_landing(given, tuple(a.value for a, _ in extracted))
        if landing.unknown:
            return verdict._replace(decision="deny", rule="read-write-roots", hint="", reason=landing.unknown)
    elif extracted:
        landing = unzip_landing(tuple(w.value for w in args))
    for archive, directories in extracted:
        if directories is None:
            return verdict._replace(decision="deny", rule="read-write-roots", hint="",
                                    reason=f"tar changes directory more than {MAX_TAR_DIRECTORIES} times "
                                           "(-C): too many places to check")
        places = [d.value for d in directories if d.value is not None]  # a dynamic -C is refused apart
        for cwd in cwds:
            for top in (t for t in landing.tops if t):  # --one-top-level makes this directory
                for place in places:
                    problem = paths.write_problem(resolve(os.path.join(place, top), cwd))
                    if problem:
                        return verdict._replace(decision="deny", rule="read-write-roots", hint="",
                                                reason=f"extracts {archive.text} into {top}: {problem}")
            found = members(program, resolve(archive.value, cwd)) if archive.value else None
            if found is None and program == "tar" and _streamed(archive, args, cwd):
                # an archive on a pipe or standard input is not looked into: refused where a
                # member could land in a denied root (`tar -C .git -xf - < hooks.tar` planted a
                # hook in guardrail mode; `cat h.tar | tar -x` in the workspace could too)
                for place in places:
                    problem = paths.move_problem(resolve(place, cwd)).replace("moves", "extracts into", 1)
                    if problem or os.path.isdir(os.path.join(resolve(place, cwd), ".git")):
                        problem = problem or f"extracts into {resolve(place, cwd)}, which holds a git directory"
                        return verdict._replace(
                            decision="deny", rule="read-write-roots", hint="",
                            reason=f"tar reads the archive from a pipe or standard input, which is not looked "
                                   f"into, and {problem}: extract from a file (tar -xf FILE) or elsewhere")
            link_names = {n for m in found or () if m.link and (n := landed(m.name, landing)) is not None}
            for member in found or ():
                name = landed(member.name, landing)
                if name is None:
                    continue  # --strip-components takes all of it: tar skips the member
                through = next((link for link in link_names if name.startswith(link + "/")), None)
                problem = f"it writes through the link {through} it makes" if through else ""
                for place in places if not problem else ():
                    for top in landing.tops:
                        problem = paths.write_problem(resolve(os.path.join(place, top, name), cwd))
                        if problem:
                            break
                    if problem:
                        break
                if problem:
                    return verdict._replace(decision="deny", rule="read-write-roots", hint="",
                                            reason=f"extracts {member.name} from {archive.text}: {problem}")
                makes_link = makes_link or member.link
    return verdict._replace(makes_link=True) if makes_link else verdict


# hazards.STDIN_NAMES (not imported: hazards is heavy, and a builtin line must not load it)
_STDIN_NAMES = ("-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0", "/proc/thread-self/fd/0")


def _streamed(archive: Word, args: tuple[Word, ...], cwd: str) -> bool:
    """Is tar's archive a stream (stdin, a pipe, a process substitution) it extracts files from?"""
    if any(w.value in ("-O", "--to-stdout") or ((w.value or "")[:1] == "-" and (w.value or "")[1:2] != "-"
           and "O" in (w.value or "")) for w in args):
        return False  # -O: the members go to standard output, no file is written
    if archive.value is None or archive.value in _STDIN_NAMES:
        return True
    try:
        return not stat.S_ISREG(os.stat(os.path.join(cwd, archive.value)).st_mode)
    except (OSError, ValueError):
        return False  # missing: tar says so itself


def git_writes_tree(args: tuple[Word, ...]) -> bool:
    """May this git command write files of a work tree (and so make symbolic links)?"""
    if args and args[0].value in GIT_READS_ONLY:
        return False  # the common case, `git status`: nothing below can change that
    sub = git_subcommand(args)
    if sub is None:  # `git --version`, or a dynamic word where the subcommand may be
        return any(w.value is None for w in args)
    name, rest = args[sub].value or "", args[sub + 1:]
    if any(w.value is None for w in rest):
        return name not in _GIT_KEEPS_TREE or name == "init"
    given = [w.value or "" for w in rest]
    if name == "init":  # a git directory with no `.git` in its path (paths.py names those)
        return any(_abbreviates(v, ("--bare", "--separate-git-dir")) for v in given)
    if name in _GIT_KEEPS_TREE:
        return False
    if name in _GIT_LISTS:
        operands = [v for v in given if not v.startswith("-")]
        return not operands or operands[0] not in _GIT_LISTS[name]
    if name == "reset":  # --soft and --mixed change the index only
        return any(_abbreviates(v, ("--hard", "--merge", "--keep")) for v in given)
    if name in _GIT_NEW_BRANCH:  # a new branch where HEAD is: `git checkout -b topic`
        words = [v for v in given if v not in ("-q", "--quiet")]
        return not (not words or (len(words) == 2 and words[0] in _GIT_NEW_BRANCH[name]
                                  and not words[1].startswith("-")))
    return True


def _abbreviates(given: str, options: tuple[str, ...]) -> bool:
    """Is `given` one of these long options, or a prefix git would take for one (`--ha`)?"""
    name = given.split("=", 1)[0]
    return len(name) > 2 and name.startswith("--") and any(option.startswith(name) for option in options)


def _moved_links(program: str, args: tuple[Word, ...], cwds: list[str]) -> Symlinks | None:
    """`mv k d/e/k`, `cp -a k x/`, `ln k x/`: an existing symbolic link put at a new place,
    where a relative one leads elsewhere (`k -> ../../.ssh` from d/e): as if made there,
    with what it holds as the target.  None when no source is a link (on disk now)."""
    moved = relinks(program, args)
    if moved is None:
        return None
    sources, places = moved
    targets = []
    holds_links = False  # a directory with links below it: they move along, unchecked
    for word in sources:
        for cwd in cwds if word.value else ():
            path = os.path.join(cwd, word.value)
            try:
                held = os.readlink(path)
            except OSError:  # no link (or nothing) there
                holds_links = holds_links or (program != "ln" and _holds_link(path))
                continue
            except ValueError:
                continue
            targets.append(Word(held, held))
    return (targets, places, False) if targets or holds_links else None


def _link_problem(made: Symlinks, cwds: list[str], paths: PathChecker) -> str:
    """The first target that fails the read check from a directory a link may be made in."""
    targets, places, tree = made
    for cwd in cwds:
        for word, named in places:
            if word.value is None:
                continue  # refused as a write target
            directory = resolve((os.path.dirname(word.value) or ".") if named else word.value, cwd)
            for target in targets:
                problem = _target_problem(target, directory, tree, paths)
                if problem:
                    return problem
    return ""


def _target_problem(target: Word, directory: str, tree: bool, paths: PathChecker) -> str:
    """A link in `directory` to `target` (`tree`: cp -rs, a link to each file below it)."""
    if target.value is None:
        problem = paths.check_read_word(target, [directory])
        return f"a link to {target.text} in {directory} {problem}" if problem else ""
    joined = os.path.join(directory, target.value)
    path = resolve(target.value, directory)
    if names_own_process(joined) or path in PROCESS_DIRECTORIES:
        # /proc/self (and /dev/fd, /dev/stdin ... into it) is whichever process follows the link,
        # a descriptor whatever that process has open:
        # `ln -s /proc/self/cwd/../.. x` leads elsewhere from each directory a command runs in,
        # so no check of a later line can say where (realpaths.own_process)
        return (f"a link to {target.value} in {directory} leads through the process that follows it "
                "(/proc/self, /dev/fd): where it leads is only known when it is used")
    problem = paths.read_problem(path)
    if problem:
        return f"a link to {target.value} in {directory} {problem}"
    return paths.tree_problem(path) if tree else ""


def once(verdict: Verdict, runner: str) -> Verdict:
    """A program that makes a link, refused when `runner` may run it again and again (links.py)."""
    if verdict.makes_link and runner in links.REPEATERS and verdict.decision != "deny":
        return links.refuse(verdict, links.REPEATERS[runner], links.REPEATED_HINT)
    return verdict


_LINK_SCAN = 2000  # entries looked at below a moved directory before assuming it holds a link


def _holds_link(path: str) -> bool:
    """Is there a symbolic link below the directory `path` (or more than _LINK_SCAN entries,
    which may hide one)?  False for anything that is not a directory."""
    pending = [path]
    seen = 0
    while pending:
        try:
            entries = os.scandir(pending.pop())
        except (OSError, ValueError):
            continue  # not a directory (a file moves no link), or unreadable
        with entries:
            for entry in entries:
                seen += 1
                if seen > _LINK_SCAN or entry.is_symlink():
                    return True
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
    return False
