"""A symbolic link a line makes is not there when the line is checked: `ln -s .. up && cat
up/.ssh/id_rsa` was checked as reading `up/.ssh/id_rsa` in the working directory, and printed
the key in guardrail mode.  So the command that makes a link (`ln -s`, `cp -s`, through
wrappers too) must be the line's last, with nothing beside it, and each target must pass the
read check from the directory the link is made in (agentsh/policy/links.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from agentsh.parse import Word
from agentsh.policy import Policy
from agentsh.profile import Host, load_profile
from tests.conftest import failing_syscalls_runner, write_profile

Run = Callable[..., subprocess.CompletedProcess[str]]

CANARY = "CANARY-7f3a-PRIVATE-KEY-BYTES"
# Guardrail mode: ptrace and the Landlock system calls fail (EPERM), so agentsh runs the line
# with its static checks only (it warns that the exec guard and Landlock are missing).
GUARDRAIL = failing_syscalls_runner((101, 444, 445, 446), 1)


@pytest.fixture
def secret_home(home: Path) -> Path:
    """HOME with ~/.ssh/id_rsa holding the canary, a project below it, and a file at its top."""
    (home / ".ssh" / "id_rsa").write_text(CANARY + "\n")
    (home / "proj").mkdir()
    (home / "proj" / "README.md").write_text("hello\n")
    (home / "notes.txt").write_text("notes\n")
    return home


def _policy(cwd: Path, home: Path) -> Policy:
    host = Host(cwd=str(cwd), home=str(home), config_home=str(home / ".config"))
    return Policy(load_profile(None, host), host)


@pytest.fixture
def in_home(secret_home: Path) -> Policy:
    """The default profile with the workspace directly $HOME."""
    return _policy(secret_home, secret_home)


@pytest.fixture
def in_project(secret_home: Path) -> Policy:
    """The default profile with the workspace $HOME/proj."""
    return _policy(secret_home / "proj", secret_home)


def _refused_by(policy: Policy, line: str) -> set[str]:
    decision = policy.decide(line)
    assert decision.decision == "deny", (line, decision.verdicts)
    return {v.rule for v in decision.refused}


@pytest.mark.parametrize("line", [
    "ln -s .. up && cat up/.ssh/id_rsa",
    "ln -s .. up; cat up/.ssh/id_rsa",
    "ln -s .. up\ncat up/.ssh/id_rsa",
    "ln -s .. up || cat up/.ssh/id_rsa",
    "ln -s .. up | cat up/.ssh/id_rsa",  # a pipeline runs its commands together
    "cat up/.ssh/id_rsa | ln -s .. up",
    "cat up/.ssh/id_rsa & ln -s .. up",
    "ln -s .. up & cat up/.ssh/id_rsa",
    "ln -s .. up &",  # it may still be making the link when the next line is checked
    "(sleep 1; cat up/.ssh/id_rsa) & ln -s .. up",
    "ln -s .. up && ls",
    "ln -sf .. up && ls", "ln -snf .. up && ls", "ln -fs .. up && ls", "ln --symbolic .. up && ls",
    "ln --sym .. up && ls", "ln -s -- .. up && ls", "ln -vs .. up && ls",
    "mkdir d && ln -st d .. && ls", "mkdir d && ln -s -t d .. && ls", "mkdir d && ln --target-directory=d -s .. && ls",
    "cp -s ~/proj/README.md r && ls", "cp --symbolic-link ~/proj/README.md r && ls", "cp -rs ~/proj r && ls",
    "env ln -s .. up && ls", "nice -n 5 ln -s .. up && ls", "timeout 5 ln -s .. up && ls",
    "env nice timeout 5 ln -s .. up && ls", "'ln' -s .. up && ls", "/usr/bin/ln -s .. up && ls",
    "ls $(ln -s .. up)", "x=$(ln -s .. up)", "cat `ln -s .. up`", "cat <(ln -s .. up)", "ln -s .. >(cat) up",
    "cat <<EOF\n$(ln -s .. up)\nEOF",
    "ln -s .. up <<EOF && cat up/.ssh/id_rsa\nx\nEOF",
    "for i in 1 2; do ln -sf .. up; done",
    "while true; do ln -sf .. up; done",
    "if true; then ln -s .. up; fi",
    "case x in x) ln -s .. up;; esac",
    "(ln -s .. up) && ls", "{ ln -s .. up; } && ls", "! ln -s .. up && ls",
    "ln -s .. up && ln -s up/.ssh k",
    "ln -s .. up; ln -s .. up",
    "xargs ln -s < names.txt",  # link names from stdin, each batch a run of ln
    "echo .. up | xargs ln -s",
    "find . -name README.md -exec ln -s {} r \\;",
    "find . -name README.md -exec timeout 5 ln -s {} r \\;",
])
def test_a_link_with_anything_after_or_beside_it_is_refused(line: str, in_project: Policy) -> None:
    assert "symlink" in _refused_by(in_project, line)


def test_the_reason_and_hint_say_what_to_do(in_project: Policy) -> None:
    refused = in_project.decide("ln -s .. up && cat up/.ssh/id_rsa").refused
    assert [v.command for v in refused] == ["ln -s .. up"]
    assert "symbolic link" in refused[0].reason and "line of its own" in refused[0].hint


@pytest.mark.parametrize("line", [
    "mkdir -p a/b && ln -s ../../.ssh a/b/k",  # from the link's directory, not the cwd
    "mkdir -p a/b && ln -s ../../.ssh/id_rsa a/b/k",
    "mkdir d && ln -s ../.ssh d",  # d is made a directory first: the link is d/.ssh
    "mkdir d && ln -s -t d ../.ssh", "mkdir d && ln -st d notes.txt ../.ssh",
    "mkdir d && ln -s notes.txt ../.ssh d",
    "mkdir d && env ln -s ../.ssh d/k",
    "cp -rs ~ copy",  # a tree of links, one to each file below HOME, ~/.ssh/id_rsa too
])
def test_a_link_into_a_denied_read_root_is_refused(line: str, in_home: Policy) -> None:
    assert "read-write-roots" in _refused_by(in_home, line)


@pytest.mark.parametrize("line", [
    "ln ~/.ssh/id_rsa key", "ln .ssh/id_rsa key", "ln -f ~/.ssh/id_rsa proj/key", "ln -t proj ~/.ssh/id_rsa",
    "ln -P ~/.ssh/id_rsa key", "ln -s .ssh k", "ln -s ~/.ssh k", "ln -s /etc/shadow k", "ln -s ~/.ss? k",
    "mkdir a && cd a && ln -s ../.ssh k",
])
def test_a_link_to_a_denied_operand_is_refused_by_the_read_check(line: str, in_home: Policy) -> None:
    """Hard links and links whose target is a denied path from the working directory too:
    every operand is read-checked, so these were refused before links were looked at."""
    decision = in_home.decide(line)
    assert decision.decision == "deny"
    assert decision.refused[0].rule == "read-write-roots" and "denied" in decision.refused[0].reason


@pytest.mark.parametrize("line", [
    "ln -s README.md link", "ln -s ../notes.txt n", "mkdir -p d && ln -s ../README.md d/r", "mkdir -p d && ln -s ../x d/y",
    "cd /tmp && ln -sf ~/proj/README.md r", "ls | head && ln -s README.md r", "ln -s README.md r 2>/dev/null",
    "ln -s README.md r # a comment", "(mkdir d && cd d && ln -s ../README.md r)", "{ ln -s README.md r; }",
    "ln -s .. up", "ln -sr ../../.ssh-notes a", "ln README.md hard && cat hard", "cp README.md copy && cat copy",
    "cp -r ~/proj /tmp/p && ls /tmp/p", "env ln -s README.md r", "echo $((1 & 2)) && ln -s README.md r",
    "ln -S .bak-s README.md r && ls",  # -S takes `.bak-s`: no -s
])
def test_a_link_that_ends_the_line_is_allowed(line: str, in_project: Policy) -> None:
    decision = in_project.decide(line)
    assert decision.decision == "allow", decision.refused


def test_symlinks_reads_options_as_getopt_does() -> None:
    from agentsh.policy.moves import symlinks

    def made(*argv: str) -> tuple[list[str | None], list[tuple[str | None, bool]], bool] | None:
        found = symlinks(argv[0], tuple(Word(a, a) for a in argv[1:]))
        if found is None:
            return None
        targets, places, tree = found
        return [w.value for w in targets], [(w.value, named) for w, named in places], tree

    assert made("ln", "a", "b") is None and made("cp", "-r", "a", "b") is None
    assert made("ln", "-Ss", "a", "b") is None  # `s` is -S's value
    assert made("ln", "-s", "a") == (["a"], [(".", False)], False)
    assert made("ln", "-sf", "a", "b") == (["a"], [("b", False), ("b", True)], False)
    assert made("ln", "-snft", "d", "a", "b") == (["a", "b"], [("d", False)], False)
    assert made("ln", "--sym", "a", "b", "d") == (["a", "b"], [("d", False), ("d", True)], False)
    assert made("cp", "-rs", "/a", "b") == (["/a"], [("b", False), ("b", True)], True)
    assert made("cp", "--symbolic-l", "/a", "b") == (["/a"], [("b", False), ("b", True)], False)
    assert made("ls", "-s") is None


def _guardrail(tmp_path: Path, home: Path, cwd: Path, line: str) -> subprocess.CompletedProcess[str]:
    wrapper = tmp_path / "guardrail.py"
    wrapper.write_text(GUARDRAIL)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTSH_", "XDG_"))}
    env.update(HOME=str(home), PYTHONPATH=str(Path(__file__).resolve().parent.parent), AGENTSH_WARM="0",
               AGENTSH_SESSION="symlink-line")
    return subprocess.run([sys.executable, str(wrapper), "-c", line], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)


def test_guardrail_mode_is_what_these_outcome_tests_run_in(tmp_path: Path, secret_home: Path) -> None:
    """Only Landlock stops a path the static check cannot see (a value made at run time;
    `d=.ssh; cat ~/$d/id_rsa` the check now writes out): here nothing does."""
    done = _guardrail(tmp_path, secret_home, secret_home / "proj", "d=$(printf .s%sh s); cat ~/$d/id_rsa")
    assert "exec guard cannot trace" in done.stderr and "Landlock is not available" in done.stderr
    assert done.returncode == 0 and CANARY in done.stdout


@pytest.mark.parametrize(("where", "line"), [
    ("", "mkdir -p a/b && ln -s ../../.ssh a/b/k && cat a/b/k/id_rsa"),  # the workspace directly $HOME
    ("proj", "mkdir -p a && ln -s .. up && cat up/.ssh/id_rsa"),
    ("proj", "mkdir -p a; ln -s .. up; cp up/.ssh/id_rsa a/stolen; cat a/stolen"),
    ("proj", "mkdir -p a && echo .. up | xargs ln -s && cat up/.ssh/id_rsa"),
])
def test_guardrail_mode_runs_nothing_of_such_a_line(where: str, line: str, tmp_path: Path, secret_home: Path) -> None:
    cwd = secret_home / where
    done = _guardrail(tmp_path, secret_home, cwd, line)
    assert done.returncode == 126, done.stdout + done.stderr
    assert CANARY not in done.stdout + done.stderr
    assert not (cwd / "a").exists() and not (cwd / "up").exists()


def test_guardrail_mode_runs_a_link_that_ends_the_line(tmp_path: Path, secret_home: Path) -> None:
    project = secret_home / "proj"
    done = _guardrail(tmp_path, secret_home, project, "mkdir -p d && ln -s ../README.md d/r")
    assert done.returncode == 0, done.stderr
    assert os.readlink(project / "d" / "r") == "../README.md"
    later = _guardrail(tmp_path, secret_home, project, "cat d/r")
    assert later.returncode == 0 and later.stdout == "hello\n"


def test_confined_mode_plants_no_hook_through_a_new_link(run_agentsh: Run, workspace: Path) -> None:
    """Landlock leaves `write.deny` holes (.git/hooks) to the static check, so before this rule
    the hook was written in confined mode too."""
    (workspace / ".git" / "hooks").mkdir(parents=True)
    done = run_agentsh("-c", "ln -s .git/hooks h && echo 'echo PWNED' > h/pre-commit")
    assert done.returncode == 126, done.stderr
    assert not list((workspace / ".git" / "hooks").iterdir()) and not (workspace / "h").exists()


SETSID = """\
agentsh: 1
name: setsid
extends: [default]
commands:
  - {name: detach, run: setsid, decision: allow}
"""


@pytest.mark.parametrize(("line", "decision"), [
    ("setsid -f tail -F up/.ssh/id_rsa; ln -s .. up", "deny"),
    ("setsid tail -F up/.ssh/id_rsa; ln -s .. up", "deny"),  # setsid forks when it leads its group
    ("setsid -w ls; ln -s .. up", "allow"),
    ("setsid --wait ls && ln -s .. up", "allow"),
    ("setsid -w ln -s .. up", "allow"),
    ("setsid -f ln -s .. up", "deny"),
])
def test_a_wrapper_that_detaches_counts_as_the_background(line: str, decision: str, secret_home: Path) -> None:
    project = secret_home / "proj"
    host = Host(cwd=str(project), home=str(secret_home), config_home=str(secret_home / ".config"))
    policy = Policy(load_profile(str(write_profile(secret_home, "setsid", SETSID)), host), host)
    found = policy.decide(line)
    assert found.decision == decision, found.refused
    assert decision == "allow" or {v.rule for v in found.refused} == {"symlink"}


@pytest.fixture
def old_link(secret_home: Path) -> Path:
    """proj/k -> ../../../.ssh, made in an earlier line: from proj it leads above $HOME (nothing
    there), from proj/d/e to ~/.ssh."""
    os.symlink("../../../.ssh", secret_home / "proj" / "k")
    return secret_home / "proj" / "k"


@pytest.mark.parametrize("line", [
    "mkdir -p d/e && mv k d/e/k && cat d/e/k/id_rsa",
    "mv k d/e/k",
    "mkdir -p d/e && mv k d/e/",
    "mv -t d/e k",
    "cp -a k d/e/k", "cp -P k d/e/k", "cp -r k d/e/", "cp --no-dereference k d/e/k",
    "ln k d/e/k",  # a hard link to a link is a link (GNU ln's default -P)
])
def test_an_existing_link_moved_or_copied_is_checked_from_its_new_place(line: str, old_link: Path,
                                                                        secret_home: Path) -> None:
    policy = _policy(secret_home / "proj", secret_home)
    decision = policy.decide(line)
    assert decision.decision == "deny", (line, decision.verdicts)
    assert any(f"reads {secret_home / '.ssh'}" in v.reason for v in decision.refused), decision.refused


@pytest.mark.parametrize("line", [
    "cp k x", "cp -L -r k d/e/k", "ln -L k d/e/k",  # these follow the link: a copy of what it leads to
    "mv README.md d/", "cp -a README.md d/",
])
def test_following_a_link_or_moving_a_file_is_not_moving_a_link(line: str, old_link: Path,
                                                                secret_home: Path) -> None:
    assert _policy(secret_home / "proj", secret_home).decide(line).decision == "allow", line


def test_a_moved_link_must_end_its_line(old_link: Path, secret_home: Path) -> None:
    """Moved where it leads somewhere allowed, it is still a new link for what follows."""
    os.symlink("../README.md", secret_home / "proj" / "r")
    policy = _policy(secret_home / "proj", secret_home)
    assert policy.decide("mkdir -p d && mv r d/r").decision == "allow"
    assert _refused_by(policy, "mkdir -p d && mv r d/r && cat d/r") == {"symlink"}


def test_guardrail_mode_moves_no_link_into_a_secret(tmp_path: Path, old_link: Path, secret_home: Path) -> None:
    project = secret_home / "proj"
    done = _guardrail(tmp_path, secret_home, project, "mkdir -p d/e && mv k d/e/k && cat d/e/k/id_rsa")
    assert done.returncode == 126, done.stdout + done.stderr
    assert CANARY not in done.stdout + done.stderr
    assert old_link.is_symlink() and not (project / "d").exists()


@pytest.mark.parametrize("line", ["mv --strip-trailing-slashes README.md x", "mv -vs README.md x", "mv -f README.md x"])
def test_mv_options_with_an_s_make_no_link(line: str, secret_home: Path) -> None:
    """mv has no -s: a word that looks like one to the quick look must not be read as ln's."""
    assert _policy(secret_home / "proj", secret_home).decide(line).decision == "allow", line


@pytest.fixture
def dir_with_link(secret_home: Path) -> Path:
    """proj/dir/k -> ../../../.ssh: from proj/dir it leads above $HOME; moved to proj/d/dir,
    to ~/.ssh."""
    (secret_home / "proj" / "dir").mkdir()
    os.symlink("../../../.ssh", secret_home / "proj" / "dir" / "k")
    return secret_home / "proj" / "dir"


@pytest.mark.parametrize("line", ["mkdir -p d && mv dir d/ && cat d/dir/k/id_rsa",
                                  "mkdir -p d && cp -r dir d/ && cat d/dir/k/id_rsa",
                                  "cp -a dir x; ls x"])
def test_a_directory_holding_a_link_moved_must_end_its_line(line: str, dir_with_link: Path,
                                                             secret_home: Path) -> None:
    assert _refused_by(_policy(secret_home / "proj", secret_home), line) == {"symlink"}


def test_guardrail_mode_moves_no_directory_of_links_into_a_secret(tmp_path: Path, dir_with_link: Path,
                                                                  secret_home: Path) -> None:
    project = secret_home / "proj"
    done = _guardrail(tmp_path, secret_home, project, "mkdir -p d && mv dir d/ && cat d/dir/k/id_rsa")
    assert done.returncode == 126, done.stdout + done.stderr
    assert CANARY not in done.stdout + done.stderr
    assert dir_with_link.is_dir() and not (project / "d").exists()


def test_directories_without_links_move_freely_and_big_ones_end_the_line(secret_home: Path) -> None:
    project = secret_home / "proj"
    (project / "plain" / "sub").mkdir(parents=True)
    (project / "plain" / "sub" / "f.txt").write_text("x\n")
    policy = _policy(project, secret_home)
    assert policy.decide("mkdir -p d && mv plain d/ && cat d/plain/sub/f.txt").decision == "allow"
    assert policy.decide("cp -r plain x && ls x").decision == "allow"
    big = project / "big"
    big.mkdir()
    for i in range(2001):  # more than the scan looks at: it may hide a link
        (big / f"f{i}").write_text("")
    assert _refused_by(policy, "cp -r big x && ls x") == {"symlink"}
    assert policy.decide("cp -r big x").decision == "allow"
