"""What `tar -x` and `unzip` extract is read from the archive when the line is checked: each
member is a write target below the directory it lands in, and a member that is a symbolic
link makes the command one that makes a link (it must end its line; a member below it is
refused).  `tar -xf hooks.tar` planted `.git/hooks/pre-commit` even in confined mode, where
Landlock leaves `write.deny` holes to the static check, and `tar -xf links.tar && cat
k/id_rsa` read through a link the archive held."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from agentsh.policy import Policy
from agentsh.policy.archives import MAX_ARCHIVE_BYTES, members
from agentsh.profile import Host, load_profile
from tests.conftest import failing_syscalls_runner, run_guardrail, write_profile

Run = Callable[..., subprocess.CompletedProcess[str]]
SECRET = "SECRET-KEY-BYTES"
UNZIP = "agentsh: 1\nname: unz\nextends: [default]\ncommands:\n  - {name: unzip, run: unzip, decision: allow}\n"


def _tar(path: Path, *entries: tuple[str, str | None, bytes]) -> Path:
    """(name, link target or None, content) entries."""
    with tarfile.open(path, "w:gz" if path.suffix == ".tgz" else "w") as archive:
        for name, target, content in entries:
            info = tarfile.TarInfo(name)
            if target is not None:
                info.type, info.linkname = tarfile.SYMTYPE, target
                archive.addfile(info)
            else:
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
    return path


@pytest.fixture
def archives(workspace: Path) -> Path:
    _tar(workspace / "hooks.tar", (".git/hooks/pre-commit", None, b"#!/bin/sh\ntouch PWNED\n"))
    _tar(workspace / "links.tgz", ("k", "../home/.ssh", b""))
    _tar(workspace / "through.tar", ("k", "../home/.ssh", b""), ("k/authorized_keys", None, b"evil\n"))
    _tar(workspace / "ok.tar", ("src/a.py", None, b"print(1)\n"), ("docs/", None, b""))
    with zipfile.ZipFile(workspace / "hooks.zip", "w") as archive:
        archive.writestr("sub/.git/config", "[core]\n\tfsmonitor = touch PWNED\n")
    return workspace


@pytest.fixture
def policy(home: Path, workspace: Path, tmp_path: Path) -> Policy:
    host = Host(cwd=str(workspace), home=str(home), config_home=str(home / ".config"))
    return Policy(load_profile(str(write_profile(tmp_path, "unz", UNZIP)), host), host)


@pytest.mark.parametrize(("line", "says"), [
    ("tar -xf hooks.tar", "extracts .git/hooks/pre-commit"),
    ("tar xf hooks.tar", "extracts .git/hooks/pre-commit"),
    ("tar -xf hooks.tar -C sub", "extracts .git/hooks/pre-commit"),
    ("tar -xf through.tar", "writes through the link k"),
    ("unzip hooks.zip", "extracts sub/.git/config"),
    ("unzip -o hooks.zip -d out", "extracts sub/.git/config"),
    ("tar -xzf links.tgz && cat k/id_rsa", "a symbolic link"),
])
def test_what_an_archive_holds_is_checked(line: str, says: str, archives: Path, policy: Policy) -> None:
    decision = policy.decide(line)
    assert decision.decision == "deny", line
    assert any(says in v.reason for v in decision.refused), decision.refused


@pytest.mark.parametrize("line", ["tar -xf ok.tar && cat src/a.py", "tar -tf hooks.tar", "unzip -l hooks.zip",
                                  "tar -xzf links.tgz", "tar -cf new.tar src", "tar -xf missing.tar"])
def test_ordinary_extractions_and_listings_are_allowed(line: str, archives: Path, policy: Policy) -> None:
    assert policy.decide(line).decision == "allow", line


def test_members_are_read_within_bounds(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "a.tar", ("x", None, b"1"), ("l", "/etc", b""))
    assert [(m.name, m.link) for m in members("tar", str(archive))] == [("x", False), ("l", True)]
    assert members("tar", str(tmp_path / "missing.tar")) is None
    (tmp_path / "junk.tar").write_bytes(b"not an archive")
    assert members("tar", str(tmp_path / "junk.tar")) is None
    with open(tmp_path / "big.tar", "wb") as big:
        big.truncate(MAX_ARCHIVE_BYTES + 1)
    assert members("tar", str(tmp_path / "big.tar")) is None


def test_confined_mode_plants_no_hook_from_an_archive(archives: Path, run_agentsh: Run) -> None:
    (archives / ".git" / "hooks").mkdir(parents=True)
    done = run_agentsh("-c", "tar -xf hooks.tar")
    assert done.returncode == 126, done.stderr
    assert not (archives / ".git" / "hooks" / "pre-commit").exists()


def test_guardrail_mode_reads_nothing_through_an_archived_link(archives: Path, home: Path, tmp_path: Path,
                                                               agentsh_env: dict[str, str]) -> None:
    runner = tmp_path / "guardrail.py"
    runner.write_text(failing_syscalls_runner((101, 444, 445, 446), 1))
    env = dict(agentsh_env, AGENTSH_WARM="0")
    done = subprocess.run([sys.executable, str(runner), "-c", "tar -xzf links.tgz && cat k/id_rsa"], cwd=archives,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 126, done.stdout + done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert not os.path.lexists(archives / "k")


def test_an_archive_holding_too_much_is_not_read_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A compressed tar is decompressed to be listed: past MAX_CONTENT_BYTES of members (a
    small xz can hold gigabytes) the list is not read, and no check takes minutes."""
    from agentsh.policy import archives

    archive = _tar(tmp_path / "a.tgz", ("x", None, b"1" * 5000), ("y", None, b"2" * 5000))
    assert members("tar", str(archive)) is not None
    monkeypatch.setattr(archives, "MAX_CONTENT_BYTES", 6000)
    assert members("tar", str(archive)) is None


@pytest.fixture
def renamed(archives: Path, home: Path) -> Path:
    """Archives whose members land elsewhere than their names say: a bare pre-commit, one
    named hooks.tar (--one-top-level makes hooks/), x/.ssh/authorized_keys (--strip-components=1
    makes it .ssh/...), and a zip holding a/b/config (unzip -j makes it config)."""
    (archives / ".git" / "hooks").mkdir(parents=True, exist_ok=True)
    (archives / ".git" / "config").write_text("[core]\n")
    (archives / "sub").mkdir()
    _tar(archives / "pc.tar", ("pre-commit", None, b"touch PWNED\n"))
    _tar(archives / "sub" / "hooks.tar", ("pre-commit", None, b"touch PWNED\n"))
    _tar(archives / "ssh.tar", ("x/.ssh/authorized_keys", None, b"evil\n"))
    with zipfile.ZipFile(archives / "a.zip", "w") as archive:
        archive.writestr("a/b/config", "[core]\n\tfsmonitor = touch PWNED\n")
    return archives


@pytest.mark.parametrize("line", [
    "tar -xf pc.tar --transform 's,^,.git/hooks/,'",
    "tar -xf pc.tar --xform=s,^,.git/hooks/,",
    "tar -xf ssh.tar -C {home} --strip-components=1",
    "tar --strip=1 -xf ssh.tar -C {home}",
    "cd .git && tar -xf ../sub/hooks.tar --one-top-level",
    "tar -xf pc.tar --one-top-level=.git/hooks",
    "cd .git && unzip -jo ../a.zip",
    "unzip -j -o a.zip -d .git",
    "tar -C .git -C hooks -xf pc.tar",  # each -C from the one before: .git/hooks
    "tar -C .git -xf pc.tar -C hooks",
    # -g and --index-file values sat in the chain: .git/-/hooks was checked, not .git/hooks
    "tar -C .git -g /dev/null -C hooks -xf pc.tar",
    "tar -C .git --index-file=idx -C hooks -xf pc.tar",
    "tar -C a -C b -C c -C d -C .git/hooks -xf pc.tar",  # more -C than followed: refused
])
def test_members_that_land_elsewhere_plant_nothing(line: str, renamed: Path, home: Path, tmp_path: Path,
                                                   policy: Policy, agentsh_env: dict[str, str]) -> None:
    """--transform, --strip-components, --one-top-level and unzip -j move where members land:
    each line planted a hook, .git/config or ~/.ssh/authorized_keys before."""
    line = line.format(home=home)
    assert policy.decide(line).decision == "deny", line
    profile = write_profile(tmp_path, "unz", UNZIP)
    done = run_guardrail(line, renamed, agentsh_env, tmp_path, profile)
    assert done.returncode == 126, done.stdout + done.stderr
    assert sorted(p.name for p in (renamed / ".git" / "hooks").iterdir()) == []
    assert (renamed / ".git" / "config").read_text() == "[core]\n"
    assert not (home / ".ssh" / "authorized_keys").exists()


@pytest.mark.parametrize("line", ["tar -xf ok.tar --strip-components=1", "tar -xf ok.tar --one-top-level",
                                  "tar -cf x.tar --transform 's,^,a/,' src", "unzip -jo a.zip -d out"])
def test_ordinary_renamed_extractions_stay_allowed(line: str, renamed: Path, policy: Policy) -> None:
    assert policy.decide(line).decision == "allow", policy.decide(line).refused
