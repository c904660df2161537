"""A glob is checked by what bash can expand it to: its literal directory (resolved,
symlinks and all) and, below that, whether its pattern can name a denied root. Quotes and
backslashes in a dynamic word do not hide a denied root's name from the fragment check."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from agentsh.policy import Policy
from agentsh.policy.globs import brace_alternatives, components_may_spell, glob_may_name
from agentsh.profile import Host, load_profile

Run = Callable[..., subprocess.CompletedProcess[str]]
SECRET = "SECRET-KEY-BYTES"


@pytest.fixture
def default_policy(home: Path, workspace: Path) -> Policy:
    (home / ".aws").mkdir()
    (home / ".aws" / "credentials").write_text(SECRET + "\n")
    (home / "notes.txt").write_text("notes\n")
    os.symlink(home / ".ssh", workspace / "keys")
    (workspace / "src").mkdir()
    (workspace / "src" / "app.py").write_text("print(1)\n")
    (workspace / "README.md").write_text("# readme\n")
    host = Host(cwd=str(workspace), home=str(home), config_home=str(home / ".config"))
    return Policy(load_profile(None, host), host)


@pytest.mark.parametrize("line", [
    "cat keys/*",  # the literal directory is a link into ~/.ssh
    "cat keys/id_rs?",
    "head ~/.s*/id_rsa",  # the pattern can name ~/.ssh
    "cat ~/.ss[h]/id_rsa",
    "cat ~/.*/credentials",
    "grep -h KEY ~/.a*/credentials",
    'cat "$HOME"/.ss"h"/id_rsa',  # quotes split the name
    "cat ~/.{ssh,aws}/id_rsa",  # brace expansion spells it
    "cat ~/.s{s,x}h/id_rsa",
    "cat $HOME/.s*h/id_rsa",  # a glob component stands for it, after a variable
    "cat $HOME/.[s]sh/id_rsa",
    "cat ~/.s\\sh/id_rsa",
])
def test_globs_that_reach_a_denied_root_are_refused(line: str, default_policy: Policy, run_agentsh: Run) -> None:
    decision = default_policy.decide(line)
    assert decision.decision == "deny", line
    done = run_agentsh("-c", line)
    assert done.returncode == 126, done.stderr
    assert SECRET not in done.stdout + done.stderr


@pytest.mark.parametrize("line", [
    "cat $HOME/*.txt", "ls $HOME/[a-z]*", "cat src/{app,main}.py", "ls $PWD/src/*", 'echo "exit=$?"',
    'echo "args: $* $@ $#"',
    "cat *.md", "wc -l src/*.py", "ls src/*", "cat ~/*.txt", "cat ~/*", "ls -d ~/*/", "head -n 3 src/app.p?",
])
def test_ordinary_globs_are_allowed(line: str, default_policy: Policy) -> None:
    assert default_policy.decide(line).decision == "allow", default_policy.decide(line).refused


def test_brace_alternatives_and_components() -> None:
    assert brace_alternatives("~/.{ssh,aws}/id_rsa") == ["~/.ssh/id_rsa", "~/.aws/id_rsa"]
    assert brace_alternatives("a{1,2}b{x,y}") == ["a1bx", "a1by", "a2bx", "a2by"]
    assert brace_alternatives("{a}") == ["{a}"] and len(brace_alternatives("{a,b}" * 20)) == 256
    def spells(text: str, name: str) -> bool:
        parts = text.split("/")
        globs = [i for i, part in enumerate(parts) if any(c in part for c in "*?[")]
        return components_may_spell(parts, globs, tuple(name.split("/")))

    assert spells("$HOME/.s*h/id_rsa", ".ssh") and spells("/etc/sha*", "/etc/shadow")
    assert spells("x/.config/g?", ".config/gh") and not spells("x/*", ".ssh")
    assert not spells("/etc/passwd/s*", "/etc/shadow")


def test_glob_may_name_follows_bash_matching() -> None:
    assert glob_may_name([".s*", "id_rsa"], [".ssh"])
    assert glob_may_name(["sha*"], ["shadow"])
    assert not glob_may_name(["*"], [".ssh"])  # * never matches a leading dot
    assert not glob_may_name(["?ssh"], [".ssh"])
    assert not glob_may_name(["*"], ["config", "gh"])  # only a parent: like a literal ~/.config
    assert glob_may_name(["*", "gh"], ["config", "gh"])
    assert not glob_may_name(["[.]ssh", "x"], [".ssh"])  # a leading dot only matches a literal dot
    assert glob_may_name([".[s]sh", "x"], [".ssh"])
    assert glob_may_name(["sha[!x]ow"], ["shadow"])  # brackets: taken to match what they might
    assert not glob_may_name(["x*"], ["shadow"])


@pytest.fixture
def far_home_policy(tmp_path: Path, workspace: Path) -> Policy:
    """HOME outside every write root (the tests' own homes sit under /tmp, which is one)."""
    host = Host(cwd=str(workspace), home="/nonexistent-agentsh-home", config_home=str(tmp_path / "config"))
    return Policy(load_profile(None, host), host)


@pytest.mark.parametrize("line", [
    "rm -f ~/.bash*",  # `~/` is HOME, not a directory named ~ in the working directory
    "touch ~/x*",
    'rm -f "/etc"/host*',  # quotes would hide the directory: refused as known only at run time
    "rm -rf .git/hoo*",  # can name the denied write root .git/hooks
    "echo x > ~/.prof*",
])
def test_write_globs_outside_the_roots_are_refused(line: str, far_home_policy: Policy) -> None:
    decision = far_home_policy.decide(line)
    assert decision.decision == "deny", line


@pytest.mark.parametrize("line", ["rm -f *.o", "rm -rf build/*", "echo x > out*.txt", "touch src/new*"])
def test_ordinary_write_globs_are_allowed(line: str, far_home_policy: Policy) -> None:
    decision = far_home_policy.decide(line)
    assert decision.decision == "allow", decision.refused


def test_write_glob_in_a_denied_place_does_not_run(tmp_path: Path, run_agentsh: Run, workspace: Path,
                                                   home: Path) -> None:
    canary_dir = home / ".ssh"
    before = sorted(p.name for p in canary_dir.iterdir())
    done = run_agentsh("-c", "touch ~/.ssh/planted* ~/.ss*/planted2")
    assert done.returncode == 126, done.stderr
    assert sorted(p.name for p in canary_dir.iterdir()) == before


@pytest.mark.parametrize("line", ["shopt -s dotglob; cat ~/*/id_rsa", "shopt -s nocaseglob; cat ~/.SS*/id_rsa",
                                  "GLOBIGNORE=x; cat ~/*/id_rsa"])
def test_glob_options_that_widen_matching_are_refused(line: str, default_policy: Policy, run_agentsh: Run) -> None:
    """The glob checks match as bash does by default: what would widen that is refused."""
    assert default_policy.decide(line).decision == "deny", line
    done = run_agentsh("-c", line)
    assert done.returncode == 126, done.stderr
    assert SECRET not in done.stdout + done.stderr


@pytest.fixture
def workspace_secrets(workspace: Path, home: Path, tmp_path: Path) -> Policy:
    """Denied roots inside the workspace, one a dot name, as admins write them."""
    (workspace / "secrets").mkdir()
    (workspace / "secrets" / "key").write_text(SECRET + "\n")
    (workspace / ".env").write_text(SECRET + "\n")
    profile = tmp_path / "inside.yaml"
    profile.write_text('agentsh: 1\nname: inside\nextends: [default]\n'
                       'read: {deny: ["{workspace}/secrets", "{workspace}/.env"]}\n')
    host = Host(cwd=str(workspace), home=str(home), config_home=str(home / ".config"))
    return Policy(load_profile(str(profile), host), host)


@pytest.mark.parametrize("line", ["cat */key", "cat s*/key", "cat ?ecrets/key", "cat .e*", "head .en?",
                                  "rm -f s*/key"])
def test_a_glob_with_no_directory_in_front_is_matched_from_its_first_character(
        line: str, workspace_secrets: Policy, workspace: Path, tmp_path: Path, run_agentsh: Run) -> None:
    """`*/key` is the pattern `*`, `key` from `.`: the reader dropped the pattern's first
    character when no directory came before it, so `cat */key` and `cat .e*` read denied roots."""
    decision = workspace_secrets.decide(line)
    assert decision.decision == "deny", line
    assert any("can name" in v.reason for v in decision.refused), decision.refused
    done = run_agentsh("-p", str(tmp_path / "inside.yaml"), "-c", line)
    assert done.returncode == 126, done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert (workspace / "secrets" / "key").exists()


@pytest.mark.parametrize("line", ["cat *.md", "cat src/*.py", "ls src/*"])
def test_globs_beside_denied_roots_in_the_workspace_are_allowed(line: str, workspace_secrets: Policy) -> None:
    assert workspace_secrets.decide(line).decision == "allow", line


@pytest.mark.parametrize("line", ["cat */../secrets/key", "shopt -s globstar; cat src/**/../../secrets/key",
                                  "cat src/*/../../secrets/key"])
def test_dotdot_after_a_glob_pattern_is_refused(line: str, workspace_secrets: Policy, workspace: Path) -> None:
    """After a matched name, `..` goes up from wherever that name leads (a link anywhere)."""
    (workspace / "src" / "sub").mkdir(parents=True)
    decision = workspace_secrets.decide(line)
    assert decision.decision == "deny", line
    assert any("after a glob pattern" in v.reason for v in decision.refused), decision.refused


def test_dotdot_before_the_pattern_is_resolved_as_a_path(workspace_secrets: Policy) -> None:
    assert workspace_secrets.decide("cat ../*/README.md").decision == "allow"


@pytest.mark.parametrize("line", ["cat {secrets,src}/key", "cat secr{e,x}ts/key", "cat .{e,x}nv",
                                  "cat {src,secrets}/*", "head -n 1 {README.md,secrets/key}"])
def test_brace_alternatives_are_read_checked_as_paths(line: str, workspace_secrets: Policy, tmp_path: Path,
                                                      run_agentsh: Run) -> None:
    """Brace expansion is static: each alternative is the path it names.  The fragment check
    saw only denied roots' names as written, which for a root outside HOME is the full path."""
    decision = workspace_secrets.decide(line)
    assert decision.decision == "deny", line
    done = run_agentsh("-p", str(tmp_path / "inside.yaml"), "-c", line)
    assert done.returncode == 126, done.stderr
    assert SECRET not in done.stdout + done.stderr


@pytest.mark.parametrize("line", ["ls {src,.}", "cat src/{a,b}.py", "cat {src,tests}/*.py", "echo {a,b}"])
def test_ordinary_brace_reads_are_allowed(line: str, workspace_secrets: Policy) -> None:
    assert workspace_secrets.decide(line).decision == "allow", line


@pytest.mark.parametrize("line", ["cat ~+/secrets/key", "cd src && cat ~-/secrets/key", "cd src && cat ~+/../secrets/key",
                                  "cat ~0/secrets/key"])
def test_directory_tildes_are_read_checked_from_each_directory(line: str, workspace_secrets: Policy, workspace: Path,
                                                               tmp_path: Path, run_agentsh: Run) -> None:
    """`~+` is $PWD, `~-` $OLDPWD, `~N` the directory stack: bash expands them to a directory
    the line is or was in, which the fragment check (a root outside HOME by its full path)
    did not see."""
    (workspace / "src").mkdir(exist_ok=True)
    decision = workspace_secrets.decide(line)
    assert decision.decision == "deny", line
    done = run_agentsh("-p", str(tmp_path / "inside.yaml"), "-c", line)
    assert done.returncode == 126, done.stderr
    assert SECRET not in done.stdout + done.stderr


def test_directory_tildes_elsewhere_are_allowed(workspace_secrets: Policy) -> None:
    assert workspace_secrets.decide("cat ~+/README.md && ls ~+").decision == "allow"
