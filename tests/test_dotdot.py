"""`..` after a symbolic link goes up from the link's target, as the kernel resolves it, not
where os.path.normpath puts it: `link/../id_rsa` with link -> ~/.ssh/sub is ~/.ssh/id_rsa.
The static checks, the program lookup and the exec guard's script check must all see the
file the command will really open (or refuse the path)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from agentsh.guard.execcheck import ExecChecker, Lineage, script_invocation
from agentsh.policy import Policy
from agentsh.profile import Host, load_profile
from tests.conftest import write_profile

Run = Callable[..., subprocess.CompletedProcess[str]]
SECRET = "SECRET-KEY-BYTES"


@pytest.fixture
def link_into_secrets(home: Path, workspace: Path) -> Path:
    """workspace/link -> ~/.ssh/sub: `link/..` is ~/.ssh, lexically the workspace."""
    (home / ".ssh" / "sub").mkdir()
    os.symlink(home / ".ssh" / "sub", workspace / "link")
    return workspace / "link"


@pytest.fixture
def default_policy(home: Path, workspace: Path) -> Policy:
    host = Host(cwd=str(workspace), home=str(home), config_home=str(home / ".config"))
    return Policy(load_profile(None, host), host)


@pytest.mark.parametrize("line", [
    "cat link/../id_rsa",
    "head -n 1 link/../id_rsa",
    "cat < link/../id_rsa",
    "grep KEY link/../id_rsa",
    "cat ./link/../id_rsa",
    "cat link/../../.ssh/id_rsa",
])
def test_reading_through_link_dotdot_is_refused(line: str, link_into_secrets: Path, default_policy: Policy,
                                                home: Path, run_agentsh: Run) -> None:
    decision = default_policy.decide(line)
    assert decision.decision == "deny", line
    assert any(f"denied read root {home / '.ssh'}" in v.reason for v in decision.refused), decision.refused
    done = run_agentsh("-c", line)
    assert done.returncode == 126, done.stderr
    assert SECRET not in done.stdout + done.stderr


def test_writing_through_link_dotdot_is_refused(link_into_secrets: Path, default_policy: Policy, home: Path,
                                                run_agentsh: Run) -> None:
    line = "echo planted > link/../authorized_keys"
    assert default_policy.decide(line).decision == "deny"
    done = run_agentsh("-c", line)
    assert done.returncode == 126, done.stderr
    assert not (home / ".ssh" / "authorized_keys").exists()


def test_dotdot_without_a_link_still_resolves(workspace: Path, default_policy: Policy) -> None:
    (workspace / "src").mkdir()
    (workspace / "notes.txt").write_text("hi\n")
    assert default_policy.decide("cat src/../notes.txt").decision == "allow"


def test_program_path_with_dotdot_is_refused(workspace: Path, tmp_path: Path, default_policy: Policy,
                                             run_agentsh: Run) -> None:
    """`x/../../usr/bin/git` is /usr/bin/git to normpath; after x -> elsewhere/d/d/... it is
    a file under elsewhere. Such names are refused outright."""
    ups = len(workspace.parts)  # from workspace/x, this many `..` reach / lexically
    elsewhere = tmp_path / "elsewhere"
    deep = elsewhere.joinpath(*["d"] * ups)
    deep.mkdir(parents=True)
    canary = tmp_path / "canary"
    fake = elsewhere / "usr" / "bin" / "git"
    fake.parent.mkdir(parents=True)
    fake.write_text(f"#!/bin/sh\ntouch {canary}\n")
    fake.chmod(0o755)
    os.symlink(deep, workspace / "x")
    name = "x/" + "../" * ups + "usr/bin/git"
    assert os.path.normpath(os.path.join(workspace, name)) == "/usr/bin/git"
    assert os.path.realpath(os.path.join(workspace, name)) == str(fake)
    decision = default_policy.decide(f"{name} status")
    assert decision.decision == "deny"
    assert "goes up with '..'" in decision.refused[0].reason
    done = run_agentsh("-c", f"{name} status")
    assert done.returncode == 126, done.stderr
    assert not canary.exists()


SCRIPT_PROFILE = """\
agentsh: 1
name: scripts
extends: [base]
path: ["{bin}", "/usr/bin", "/bin"]
commands:
  - name: tool
    run: [tool]
    decision: allow
"""


def test_exec_guard_script_path_with_dotdot_is_not_the_script_on_the_path(tmp_path: Path, home: Path,
                                                                          workspace: Path) -> None:
    """An interpreter run on `x/../../.../bin/tool` reads the file the kernel finds, which
    after x -> elsewhere is not the `tool` on the profile's path, though normpath says it is."""
    tools = tmp_path / "tools" / "bin"
    tools.mkdir(parents=True)
    (tools / "tool").write_text("#!/bin/sh\necho the real tool\n")
    (tools / "tool").chmod(0o755)
    ups = len(workspace.parts)
    deep = (tmp_path / "elsewhere").joinpath(*["d"] * ups)
    deep.mkdir(parents=True)
    planted = tmp_path / "elsewhere" / str(tools).lstrip("/")
    planted.mkdir(parents=True)
    (planted / "tool").write_text("#!/bin/sh\necho planted\n")
    os.symlink(deep, workspace / "x")
    name = "x/" + "../" * ups + str(tools).lstrip("/") + "/tool"
    assert os.path.normpath(os.path.join(workspace, name)) == str(tools / "tool")
    assert os.path.realpath(os.path.join(workspace, name)) == str(planted / "tool")

    host = Host(cwd=str(workspace), home=str(home), config_home=str(home / ".config"))
    policy = Policy(load_profile(str(write_profile(tmp_path, "scripts", SCRIPT_PROFILE.format(bin=tools))), host),
                    host)
    checker = ExecChecker(policy)
    shell = os.path.realpath("/bin/sh")
    key = (os.stat(shell).st_dev, os.stat(shell).st_ino)
    lineage = Lineage(rule="tool", program="tool", children="check")
    # The script as written on the profile's path is the allowed tool ...
    assert checker.check(shell, key, ["/bin/sh", str(tools / "tool")], str(workspace), lineage).allowed
    # ... but reached through x/.. it is kept as written, and refused.
    found = script_invocation(shell, ["/bin/sh", name], str(workspace), policy.profile.path)
    assert found is not None and ".." in found[0]
    verdict = checker.check(shell, key, ["/bin/sh", name], str(workspace), lineage)
    assert not verdict.allowed
    assert "is not the 'tool' on the profile's path" in verdict.reason


def test_exec_guard_helper_dirs_see_through_dotdot(tmp_path: Path, home: Path, workspace: Path) -> None:
    """A script path that starts in a helper directory but leaves it with `..` is no helper."""
    evil = tmp_path / "evil"
    evil.write_text("#!/bin/sh\necho evil\n")
    evil.chmod(0o755)
    helper_dir = "/usr/lib/git-core"
    name = helper_dir + "/.." * len(Path(helper_dir).parts) + str(evil)
    host = Host(cwd=str(workspace), home=str(home), config_home=str(home / ".config"))
    checker = ExecChecker(Policy(load_profile(None, host), host))
    shell = os.path.realpath("/bin/sh")
    key = (os.stat(shell).st_dev, os.stat(shell).st_ino)
    verdict = checker.check(shell, key, ["/bin/sh", name], str(workspace), Lineage(rule="git-read", program="git"))
    assert not verdict.allowed, verdict


@pytest.mark.parametrize("line", [
    "cd link/../.. && cat .ssh/id_rsa",
    "cd ./link/../../ && head -n 1 .ssh/id_rsa",
    "cd link/../../.ssh && cat id_rsa",
])
def test_cd_takes_dotdot_off_the_path_as_written(line: str, home: Path, tmp_path: Path, agentsh_env: dict[str, str],
                                                  run_agentsh: Run) -> None:
    """bash's `cd` (-L, the default) removes `..` from the path as written before following
    links: from ~/proj, `cd link/../..` is ~ whatever link points to, not the grandparent of
    link's target, where the kernel would go.  The check must follow cd to both."""
    project = home / "proj"
    project.mkdir()
    (tmp_path / "elsewhere" / "a" / "b").mkdir(parents=True)
    os.symlink(tmp_path / "elsewhere" / "a" / "b", project / "link")
    host = Host(cwd=str(project), home=str(home), config_home=str(home / ".config"))
    decision = Policy(load_profile(None, host), host).decide(line)
    assert decision.decision == "deny", line
    assert any(f"denied read root {home / '.ssh'}" in v.reason for v in decision.refused), decision.refused
    done = run_agentsh("-c", line, cwd=project)
    assert done.returncode == 126, done.stderr
    assert SECRET not in done.stdout + done.stderr
    # bash itself goes where the check now looks: ~ lexically, not elsewhere/.
    pwd = subprocess.run(["bash", "--noprofile", "--norc", "-c", "cd link/../.. && pwd -P"], cwd=project,
                         capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, check=True)
    assert pwd.stdout.strip() == str(home)


def test_cd_dotdot_through_a_link_to_an_allowed_place(home: Path, tmp_path: Path) -> None:
    """Both places cd may reach are checked, and both are fine here: allowed."""
    project = home / "proj"
    (project / "src").mkdir(parents=True)
    (project / "src" / "notes.txt").write_text("hi\n")
    os.symlink(project / "src", project / "link")
    host = Host(cwd=str(project), home=str(home), config_home=str(home / ".config"))
    policy = Policy(load_profile(None, host), host)
    assert policy.decide("cd link/.. && cat src/notes.txt").decision == "allow"
