"""A wrapper that sets the working directory (`env -C DIR`, `sudo -D DIR`, `unshare -w DIR`)
moves the wrapped command's relative paths with it: `env -C ~ cat .ssh/id_rsa` reads
~/.ssh/id_rsa, and is refused as such."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from agentsh.parse import Word
from agentsh.policy import Policy, chdirs
from agentsh.policy.wrappers import unwrap
from agentsh.profile import Host, load_profile
from tests.conftest import run_guardrail, write_profile

Run = Callable[..., subprocess.CompletedProcess[str]]
SECRET = "SECRET-KEY-BYTES"


@pytest.fixture
def default_policy(home: Path, workspace: Path) -> Policy:
    (workspace / "src").mkdir()
    (workspace / "src" / "app.py").write_text("print(1)\n")
    host = Host(cwd=str(workspace), home=str(home), config_home=str(home / ".config"))
    return Policy(load_profile(None, host), host)


@pytest.mark.parametrize("form", ["-C {home}", "--chdir {home}", "-C{home}", "--chdir={home}", "-iC {home}",
                                  "-C /tmp -C {home}"])
def test_env_chdir_reads_are_resolved_from_the_new_directory(form: str, home: Path, default_policy: Policy,
                                                             run_agentsh: Run) -> None:
    line = f"env {form.format(home=home)} cat .ssh/id_rsa"
    assert default_policy.decide(line).decision == "deny", line
    done = run_agentsh("-c", line)
    assert done.returncode == 126, done.stderr
    assert SECRET not in done.stdout + done.stderr


def test_env_chdir_writes_are_resolved_from_the_new_directory(default_policy: Policy, run_agentsh: Run) -> None:
    planted = Path("/etc/agentsh-test-planted")
    line = f"env -C /etc touch {planted.name}"
    assert default_policy.decide(line).decision == "deny"
    try:
        done = run_agentsh("-c", line)
        assert done.returncode == 126, done.stderr
        assert not planted.exists()
    finally:
        planted.unlink(missing_ok=True)


def test_nested_and_relative_chdirs(home: Path, default_policy: Policy) -> None:
    assert default_policy.decide(f"env -C {home.parent} env -C {home.name} cat .ssh/id_rsa").decision == "deny"
    assert default_policy.decide("env -C src cat app.py").decision == "allow"
    assert default_policy.decide("cd src && env -C .. cat src/app.py").decision == "allow"


def test_unwrap_reports_the_directory() -> None:
    words = tuple(Word(t, t) for t in ("-C", "/x", "ls"))
    assert unwrap("env", words).chdir == Word("/x", "/x")
    assert unwrap("env", tuple(Word(t, t) for t in ("--chdir=/y", "ls"))).chdir.value == "/y"  # type: ignore[union-attr]
    assert unwrap("sudo", tuple(Word(t, t) for t in ("-D", "/z", "ls"))).chdir.value == "/z"  # type: ignore[union-attr]
    assert unwrap("env", tuple(Word(t, t) for t in ("-i", "ls"))).chdir is None


GIT_ANY = """\
agentsh: 1
name: git-any
extends: [default]
read: {deny: ["{workspace}/secrets"]}
commands:
  - {name: git-any, run: git, decision: allow}
"""


def test_git_chdir_moves_its_paths_too(tmp_path: Path, home: Path, workspace: Path,
                                       agentsh_env: dict[str, str]) -> None:
    """`git -C DIR` reads its paths from DIR, as `env -C` does: `git -C src add ../secrets/key`
    was checked as adding `../secrets/key` from the workspace (outside it, allowed), and git
    added the denied file, whose bytes `git show :secrets/key` then printed in guardrail mode."""
    (workspace / "src").mkdir()
    (workspace / "secrets").mkdir()
    (workspace / "secrets" / "key").write_text("CANARY-GIT-C-7d1e\n")
    subprocess.run(["git", "init", "-q"], cwd=workspace, check=True)
    profile = write_profile(tmp_path, "git-any", GIT_ANY)
    for line in ("git -C src add ../secrets/key && git -C src show :secrets/key",
                 "git -C src -C .. add secrets/key && git show :secrets/key", "git -C secrets log",
                 # after another global option the -C was not followed: git added the file
                 "git --no-pager -C src add ../secrets/key && git show :secrets/key",
                 "git -P -C src -C .. add secrets/key && git show :secrets/key"):
        done = run_guardrail(line, workspace, agentsh_env, tmp_path, profile)
        assert done.returncode == 126, done.stdout + done.stderr
        assert "CANARY-GIT-C" not in done.stdout + done.stderr
    listed = subprocess.run(["git", "ls-files", "--stage"], cwd=workspace, capture_output=True, text=True, check=True)
    assert "secrets/key" not in listed.stdout
    host = Host(cwd=str(workspace), home=str(home), config_home=str(home / ".config"))
    policy = Policy(load_profile(str(profile), host), host)
    assert policy.decide("git -C src status").decision == "allow"
    assert policy.decide("git -C src add app.py").decision == "allow"
    assert policy.decide("git --no-pager -C src log -1").decision == "allow"
    assert policy.decide("git -C $d status").decision == "deny"


def test_git_work_tree_moves_its_paths(tmp_path: Path, home: Path, workspace: Path,
                                       agentsh_env: dict[str, str]) -> None:
    """`git --work-tree=DIR` reads paths from DIR when git runs outside it: `git
    --work-tree=$HOME add .ssh/id_rsa` was checked as adding the workspace's .ssh/id_rsa, and
    git added ~/.ssh/id_rsa, which `git show` then printed in guardrail mode."""
    (home / ".ssh").mkdir(exist_ok=True)
    (home / ".ssh" / "id_rsa").write_text("CANARY-WORK-TREE-51c2\n")
    subprocess.run(["git", "init", "-q"], cwd=workspace, check=True)
    profile = write_profile(tmp_path, "git-any", GIT_ANY)
    for line in (f"git --work-tree={home} add .ssh/id_rsa && git show :.ssh/id_rsa",
                 f"git --work-tree {home} add .ssh/id_rsa && git show :.ssh/id_rsa",
                 f"git -C / --work-tree=.{home} add .ssh && git show :.ssh/id_rsa"):
        done = run_guardrail(line, workspace, agentsh_env, tmp_path, profile)
        assert done.returncode == 126, line + done.stdout + done.stderr
        assert "CANARY-WORK-TREE" not in done.stdout + done.stderr
    listed = subprocess.run(["git", "ls-files"], cwd=workspace, capture_output=True, text=True, check=True)
    assert ".ssh" not in listed.stdout
    host = Host(cwd=str(workspace), home=str(home), config_home=str(home / ".config"))
    policy = Policy(load_profile(str(profile), host), host)
    assert policy.decide(f"git --work-tree={workspace} add app.py").decision == "allow"
    assert policy.decide('git --work-tree="$d" add app.py').decision == "deny"


@pytest.mark.parametrize("line", [
    "make -C sub -C ../secrets -p -f .env | grep CANARY",  # each -C from the one before
    "make -Csecrets -pf .env | grep CANARY",  # glued: read as a flag cluster before
    "make -pC secrets -f .env | grep CANARY", "make --dir=secrets -pf .env | grep CANARY",
])
def test_make_chdir_moves_its_paths(line: str, tmp_path: Path, home: Path, workspace: Path,
                                    agentsh_env: dict[str, str]) -> None:
    """`make -C DIR` reads its makefiles from DIR: `-p -f .env` prints a denied .env's
    variables (`API_KEY = ...`), which it did in guardrail mode for the first two lines."""
    (workspace / "sub").mkdir()
    (workspace / "secrets").mkdir()
    (workspace / "secrets" / ".env").write_text("API_KEY=CANARY-MAKE-C-90d4\n")
    done = run_guardrail(line, workspace, agentsh_env, tmp_path, write_profile(tmp_path, "sd", SECRETS_DENIED))
    assert done.returncode == 126, done.stdout + done.stderr
    assert "CANARY-MAKE-C" not in done.stdout + done.stderr


@pytest.mark.parametrize(("program", "args", "expected"), [
    ("make", "-C a -C b test", ["a", "b"]), ("make", "-Ca -pCb", ["a", "b"]), ("make", "-j4 -C a", ["a"]),
    ("make", "-j -C a", ["a"]), ("make", "-f -C x", []), ("make", "--directory=a --dir b", ["a", "b"]),
    ("make", "--file -C x", []), ("make", "test -- -C a", []),
    ("ruby", "-C a x.rb", ["a"]), ("ruby", "-wCa x.rb", ["a"]), ("ruby", "-e -Ca", []),
    ("ninja", "-C build", ["build"]), ("ninja", "-j8 -Cbuild", ["build"]),
    ("go", "-C a build", ["a"]), ("go", "build -C a", []),
])
def test_chdir_options_are_read_as_each_program_reads_them(program: str, args: str, expected: list[str]) -> None:
    words = tuple(Word(a, a) for a in args.split())
    assert [w.value for w in chdirs.directories(program, words)] == expected


SECRETS_DENIED = """\
agentsh: 1
name: secrets-denied
extends: [default]
read: {deny: ["{workspace}/secrets"]}
"""


@pytest.mark.parametrize("line", [
    "tar -C src -cf {out} ../secrets/key && tar -xOf {out}",
    "tar -cf {out} -C src ../secrets && tar -xOf {out}",
    "tar cCf src {out} ../secrets/key && tar -xOf {out}",
    "tar --directory=src -cf {out} ../secrets/key && tar -xOf {out}",
])
def test_tar_chdir_moves_the_operands_after_it(line: str, tmp_path: Path, workspace: Path,
                                               agentsh_env: dict[str, str]) -> None:
    """tar -C DIR changes directory for the operands after it: `tar -C src -cf a.tar
    ../secrets/key` was checked as reading `../secrets/key` from the workspace, and tar
    archived the denied file, which `tar -xOf` printed, in guardrail mode."""
    (workspace / "src").mkdir()
    (workspace / "secrets").mkdir()
    (workspace / "secrets" / "key").write_text("CANARY-TAR-C-41b9\n")
    profile = write_profile(tmp_path, "secrets-denied", SECRETS_DENIED)
    out = tmp_path / "out.tar"
    done = run_guardrail(line.format(out=out), workspace, agentsh_env, tmp_path, profile)
    assert done.returncode == 126, done.stdout + done.stderr
    assert "CANARY-TAR-C" not in done.stdout + done.stderr and not out.exists()


def test_tar_chdir_still_archives_what_it_may(tmp_path: Path, home: Path, workspace: Path) -> None:
    (workspace / "src").mkdir()
    profile = write_profile(tmp_path, "secrets-denied", SECRETS_DENIED)
    host = Host(cwd=str(workspace), home=str(home), config_home=str(home / ".config"))
    policy = Policy(load_profile(str(profile), host), host)
    for line in ("tar -C src -czf /tmp/x.tgz .", "tar -xzf /tmp/x.tgz -C src", "tar -cf /tmp/x.tar -C src app.py"):
        assert policy.decide(line).decision == "allow", line
    assert policy.decide('tar -C "$d" -cf /tmp/x.tar .').decision == "deny"
