"""Profiles: validation with file/line/key in every error, extends, lookup, self-tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentsh.errors import ConfigError
from agentsh.profile import Host, find_profile, load_profile
from agentsh.session import load_policy
from tests.conftest import write_profile

GOOD = """\
agentsh: 1
name: dev
extends: [base]
commands:
  - name: git-read
    run: git
    args: ["status ...", "log ..."]
    decision: allow
  - name: no-force-push
    run: git
    args: ["push ... --force ...", "push ... -f ..."]
    decision: deny
    message: "Use --force-with-lease."
tests:
  allow: ["git status", "git log --oneline -n 5"]
  deny: ["git push --force origin main", "rm -rf /"]
"""


@pytest.fixture
def host(tmp_path: Path, home: Path) -> Host:
    return Host(cwd=str(tmp_path), home=str(home), config_home=str(home / ".config"))


def load_error(tmp_path: Path, host: Host, text: str) -> ConfigError:
    path = write_profile(tmp_path, "p", text)
    with pytest.raises(ConfigError) as info:
        load_policy(str(path), host)
    return info.value


def test_good_profile_loads_and_its_tests_pass(tmp_path: Path, host: Host) -> None:
    policy = load_policy(str(write_profile(tmp_path, "dev", GOOD)), host)
    assert policy.profile.name == "dev"
    assert [r.name for r in policy.profile.rules][-2:] == ["git-read", "no-force-push"]
    assert len(policy.profile.sha256) == 64
    assert policy.decide("git push -f origin x").deciding.reason == "Use --force-with-lease."


@pytest.mark.parametrize("text, line, key, words", [
    (GOOD.replace("    decision: deny", "    decison: deny"), 12, "commands[1].decison",
     ["unknown key 'decison'", "did you mean 'decision'"]),
    (GOOD.replace("commands:", "comands:"), 4, "comands", ["unknown key 'comands'"]),
    (GOOD.replace("decision: allow", "decision: permit"), 8, "commands[0].decision", ["'permit' is not one of"]),
    (GOOD.replace("agentsh: 1", "agentsh: 2"), 1, "agentsh", ["unsupported format version"]),
    (GOOD.replace("    run: git\n    args: [\"status", "    args: [\"status"), 5, "commands[0]", ["rule needs 'run'"]),
    (GOOD.replace("name: dev", "name: dev\nname: other"), 3, "", ["duplicate key 'name'"]),
    (GOOD + "path: [bin, /usr/bin]\n", 17, "path[0]", ["not an absolute directory"]),
    (GOOD.replace("args: [\"status ...\", \"log ...\"]", "args: [\"status 'oops\"]"), 7, "commands[0].args[0]",
     ["cannot split pattern"]),
    (GOOD.replace("args: [\"status ...\", \"log ...\"]", "args: [status..., log]"), 7, "commands[0].args[0]",
     ["'...' must be a whole element"]),
    (GOOD + "env: {pass: [\"BAD-NAME\"]}\n", 17, "env.pass[0]", ["not a valid environment variable name"]),
    (GOOD.replace("name: no-force-push", "name: git-read"), 9, "commands[1].name", ["already used"]),
    (GOOD.replace("run: git\n    args: [\"push", "run: ./git\n    args: [\"push"), 10, "commands[1].run[0]",
     ["program name or an absolute path"]),
    ("agentsh: 1\ncommands: [\n", 3, "", ["YAML error"]),
    ("agentsh: 1\ncommands:\n  - &a {name: x}\n  - <<: *a\n", 4, "", ["merge keys"]),
    ("- just\n- a list\n", 1, "", ["must be a YAML mapping"]),
    ("", None, "", ["empty"]),
])
def test_errors_name_file_line_and_key(tmp_path: Path, host: Host, text: str, line: int | None, key: str,
                                       words: list[str]) -> None:
    err = load_error(tmp_path, host, text)
    assert err.file.endswith("p.yaml")
    assert err.line == line, str(err)
    if key:
        assert err.key == key, str(err)
    for word in words:
        assert word in str(err)


def test_failing_self_test_is_a_load_error(tmp_path: Path, host: Host) -> None:
    err = load_error(tmp_path, host, GOOD.replace('allow: ["git status",', 'allow: ["ls", "git status",'))
    assert "self-test failed" in str(err)
    assert "'ls' was deny, not allow" in str(err)
    assert "p.yaml:15: tests.allow" in str(err)


def test_yaml_alias_bomb_is_bounded(tmp_path: Path, host: Host) -> None:
    lines = ["agentsh: 1", 'a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]")
    err = load_error(tmp_path, host, "\n".join(lines) + "\n")
    assert "too large" in str(err) or "unknown key" in str(err)


def test_invalid_utf8_profile(tmp_path: Path, host: Host) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(b"agentsh: 1\nname: \xff\n")
    with pytest.raises(ConfigError, match=r"p.yaml:2: profile is not valid UTF-8"):
        load_policy(str(path), host)


def test_extends_merges_and_same_name_rule_replaces(tmp_path: Path, host: Host) -> None:
    write_profile(tmp_path, "parent", GOOD.replace("name: dev", "name: parent").replace("tests:", "unused:")
                  .split("unused:")[0] + "write: {allow: [/tmp]}\n")
    child = write_profile(tmp_path, "child", """\
agentsh: 1
extends: [parent]
write: {allow: ["{workspace}"]}
commands:
  - name: git-read
    run: git
    args: ["status"]
    decision: allow
""")
    profile = load_profile(str(child), host)
    assert profile.name == "child"
    rule = next(r for r in profile.rules if r.name == "git-read")
    assert [p.text for p in rule.args or ()] == ["status"]
    assert "/tmp" in profile.write_allow and str(Path(host.cwd).resolve()) in profile.write_allow
    assert [Path(f).name for f in profile.files] == ["base.yaml", "parent.yaml", "child.yaml"]


def test_extends_cycle_and_missing_parent(tmp_path: Path, host: Host) -> None:
    write_profile(tmp_path, "a", "agentsh: 1\nextends: [b]\n")
    write_profile(tmp_path, "b", "agentsh: 1\nextends: [a]\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_profile(str(tmp_path / "a.yaml"), host)
    write_profile(tmp_path, "c", "agentsh: 1\nextends: [nosuch]\n")
    with pytest.raises(ConfigError, match="'nosuch' not found"):
        load_profile(str(tmp_path / "c.yaml"), host)


def test_extends_never_reads_the_users_config_dir(tmp_path: Path, host: Host) -> None:
    """An admin profile saying `extends: [base]` must not pick up a user-written base.yaml."""
    user_dir = Path(host.user_dir)
    user_dir.mkdir(parents=True)
    write_profile(user_dir, "base", "agentsh: 1\ncommands: [{name: all, run: bash, decision: allow}]\n")
    admin = tmp_path / "etc"
    admin.mkdir()
    path = write_profile(admin, "team", "agentsh: 1\nextends: [base]\n")
    profile = load_profile(str(path), host)
    assert "all" not in [r.name for r in profile.rules]
    assert profile.files[0] == "<embedded>/base.yaml"


def test_lookup_order_user_then_embedded(tmp_path: Path, host: Host) -> None:
    assert find_profile(None, host).endswith("default.yaml")
    assert find_profile("base", host).endswith("agentsh/data/profiles/base.yaml")
    user_dir = Path(host.user_dir)
    user_dir.mkdir(parents=True)
    write_profile(user_dir, "base", "agentsh: 1\n")
    assert find_profile("base", host) == str(user_dir / "base.yaml")
    with pytest.raises(ConfigError, match="'nope' not found"):
        find_profile("nope", host)
    with pytest.raises(ConfigError, match="not a valid profile name"):
        find_profile("..hidden", host)


def test_sha256_follows_effective_content(tmp_path: Path, host: Host) -> None:
    first = load_profile(str(write_profile(tmp_path, "dev", GOOD)), host).sha256
    same = load_profile(str(write_profile(tmp_path, "dev", "# a comment\n" + GOOD)), host).sha256
    changed = load_profile(str(write_profile(tmp_path, "dev", GOOD.replace("log ...", "log"))), host).sha256
    assert first == same != changed
