"""/etc/agentsh/config.yaml maps accounts to profiles; a mapped account cannot pick another."""

from __future__ import annotations

import grp
import os
import pwd
from pathlib import Path

import pytest

from agentsh import main as agentsh_main
from agentsh import sysconfig
from agentsh.errors import ConfigError

ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name


def config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return str(path)


def test_no_config_means_no_mapping(tmp_path: Path) -> None:
    assert sysconfig.enforced_profile(ME, str(tmp_path / "absent.yaml")) is None


def test_user_then_first_matching_group_then_default(tmp_path: Path) -> None:
    by_user = config(tmp_path, f"agentsh: 1\nprofiles:\n  users: {{{ME}: reviewer}}\n  groups: {{{MY_GROUP}: developer}}\n"
                               "  default: default\n")
    assert sysconfig.enforced_profile(ME, by_user) == "reviewer"
    by_group = config(tmp_path, f"agentsh: 1\nprofiles:\n  groups: {{nosuchgroup: x, {MY_GROUP}: developer}}\n")
    assert sysconfig.enforced_profile(ME, by_group) == "developer"
    fallback = config(tmp_path, "agentsh: 1\nprofiles: {default: base}\n")
    assert sysconfig.enforced_profile(ME, fallback) == "base"


@pytest.mark.parametrize("text, message", [
    ("agentsh: 1\nprofile: {}\n", "unknown key 'profile'"),
    ("agentsh: 1\nprofiles: {user: {}}\n", "unknown key 'user'"),
    ("agentsh: 1\nprofiles: {users: [a]}\n", "must map names to profile names"),
    ("profiles: {}\n", "unsupported format version"),
    ("agentsh: 1\nprofiles: [\n", "YAML error"),
])
def test_broken_config_fails_closed(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        sysconfig.enforced_profile(ME, config(tmp_path, text))


def test_mapped_account_cannot_choose_another_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sysconfig, "SYSTEM_CONFIG", config(tmp_path, f"agentsh: 1\nprofiles: {{users: {{{ME}: base}}}}\n"))
    assert agentsh_main.main(["-p", "default", "-c", "true"], argv0="agentsh") == 2
    assert "profile is set to 'base'" in capsys.readouterr().err


def test_enforced_profile_never_comes_from_the_accounts_config_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    shadow = home / ".config" / "agentsh" / "profiles"
    shadow.mkdir(parents=True)
    (shadow / "base.yaml").write_text("agentsh: 1\ncommands: [{name: all, run: date, decision: allow}]\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(sysconfig, "SYSTEM_CONFIG", config(tmp_path, f"agentsh: 1\nprofiles: {{users: {{{ME}: base}}}}\n"))
    assert sysconfig.admin_profile_path("base").endswith("agentsh/data/profiles/base.yaml")
    assert agentsh_main.main(["-c", "date"], argv0="agentsh") == 126
    assert "no rule allows" in capsys.readouterr().err


def test_explain_without_p_uses_the_accounts_enforced_profile(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(sysconfig, "SYSTEM_CONFIG", config(tmp_path, f"agentsh: 1\nprofiles: {{users: {{{ME}: base}}}}\n"))
    assert agentsh_main.main(["explain", "--json", "git status"], argv0="agentsh") == 0
    assert '"decision": "deny"' in capsys.readouterr().out  # base has no git: not the default the shell would not use
    assert agentsh_main.main(["explain", "-p", "default", "--json", "git status"], argv0="agentsh") == 0
    assert '"decision": "allow"' in capsys.readouterr().out  # asking about another profile runs nothing


def test_doctor_without_p_reports_on_the_accounts_enforced_profile(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """doctor said what the default profile needs, while the account's shell enforces another."""
    import json

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(sysconfig, "SYSTEM_CONFIG", config(tmp_path, f"agentsh: 1\nprofiles: {{users: {{{ME}: base}}}}\n"))
    with pytest.raises(SystemExit):  # 0 or 1: whether this host has the layers base needs
        agentsh_main.main(["doctor", "--json"], argv0="agentsh")
    assert json.loads(capsys.readouterr().out)["profile"] == "base"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make files owned by root and by another user")
@pytest.mark.parametrize("spoil", ["world-writable", "group-writable", "other-owner", "open-directory"])
def test_config_someone_else_could_write_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str], spoil: str) -> None:
    """The config decides the account's profile, so anyone who can write it chooses the
    account's policy. A world-writable config.yaml, or one the account owns, was read as the
    admin's: the account mapped itself to a looser profile and `date` ran."""
    etc = tmp_path / "etc"
    etc.mkdir()
    path = config(etc, f"agentsh: 1\nprofiles: {{users: {{{ME}: default}}}}\n")
    {"world-writable": lambda: os.chmod(path, 0o666), "group-writable": lambda: os.chmod(path, 0o664),
     "other-owner": lambda: os.chown(path, 65534, 65534), "open-directory": lambda: os.chmod(etc, 0o777)}[spoil]()
    monkeypatch.setattr(sysconfig, "SYSTEM_CONFIG", path)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert agentsh_main.main(["-c", "echo RAN-IT"], argv0="agentsh") == 2
    out = capsys.readouterr()
    assert "must be owned by root and writable by no one else" in out.err and "RAN-IT" not in out.out


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make files owned by root and by another user")
def test_enforced_profile_someone_else_could_write_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "profiles" / "agent.yaml"
    profile.parent.mkdir()
    profile.write_text("agentsh: 1\nextends: [default]\n")
    os.chown(profile, 65534, 65534)
    monkeypatch.setattr(sysconfig, "SYSTEM_CONFIG", config(tmp_path, f"agentsh: 1\nprofiles: {{users: {{{ME}: {profile}}}}}\n"))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert agentsh_main.main(["-c", "echo RAN-IT"], argv0="agentsh") == 2
    out = capsys.readouterr()
    assert "must be owned by root" in out.err and "RAN-IT" not in out.out
