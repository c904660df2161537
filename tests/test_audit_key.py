"""The audit key: keyrings.alt's file backend when asked, a 0600 key file otherwise; keyring imported only when asked."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from agentsh.audit.key import load_key, read_key_file
from agentsh.audit.log import AuditError
from tests.conftest import REPO

LOAD = """
import json, os, sys
sys.path.insert(0, {repo!r})
from agentsh.audit.key import load_key
key, where = load_key(os.environ, use_keyring={use_keyring}, create={create})
stored = None
if "keyring" in sys.modules:
    import keyring
    if where == "keyring":
        stored = keyring.get_password("agentsh", "audit-hmac-key")
    backend = type(keyring.get_keyring()).__module__ + "." + type(keyring.get_keyring()).__name__
else:
    backend = None
print(json.dumps({{"key": key.hex(), "where": where, "imported_keyring": "keyring" in sys.modules,
                  "stored": stored, "backend": backend}}))
"""


def load_in_subprocess(env: dict[str, str], use_keyring: bool, create: bool = True) -> dict:
    code = LOAD.format(repo=str(REPO), use_keyring=use_keyring, create=create)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "AGENTSH_", "PYTHON_KEYRING"))}
    return dict(clean, HOME=str(tmp_path / "home"), XDG_DATA_HOME=str(tmp_path / "data"),
                PYTHON_KEYRING_BACKEND="keyrings.alt.file.PlaintextKeyring")


def key_file(env: dict[str, str]) -> Path:
    return Path(env["HOME"]) / ".local" / "state" / "agentsh" / "audit.key"


def test_key_file_without_keyring_and_keyring_never_imported(env: dict[str, str]) -> None:
    first = load_in_subprocess(env, use_keyring=False)
    assert first["where"] == str(key_file(env))
    assert not first["imported_keyring"]
    assert len(bytes.fromhex(first["key"])) == 32
    assert stat.S_IMODE(key_file(env).stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file(env).parent.stat().st_mode) == 0o700
    assert key_file(env).read_text().strip() == first["key"]
    assert load_in_subprocess(env, use_keyring=False)["key"] == first["key"]


def test_keyring_from_keyrings_alt_file_backend(env: dict[str, str]) -> None:
    first = load_in_subprocess(env, use_keyring=True)
    assert first["where"] == "keyring"
    assert first["backend"] == "keyrings.alt.file.PlaintextKeyring"
    assert first["stored"] == first["key"]
    assert not key_file(env).exists()  # the key lives in the keyring only
    assert (Path(env["XDG_DATA_HOME"]) / "python_keyring" / "keyring_pass.cfg").exists()
    again = load_in_subprocess(env, use_keyring=True, create=False)
    assert (again["key"], again["where"]) == (first["key"], "keyring")


def test_an_existing_key_file_moves_into_the_keyring_with_the_same_key(env: dict[str, str]) -> None:
    from_file = load_in_subprocess(env, use_keyring=False)
    from_keyring = load_in_subprocess(env, use_keyring=True)
    assert (from_keyring["key"], from_keyring["where"], from_keyring["stored"]) == (from_file["key"], "keyring",
                                                                                  from_file["key"])


def test_no_keyring_backend_falls_back_to_the_key_file(env: dict[str, str]) -> None:
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    result = load_in_subprocess(env, use_keyring=True)
    assert result["where"] == str(key_file(env))
    assert key_file(env).exists()


def test_first_use_by_many_processes_at_once_makes_one_key(env: dict[str, str]) -> None:
    for use_keyring in (False, True):
        code = LOAD.format(repo=str(REPO), use_keyring=use_keyring, create=True)
        if use_keyring:
            env = dict(env, XDG_DATA_HOME=env["XDG_DATA_HOME"] + "2", HOME=env["HOME"] + "2")
        procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
                 for _ in range(8)]
        keys = {json.loads(proc.communicate(timeout=60)[0])["key"] for proc in procs}
        assert len(keys) == 1


def test_verify_side_does_not_create_a_key(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="no audit key file"):
        load_key({"HOME": str(tmp_path)}, use_keyring=False, create=False)
    assert not (tmp_path / ".local").exists() or not any((tmp_path / ".local").rglob("audit.key"))


def test_key_file_from_environment_and_loose_permissions_refused(tmp_path: Path) -> None:
    path = tmp_path / "k"
    path.write_text("ab" * 32 + "\n")
    path.chmod(0o644)
    with pytest.raises(AuditError, match="readable by others"):
        load_key({"AGENTSH_AUDIT_KEY_FILE": str(path)}, use_keyring=False)
    path.chmod(0o600)
    assert load_key({"AGENTSH_AUDIT_KEY_FILE": str(path)}, use_keyring=False) == (bytes([0xAB] * 32), str(path))
    path.write_text("not hex")
    with pytest.raises(AuditError, match="hex"):
        read_key_file(str(path))


def test_a_reader_never_sees_a_key_being_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first process to need the key creates it while others may read it without the
    lock: they must find no file (and wait for the lock) or the whole key, never an empty
    file. (Seen once in CI with eight processes starting together.)"""
    import threading
    import types

    from agentsh.audit import key as key_module

    path = str(tmp_path / "audit.key")
    writing, release = threading.Event(), threading.Event()

    def paused_write(fd: int, data: bytes) -> int:
        writing.set()
        release.wait(5)
        return os.write(fd, data)

    monkeypatch.setattr(key_module, "os", types.SimpleNamespace(**{
        name: getattr(os, name) for name in dir(os) if not name.startswith("__")} | {"write": paused_write}))
    results: dict[str, bytes] = {}
    errors: list[Exception] = []

    def use(name: str) -> None:
        try:
            results[name] = key_module._from_file(path, True)
        except Exception as err:  # whatever the reader hit is the failure to report
            errors.append(err)

    creator = threading.Thread(target=use, args=("creator",))
    creator.start()
    assert writing.wait(5)
    reader = threading.Thread(target=use, args=("reader",))
    reader.start()
    reader.join(0.3)  # the reader runs while the key is being written
    release.set()
    creator.join(5)
    reader.join(5)
    assert not errors, errors
    assert results["creator"] == results["reader"] and len(results["creator"]) >= 16
