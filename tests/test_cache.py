"""The validated-profile cache: used only while sources are unchanged and owned by the user."""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentsh.profile import Host, cache
from agentsh.session import load_policy
from tests.conftest import REPO, SECRETS_DENIED, run_guardrail, write_profile

PROFILE = """\
agentsh: 1
extends: [base]
commands:
  - {name: lister, run: ls, decision: allow}
tests:
  allow: ["ls"]
"""


@pytest.fixture
def host(tmp_path: Path, home: Path, workspace: Path) -> Host:
    return Host(cwd=str(workspace), home=str(home), config_home=str(home / ".config"),
                cache_dir=str(tmp_path / "cache"))


def entries(host: Host) -> list[Path]:
    return sorted(Path(host.cache_dir).glob("*.bin"))


def test_entry_is_written_0600_and_reused(tmp_path: Path, host: Host) -> None:
    path = write_profile(tmp_path, "p", PROFILE)
    first = load_policy(str(path), host)
    [entry] = entries(host)
    assert entry.stat().st_mode & 0o777 == 0o600
    assert Path(host.cache_dir).stat().st_mode & 0o777 == 0o700
    second = load_policy(str(path), host)
    assert second.profile == first.profile
    assert second.decide("ls").decision == "allow"


def test_cache_hit_skips_yaml(tmp_path: Path, host: Host, agentsh_env: dict[str, str]) -> None:
    path = write_profile(tmp_path, "p", PROFILE)
    load_policy(str(path), host)
    code = ("import sys; from agentsh.profile import Host; from agentsh.session import load_policy\n"
            f"h = Host(*{tuple(host)!r})\n"
            f"p = load_policy({str(path)!r}, h)\n"
            "print('yaml' in sys.modules, p.decide('ls').decision)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=agentsh_env,
                            cwd=REPO, timeout=60)
    assert result.stdout.split() == ["False", "allow"], result.stderr


def test_edit_invalidates(tmp_path: Path, host: Host) -> None:
    path = write_profile(tmp_path, "p", PROFILE)
    assert load_policy(str(path), host).decide("ls").decision == "allow"
    path.write_text(PROFILE.replace("decision: allow}", "decision: deny}").replace("allow: [\"ls\"]", "deny: [\"ls\"]"))
    assert load_policy(str(path), host).decide("ls").decision == "deny"


def test_edit_of_an_extended_parent_invalidates(tmp_path: Path, host: Host) -> None:
    write_profile(tmp_path, "parent", "agentsh: 1\nextends: [base]\ncommands:\n  - {name: l, run: ls, decision: allow}\n")
    child = write_profile(tmp_path, "child", "agentsh: 1\nextends: [parent]\n")
    assert load_policy(str(child), host).decide("ls").decision == "allow"
    write_profile(tmp_path, "parent", "agentsh: 1\nextends: [base]\ncommands:\n  - {name: l, run: ls, decision: deny}\n")
    assert load_policy(str(child), host).decide("ls").decision == "deny"


def test_forged_entry_is_not_trusted_unless_owned_and_private(tmp_path: Path, host: Host) -> None:
    path = write_profile(tmp_path, "p", PROFILE)
    load_policy(str(path), host)
    [entry] = entries(host)
    entry.chmod(0o644)
    load_policy(str(path), host)  # an unsafe entry is ignored and rewritten
    [entry] = entries(host)
    assert entry.stat().st_mode & 0o777 == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create files owned by another user")
def test_profiles_owned_by_someone_else_are_never_cached(tmp_path: Path, host: Host) -> None:
    """An admin's profile used by the agent's account must not be cached where the agent could forge it."""
    path = write_profile(tmp_path, "p", PROFILE)
    os.chown(path, 65534, 65534)
    load_policy(str(path), host)
    assert entries(host) == []


def forge(entry: Path) -> None:
    """Rewrite a cache entry so that its profile also allows `cat` (a widened policy)."""
    fmt, key, signatures, absent, merged, sha = marshal.loads(entry.read_bytes())
    merged["commands"] = [*merged["commands"], {"name": "forged", "run": ["cat"], "decision": "allow"}]
    entry.write_bytes(marshal.dumps((fmt, key, signatures, absent, merged, sha)))


def test_forge_detector_works(tmp_path: Path, host: Host) -> None:
    """The same user can forge an entry (they could edit the profile too): it is used."""
    path = write_profile(tmp_path, "p", PROFILE)
    load_policy(str(path), host)
    [entry] = entries(host)
    forge(entry)
    assert load_policy(str(path), host).decide("cat README.md").decision == "allow"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create files owned by another user")
def test_entry_owned_by_someone_else_is_ignored(tmp_path: Path, host: Host) -> None:
    path = write_profile(tmp_path, "p", PROFILE)
    load_policy(str(path), host)
    [entry] = entries(host)
    forge(entry)
    os.chown(entry, 65534, 65534)
    assert load_policy(str(path), host).decide("cat README.md").decision == "deny"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create files owned by another user")
@pytest.mark.parametrize("sources", ["none", "own"])
def test_forged_entry_under_an_admin_profiles_key_is_not_used(tmp_path: Path, host: Host, sources: str) -> None:
    """The agent's account can write its own cache dir. An entry it writes under the key of an
    admin's profile (owned by someone else, so never cached) that lists no source files, or
    only files the account owns, was a hit: it widened the admin's profile to anything."""
    own = write_profile(tmp_path, "own", PROFILE)
    load_policy(str(own), host)
    [entry] = entries(host)
    forge(entry)
    admin = write_profile(tmp_path, "admin", PROFILE)
    os.chown(admin, 65534, 65534)
    fmt, _, signatures, absent, merged, sha = marshal.loads(entry.read_bytes())
    key = cache._key(str(admin), host)
    forged = (fmt, key, [] if sources == "none" else signatures, absent, merged, sha)
    Path(cache._entry_path(host.cache_dir, key)).write_bytes(marshal.dumps(forged))
    os.chmod(cache._entry_path(host.cache_dir, key), 0o600)
    assert load_policy(str(admin), host).decide("cat README.md").decision == "deny"


def test_a_parent_appearing_beside_the_child_invalidates(tmp_path: Path, host: Host) -> None:
    """`extends: [default]` took the embedded default; a default.yaml written beside the child
    later is what the files now say, but the cache kept serving the embedded one."""
    child = write_profile(tmp_path, "child", "agentsh: 1\nextends: [default]\n")
    assert load_policy(str(child), host).decide("ls").decision == "allow"
    write_profile(tmp_path, "default", "agentsh: 1\nextends: [base]\n")
    assert load_policy(str(child), host).decide("ls").decision == "deny"


def test_a_line_cannot_rewrite_the_cache_when_xdg_cache_home_is_in_a_write_root(
        tmp_path: Path, workspace: Path, agentsh_env: dict[str, str]) -> None:
    """base.yaml denies ~/.cache/agentsh, but with XDG_CACHE_HOME in the workspace (CI sets it)
    the cache was a write root: a line copied a forged entry over the real one, and the next
    call's profile no longer denied secrets/ (guardrail mode; confined mode too, as Landlock
    grants the workspace)."""
    (workspace / "secrets").mkdir()
    (workspace / "secrets" / "key").write_text("SECRET-KEY-BYTES\n")
    env = dict(agentsh_env, XDG_CACHE_HOME=str(workspace / ".cache"))
    profile = write_profile(tmp_path, "rt", SECRETS_DENIED)
    assert run_guardrail("true", workspace, env, tmp_path, profile).returncode == 0  # fills the cache
    [entry] = (workspace / ".cache" / "agentsh" / "profiles").glob("*.bin")
    fmt, key, signatures, absent, merged, sha = marshal.loads(entry.read_bytes())
    merged["read"]["deny"] = [d for d in merged["read"]["deny"] if "secrets" not in d]
    (workspace / "evil.bin").write_bytes(marshal.dumps((fmt, key, signatures, absent, merged, sha)))
    run_guardrail(f"cp evil.bin {entry.relative_to(workspace)}", workspace, env, tmp_path, profile)
    result = run_guardrail("cat secrets/key", workspace, env, tmp_path, profile)
    assert "SECRET-KEY-BYTES" not in result.stdout + result.stderr
    assert result.returncode == 126
