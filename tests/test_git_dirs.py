"""Writes into what git takes programs from, in any repository: hooks, configuration
(core.fsmonitor, core.pager, aliases, drivers), `commondir`, and the git directories of
submodules and worktrees.  The default profile denied only the workspace's own
.git/hooks and .git/config; a nested repository, a submodule or a repository in /tmp was
open: `git init -q /tmp/r && printf '[core]\\n\\tfsmonitor = CMD\\n' >> /tmp/r/.git/config &&
cd /tmp/r && git status` ran CMD (touch, which the default profile allows, so the exec guard
let it run), and a person's next git command in such a repository runs it as them."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from agentsh.policy import Decision
from tests.conftest import run_guardrail

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.mark.parametrize("line", [
    "printf '[core]\\n\\tfsmonitor = x\\n' >> {tmp}/r/.git/config",
    "echo x > {tmp}/r/.git/hooks/pre-commit",
    "cp README.md sub/.git/config",
    "mkdir -p sub/.git/hooks",
    "echo x > sub/.git/modules/m/hooks/post-checkout",
    "tee .git/modules/m/config < README.md",
    "echo /tmp/r/.git > .git/commondir",
    "echo x > .git/worktrees/w/config.worktree",
])
def test_writes_git_takes_programs_from_are_refused(line: str, tmp_path: Path,
                                                    decide: Callable[[str], Decision]) -> None:
    decision = decide(line.format(tmp=tmp_path))
    assert decision.decision == "deny", line
    assert any("from which git runs programs" in v.reason for v in decision.refused), decision.refused


@pytest.mark.parametrize("line", [
    "echo build/ >> .git/info/exclude", "rm -f .git/index.lock", "git init -q sub", "touch notes.git/config",
    "cat .git/config", "mkdir -p docs/.github/workflows",
])
def test_other_git_files_and_lookalikes_are_allowed(line: str, decide: Callable[[str], Decision]) -> None:
    assert decide(line).decision == "allow", line


@pytest.mark.parametrize("config", [".gitconfig", ".config/git/config"])
def test_gits_global_configuration_runs_no_planted_fsmonitor(config: str, home: Path, tmp_path: Path,
                                                            agentsh_env: dict[str, str]) -> None:
    """~/.gitconfig is .git/config for every repository: with the workspace in HOME a line
    appended a core.fsmonitor there and the next `git status` ran it (guardrail mode)."""
    canary = tmp_path / "canary"
    line = (f"mkdir -p {Path(config).parent or '.'} && "
            f"printf '[core]\\n\\tfsmonitor = \"touch {canary}; false\"\\n' >> {config} && "
            "git init -q r && cd r && git status")
    done = run_guardrail(line, home, agentsh_env, tmp_path)
    assert done.returncode == 126, done.stdout + done.stderr
    assert "git's global configuration" in done.stderr
    assert not canary.exists()
    subprocess.run(["bash", "-c", line], cwd=home, env=dict(agentsh_env, HOME=str(home)), capture_output=True)
    assert canary.exists(), "git no longer runs it so: the case proves nothing"


@pytest.mark.parametrize("target", [".bashrc", ".profile", ".zshenv", ".config/systemd/user/x.service"])
def test_start_up_files_take_no_commands(target: str, home: Path, tmp_path: Path,
                                         agentsh_env: dict[str, str]) -> None:
    """A line (workspace in HOME) appended a command to ~/.bashrc: the account's next shell,
    a person's perhaps, ran it outside agentsh."""
    done = run_guardrail(f"mkdir -p {Path(target).parent} && echo 'touch ~/PWNED' >> {target}", home,
                         agentsh_env, tmp_path)
    assert done.returncode == 126, done.stdout + done.stderr
    assert "start-up file" in done.stderr
    assert not (home / target).exists()


def test_a_repository_in_tmp_runs_no_planted_fsmonitor(tmp_path: Path, run_agentsh: Run) -> None:
    (tmp_path / "repos").mkdir()  # beside HOME: tmp_path itself holds a denied root (~/.ssh)
    repo = tmp_path / "repos" / "r"
    canary = tmp_path / "repos" / "canary"
    assert run_agentsh("-c", f"git init -q {repo}").returncode == 0
    line = (f"printf '[core]\\n\\tfsmonitor = \"touch {canary}; false\"\\n' >> {repo}/.git/config && "
            f"cd {repo} && git status")
    done = run_agentsh("-c", line)
    assert done.returncode == 126, done.stderr
    assert "from which git runs programs" in done.stderr
    assert not canary.exists()


@pytest.mark.parametrize("line", ["echo x > sub/.g*/hooks/pre-commit", "echo x > sub/.git/h*/pre-commit",
                                  "cp README.md sub/.git/co*", "rm -f sub/.??t/hooks/*"])
def test_write_globs_that_can_name_them_are_refused(line: str, decide: Callable[[str], Decision]) -> None:
    """bash expands a glob in a redirection too: `> sub/.g*/hooks/pre-commit` writes the hook."""
    decision = decide(line)
    assert decision.decision == "deny", line
    assert any("what git runs programs from" in v.reason for v in decision.refused), decision.refused


def test_a_bare_repository_runs_no_planted_hook(tmp_path: Path, run_agentsh: Run) -> None:
    """A bare repository (or a --separate-git-dir) has no `.git` in its path: it is known by
    what git looks for (HEAD, objects/, refs/).  Before, the hook was written, and the
    next push into the repository ran it."""
    (tmp_path / "repos").mkdir()
    bare = tmp_path / "repos" / "r.git"
    canary = tmp_path / "repos" / "canary"
    assert run_agentsh("-c", f"git init -q --bare {bare}").returncode == 0
    assert (bare / "HEAD").is_file() and (bare / "hooks").is_dir()
    hook = bare / "hooks" / "post-update"
    done = run_agentsh("-c", f"printf '#!/bin/sh\\ntouch {canary}\\n' > {hook}")
    assert done.returncode == 126, done.stderr
    assert "from which git runs programs" in done.stderr
    assert not hook.exists()
    done = run_agentsh("-c", f"printf '[core]\\n\\tfsmonitor = x\\n' >> {bare}/config")
    assert done.returncode == 126, done.stderr
    assert "fsmonitor" not in (bare / "config").read_text()


@pytest.mark.parametrize("line", ["mkdir -p x/hooks && echo a > x/hooks/b", "echo a > config",
                                  "mkdir -p src/config && touch src/config/app.yaml"])
def test_a_directory_that_is_no_git_directory_may_hold_hooks_and_config(line: str,
                                                                       decide: Callable[[str], Decision]) -> None:
    assert decide(line).decision == "allow", line


@pytest.mark.parametrize("line", ['git init -q "$d"', "git -C . init /etc/agentsh-x", 'git worktree add "$w"'])
def test_what_git_init_creates_is_a_write_target(line: str, tmp_path: Path,
                                                 decide: Callable[..., Decision]) -> None:
    """Found after git's global options (`-C .` made the checker take `.` for the subcommand),
    and a dynamic operand is a target (it was skipped: `git init "$d"` made a repository anywhere)."""
    profile = tmp_path / "git-any.yaml"
    profile.write_text("agentsh: 1\nname: git-any\nextends: [default]\n"
                       "commands:\n  - {name: git-any, run: git, decision: allow}\n")
    decision = decide(line, str(profile))
    assert decision.decision == "deny", line
    assert any("only known at run time" in v.reason or "outside the write roots" in v.reason
               for v in decision.refused), decision.refused
