"""Which program a command word names: a bash builtin or a pinned file on the profile's path.

A file is identified by device and inode (what the kernel will execute), not by
its name.  Because multi-call binaries (busybox, coreutils' single binary) pick
their behaviour from argv[0], a rule for `ls` must not match `sh` (or `busybox`)
just because they are links to the same file: a rule entry matches only when the
command is invoked under the rule's own name and resolves to the same file.
"""

# No `from __future__ import annotations`: typing.NamedTuple compiles every string
# annotation at import (~4 ms over agentsh -c's models); tests/test_startup_imports.py.

import os
import stat
from collections.abc import Iterable
from typing import NamedTuple

# bash 5 builtins (plus the `time` keyword). Functions are refused and `enable` is refused,
# so a name in this set always runs the builtin, whatever files exist on PATH.
BASH_BUILTINS = frozenset("""
. : [ alias bg bind break builtin caller cd command compgen complete compopt continue
declare dirs disown echo enable eval exec exit export false fc fg getopts hash help
history jobs kill let local logout mapfile popd printf pushd pwd read readarray readonly
return set shift shopt source suspend test times trap true type typeset ulimit umask
unalias unset wait
""".split()) | {"time"}  # `time` is a keyword; agentsh treats it as a builtin wrapper

BUILTIN_PREFIX = "builtin:"

FileKey = tuple[int, int] | tuple[str, str]


class Program(NamedTuple):
    """A resolved command: ``identity`` is shown and audited, ``key`` is what rules match."""

    name: str  # the word as typed
    identity: str  # real path of the file, or "builtin:NAME"
    path: str  # the path bash will execute ("" for builtins)
    key: FileKey  # (st_dev, st_ino), or ("builtin", NAME)
    # Derived from identity once (the engine asks for them many times per command).
    basename: str = ""  # the file's or builtin's own name
    is_builtin: bool = False

    def invoked_as(self, rule_name: str) -> bool:
        """May a rule written as `run: rule_name` cover this invocation of the same file?"""
        return os.path.basename(self.name) == os.path.basename(rule_name)


def _basename(identity: str) -> str:
    return identity[identity.rfind(":" if identity.startswith(BUILTIN_PREFIX) else "/") + 1:]


class ResolveError(ValueError):
    pass


def lookup(name: str, path: Iterable[str]) -> tuple[str, os.stat_result] | None:
    for directory in path:
        # The profile's path entries are absolute; join by hand (posixpath.join is slow).
        candidate = directory + name if directory.endswith("/") else directory + "/" + name
        # The same test as stat, S_ISREG, access in that order, with access first: most
        # directories on the path lack the name, and a failed access returns False where a
        # failed stat raises (~0.7 µs more per directory missed).
        try:
            if not os.access(candidate, os.X_OK):
                continue
            info = os.stat(candidate)
        except (OSError, ValueError):
            continue
        if stat.S_ISREG(info.st_mode):
            return candidate, info
    return None


def rule_keys(name: str, path: Iterable[str]) -> list[FileKey]:
    """The files (and builtin) a rule's `run:` entry names; [] if none exists."""
    keys: list[FileKey] = []
    if "/" in name:
        try:
            info = os.stat(name)
        except (OSError, ValueError):
            return keys
        keys.append((info.st_dev, info.st_ino))
        return keys
    if name in BASH_BUILTINS:
        keys.append(("builtin", name))
    hit = lookup(name, path)
    if hit is not None:
        keys.append((hit[1].st_dev, hit[1].st_ino))
    return keys


def resolve_command(name: str, path: Iterable[str], cwd: str) -> Program:
    """Resolve a command word the way bash will, restricted to the profile's path.

    A word with a slash is accepted only if it names exactly the file that a
    lookup of its basename on the profile's path finds: `./git`, a copy, or a
    symlink elsewhere is refused even if it points at the real git.
    """
    dirs = tuple(path)
    if "/" not in name:
        if name in BASH_BUILTINS:
            return Program(name=name, identity=BUILTIN_PREFIX + name, path="", key=("builtin", name),
                           basename=name, is_builtin=True)
        hit = lookup(name, dirs)
        if hit is None:
            raise ResolveError(f"'{name}' is not found on the profile's path ({':'.join(dirs)})")
        return _program(name, *hit)
    if ".." in name.split("/"):
        # After a symbolic link, `..` goes up from the link's target: `x/../../usr/bin/git`
        # can name a file elsewhere that normpath would call /usr/bin/git.
        raise ResolveError(f"'{name}' goes up with '..', which need not end where it seems to; "
                           "run programs by name or by their path on the profile's path")
    full = os.path.normpath(os.path.join(cwd, name))
    base = os.path.basename(full)
    hit = lookup(base, dirs)
    if hit is None or os.path.normpath(hit[0]) != full:
        raise ResolveError(f"'{name}' is not the '{base}' on the profile's path; "
                           "run programs by name or by their path on the profile's path")
    return _program(name, *hit)


_REAL: dict[tuple[str, int, int], str] = {}
_PROGRAMS: dict[tuple[str, str, int, int], Program] = {}


def _program(name: str, path: str, info: os.stat_result) -> Program:
    # realpath costs an lstat per path component on every command; the file's identity
    # (device, inode) decides, so its real name is remembered per identity.  The Program
    # is a function of (name, path, identity, real name) alone, so it is remembered with it.
    found = _PROGRAMS.get((name, path, info.st_dev, info.st_ino))
    if found is not None:
        return found
    memo = (path, info.st_dev, info.st_ino)
    real = _REAL.get(memo)
    if real is None:
        real = _REAL[memo] = os.path.realpath(path)
    program = Program(name=name, identity=real, path=path, key=(info.st_dev, info.st_ino), basename=_basename(real))
    if len(_PROGRAMS) < 4096:
        _PROGRAMS[(name, path, info.st_dev, info.st_ino)] = program
    return program
