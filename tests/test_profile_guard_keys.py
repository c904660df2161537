"""Profile keys for the exec-time layers: network ports, strict, and per-rule children/background."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentsh.errors import ConfigError
from agentsh.profile import Host, load_profile
from tests.conftest import write_profile


@pytest.fixture
def host(tmp_path: Path, home: Path) -> Host:
    return Host(cwd=str(tmp_path), home=str(home), config_home=str(home / ".config"))


def load(tmp_path: Path, host: Host, body: str, name: str = "p"):
    return load_profile(str(write_profile(tmp_path, name, "agentsh: 1\nname: p\n" + body)), host)


def test_defaults_are_closed(tmp_path: Path, host: Host) -> None:
    profile = load(tmp_path, host, "commands:\n  - {name: t, run: 'true', decision: allow}\n")
    assert profile.network_connect == () and profile.network_bind == ()
    assert profile.strict is False
    assert profile.rules[0].children == "check" and profile.rules[0].background is False


def test_values_are_read(tmp_path: Path, host: Host) -> None:
    profile = load(tmp_path, host, "network: {connect: [443, 22, 443], bind: any}\nstrict: true\n"
                   "commands:\n  - {name: m, run: make, decision: allow, children: any, background: true}\n")
    assert profile.network_connect == (22, 443) and profile.network_bind is None
    assert profile.strict is True
    assert profile.rules[0].children == "any" and profile.rules[0].background is True


def test_network_merges_per_key(tmp_path: Path, host: Host) -> None:
    write_profile(tmp_path, "parent", "agentsh: 1\nname: parent\nnetwork: {connect: [443], bind: [8000]}\n")
    profile = load(tmp_path, host, "extends: [parent]\nnetwork: {connect: [22]}\n")
    assert profile.network_connect == (22,) and profile.network_bind == (8000,)


@pytest.mark.parametrize(("body", "words"), [
    ("network: {connect: [70000]}\n", ["network.connect[0]", "port"]),
    ("network: {connect: ['443']}\n", ["network.connect[0]"]),
    ("network: {conect: [443]}\n", ["unknown key 'conect'", "connect"]),
    ("network: {connect: all}\n", ["network.connect", "'any'"]),
    ("strict: yes please\n", ["strict", "true or false"]),
    ("commands:\n  - {name: m, run: make, decision: allow, children: some}\n", ["children", "check, none, any"]),
    ("commands:\n  - {name: m, run: make, decision: allow, background: 1}\n", ["background", "true or false"]),
])
def test_bad_values_name_the_key(tmp_path: Path, host: Host, body: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, host, body)
    text = str(err.value)
    assert "p.yaml" in text
    for word in words:
        assert word in text


def test_workspace_in_terms_of_itself_is_an_error(tmp_path: Path, host: Host) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, host, 'workspace: ["{workspace}/src"]\n')
    assert "workspace[0]" in str(err.value) and "p.yaml" in str(err.value)
