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

READ_SYSCALL = {"x86_64": 0, "aarch64": 63}.get(os.uname().machine)


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


def read_held(pid: int) -> str | None:
    """What `pid` sits in read() on (strace holds it at that call's exit), or None."""
    fields = Path(f"/proc/{pid}/syscall").read_text().split()
    if not fields or fields[0] != str(READ_SYSCALL):
        return None
    try:
        return os.readlink(f"/proc/{pid}/fd/{int(fields[1], 16)}")
    except OSError:
        return None


@pytest.mark.skipif(shutil.which("strace") is None or READ_SYSCALL is None, reason="needs strace (x86_64/aarch64)")
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
    key = wire.server_key(warm_env)
    path = wire.socket_path(warm_env, key)
    assert path is not None
    tracer = subprocess.Popen(
        ["strace", "-qq", "-o", "/dev/null", "-p", str(server), "-e", "trace=read",
         "-e", "inject=read:delay_exit=60000000:when=1"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True)
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            deadline = time.monotonic() + 30
            while tracer_of(server) != tracer.pid:
                assert time.monotonic() < deadline and tracer.poll() is None, "strace did not attach"
                time.sleep(0.02)
            sock.connect(path)
            assert wire.read_line(sock) == b"ready\n"
            request = wire.encode_request(wire.Request(wire.digest(key), 0o22, "agentsh", ["-c", "cat"], warm_env))
            cwd = os.open(workspace, os.O_PATH)
            sock.sendmsg([request], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, b"".join(
                fd.to_bytes(4, sys.byteorder) for fd in (in_r, out_w, out_w, cwd)))])
            for fd in (in_r, out_w, cwd):
                os.close(fd)
            reply = wire.read_line(sock)
            assert reply.startswith(b"pid ")
            worker = int(reply[4:])
            sock.sendall(b"go\n")  # the line starts: from here on only its own end may end it
            deadline = time.monotonic() + 30
            while (held := read_held(server)) is None:
                assert time.monotonic() < deadline, "the server never read the worker's note"
                time.sleep(0.02)
            assert held.startswith("pipe:") and held in fd_links(worker)  # the note pipe: the worker writes it
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
        sock.settimeout(60)
        try:
            status = wire.read_line(sock)
        except ConnectionResetError:
            status = b""  # the worker was killed with the test's "go" unread
    with os.fdopen(out_r, "rb") as out:
        shown = out.read()
    assert (status, shown) == (b"status 0\n", b"after the server ended\n")


def test_a_stopped_servers_waiting_worker_ends_with_it(warm_env: dict[str, str], workspace: Path) -> None:
    """The worker waiting for the next caller has no caller's work to finish: a SIGTERM to
    its server ends it too (no ~15 MB process left waiting on a socket nobody can reach)."""
    server = wait_for_server(warm_env, workspace)
    worker = waiting_worker(server)
    os.kill(server, signal.SIGTERM)
    wait_gone(server)
    wait_gone(worker)
