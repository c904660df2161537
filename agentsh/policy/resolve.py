"""Which program a command word names: a bash builtin or a pinned file on the profile's path."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

# bash 5 builtins (plus the `time` keyword). Functions are refused and `enable` is refused, so a name in
# this set always runs the builtin, whatever files exist on PATH.
BASH_BUILTINS = frozenset("""
. : [ alias bg bind break builtin caller cd command compgen complete compopt continue
declare dirs disown echo enable eval exec exit export false fc fg getopts hash help
history jobs kill let local logout mapfile popd printf pushd pwd read readarray readonly
return set shift shopt source suspend test times trap true type typeset ulimit umask
unalias unset wait
""".split()) | {"time"}  # `time` is a keyword; agentsh treats it as a builtin wrapper

BUILTIN_PREFIX = "builtin:"


@dataclass(frozen=True)
class Program:
    """A resolved command: ``identity`` is what rules match, ``path`` what bash will run."""

    name: str  # the word as typed
    identity: str  # real path of the file, or "builtin:NAME"
    path: str  # the path bash will execute ("" for builtins)

    @property
    def is_builtin(self) -> bool:
        return self.identity.startswith(BUILTIN_PREFIX)

    @property
    def basename(self) -> str:
        if self.is_builtin:
            return self.identity[len(BUILTIN_PREFIX):]
        return os.path.basename(self.identity)


class ResolveError(ValueError):
    pass


def _executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def lookup(name: str, path: Iterable[str]) -> str | None:
    for directory in path:
        candidate = os.path.join(directory, name)
        if _executable(candidate):
            return candidate
    return None


def resolve_rule_programs(run: Iterable[str], path: Iterable[str]) -> frozenset[str]:
    dirs = tuple(path)
    found: set[str] = set()
    for name in run:
        if "/" in name:
            found.add(os.path.realpath(name))
            continue
        if name in BASH_BUILTINS:
            found.add(BUILTIN_PREFIX + name)
        hit = lookup(name, dirs)
        if hit is not None:
            found.add(os.path.realpath(hit))
    return frozenset(found)


def resolve_command(name: str, path: Iterable[str], cwd: str) -> Program:
    """Resolve a command word the way bash will, restricted to the profile's path.

    A word with a slash is accepted only if it names exactly the file that a
    lookup of its basename on the profile's path finds: `./git`, a copy, or a
    symlink elsewhere is refused even if it points at the real git.
    """
    dirs = tuple(path)
    if "/" not in name:
        if name in BASH_BUILTINS:
            return Program(name=name, identity=BUILTIN_PREFIX + name, path="")
        hit = lookup(name, dirs)
        if hit is None:
            raise ResolveError(f"'{name}' is not found on the profile's path ({':'.join(dirs)})")
        return Program(name=name, identity=os.path.realpath(hit), path=hit)
    full = os.path.normpath(os.path.join(cwd, name))
    base = os.path.basename(full)
    hit = lookup(base, dirs)
    if hit is None or os.path.normpath(hit) != full:
        raise ResolveError(f"'{name}' is not the '{base}' on the profile's path; "
                           "run programs by name or by their path on the profile's path")
    return Program(name=name, identity=os.path.realpath(hit), path=hit)
