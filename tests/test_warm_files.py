"""The warm server's directory ($XDG_RUNTIME_DIR/agentsh or /tmp/agentsh-UID): a key's
lock, socket and .failed files go when its server ends, stale ones of dead keys are swept
when a server starts, and a lock file removed while another process is about to lock it
still guards exactly one server. Real processes throughout (servers, clients, strace)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from agentsh.warm import wire
from tests import test_warm as test_warm_module
from tests.test_warm import AGENTSH, audit_lines, run, wait_for_server

warm_env = pytest.fixture(test_warm_module.warm_env.__wrapped__)  # each test its own directory and server

pytestmark = pytest.mark.skipif(not wire.peer_pidfd_supported(), reason="SO_PEERPIDFD needs Linux >= 6.5")

FLOCK_SYSCALL = {"x86_64": 73, "aarch64": 32}.get(os.uname().machine)


def key_files(env: dict[str, str]) -> tuple[Path, Path, str]:
    """The server directory, this environment's socket, and its key's digest."""
    key = wire.server_key(env)
    path = wire.socket_path(env, key)
    assert path is not None
    return Path(path).parent, Path(path), wire.digest(key)


def served_by_a_worker(env: dict[str, str], workspace: Path, home: Path, shell: tuple[str, ...] = ()) -> None:
    """Until a line with this environment (run by `shell -c`, agentsh's own by default) is
    served by its key's server (the first call starts it). A served line also means the
    server's start-up sweep is over."""
    for _ in range(100):
        if shell:
            done = subprocess.run([*shell, "-c", "true"], env=env, cwd=workspace, stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=60)
        else:
            done = run(env, "true", workspace)
        assert done.returncode == 0, done.stderr
        if "warm_caller" in audit_lines(home)[-1]:
            return
        time.sleep(0.1)
    raise AssertionError("never served by a warm server")


def wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]:
        assert time.monotonic() < deadline, f"{pid} did not end"
        time.sleep(0.02)


def servers_of(sock: Path) -> list[int]:
    """The running server processes for this socket: their command line names it, and
    their parent is not one (a worker has its server's command line)."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if any(b"agentsh.warm.server" in arg for arg in argv) and os.fsencode(sock) in argv:
            found[int(entry.name)] = parent
    return sorted(pid for pid, parent in found.items() if parent not in found)


def test_a_server_removes_its_files_when_it_ends(warm_env: dict[str, str], workspace: Path) -> None:
    server = wait_for_server(warm_env, workspace)
    directory, sock, _ = key_files(warm_env)
    assert sorted(p.name for p in directory.iterdir()) == sorted([sock.name, sock.name[:-5] + ".lock"])
    os.kill(server, signal.SIGTERM)
    wait_gone(server)
    assert list(directory.iterdir()) == []


@pytest.mark.skipif(shutil.which("strace") is None or FLOCK_SYSCALL is None, reason="needs strace (x86_64/aarch64)")
def test_a_lock_removed_while_another_server_is_about_to_take_it_guards_one_server(
        warm_env: dict[str, str], workspace: Path) -> None:
    """Server 2 opens the lock file while server 1 holds it; strace holds server 2 at its
    flock() while server 1 ends and removes the file. Server 2's flock then succeeds on the
    removed file: it must see so and lock the file now at that name, or it would serve
    with a lock nobody else can see, and the next client would start a second server."""
    first = wait_for_server(warm_env, workspace)
    directory, sock, key_digest = key_files(warm_env)
    lock = directory / (sock.name[:-5] + ".lock")
    tracer = subprocess.Popen(
        ["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=flock", "-e", "inject=flock:delay_enter=60000000:when=1",
         *wire.server_argv(str(sock), key_digest)],
        env=wire.server_environ(warm_env), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        second = None
        while second is None or Path(f"/proc/{second}/syscall").read_text().split()[0] != str(FLOCK_SYSCALL):
            assert time.monotonic() < deadline and tracer.poll() is None, "server 2 never reached its flock"
            time.sleep(0.02)
            children = Path(f"/proc/{tracer.pid}/task/{tracer.pid}/children").read_text().split()
            second = int(children[0]) if children else None
        assert str(lock) in [os.readlink(fd) for fd in Path(f"/proc/{second}/fd").iterdir()]
        os.kill(first, signal.SIGTERM)
        wait_gone(first)
        assert not lock.exists()  # server 1 removed it, under server 2's open descriptor
    finally:
        tracer.kill()  # the kernel detaches server 2 from a killed strace: its flock() goes ahead now
        tracer.wait(timeout=30)
    deadline = time.monotonic() + 30
    while wire.live_server(str(lock)) is None or not sock.exists():
        assert time.monotonic() < deadline and Path(f"/proc/{second}").exists(), "server 2 holds no lock at the name"
        time.sleep(0.05)
    assert wire.live_server(str(lock)) == second
    assert wire.take_lock(str(lock)) is None  # what a client's start_server and a third server would find
    assert run(warm_env, "echo served", workspace).stdout == "served\n"
    assert servers_of(sock) == [second]


def test_stale_files_are_swept_when_a_server_starts_and_live_ones_stay(
        warm_env: dict[str, str], workspace: Path, home: Path, tmp_path: Path) -> None:
    first = wait_for_server(warm_env, workspace)
    directory, _, _ = key_files(warm_env)
    live = sorted(p.name for p in directory.iterdir())
    # A killed server's socket and lock, a failed start, a lock a client left, a symlink
    # (swept as a name, its target untouched), a key another process holds, a fresh one.
    bound = socket.socket(socket.AF_UNIX)
    bound.bind(str(directory / "warm-dead000000000000.sock"))
    bound.close()
    (directory / "warm-dead000000000000.lock").write_text("1\n")
    (directory / "warm-fa11ed0000000000.failed").write_text("RuntimeError: x\n")
    (directory / "warm-c11e000000000000.lock").touch()
    target = tmp_path / "target"
    target.write_text("kept\n")
    (directory / "warm-11nk000000000000.sock").symlink_to(target)
    (directory / "warm-he1d000000000000.lock").touch()
    held = wire.take_lock(str(directory / "warm-he1d000000000000.lock"))
    assert held is not None
    old = time.time() - wire.STALE_SECONDS - 100
    for path in directory.iterdir():
        os.utime(path, (old, old), follow_symlinks=False)  # the live server's own files too
    (directory / "warm-f4e5000000000000.lock").touch()  # changed lately: not swept yet
    try:
        other = dict(warm_env, PYTHONWARMTESTKEY="other")
        served_by_a_worker(other, workspace, home)  # a second server started, and swept
        _, other_sock, _ = key_files(other)
        assert sorted(p.name for p in directory.iterdir()) == sorted([
            *live, other_sock.name, other_sock.name[:-5] + ".lock",
            "warm-he1d000000000000.lock", "warm-f4e5000000000000.lock"])
        assert target.read_text() == "kept\n"
    finally:
        os.close(held)
    served_by_a_worker(warm_env, workspace, home)
    assert wire.live_server(str(directory / live[0])) == first  # still serving, from its own files


def test_concurrent_callers_all_succeed_and_leave_one_lock_per_live_key(
        warm_env: dict[str, str], workspace: Path) -> None:
    """Eight `agentsh -c` at once with no server yet (several start one for the same key at
    the same time), over two keys; then eight more. Every line gets its own output, and
    what is left is one lock and socket per key, each of a live server, one server per key."""
    envs = [warm_env, dict(warm_env, PYTHONWARMTESTKEY="second")]
    directory, _, _ = key_files(warm_env)
    socks = [key_files(env)[1] for env in envs]
    for _ in range(2):
        procs = [subprocess.Popen([*AGENTSH, "-c", f"echo line-{i}"], env=envs[i % 2], cwd=workspace,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i in range(8)]
        for i, proc in enumerate(procs):
            out, err = proc.communicate(timeout=60)
            assert (proc.returncode, out) == (0, f"line-{i}\n"), err
    deadline = time.monotonic() + 30
    while any(len(servers_of(sock)) != 1 or not sock.exists() for sock in socks):
        assert time.monotonic() < deadline, {str(sock): servers_of(sock) for sock in socks}
        time.sleep(0.05)
    names = sorted(p.name for p in directory.iterdir())
    assert names == sorted(n for sock in socks for n in (sock.name, sock.name[:-5] + ".lock"))
    for sock in socks:
        assert wire.live_server(str(sock)[:-5] + ".lock") == servers_of(sock)[0]


def test_a_shim_callers_server_imports_the_shims_agentsh(warm_env: dict[str, str], workspace: Path, home: Path,
                                                         tmp_path: Path) -> None:
    """A shim runs `python -I` and puts the directory of the agentsh it was made by on
    sys.path itself. The server it starts must import that agentsh too: one started as
    `python -I -m agentsh.warm.server` imported another (here the installed copy), computed
    another key, failed, and left a .failed file for every such key; shims never got a server."""
    shim = tmp_path / "shim"
    made = subprocess.run([*AGENTSH, "shim", str(shim)], env=warm_env, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    served_by_a_worker(warm_env, workspace, home, shell=(str(shim / "bash"),))
    directory, _, _ = key_files(warm_env)
    assert not list(directory.glob("*.failed"))


FAKE_SERVER = """
import os, socket, sys
path, log = sys.argv[1], sys.argv[2]
with open("/proc/self/status") as handle:
    fields = dict(line.split(":", 1) for line in handle.read().splitlines() if ":" in line)
confined = "confined" if fields["TracerPid"].strip() != "0" and fields["NoNewPrivs"].strip() != "0" else ""
try:
    os.unlink(path)
except FileNotFoundError:
    pass
listener = socket.socket(socket.AF_UNIX)
listener.bind(path)
listener.listen(1)
with open(log + ".listening", "w") as handle:
    handle.write(confined)
listener.settimeout(30)
conn, _ = listener.accept()
conn.settimeout(5)
got = b""
try:
    conn.sendall(b"ready\\n")
    while b"GITHUB_TOKEN" not in got:
        part = conn.recv(65536)
        if not part:
            break
        got += part
    if got:
        conn.sendall(b"pid 1\\n")
        conn.recv(16)
        conn.sendall(b"status 0\\n")
except OSError:
    pass
with open(log, "wb") as handle:
    handle.write(got)
"""


def test_a_server_inside_an_agentsh_line_gets_no_callers(warm_env: dict[str, str], workspace: Path,
                                                          tmp_path: Path) -> None:
    """A confined line can write the warm directory (it is the user's), so it can bind a
    socket of its own at a key's name while it runs. A caller must not hand such a server
    its line, environment and descriptors: it would answer for agentsh, outside any check.
    The client runs its line itself when the process listening is traced or has
    no_new_privs (every process of a line has both), as the server refuses such callers."""
    _, sock, _ = key_files(warm_env)
    (workspace / "fake.py").write_text(FAKE_SERVER)
    log = workspace / "fake.log"
    line = subprocess.Popen([*AGENTSH, "-c", f"python3 fake.py {sock} {log}"], env=dict(warm_env, AGENTSH_WARM="0"),
                            cwd=workspace, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    listening = Path(f"{log}.listening")
    wait_for_file_or_end(listening, line)
    if not listening.read_text():
        line.kill()
        pytest.skip("lines do not run confined here (no exec guard or Landlock)")
    env = dict(warm_env, GITHUB_TOKEN="ghp_fakeservervictim000000000000000000")
    done = run(env, "echo ran-by-agentsh", workspace)
    _, err = line.communicate(timeout=60)
    assert line.returncode == 0, err
    assert done.stdout == "ran-by-agentsh\n", done.stderr
    assert b"ghp_fakeservervictim" not in log.read_bytes()


def wait_for_file_or_end(path: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(proc.communicate()[1].decode())
        assert time.monotonic() < deadline
        time.sleep(0.02)


@pytest.mark.parametrize("planted", [".failed", ".lock", "fifo"])
def test_a_server_follows_no_symlink_planted_in_its_directory(planted: str, warm_env: dict[str, str],
                                                              workspace: Path, tmp_path: Path) -> None:
    """Anything a line can write, it can plant in the warm directory: here a directory
    where the socket goes (the server's start fails) and a symlink where the server writes
    the reason, or where its lock is (which it truncates to write its PID). The server
    must not write through either into a file the line could not write (~/.bashrc, say)."""
    _, sock, key_digest = key_files(warm_env)
    base = str(sock)[:-5]
    protected = tmp_path / "protected"
    protected.write_text("precious\n")
    sock.mkdir()
    if planted == "fifo":  # where the reason goes: the server must not wait for a reader
        os.mkfifo(base + ".failed")
    else:
        Path(base + planted).symlink_to(protected)
    assert run(warm_env, "echo ran", workspace).stdout == "ran\n"  # (a client does not start one here)
    # the server as a client starts it, in the foreground: it gives up and returns
    subprocess.run(wire.server_argv(str(sock), key_digest), env=wire.server_environ(warm_env), cwd=workspace,
                   stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    assert protected.read_text() == "precious\n"
    assert planted == "fifo" or Path(base + planted).is_symlink()
    assert planted == ".lock" or not Path(base + ".lock").exists()  # released and removed on the way out


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_a_killed_servers_waiting_worker_ends_and_a_running_line_does_not(warm_env: dict[str, str],
                                                                          workspace: Path) -> None:
    """The worker waiting in accept() for the next caller must not outlive a server killed
    with SIGKILL (it waited for ever, one ~15 MB process per killed server: 196 of them
    after the measurements of this change), while a worker already running a line finishes
    it, as it does when its server restarts or idles out."""
    server = wait_for_server(warm_env, workspace)
    proc = subprocess.Popen([*AGENTSH, "-c", "touch started; sleep 1; touch finished"], env=warm_env, cwd=workspace,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (workspace / "started").exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(server, signal.SIGKILL)  # while its worker runs the line (the next is forked after it)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert (workspace / "finished").exists()  # the line's worker went on
    wait_gone(server)
    server = wait_for_server(warm_env, workspace)  # a new one, with a worker waiting
    deadline = time.monotonic() + 30
    while not children(server):
        assert time.monotonic() < deadline, "no worker forked ahead"
        time.sleep(0.02)
    waiting = children(server)
    os.kill(server, signal.SIGKILL)
    for pid in waiting:
        wait_gone(pid)  # ended with its server


def test_a_fifo_planted_at_the_lock_name_costs_no_caller_a_hang(warm_env: dict[str, str], workspace: Path) -> None:
    """take_lock re-opens a lock file that is not the file it locked; a FIFO at the name
    must end that (no lock, no server), not make every caller loop. Nor may it block
    `agentsh doctor` and stop_servers, which open locks to read them."""
    _, sock, _ = key_files(warm_env)
    fifo = Path(str(sock)[:-5] + ".lock")
    os.mkfifo(fifo)
    try:
        assert run(warm_env, "echo ran", workspace).stdout == "ran\n"
        assert not sock.exists() and not servers_of(sock)
        code = f"from agentsh.warm import wire; print(wire.live_server({str(fifo)!r}), wire.stop_servers({str(fifo.parent)!r}))"
        done = subprocess.run([*AGENTSH[:1], "-c", code], env=warm_env, capture_output=True, text=True, timeout=30)
        assert done.stdout == "None []\n", done.stderr
    finally:
        fifo.unlink()  # (before this fixture's own stop_servers)
