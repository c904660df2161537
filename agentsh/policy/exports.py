"""`export PYTHONPATH=src && python3 -m pytest`: an export every later command's rule allows.

A hazard variable (PYTHONPATH: which code an interpreter imports) may be set in front of a
command whose rule names it under `env:` (`PYTHONPATH=src python3 -m pytest`).  An export
reaches every command after it, and the programs those run, whose rules may not name it
(a tool allowed with a few arguments would import the agent's code), so it was refused.
Here it is allowed when the line shows where it goes and what it names:

- every program the line may run, anywhere in it (before the export too: a loop runs it
  again), and each program a wrapper or `find -exec` runs, is a builtin or allowed by a
  rule that names the variable (the wrapper's own rule too, as for `PYTHONPATH=src timeout
  60 pytest`);
- only PYTHONPATH, whose value is a list of directories: written literally, each entry
  (an empty one is the working directory) read-checked and inside the profile's workspace
  from every directory the line may be in, since Python resolves a relative entry from the
  directory it starts in;
- nothing else is exported by that command, and its other words are what export allows.

The export does not reach later lines: only variables the profile passes are carried from
one interactive line to the next (state.py).
"""

from __future__ import annotations

import os

from ..parse import SimpleCommand, Word
from ..profile import Profile
from .builtins import builtin_problem
from .decision import Verdict, flatten
from .paths import PathChecker
from .realpaths import resolve

# The variables an export may set for the rules that name them, each a list of directories
EXPORTABLE = frozenset({"PYTHONPATH"})


def export_allowed(command: SimpleCommand, verdicts: list[Verdict], profile: Profile, paths: PathChecker,
                   cwds: list[str]) -> bool:
    """May this refused `export NAME=VALUE` run after all (see the module's text)?
    `verdicts`: the line's, this command's among them; `cwds`: every directory the line may be in."""
    if not command.argv or command.argv[0].value != "export" or command.assignments or command.redirects:
        return False
    named: list[tuple[str, str]] = []
    rest: list[Word] = []
    for word in command.argv[1:]:
        name, eq, value = (word.value or "").partition("=")
        if word.value is not None and eq and name in EXPORTABLE:
            named.append((name, value))
        else:
            rest.append(word)
    if len(named) != 1 or builtin_problem("export", tuple(rest), profile):
        return False
    name, value = named[0]
    if not _inside_workspace(value, profile, paths, cwds):
        return False
    by_name: dict[str, list[frozenset[str]]] = {}
    for rule in profile.rules:
        by_name.setdefault(rule.name, []).append(rule.env)
    for verdict in flatten(verdicts):
        if verdict.command == command.text and verdict.program == "builtin:export":
            continue
        if not verdict.program or verdict.program.startswith("builtin:") or verdict.decision == "deny":
            continue  # an assignment, a builtin (nothing it runs), or refused anyway
        envs = by_name.get(verdict.rule)
        if not envs or not all(name in env for env in envs):
            return False
    return True


def _inside_workspace(value: str, profile: Profile, paths: PathChecker, cwds: list[str]) -> bool:
    """Is each entry of the directory list, from each of cwds, readable and in the workspace?"""
    roots = [os.path.realpath(root) for root in profile.workspace]
    for entry in value.split(":"):
        for cwd in cwds:
            path = resolve(entry or ".", cwd)
            if paths.read_problem(path) or not any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots):
                return False
    return True
