"""agentsh as a real account's login shell, reached through a real sshd on loopback.

Needs root (to create the account and run sshd), openssh-server, and Debian's
python3 with venv: the test account cannot reach this interpreter under /root,
so agentsh is installed for it into /opt/agentsh-test-venv.  .ci/run installs
all of these.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from tests.conftest import REPO

USER = "agentsh-ssh"
VENV = Path("/opt/agentsh-test-venv")
SYSTEM_DIR = Path("/etc/agentsh")
PROFILE_NAME = "agentsh-ssh-test"
PROFILE = """\
agentsh: 1
name: ssh-test
extends: [base]
commands:
  - name: basics
    run: [whoami, ls, cat]
    decision: allow
"""

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not Path("/usr/sbin/sshd").exists() or not Path("/usr/bin/python3").exists(),
    reason="needs root, /usr/sbin/sshd (openssh-server) and /usr/bin/python3 (installed by .ci/run)")


def _run(*argv: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=True, timeout=600, **kw)  # type: ignore[call-overload]


def _install_agentsh() -> Path:
    if not (VENV / "bin" / "python").exists():
        _run("/usr/bin/python3", "-m", "venv", str(VENV))
    pip = str(VENV / "bin" / "pip")
    _run(pip, "install", "--quiet", str(REPO))  # dependencies, if any are missing
    _run(pip, "install", "--quiet", "--no-deps", "--force-reinstall", str(REPO))  # this checkout's code
    return VENV / "bin" / "agentsh"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Sshd:
    def __init__(self, tmp: Path, agentsh: Path) -> None:
        self.tmp = tmp
        self.port = _free_port()
        self.key = tmp / "client_key"
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / "host_key"))
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key))
        # sshd reads authorized keys as the user, who cannot enter pytest's 0700 temp dirs.
        keys = Path(tempfile.mkdtemp(prefix="agentsh-ssh-keys-", dir="/tmp"))
        self.keys = keys
        (keys / USER).write_text((tmp / "client_key.pub").read_text())
        keys.chmod(0o755)
        (keys / USER).chmod(0o644)
        config = tmp / "sshd_config"
        config.write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {tmp / 'host_key'}\nPidFile {tmp / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {keys}/%u\nStrictModes no\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\nPermitRootLogin no\nLogLevel VERBOSE\n"
            "Subsystem sftp /usr/lib/openssh/sftp-server\n"
            # the recipe's Match block (docs/login-shell.md): forwarding bypasses the shell
            f"Match User {USER}\n  DisableForwarding yes\n  PermitTunnel no\n")
        Path("/run/sshd").mkdir(exist_ok=True)
        self.log = open(tmp / "sshd.log", "w")
        self.proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(config)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("sshd did not start: " + (tmp / "sshd.log").read_text())

    def options(self) -> list[str]:
        return ["-i", str(self.key), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"]

    def ssh(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ssh", *self.options(), "-p", str(self.port), f"{USER}@127.0.0.1", command],
                              capture_output=True, text=True, timeout=60)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()
        shutil.rmtree(self.keys, ignore_errors=True)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    agentsh = _install_agentsh()
    try:
        pwd.getpwnam(USER)
        _run("usermod", "-s", str(agentsh), USER)
    except KeyError:
        _run("useradd", "-m", "-s", str(agentsh), USER)
    _run("usermod", "-p", "*", USER)  # no password, but not locked: sshd refuses locked accounts
    home = Path(pwd.getpwnam(USER).pw_dir)
    shutil.rmtree(home / ".local" / "state" / "agentsh", ignore_errors=True)
    (SYSTEM_DIR / "profiles").mkdir(parents=True, exist_ok=True)
    config = SYSTEM_DIR / "config.yaml"
    saved = config.read_text() if config.exists() else None
    (SYSTEM_DIR / "profiles" / f"{PROFILE_NAME}.yaml").write_text(PROFILE)
    config.write_text(f"agentsh: 1\nprofiles:\n  users: {{{USER}: {PROFILE_NAME}}}\n")
    server = Sshd(tmp_path_factory.mktemp("sshd"), agentsh)
    try:
        yield server
    finally:
        server.stop()
        (SYSTEM_DIR / "profiles" / f"{PROFILE_NAME}.yaml").unlink()
        if saved is None:
            config.unlink()
        else:
            config.write_text(saved)


def recordings() -> str:
    state = Path(pwd.getpwnam(USER).pw_dir) / ".local" / "state" / "agentsh"
    out = []
    for cast in sorted(state.glob("*.cast")):
        assert cast.stat().st_mode & 0o777 == 0o600
        for line in cast.read_text().splitlines()[1:]:
            event = json.loads(line)
            if event[1] == "o":
                out.append(event[2])
    return "".join(out)


def test_allowed_command_runs(sshd: Sshd) -> None:
    result = sshd.ssh("whoami")
    assert (result.returncode, result.stdout) == (0, f"{USER}\n"), result.stderr


def test_denied_command_is_refused(sshd: Sshd) -> None:
    result = sshd.ssh("touch /tmp/agentsh-ssh-canary; curl http://127.0.0.1/")
    assert result.returncode == 126
    assert "agentsh: denied: curl http://127.0.0.1/" in result.stderr
    assert not Path("/tmp/agentsh-ssh-canary").exists()


def test_both_are_recorded(sshd: Sshd) -> None:
    sshd.ssh("whoami")
    sshd.ssh("curl http://127.0.0.1/recorded")
    text = recordings()
    assert f"{USER}\r\n" in text
    assert "agentsh: denied: curl http://127.0.0.1/recorded" in text


def test_profile_is_the_one_the_system_config_assigns(sshd: Sshd) -> None:
    result = sshd.ssh("ls /")  # allowed by the test profile
    assert result.returncode == 0
    result = sshd.ssh("date")  # allowed by the embedded default, not by the assigned profile
    assert result.returncode == 126 and "(rule default-deny)" in result.stderr


def test_interactive_login_shell(sshd: Sshd) -> None:
    child = pexpect.spawn("ssh", [*sshd.options(), "-tt", "-p", str(sshd.port), f"{USER}@127.0.0.1"],
                          encoding="utf-8", timeout=30)
    try:
        child.expect(r"agentsh\(ssh-test\):~\$ ")
        child.sendline("whoami")
        child.expect(f"\r\n{USER}\r\n")
        child.sendline("curl http://127.0.0.1/")
        child.expect("agentsh: denied: curl")
        child.sendline("exit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)


def test_scp_and_sftp_are_refused(sshd: Sshd, tmp_path: Path) -> None:
    payload = tmp_path / "payload"
    payload.write_text("data")
    target = "/tmp/agentsh-scp-canary"
    scp = subprocess.run(["scp", *sshd.options(), "-O", "-P", str(sshd.port), str(payload), f"{USER}@127.0.0.1:{target}"],
                         capture_output=True, text=True, timeout=60)
    assert scp.returncode != 0 and not Path(target).exists()
    sftp = subprocess.run(["sftp", *sshd.options(), "-P", str(sshd.port), "-b", "-", f"{USER}@127.0.0.1"],
                          input=f"put {payload} {target}\n", capture_output=True, text=True, timeout=60)
    assert sftp.returncode != 0 and not Path(target).exists()


def test_forwarding_bypasses_no_shell(sshd: Sshd) -> None:
    """Port forwarding is sshd's, not the shell's: `ssh -W HOST:PORT` (or -L, -D) opened a
    connection from the host as the agent's account without agentsh seeing anything. The
    recipe's `DisableForwarding yes` closes it; the listener must see no connection."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(3)
        port = listener.getsockname()[1]
        done = subprocess.run(["ssh", *sshd.options(), "-p", str(sshd.port), "-W", f"127.0.0.1:{port}",
                               f"{USER}@127.0.0.1"], input="hello\n", capture_output=True, text=True, timeout=20)
        with pytest.raises(TimeoutError):
            listener.accept()[0].close()
    assert done.returncode != 0
