"""The Secret Service backend for real: gnome-keyring-daemon under dbus-run-session,
with a throwaway HOME, unlocked from stdin (.ci/run installs gnome-keyring and dbus-x11)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, write_profile

SECRET = "gnome-kept-s3cret-value"
SCRIPT = """\
set -e
mkdir -p "$XDG_RUNTIME_DIR"; chmod 700 "$XDG_RUNTIME_DIR"
eval "$(printf 'throwaway\\n' | gnome-keyring-daemon --unlock --components=secrets)"
export GNOME_KEYRING_CONTROL
printf '%s' "$SECRET" | {python} -m agentsh secret set agentsh-ss deployer
{python} -m agentsh secret get-info agentsh-ss deployer
{python} -m agentsh -p "$PROFILE" -c show-token
"""


@pytest.mark.skipif(not shutil.which("gnome-keyring-daemon") or not shutil.which("dbus-run-session"),
                    reason="needs gnome-keyring and dbus (installed by .ci/run)")
def test_secret_service_backend(tmp_path: Path, agentsh_env: dict[str, str]) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "show-token").write_text('#!/bin/bash\nprintf "token=%s\\n" "$TOKEN"\n')
    (bindir / "show-token").chmod(0o755)
    profile = write_profile(tmp_path, "ss", f"""\
agentsh: 1
extends: [base]
path: ["{bindir}", /usr/bin, /bin]
record: {{dir: "{tmp_path / 'record'}"}}
commands:
  - name: deploy
    run: show-token
    decision: allow
    credentials:
      TOKEN: {{keyring: agentsh-ss, user: deployer}}
""")
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = dict(agentsh_env, HOME=str(home), XDG_DATA_HOME=str(home / "data"), XDG_RUNTIME_DIR=str(tmp_path / "run"),
               PYTHON_KEYRING_BACKEND="keyring.backends.SecretService.Keyring", SECRET=SECRET,
               PROFILE=str(profile))
    result = subprocess.run(["dbus-run-session", "--", "bash", "-c", SCRIPT.format(python=sys.executable)],
                            capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert '"stored": true' in result.stdout and "SecretService" in result.stdout
    assert "token=***" in result.stdout
    assert SECRET not in result.stdout and SECRET not in result.stderr
    recorded = "".join(p.read_text() for p in (tmp_path / "record").glob("*.cast"))
    assert SECRET not in recorded
    # The value lives in the Secret Service, not in a keyrings.alt file.
    assert not any(SECRET.encode() in p.read_bytes() for p in home.rglob("*") if p.is_file()
                   and "keyrings" not in p.parts)


STEAL = """\
import glob, os, secretstorage
for path in glob.glob("/tmp/dbus-*"):  # the session bus: not in the environment, but where dbus puts it
    os.environ["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=" + path
    for item in secretstorage.get_default_collection(secretstorage.dbus_init()).get_all_items():
        print(item.get_secret().decode()[::-1])
"""
STEAL_SCRIPT = """\
set -e
mkdir -p "$XDG_RUNTIME_DIR"; chmod 700 "$XDG_RUNTIME_DIR"
eval "$(printf 'throwaway\\n' | gnome-keyring-daemon --unlock --components=secrets)"
export GNOME_KEYRING_CONTROL
printf '%s' "$SECRET" | {python} -m agentsh secret set agentsh-ss deployer
cd "$WORK" && {python} -m agentsh -p "$PROFILE" -c "python3 steal.py"
"""


@pytest.mark.skipif(not shutil.which("gnome-keyring-daemon") or not shutil.which("dbus-run-session"),
                    reason="needs gnome-keyring and dbus (installed by .ci/run)")
@pytest.mark.xfail(strict=True, reason="known open gap: the Secret Service on the session bus (docs/security-model.md)")
def test_an_allowed_script_cannot_ask_the_secret_service(tmp_path: Path, agentsh_env: dict[str, str]) -> None:
    """A line with no credentials, whose profile lets it run a Python script (a test file under
    a run-tests rule is the same), asks the Secret Service on the session bus for every stored
    credential: Landlock does not control connecting to a pathname unix socket."""
    pytest.importorskip("secretstorage")
    work = tmp_path / "work"
    work.mkdir()
    (work / "steal.py").write_text(STEAL)
    profile = write_profile(tmp_path, "ss", f"""\
agentsh: 1
extends: [base]
path: ["{Path(sys.executable).parent}", /usr/bin, /bin]
commands:
  - name: run-script
    run: python3
    args: ["steal.py"]
    decision: allow
""")
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = dict(agentsh_env, HOME=str(home), XDG_DATA_HOME=str(home / "data"), XDG_RUNTIME_DIR=str(tmp_path / "run"),
               PYTHON_KEYRING_BACKEND="keyring.backends.SecretService.Keyring", SECRET=SECRET,
               PROFILE=str(profile), WORK=str(work), AGENTSH_WARM="0")
    result = subprocess.run(["dbus-run-session", "--", "bash", "-c", STEAL_SCRIPT.format(python=sys.executable)],
                            capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert SECRET[::-1] not in result.stdout, result.stderr
