"""A warm server's worker: forked by the server ahead of a client, it takes one client,
checks who it is, takes on its descriptors, directory, umask, environment and argv, and
runs the very `main()` that client would have run (server.py says what the server trusts
and why). It runs one line and ends.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import select
import signal
import socket
import struct
import sys
import traceback
from collections.abc import Callable
from typing import NoReturn

from ..guard.landlock import LandlockPlan
from ..guard.ruleset import Prebuilt, Ruleset, plan_to_json, prebuild, take_prebuilt
from ..main import warm_eligible
from .wire import HEADER, MAX_REQUEST, SO_PEERPIDFD, Request, confinement_of, decode_request, read_line

REQUEST_TIMEOUT = 2.0  # seconds a client has to send its request, and later its "go"
F_SETSIG = getattr(fcntl, "F_SETSIG", 10)
MADV_POPULATE_WRITE = 23  # Linux >= 5.14; older kernels say EINVAL and the faults come later
OWN_MEMORY_LIMIT = 256 << 20  # bytes: a worker copies no more of the server's memory ahead


class Worker:
    """The server's state a worker needs, the worker's end of the note pipe: "a" when it
    has taken a client (or "s" when agentsh's code changed on disk), then "d" and the
    line's Landlock plan when the line is over; and its end of the server's life pipe,
    which reads EOF once the server has ended."""

    def __init__(self, listener: socket.socket, key_digest: str, surroundings: tuple[object, ...],
                 code_changed: Callable[[], bool], last_plan: LandlockPlan | None, note_w: int,
                 life: int) -> None:
        self.listener = listener
        self.key_digest = key_digest
        self.surroundings = surroundings
        self.code_changed = code_changed
        self.last_plan = last_plan
        self.note_w = note_w
        self.life = life

    def run(self) -> NoReturn:
        """Take one client, check it, run its line; then this process ends."""
        try:
            for signum in (signal.SIGCHLD, signal.SIGTERM):
                signal.signal(signum, signal.SIG_DFL)
            os.setsid()
            prebuilt = None
            if not select.select([self.listener], [], [], 0)[0]:  # nobody is waiting yet:
                _own_memory()  # take the copy-on-write faults now,
                prebuilt = _prebuild(self.last_plan)  # and build the Landlock ruleset the last line had
            conn = self._caller()
            if conn is None:
                os._exit(0)  # the server ended before a caller came
            # From here on this caller's line is finished whatever the server does: the
            # server kills no worker, and this one no longer looks at the life pipe.
            self.listener.close()
            os.close(self.life)
            stale = self.code_changed()
            self._tell_server(b"s" if stale else b"a")
            if stale:
                conn.sendall(b"no stale\n")  # this caller runs its line itself
                os._exit(0)
            conn.sendall(b"ready\n")  # only now does the client send its descriptors
            self._answer(conn, prebuilt)
        except BaseException:  # a client's bad request, or a kill while waiting: this worker ends
            pass
        os._exit(0)

    def _caller(self) -> socket.socket | None:
        """The next caller's connection, or None once the server has ended (stopped, idle,
        or killed, SIGKILL included: the kernel then closes its end of the life pipe).
        Only this process chooses between the two, so no worker is ever ended after it
        took a caller, nor left waiting for ever after its server. The listener is
        non-blocking (Server.__init__): a worker blocked in accept() would not watch the
        life pipe."""
        while True:
            ready = select.select([self.listener, self.life], [], [])[0]
            if self.life in ready:
                return None  # callers still queued get the socket closed, and run their lines themselves
            try:
                return self.listener.accept()[0]
            except BlockingIOError:
                continue

    def _tell_server(self, note: bytes) -> None:
        try:
            os.write(self.note_w, note)
        except OSError:
            pass  # the server has ended meanwhile: the caller taken is still this worker's to serve

    def _answer(self, conn: socket.socket, prebuilt: Prebuilt | None) -> None:
        conn.settimeout(REQUEST_TIMEOUT)
        fds: list[int] = []
        # The peer is checked while it is still writing its request. Checking it after the
        # request came would prove no more: a process cannot take back what it gave up.
        refusal, caller = self._refusal(conn)
        request = decode_request(_receive(conn, fds))
        if not refusal and len(fds) != 4:
            refusal = "descriptors missing"
        if not refusal and request.key != self.key_digest:
            refusal = "another key"
        if not refusal and not warm_eligible(request.argv):  # the client sends nothing else
            refusal = "not an agentsh -c line"
        if refusal:
            conn.sendall(b"no " + refusal.encode() + b"\n")
            return
        self._work(conn, fds, request, WarmLine(caller, prebuilt))  # never returns

    def _refusal(self, conn: socket.socket) -> tuple[str, int]:
        """Why this peer is not served ("" if it is), and its PID."""
        pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
        if uid != os.getuid():
            return "another user", pid
        try:
            pidfd = conn.getsockopt(socket.SOL_SOCKET, SO_PEERPIDFD)
        except OSError:
            return "no pidfd of the caller (Linux < 6.5)", pid
        try:
            with open(f"/proc/{pid}/status", "rb") as handle:
                status = handle.read()
            surroundings = surroundings_of(str(pid), status)
            signal.pidfd_send_signal(pidfd, 0)  # what was read was this very caller's
        except OSError:
            return "the caller is gone", pid
        finally:
            os.close(pidfd)
        if confinement_of(status):
            return "confined caller", pid
        if surroundings != self.surroundings:
            return "another identity, root, namespace, security context, cgroup or resource limits", pid
        return "", pid

    def _work(self, conn: socket.socket, fds: list[int], request: Request, warm: WarmLine) -> NoReturn:
        try:
            for target, fd in zip((0, 1, 2), fds, strict=False):
                os.dup2(fd, target)
            os.fchdir(fds[3])
            for fd in fds:
                os.close(fd)
            fds.clear()
            os.umask(request.umask)
            os.environ.clear()
            os.environ.update(request.environ)
            sys.argv = [request.argv0, *request.argv]
            conn.sendall(b"pid %d\n" % os.getpid())
            go = read_line(conn) == b"go\n"
        except OSError:
            go = False
        if not go:
            os._exit(0)  # the client ran the line itself, or died: nothing ran here
        status = 1
        try:
            _hang_up_with(conn)
            from ..main import main

            status = main(request.argv, request.argv0, warm=warm)
        except SystemExit as stop:
            status = stop.code if isinstance(stop.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the line is over: the client may go now
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
            try:
                conn.sendall(b"status %d\n" % status)
                # Done: the server forks the next worker now, which builds this plan's ruleset.
                os.write(self.note_w, b"d" + (plan_to_json(warm.plan) if warm.plan is not None else b""))
            finally:
                os._exit(0)


class WarmLine:
    """What a worker hands the line it runs besides the caller's request: the caller's PID
    (audited) and a Landlock ruleset built while it waited; and what it takes back: the
    line's Landlock plan, for the next worker to build ahead."""

    def __init__(self, caller: int, prebuilt: Prebuilt | None = None) -> None:
        self.caller = caller
        self.prebuilt = prebuilt
        self.plan: LandlockPlan | None = None

    def ruleset_for(self, plan: LandlockPlan, inodes: dict[str, tuple[int, int]] | None) -> Ruleset | None:
        """The prebuilt ruleset if it is exactly `plan`'s now (ruleset.take_prebuilt), once."""
        self.plan = plan
        prebuilt, self.prebuilt = self.prebuilt, None
        return take_prebuilt(prebuilt, plan, inodes) if prebuilt is not None else None


def _prebuild(plan: LandlockPlan | None) -> Prebuilt | None:
    if plan is None:
        return None
    try:
        return prebuild(plan)
    except OSError:  # no Landlock here: the line says so when it builds its own
        return None


# Lines of /proc/PID/status a worker has from the server, not from its caller: who it is
# (uids, gids, supplementary groups, capabilities) and what filters it runs under.
_IDENTITY_FIELDS = (b"Uid", b"Gid", b"Groups", b"CapInh", b"CapPrm", b"CapEff", b"CapBnd", b"CapAmb",
                    b"NoNewPrivs", b"Seccomp", b"Seccomp_filters")


def surroundings_of(pid: str, status: bytes) -> tuple[object, ...]:
    """What a worker inherits from this server rather than from its caller, and cannot take
    on: its identity (a caller with fewer groups or capabilities must not get the server's),
    root directory and namespaces (a caller without network must not get a line run with
    it), LSM context, cgroup and resource limits (`ulimit -f` must hold). A caller that
    differs in any of them runs its line itself. `status` is the process's /proc/PID/status."""
    identity = tuple(line for line in status.splitlines() if line.partition(b":")[0] in _IDENTITY_FIELDS)
    root = os.stat(f"/proc/{pid}/root")
    names = sorted(os.listdir(f"/proc/{pid}/ns"))
    spaces = tuple((name, os.stat(f"/proc/{pid}/ns/{name}").st_ino) for name in names)
    try:
        with open(f"/proc/{pid}/attr/current", "rb") as handle:
            context = handle.read()
    except OSError:  # no LSM that keeps one
        context = b""
    with open(f"/proc/{pid}/cgroup", "rb") as handle:
        cgroup = handle.read()
    with open(f"/proc/{pid}/limits", "rb") as handle:
        limits = handle.read()
    return identity, (root.st_dev, root.st_ino), spaces, context, cgroup, limits


def _own_memory() -> None:
    """Break copy-on-write sharing with the server for all of this worker's private
    writable memory, in one madvise per mapping, before a client comes.

    A forked worker otherwise takes a page fault and a page copy at its first write to
    each page, and CPython writes to every object it touches (reference counts): about
    1,200 faults in a line's start, ~3 ms here. The copies cost ~10 MB while a worker
    waits. Mappings that cannot be populated (or a kernel without MADV_POPULATE_WRITE)
    are left to fault as before."""
    from ..guard.ptrace import libc

    madvise = libc().madvise
    left = OWN_MEMORY_LIMIT
    with open("/proc/self/maps", "rb") as handle:
        maps = handle.read().splitlines()
    for line in maps:
        fields = line.split()
        if len(fields) < 2 or fields[1][:2] != b"rw" or fields[1][3:4] != b"p":
            continue
        low, high = (int(x, 16) for x in fields[0].split(b"-"))
        if high - low > left:
            continue
        left -= high - low
        madvise(ctypes.c_void_p(low), ctypes.c_size_t(high - low), ctypes.c_int(MADV_POPULATE_WRITE))


def _hang_up_with(conn: socket.socket) -> None:
    """The client sends nothing after "go": when its socket turns readable it has gone
    (killed, say, by the agent's timeout). The kernel then sends this worker SIGHUP, and
    the line ends as it would when agentsh's terminal hangs up."""
    fd = conn.fileno()
    conn.setblocking(True)
    fcntl.fcntl(fd, fcntl.F_SETOWN, os.getpid())
    fcntl.fcntl(fd, F_SETSIG, signal.SIGHUP)
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_ASYNC)
    if select.select([fd], [], [], 0)[0]:
        os._exit(0)  # gone already, between "go" and now


def _receive(conn: socket.socket, fds: list[int]) -> bytes:
    data, ancillary, flags, _ = conn.recvmsg(65536, socket.CMSG_SPACE(4 * 4))
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(payload) - len(payload) % 4
            fds.extend(int.from_bytes(payload[i:i + 4], sys.byteorder) for i in range(0, usable, 4))
    if flags & socket.MSG_CTRUNC:
        raise ValueError("too many descriptors")
    while len(data) < HEADER:
        data += _recv_some(conn)
    size = int.from_bytes(data[:HEADER], "big")
    if size > MAX_REQUEST:
        raise ValueError("request too large")
    chunks = [data[HEADER:]]
    have = len(chunks[0])
    while have < size:
        chunk = _recv_some(conn, min(size - have, 1 << 20))
        chunks.append(chunk)
        have += len(chunk)
    payload = b"".join(chunks)
    if len(payload) != size:
        raise ValueError("request longer than it said")
    return payload


def _recv_some(conn: socket.socket, size: int = 65536) -> bytes:
    chunk = conn.recv(size)
    if not chunk:
        raise ValueError("request cut short")
    return chunk
