"""Static checks of file arguments and redirections against the profile's read and write roots.

This is the first of two layers: it sees only what the line spells out.  Paths
a program computes at run time are the exec-time layer's job (Landlock).
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable, Iterable

from ..parse import Word
from ..parse.words import GLOB_CHARS
from ..profile import Profile
from .argfiles import arg_candidates
from .gitruns import git_dir_problem, other_git_dir_problem
from .globs import (
    BRACE_GROUP,
    PARAMETERS,
    brace_alternatives,
    component_may_name,
    components_may_spell,
    glob_may_name,
    glob_may_reach_git,
    glob_parts,
)
from .realpaths import OWN_STREAM_DIRS, OWN_STREAMS, THROUGH_OWN_PROCESS, _pathlike, resolve

# `~+`, `~-`, `~N`, `~+N`, `~-N` (the directory stack) and a plain path after it.
_DIRECTORY_TILDE = re.compile(r"~[+-]?[0-9]*(?:/([A-Za-z0-9_./:@%+,=-]*))?")
# What a brace alternative may hold to be read as a path: no quote, expansion or brace.
# `$PWD/x`, `"${HOME}"/x`: a variable whose value agentsh knows (a line may not assign these),
# then plain text (double quotes aside)
_KNOWN_VARIABLE = re.compile(r"\$(?:(HOME|PWD|OLDPWD)(?![A-Za-z0-9_])|\{(HOME|PWD|OLDPWD)\})(/[A-Za-z0-9_./:@%+,=*?\[\]!-]*)?")
_OPTION_BEFORE_VALUE = re.compile(r"--[A-Za-z0-9-]+=|-[A-Za-z0-9]+(?=\$)")
# `$name`, `${name}`, `${name:-word}` / `${name-word}` (group 1: the default word)
_PARAMETER = re.compile(r"\$\{[A-Za-z_]\w*(?::?-([A-Za-z0-9_./:@%+,=-]*))?\}|\$[A-Za-z_]\w*")
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_./:@%+,=~*?\[\]!-]+")
_OWN_PROCESS_PROBLEM = ("{} a path through the command's own process (/proc/self, /dev/fd/N/...), which agentsh "
                        "cannot resolve for it: name the file itself")
ALWAYS_WRITABLE = ("/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty", "/dev/fd")


@functools.lru_cache(maxsize=8)
def own_code_roots(home: str) -> tuple[str, ...]:
    """Where agentsh's own interpreter loads code from at its next start, for a user whose
    HOME is `home`: agentsh's package, the site-packages directories (whose .pth files run at
    every start) and, when the interpreter reads one, the user's site-packages (created or
    not).  A line that writes there runs code inside agentsh itself, before any check: `echo
    'import os; ...' > ~/.local/lib/python3.11/site-packages/x.pth` from a workspace in $HOME.
    A venv install reads no user or global site-packages (docs/login-shell.md).  The user's
    directory is computed from `home`, not this process's HOME: the warm server serves lines
    for the HOME each caller has."""
    roots = [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
    site = sys.modules.get("site")  # absent under -S, and then no site-packages run code either
    if site is not None:
        roots += list(getattr(site, "getsitepackages", list)())
        if getattr(site, "ENABLE_USER_SITE", False):
            roots.append(f"{home}/.local/lib/python{sys.version_info[0]}.{sys.version_info[1]}/site-packages")
    return tuple(dict.fromkeys(os.path.realpath(root) for root in roots))
# A dotfile glued to an option letter (`-f.env`), as argfiles.glued_values takes it.
_GLUED_DOTFILE = re.compile(r"[A-Za-z]\.")


def within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


# Shell start-up files in HOME (bash, sh, zsh): the account's next shell runs them.
STARTUP_FILES = (".bashrc", ".bash_profile", ".bash_login", ".bash_logout", ".profile", ".zshrc", ".zshenv",
                 ".zprofile", ".zlogin", ".zlogout")


class PathChecker:
    def __init__(self, profile: Profile, home: str, config_home: str | None = None) -> None:
        self.profile = profile
        self.home = home
        home_relative = []
        for root in profile.read_deny:
            # Under HOME, the relative name (`.ssh`) is what a line spells after $HOME or ~;
            # elsewhere the full path, since a bare basename (`agentsh`, `shadow`) is too common.
            name = os.path.relpath(root, home) if within(root, home) and root != home else root
            if name:
                home_relative.append(name)
        # For words only known at run time (`"$HOME/.ssh/id_rsa"`), look for the denied
        # roots' names in the text as written.
        self.denied_fragments = tuple(home_relative)
        self._fragment_parts = tuple((fragment, tuple(fragment.split("/"))) for fragment in home_relative)
        # the one-component names (`.ssh`): all a one-component glob (`*.py`) could spell
        self._single_names = tuple((fragment, wanted[0]) for fragment, wanted in self._fragment_parts
                                   if len(wanted) == 1)
        # Every path argument is checked against every root: one C-level startswith over
        # all of them first (what `within` tests), the loop only to name the root.
        self._deny_roots = frozenset(profile.read_deny)
        self._deny_prefixes = tuple(root.rstrip("/") + "/" for root in profile.read_deny)
        self._allow_roots = frozenset(profile.read_allow)
        self._allow_prefixes = tuple(root.rstrip("/") + "/" for root in profile.read_allow)
        # Roots a write may not reach whatever the profile says, each with why: agentsh's own
        # code; files from which programs run commands for the account later, outside agentsh:
        # git's global configuration (core.fsmonitor, core.pager, aliases, drivers: what
        # .git/config is to one repository, for every one), and the shells' and the session's
        # start-up files
        config = config_home or os.path.join(home, ".config")
        self._guarded = (
            *((root, f"inside {root}, where agentsh's own interpreter loads code from")
              for root in own_code_roots(home)),
            *((path, "git's global configuration, from which git runs programs (core.fsmonitor, core.pager, "
                     "aliases) in every repository")
              for path in (os.path.join(home, ".gitconfig"), os.path.join(config, "git"))),
            *((path, "a start-up file, whose commands the account's next shell or login session runs, "
                     "outside agentsh")
              for path in (*(os.path.join(home, name) for name in STARTUP_FILES),
                           *(os.path.join(config, name) for name in ("fish", "autostart", "systemd/user")))))
        # one C-level test for all of them first, as for the denied read roots
        self._guarded_roots = frozenset(root for root, _ in self._guarded)
        self._guarded_prefixes = tuple(root.rstrip("/") + "/" for root, _ in self._guarded)
        # every root a write must not reach
        self._denied = (*profile.read_deny, *profile.write_deny, *(root for root, _ in self._guarded))

    def read_problem(self, path: str) -> str:
        if path == THROUGH_OWN_PROCESS:
            return _OWN_PROCESS_PROBLEM.format("reads")
        if path in self._deny_roots or path.startswith(self._deny_prefixes):
            for root in self.profile.read_deny:
                if within(path, root):
                    return f"reads {path}, which is inside the denied read root {root}"
        if self.profile.read_allow and not (path in self._allow_roots or path.startswith(self._allow_prefixes)):
            return f"reads {path}, which is outside the read roots"
        return ""

    def write_problem(self, path: str) -> str:
        if path == THROUGH_OWN_PROCESS:
            return _OWN_PROCESS_PROBLEM.format("writes")
        if path in OWN_STREAMS or path.startswith(OWN_STREAM_DIRS) or any(within(path, p) for p in ALWAYS_WRITABLE):
            return ""
        for root in self.profile.write_deny:
            if within(path, root):
                return f"writes {path}, which is inside the denied write root {root}"
        if path in self._guarded_roots or path.startswith(self._guarded_prefixes):
            for root, why in self._guarded:
                if within(path, root):
                    return f"writes {path}, {why}"
        if "/.git/" in path:
            problem = git_dir_problem(path)
            if problem:
                return problem
        if not any(within(path, r) for r in self.profile.write_allow):
            return f"writes {path}, which is outside the write roots ({', '.join(self.profile.write_allow) or 'none'})"
        if "/hooks" in path or "/config" in path or "/modules/" in path or "/worktrees/" in path \
                or "/commondir" in path:
            problem = other_git_dir_problem(path)
            if problem:
                return problem
        return self.read_problem(path)

    def move_problem(self, path: str) -> str:
        """Moving `path` moves what is below it: a denied root inside it would land somewhere
        the profile no longer denies (`mv proj/a /tmp/b && cat /tmp/b/secrets/key`)."""
        for root in self._denied:
            if root != path and within(root, path):
                return f"moves {path}, which holds the denied root {root}"
        return ""

    def held_roots(self, path: str) -> list[str]:
        """The denied roots (read, write, agentsh's own) strictly below `path`."""
        return [root for root in self._denied if root != path and within(root, path)]

    def tree_problem(self, path: str) -> str:
        """`cp -rs` links each file below `path`: into a denied read root when it holds one."""
        for root in self.profile.read_deny:
            if root != path and within(root, path):
                return f"links each file below {path}, which holds the denied read root {root}"
        return ""

    def copy_problem(self, sources: list[Word], destination: Word, contents: bool, cwd: str) -> str:
        """`cp -r` copies what is below each source: into a directory that holds a denied root
        it writes inside that root when the source has the matching path (`cp -r p/. .git/`
        with p/hooks puts p/hooks into .git/hooks)."""
        if destination.value is None:
            return ""  # a dynamic destination is refused as a write target
        target = resolve(destination.value, cwd)
        inside = [root for root in self._denied if within(root, target)]
        if not inside:
            return ""
        for source in sources:
            if source.value is None:  # a glob: bash's `*` names no dotted directory such as .git
                found = glob_parts(source.text, self.home)
                name = found[1][-1] if found else "*"
                for root in inside:
                    first = _below(root, target).split("/")[0]
                    if not first or glob_may_name([name], [first]):
                        return f"copies {source.text} into {target}, where it can land in the denied root {root}"
                continue
            origin = resolve(source.value, cwd)
            whole = contents or source.value.rstrip("/").endswith("/.") or source.value == "."
            base = target if whole or not os.path.isdir(target) else os.path.join(target, os.path.basename(origin))
            for root in inside:
                if not within(root, base):
                    continue
                rest = _below(root, base)
                # a path the line can write below the source may be there by the time cp runs,
                # though not now (`mkdir -p g/hooks && ... && cp -a g/. .git` planted a hook):
                # for a root that guards against planted code (a read root only hides files)
                landing = os.path.join(origin, rest) if rest else origin
                planted = root in self.profile.write_deny or root in self._guarded_roots
                if not rest or os.path.lexists(landing) or (planted and not self.write_problem(landing)):
                    return f"copies {source.text} into {target}, which puts {rest or source.text} into the denied root {root}"
        return ""

    def check_read_word(self, word: Word, cwds: Iterable[str], reals: dict[str, str] | None = None) -> str:
        value = word.value
        if value is None:
            problem = self._dynamic(word, "read")
            if problem:
                return problem
            if word.why_dynamic == "tilde expansion":
                return self._directory_tilde_reads(word, cwds, reals)
            if "$" in word.text:
                problem = self._known_variable_reads(word, cwds, reals) or self._unset_reads(word, cwds, reals)
                if problem:
                    return problem
            if word.why_dynamic not in ("glob", "brace expansion"):
                return ""
            if "{" in word.text and BRACE_GROUP.search(word.text):  # `{src,secrets}/*` too
                return self._brace_reads(word, cwds, reals)
            return self._glob(word, cwds, write=False, reals=reals) if word.why_dynamic == "glob" else ""
        # The two commonest shapes without arg_candidates' lists: a flag (`-la`, no file in it)
        # and a plain operand (the word itself is the only candidate; `NAME=FILE` has two).
        if value[:1] == "-" and "=" not in value and "/" not in value and \
                ("." not in value or not _GLUED_DOTFILE.search(value, 1)):
            return ""
        if value and value[0] != "-" and value[0] != "@" and "=" not in value:
            candidates = [value]
        else:
            candidates = arg_candidates(value)
        for candidate in candidates:
            for cwd in cwds:
                if _pathlike(candidate, cwd):
                    problem = self.read_problem(resolve(candidate, cwd, reals, read=True))
                    if not problem and ".." in candidate:  # (most paths have none: no call for them)
                        problem = self._lexical_problem(candidate, cwd, self.read_problem)
                    if problem:
                        return problem
        return ""

    @staticmethod
    def _lexical_problem(value: str, cwd: str, check: Callable[[str], str]) -> str:
        """`..` is taken after the link before it, as the kernel does, but some programs take it
        off the text first (node's module loader, path.resolve): with `rc -> ../.bashrc`, `node
        rc/../../.ssh/id_rsa` read the key the kernel would not reach.  Both are checked."""
        if ".." not in value.split("/"):
            return ""
        return check(resolve(os.path.normpath(os.path.join(cwd, value)), "/"))

    def _directory_tilde_reads(self, word: Word, cwds: Iterable[str], reals: dict[str, str] | None) -> str:
        """`~+` is $PWD and `~-` $OLDPWD (`~N`, `~+N`, `~-N`: the directory stack, which starts
        with $PWD): each a directory the line is or was in, so the rest is checked from each of
        them (`cat ~+/secrets/key`, `cd src && cat ~-/secrets/key`).  Other forms (`~user`)
        keep the fragment check."""
        match = _DIRECTORY_TILDE.fullmatch(word.text)
        if match is None:
            return ""
        rest = match.group(1) or "."
        problem = self.check_read_word(Word(rest, rest), cwds, reals)
        return f"{word.text}: {problem}" if problem else ""

    def known_variable_paths(self, text: str, cwds: list[str]) -> list[str]:
        """The paths a word `$VAR/rest` (VAR one of HOME, PWD, OLDPWD; an option's value too,
        `--file=$PWD/x`) may be, one per value VAR may have; none for any other word."""
        bare = text.replace('"', "")
        option = _OPTION_BEFORE_VALUE.match(bare)  # `--file=$PWD/x`, `-f$PWD/x`: the value
        match = _KNOWN_VARIABLE.fullmatch(bare, option.end() if option else 0) if "'" not in text else None
        if match is None:
            return []
        name = match.group(1) or match.group(2)
        rest = match.group(3) or ""
        values = [self.home] if name == "HOME" else cwds if name == "PWD" else ["", *cwds]
        return [(value.rstrip("/") + rest) or "/" for value in values]

    def _unset_reads(self, word: Word, cwds: Iterable[str], reals: dict[str, str] | None) -> str:
        """A variable the line does not set is empty (or its default): `cat ${d}secrets/key`
        read secrets/key, a name the fragment check did not see (it looks for the denied root's
        name from HOME, `proj/secrets`).  The word is checked as it reads with every plain
        `$name`/`${name}` empty and every `${name:-word}` its word (quotes taken out)."""
        if "'" in word.text or "`" in word.text or "$(" in word.text:
            return ""
        text = word.text  # the quotes go after the expansions (`"$d"secrets` is not `$dsecrets`)
        for value in {_PARAMETER.sub("", text).replace('"', ""),
                      _PARAMETER.sub(lambda m: m.group(1) or "", text).replace('"', "")}:
            if value and "$" not in value and _PLAIN_PATH.fullmatch(value) and not any(c in value for c in GLOB_CHARS):
                problem = self.check_read_word(Word(value, value), cwds, reals)
                if problem:
                    return f"{word.text} (its variables unset): {problem}"
        return ""

    def _known_variable_reads(self, word: Word, cwds: Iterable[str], reals: dict[str, str] | None) -> str:
        """`$PWD/gh/hosts.yml`, `"$HOME"/.config/gh/x`: the value is known (HOME is agentsh's,
        PWD each directory the line is in, OLDPWD each it was in, or unset), so the path is
        checked as written out.  The fragment check alone let `cd ~/.config && cat
        $PWD/gh/hosts.yml` print the token (the text names `gh`, not `.config/gh`)."""
        cwds = list(cwds)
        for path in self.known_variable_paths(word.text, cwds):
            problem = self._written_out_reads(path, cwds, reals)
            if problem:
                return f"{word.text}: {problem}"
        return ""

    def _written_out_reads(self, path: str, cwds: Iterable[str], reals: dict[str, str] | None) -> str:
        """A read of a path the check wrote out itself (a known value, a brace alternative):
        with a glob in it, by what bash can expand it to."""
        if any(c in path for c in GLOB_CHARS):
            return self._glob(Word(path, None, "glob"), cwds, write=False, reals=reals)
        return self.check_read_word(Word(path, path), cwds, reals)

    def _brace_reads(self, word: Word, cwds: Iterable[str], reals: dict[str, str] | None) -> str:
        """Brace expansion is static: each alternative made of plain characters is checked as
        the path (or glob) it is: `cat {secrets,src}/key` reads `secrets/key`, a name the
        fragment check cannot see when the denied root is outside HOME.  Alternatives with
        anything else in them keep the fragment check alone."""
        for alternative in brace_alternatives(word.text):
            if not _PLAIN_PATH.fullmatch(alternative):
                continue
            if alternative == "~" or alternative.startswith("~/"):
                alternative = self.home.rstrip("/") + alternative[1:]
            elif "~" in alternative:
                continue  # ~user, `a=~`: the fragment check's
            problem = self._written_out_reads(alternative, cwds, reals)
            if problem:
                return f"{word.text}: {problem}"
        return ""

    def check_write_word(self, word: Word, cwds: Iterable[str], reals: dict[str, str] | None = None) -> str:
        if word.value is None:
            if word.why_dynamic == "glob":
                return self._glob(word, cwds, write=True, reals=reals)
            return f"writes to {word.text}, which is only known at run time"
        for cwd in cwds:
            problem = self.write_problem(resolve(word.value, cwd, reals))
            if not problem and ".." in word.value:  # (most paths have none: no call for them)
                problem = self._lexical_problem(word.value, cwd, self.write_problem)
            if problem:
                return problem
        return ""

    def _dynamic(self, word: Word, what: str) -> str:
        """Does a word known only at run time spell a denied root's name?  Quotes and
        backslashes cut no name short (`.ss"h"` spells `.ssh`), each alternative of a brace
        expansion is read (`~/.{ssh,aws}`), and a glob component may stand for a component
        of the name (`$HOME/.s*h/id_rsa`)."""
        text = word.text
        bare = text.replace('"', "").replace("'", "").replace("\\", "") if "'" in text or '"' in text or \
            "\\" in text else text
        for spelled in brace_alternatives(bare) if "{" in bare else (bare,):
            for fragment in self.denied_fragments:
                if fragment in spelled:
                    return f"{what}s {word.text}, which names the denied root {fragment}"
            # `$?`, `$*` are parameters, not globs: only a component with a glob left in it
            # can stand for a component of a name.
            parts = spelled.split("/")
            globs = [i for i, part in enumerate(parts)
                     if any(c in PARAMETERS.sub("", part) for c in GLOB_CHARS)]
            if not globs:
                continue
            if len(parts) == 1:  # `*.py`: only a one-component name can be spelled
                named = next((f for f, name in self._single_names if component_may_name(parts[0], name)), None)
                if named is not None:
                    return f"{what}s {word.text}, which names the denied root {named}"
                continue
            for fragment, wanted in self._fragment_parts:
                if len(wanted) <= len(parts) and components_may_spell(parts, globs, wanted):
                    return f"{what}s {word.text}, which names the denied root {fragment}"
        return ""

    def _glob(self, word: Word, cwds: Iterable[str], *, write: bool, reals: dict[str, str] | None = None) -> str:
        """A glob expands to names under its literal directory, as bash matches them: refused
        when that directory is outside the roots (`link/*` with link -> ~/.ssh, `rm ~/.bash*`),
        or when its pattern can name a denied root below it (`~/.s*/id_rsa`, `/etc/sha*`).
        A glob with quotes, escapes or expansions is left to the fragment check when read,
        and refused as a write target, whose directory it would hide."""
        found = glob_parts(word.text, self.home)
        if found is None:
            return f"writes to {word.text}, which is only known at run time" if write else ""
        directory, pattern = found
        if ".." in pattern:
            # `*/../x`, `src/**/../../x`: `..` goes up from wherever each match leads, links
            # included, so no component-wise match says where it ends.
            return (f"{'writes' if write else 'reads'} {word.text}: `..` after a glob pattern can lead "
                    "anywhere a matched link leads")
        check = self.write_problem if write else self.read_problem
        denied = self._denied if write else self.profile.read_deny
        for cwd in cwds:
            base = resolve(directory, cwd, reals, read=not write)  # reals: the line's known real directories
            problem = check(base)
            if problem:
                return f"{word.text} expands under {base}: {problem}"
            below = base.rstrip("/") + "/"
            for root in [r for r in denied if r.startswith(below)]:  # the roots below base, in one pass
                if glob_may_name(pattern, _below(root, base).split("/")):
                    return f"{'writes' if write else 'reads'} {word.text}, which can name {root}, a denied root"
            if write and glob_may_reach_git(base.split("/") + pattern):
                return (f"writes {word.text}, which can name what git runs programs from (a .git "
                        "directory's hooks or configuration)")
        return ""




def _below(path: str, base: str) -> str:
    """`path` relative to `base`, which holds it ("" when they are the same)."""
    return path[len(base.rstrip("/")) + 1:] if path != base else ""
