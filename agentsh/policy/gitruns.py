"""Writes into what git later runs programs from, in any repository: a .git directory's
hooks and configuration, and a git directory by another name (a bare repository, one made
with --separate-git-dir)."""

from __future__ import annotations

import os

# What git runs programs from, in any repository's .git directory: hooks, configuration
# (core.fsmonitor, core.pager, aliases, filter and diff drivers), the directory shared with
# worktrees (`commondir`), and whole git directories below it (submodules, worktrees).
GIT_RUNS_FROM = frozenset({"hooks", "config", "config.worktree", "commondir", "modules", "worktrees"})


def git_dir_problem(path: str) -> str:
    """A write into what a git command run in that repository later takes programs from, in
    any repository (a nested one, a submodule, one in /tmp), for the agent's git or a person's."""
    parts = path.split("/")
    for i, part in enumerate(parts[:-1]):
        if part == ".git" and parts[i + 1] in GIT_RUNS_FROM:
            where = "/".join(parts[:i + 2])
            return (f"writes {path}, inside {where}, from which git runs programs (hooks, configured "
                    "commands) when anyone next uses that repository")
    return ""


def other_git_dir_problem(path: str) -> str:
    """git_dir_problem for a git directory not named .git: a bare repository (`r.git/hooks`)
    or one made with --separate-git-dir, known by what git itself looks for (HEAD, objects/,
    refs/).  Only directories on disk now count: a line that makes one must end with it
    (madelinks.py)."""
    parts = path.split("/")
    for i in range(1, len(parts) - 1):
        if parts[i + 1] in GIT_RUNS_FROM and parts[i] != ".git":
            where = "/".join(parts[:i + 1])
            if os.path.isfile(where + "/HEAD") and os.path.isdir(where + "/objects") \
                    and os.path.isdir(where + "/refs"):
                return (f"writes {path}, inside the git directory {where}, from which git runs programs "
                        "(hooks, configured commands) when anyone next uses that repository")
    return ""
