"""Stopping a warm server (SIGTERM: what `wire.stop_servers`, `pkill` and the test suite's
teardown send) while callers come and go: the worker still waiting for a caller ends,
and a worker that took one finishes that caller's line whenever the stop lands.

Real processes throughout: the server started as `agentsh -c` starts it, its real
workers, a real client speaking the wire protocol, and strace to hold the server at the
one system call where a stop used to cost a running line."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentsh.warm import wire
from tests import test_warm as test_warm_module
from tests.test_warm import fd_links, wait_for_server
from tests.test_warm_files import children, wait_gone

warm_env = pytest.fixture(test_warm_module.warm_env.__wrapped__)  # each test its own directory and server

pytestmark = pytest.mark.skipif(not wire.peer_pidfd_supported(), reason="SO_PEERPIDFD needs Linux >= 6.5")

READ_SYSCALL, WRITE_SYSCALL = {"x86_64": (0, 1), "aarch64": (63, 64)}.get(os.uname().machine, (None, None))


def _may_attach() -> bool:
    """Whether strace may attach to a process it did not start (Yama's ptrace_scope)."""
    try:
        scope = Path("/proc/sys/kernel/yama/ptrace_scope").read_text().strip()
    except OSError:
        return True
    return scope == "0" or (scope in ("1", "2") and os.geteuid() == 0)


needs_strace = pytest.mark.skipif(shutil.which("strace") is None or READ_SYSCALL is None or not _may_attach(),
                                  reason="needs strace (x86_64/aarch64) allowed to attach to a running process")


def waiting_worker(server: int) -> int:
    """The worker the server forked ahead (once it exists)."""
    deadline = time.monotonic() + 30
    while not children(server):
        assert time.monotonic() < deadline, "no worker forked ahead"
        time.sleep(0.02)
    return children(server)[0]


def tracer_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("TracerPid:"):
            return int(line.split()[1])
    return 0


def syscall_args(pid: int, syscall: int | None) -> list[str] | None:
    """The arguments of system call number `syscall` if `pid` sits in it (strace holds it
    there), else None."""
    fields = Path(f"/proc/{pid}/syscall").read_text().split()
    return fields[1:] if fields and fields[0] == str(syscall) else None


def held_in(pid: int, syscall: int | None) -> str | None:
    """What `pid` sits in system call number `syscall` on (its first argument is a
    descriptor), or None."""
    fields = syscall_args(pid, syscall)
    if fields is None:
        return None
    try:
        return os.readlink(f"/proc/{pid}/fd/{int(fields[0], 16)}")
    except OSError:
        return None


def wait_held_at_the_note(pid: int, syscall: int | None, other: int) -> None:
    """Until strace holds `pid` (the server or its worker) in `syscall` on the note pipe,
    whose other end `other` (the worker or the server) holds."""
    deadline = time.monotonic() + 30
    while (held := held_in(pid, syscall)) is None:
        assert time.monotonic() < deadline, "never got to the note pipe"
        time.sleep(0.02)
    if not (held.startswith("pipe:") and held in fd_links(other)):
        # strace counts calls from the moment it attaches; a read of another pipe came first
        # (seen in about one run in ten): the window this test needs was not reached.
        pytest.skip(f"strace's hold landed on another read ({held}), not the note pipe's: a timing accident")


def reply(sock: socket.socket) -> bytes:
    """The worker's next line, b"" if it died (a reset: it left something of ours unread)."""
    sock.settimeout(60)
    try:
        return wire.read_line(sock)
    except ConnectionResetError:
        return b""


def start_strace(pid: int, syscall: str, *, delay: str, when: int = 1) -> subprocess.Popen[bytes]:
    """strace attached to `pid`, holding its `when`th `syscall` from now on (for a minute:
    the test kills strace, and the kernel lets the call go on)."""
    tracer = subprocess.Popen(
        ["strace", "-qq", "-o", "/dev/null", "-p", str(pid), "-e", f"trace={syscall}",
         "-e", f"inject={syscall}:{delay}=60000000:when={when}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 30
    while tracer_of(pid) != tracer.pid:
        assert time.monotonic() < deadline and tracer.poll() is None, "strace did not attach"
        time.sleep(0.02)
    return tracer


def send_line(sock: socket.socket, env: dict[str, str], workspace: Path, line: str, fds: tuple[int, int]) -> int:
    """Hand the worker `agentsh -c LINE` (stdin, stdout and stderr `fds`), as the client
    does once it has "ready"; the worker's PID."""
    request = wire.encode_request(wire.Request(wire.digest(wire.server_key(env)), 0o22, "agentsh", ["-c", line], env))
    cwd = os.open(workspace, os.O_PATH)
    sock.sendmsg([request], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, b"".join(
        fd.to_bytes(4, sys.byteorder) for fd in (fds[0], fds[1], fds[1], cwd)))])
    os.close(cwd)
    reply = wire.read_line(sock)
    assert reply.startswith(b"pid ")
    sock.sendall(b"go\n")  # the line starts: from here on only its own end may end it
    return int(reply[4:])


@needs_strace
def test_a_stop_just_after_the_server_read_a_workers_note_leaves_its_line_running(
        warm_env: dict[str, str], workspace: Path) -> None:
    """The worker that takes a caller writes "a" on its note pipe. Until 2026-11-30 a
    SIGTERM landing after the server had read that byte, before it marked the worker as
    no longer its own, made the server's way out look for the byte again, find none, and
    SIGKILL the worker as one still waiting in accept(): the caller's line, started
    already, died, and the caller said "the warm server's worker ended without an exit
    status" (seen once in a test run while another suite's teardown stopped servers).

    strace holds the server at the exit of its first read() after the worker took this
    test's connection (that read is of the note pipe, checked below); the line (`cat`)
    is running, waiting for its stdin; the server gets SIGTERM there and strace lets go.
    The server must end, and the line must go on: it copies what the test writes after
    the server is gone and reports status 0."""
    server = wait_for_server(warm_env, workspace)
    waiting_worker(server)
    path = wire.socket_path(warm_env, wire.server_key(warm_env))
    assert path is not None
    tracer = start_strace(server, "read", delay="delay_exit")
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(path)
            assert wire.read_line(sock) == b"ready\n"
            worker = send_line(sock, warm_env, workspace, "cat", (in_r, out_w))
            os.close(in_r)
            os.close(out_w)
            wait_held_at_the_note(server, READ_SYSCALL, worker)
            os.kill(server, signal.SIGTERM)
        finally:
            tracer.kill()  # the kernel detaches the server from a killed strace: its read() returns now
            tracer.wait(timeout=30)
        wait_gone(server)
        try:
            os.write(in_w, b"after the server ended\n")
        except BrokenPipeError:
            pass  # nothing reads it: the line was killed (the status below says so)
        os.close(in_w)
        status = reply(sock)
    with os.fdopen(out_r, "rb") as out:
        shown = out.read()
    assert (status, shown) == (b"status 0\n", b"after the server ended\n")


@needs_strace
def test_a_worker_that_took_a_caller_as_its_server_stopped_serves_it(warm_env: dict[str, str],
                                                                     workspace: Path) -> None:
    """The other side of the same moment: the worker has accepted this test's connection
    but not yet told the server (strace holds its write of "a" on the note pipe) when the
    server is stopped. The server must end without touching it, and the worker, released,
    must serve its caller although nobody reads its note any more."""
    server = wait_for_server(warm_env, workspace)
    worker = waiting_worker(server)
    path = wire.socket_path(warm_env, wire.server_key(warm_env))
    assert path is not None
    tracer = start_strace(worker, "write", delay="delay_enter")
    out_r, out_w = os.pipe()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(path)
            wait_held_at_the_note(worker, WRITE_SYSCALL, server)
            os.kill(server, signal.SIGTERM)
            wait_gone(server)
        finally:
            tracer.kill()
            tracer.wait(timeout=30)
        assert reply(sock) == b"ready\n"
        stdin = os.open(os.devnull, os.O_RDONLY)
        assert send_line(sock, warm_env, workspace, "echo served", (stdin, out_w)) == worker
        os.close(stdin)
        os.close(out_w)
        status = wire.read_line(sock)
    with os.fdopen(out_r, "rb") as out:
        assert (status, out.read()) == (b"status 0\n", b"served\n")


@needs_strace
def test_a_stop_while_the_server_restarts_itself_still_ends_it(warm_env: dict[str, str], workspace: Path) -> None:
    """A server that finds agentsh changed on disk re-executes itself. It looks at its
    wake-up pipe one last time before the execve; a SIGTERM that comes after that look
    must not be lost with the program it replaces (the serving loop only notes a stop,
    nothing raises): SIGTERM stays blocked from that look into the new program, which
    unblocks it once its handler is in place and ends at once, leaving no file behind.

    strace holds the server at the exit of that look (its second read() from now: the
    first is of the worker's "s" note), and the SIGTERM is sent there."""
    server = wait_for_server(warm_env, workspace)
    waiting_worker(server)
    path = wire.socket_path(warm_env, wire.server_key(warm_env))
    assert path is not None
    tracer = start_strace(server, "read", delay="delay_exit", when=2)
    try:
        source = Path(wire.__file__)
        info = source.stat()
        os.utime(source, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(path)
            assert reply(sock) == b"no stale\n"  # the worker saw the change; the server restarts
        deadline = time.monotonic() + 30
        while (held := held_in(server, READ_SYSCALL)) is None or not held.startswith("pipe:"):
            assert time.monotonic() < deadline, "the server never looked at its wake-up pipe"
            time.sleep(0.02)
        if fd_links(server).count(held) != 2:  # the wake-up pipe: both ends are the server's
            # (strace counts reads from when it attaches; another pipe's read came first, about
            # one run in ten: the window this test needs was not reached)
            pytest.skip(f"strace's hold landed on another read ({held}), not the wake-up pipe's: a timing accident")
        os.kill(server, signal.SIGTERM)
    finally:
        tracer.kill()
        tracer.wait(timeout=30)
    wait_gone(server)
    assert list(Path(path).parent.iterdir()) == []


def test_a_stopped_servers_waiting_worker_ends_with_it(warm_env: dict[str, str], workspace: Path) -> None:
    """The worker waiting for the next caller has no caller's work to finish: a SIGTERM to
    its server ends it too (no ~15 MB process left waiting on a socket nobody can reach)."""
    server = wait_for_server(warm_env, workspace)
    worker = waiting_worker(server)
    os.kill(server, signal.SIGTERM)
    wait_gone(server)
    wait_gone(worker)
