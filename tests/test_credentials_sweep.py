"""The sweep of the credentials root: which lines' directories it removes.

A line's directory (its socket, helper and `as: file` credentials) used to be judged by
the PID in its name, tested with kill(PID, 0).  That is wrong when lines in several PID
namespaces share the root, and when the PID of a killed agentsh goes to another process.
These run real lines' brokers in new user and PID namespaces (unshare), where the test can
choose the PID the kernel gives out next (ns_last_pid)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from agentsh.credentials import broker as broker_module
from tests.conftest import REPO

# Make a line's broker in a child with a chosen PID, print its directory, and keep it until
# stdin ends.  Argv: the PID the child must get.
LIVE_ELSEWHERE = r'''
import os, sys
from agentsh.credentials.broker import CredentialBroker
with open("/proc/sys/kernel/ns_last_pid", "w") as last:
    last.write(str(int(sys.argv[1]) - 1))
child = os.fork()
if child == 0:
    broker = CredentialBroker(["probe"], lambda argv, cwd: ("/bin/true", {}), lambda: 1)
    print(os.getpid(), broker.dir, flush=True)
    sys.stdin.read()
    broker.close()
    os._exit(0)
os.waitpid(child, 0)
'''

# A line's agentsh (and its watcher, which would remove the directory at its end) is
# SIGKILLed; its PID goes to `sleep`; then another line's broker sweeps.  Prints the dead
# line's directory and whether it is still there.
REUSED = r'''
import os, signal, subprocess, sys
from agentsh.credentials.broker import CredentialBroker
ready_r, ready_w = os.pipe()
line = os.fork()
if line == 0:
    broker = CredentialBroker(["probe"], lambda argv, cwd: ("/bin/true", {}), lambda: 1)
    broker.file_for("TOKEN_FILE", "not-for-the-next-process")
    os.write(ready_w, f"{broker._watchdog.pid} {broker.dir}".encode())
    signal.pause()
watchdog, directory = os.read(ready_r, 4096).decode().split(" ", 1)
os.kill(int(watchdog), signal.SIGKILL)  # it could not run `rm` after this: signals come first
os.kill(line, signal.SIGKILL)
os.waitpid(line, 0)
with open("/proc/sys/kernel/ns_last_pid", "w") as last:
    last.write(str(line - 1))
taker = subprocess.Popen(["sleep", "60"])
assert taker.pid == line, (taker.pid, line)
assert os.path.isdir(directory), "the watcher removed it: nothing left to sweep"
CredentialBroker(["probe"], lambda argv, cwd: ("/bin/true", {}), lambda: 1).close()
print(directory, os.path.exists(directory))
taker.kill()
'''


def _namespaces() -> None:
    probe = subprocess.run(["unshare", "-Urpf", "--mount-proc", "sh", "-c", "echo 50 > /proc/sys/kernel/ns_last_pid"],
                           capture_output=True)
    if probe.returncode:
        pytest.skip(f"needs user and PID namespaces with ns_last_pid: {probe.stderr.decode().strip()}")


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private XDG_RUNTIME_DIR, short (the socket path must fit sun_path), shared by the
    namespaces: the same user, mapped to root inside, owns it."""
    path = Path(tempfile.mkdtemp(prefix="rt-"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(path))
    yield path
    subprocess.run(["rm", "-rf", "--", str(path)], check=False)


def _in_namespaces(script: str, *args: str, **popen: object) -> subprocess.Popen[str]:
    return subprocess.Popen(["unshare", "-Urpf", "--mount-proc", sys.executable, "-c", script, *args],
                            env=dict(os.environ, PYTHONPATH=str(REPO), AGENTSH_WARM="0"), cwd="/", text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)


def _pid_free_here() -> int:
    """A PID no process of this namespace has (the line elsewhere will get it there)."""
    with open("/proc/sys/kernel/pid_max") as handle:
        top = int(handle.read())
    return next(pid for pid in range(top - 100, 300, -1) if not os.path.exists(f"/proc/{pid}"))


def test_a_live_line_in_another_pid_namespace_keeps_its_directory(runtime: Path) -> None:
    """Before, the sweep tested the PID in the directory's name here: a line's agentsh in
    another PID namespace, alive, looked gone, and its socket and `as: file` files were
    removed, so its credentialed program got nothing."""
    _namespaces()
    pid = _pid_free_here()
    line = _in_namespaces(LIVE_ELSEWHERE, str(pid), stdin=subprocess.PIPE)
    try:
        assert line.stdout is not None
        said = line.stdout.readline().split()
        assert len(said) == 2 and said[0] == str(pid), (said, line.stderr.read() if line.stderr else "")
        elsewhere = Path(said[1])
        broker_module.CredentialBroker(["probe"], lambda argv, cwd: ("/bin/true", {}), lambda: 1).close()
        assert (elsewhere / "broker.sock").exists(), sorted(p.name for p in elsewhere.parent.iterdir())
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:  # and it still answers
            client.settimeout(20)
            client.connect(str(elsewhere / "broker.sock"))
            client.sendall(b'{"argv": ["probe"], "cwd": "/"}\n')
            client.shutdown(socket.SHUT_WR)
            assert b"not agentsh's exec helper" in client.recv(65536)
    finally:
        _out, err = line.communicate(timeout=30)
    assert line.returncode == 0, err
    assert not elsewhere.exists()  # its own close removed it


def test_a_killed_line_is_swept_though_its_pid_went_to_another_process(runtime: Path) -> None:
    """Before, a SIGKILLed line whose PID another process had taken looked alive, and its
    directory, with its `as: file` credential, stayed on disk."""
    _namespaces()
    run = _in_namespaces(REUSED)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 0, out + err
    directory, present = out.split()
    assert present == "False", (directory, sorted(p.name for p in Path(directory).parent.iterdir()))


def test_the_sweep_follows_no_link_and_keeps_what_it_does_not_know(runtime: Path, tmp_path: Path) -> None:
    """Entries planted in the root: a link named like a line's directory (to a directory
    outside), an unlocked line's directory holding a link out, and unknown names."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("x")
    root = Path(broker_module._private_root(broker_module.credentials_root()))
    (root / "held-link").symlink_to(outside)
    (root / "held-dead").mkdir()
    (root / "held-dead" / "out").symlink_to(outside)
    (root / "held-file").write_text("x")
    (root / "other").mkdir()
    (root / "line-1-legacy").mkdir()  # an older agentsh's, its PID alive: kept as before
    broker_module.CredentialBroker(["probe"], lambda argv, cwd: ("/bin/true", {}), lambda: 1).close()
    assert (outside / "keep").exists()
    assert sorted(p.name for p in root.iterdir()) == ["held-file", "held-link", "line-1-legacy", "other"]


def test_a_line_of_this_same_process_keeps_its_directory(runtime: Path) -> None:
    """flock locks belong to the open file description, not the process: a second broker of
    the same process (fcntl's locks would be its own) does not sweep the first's directory."""
    first = broker_module.CredentialBroker(["probe"], lambda argv, cwd: ("/bin/true", {}), lambda: 1)
    try:
        broker_module.CredentialBroker(["probe"], lambda argv, cwd: ("/bin/true", {}), lambda: 1).close()
        assert Path(first.socket_path).exists()
    finally:
        first.close()
    assert not Path(first.dir).exists()
