"""The warm server: one process per user and key that has imported agentsh's line path
once, and keeps a worker forked ahead for the next `agentsh -c`.

The worker takes on the caller's standard descriptors, working directory, umask,
environment and argv, then runs the very same `main()` the caller would have run: the
profile is loaded, the line checked, approved, run under its exec guard and audited
exactly as in the caller's own process. Only the imports were done beforehand.

What the server trusts: a peer of its own uid (SO_PEERCRED) that is not inside an agentsh
line (not traced, no no_new_privs), whose identity, root, namespaces, security context,
cgroup and limits are the server's own (all read through a pidfd of the peer,
SO_PEERPIDFD, so a recycled PID cannot stand in), asking with the server's own key. It holds no state
between lines: each worker is a fresh fork of the warmed-up process.
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
import time
import traceback

from ..guard.landlock import LandlockPlan, Prebuilt, Ruleset, plan_from_json, plan_to_json, prebuild, take_prebuilt
from .wire import (
    HEADER,
    MAX_REQUEST,
    SO_PEERPIDFD,
    Request,
    confinement_of,
    decode_request,
    digest,
    interpreter_flags,
    read_line,
    server_key,
)

IDLE_SECONDS = 600.0  # a server nobody asked for this long exits
REQUEST_TIMEOUT = 2.0  # seconds a client has to send its request, and later its "go"
MADV_POPULATE_WRITE = 23  # Linux >= 5.14; older kernels say EINVAL and the faults come later
OWN_MEMORY_LIMIT = 256 << 20  # bytes: a worker copies no more of the server's memory ahead
F_SETSIG = getattr(fcntl, "F_SETSIG", 10)
# agentsh's own line path; importing them here is the whole point of the server.
WARM_MODULES = (
    "agentsh.main", "agentsh.session", "agentsh.execute", "agentsh.sysconfig", "agentsh.run", "agentsh.stream",
    "agentsh.guard.spawn", "agentsh.guard.trace", "agentsh.guard.execcheck", "agentsh.guard.landlock",
    "agentsh.guard.ptrace", "agentsh.parse", "agentsh.parse.walker", "agentsh.parse.plain", "agentsh.policy",
    "agentsh.policy.engine", "agentsh.policy.hazards", "agentsh.policy.scripts", "agentsh.profile.cache",
    "agentsh.profile.load", "agentsh.audit.log", "agentsh.credentials.envcut", "agentsh.record.asciicast",
    "agentsh.live", "agentsh.trail", "agentsh.audit.key", "agentsh.terminal",
    "json", "shlex", "select", "termios", "resource", "ctypes",
)


def main(path: str, key_digest: str) -> None:
    """Serve at `path` until idle; return at once if another server holds the lock."""
    os.chdir("/")  # started in an agent's directory: do not hold it or resolve anything in it
    base = path[: -len(".sock")]
    lock = os.open(base + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # another server for this key is starting or serving
    os.ftruncate(lock, 0)
    os.write(lock, b"%d\n" % os.getpid())  # who to signal to stop this server (docs/usage.md)
    try:
        key = server_key(dict(os.environ))
        if digest(key) != key_digest:
            shown = os.fsdecode(key).replace("\0", " | ")
            raise RuntimeError(f"this interpreter computes another key than its client did: {shown}")
        _warm_up()
        sources = _sources()
        stamp = _module_stamp(sources)  # before the socket exists: a change after it is seen
        listener = _listen(path)
    except Exception as err:
        # Clients do not start another server for a while, and the reason is on disk.
        with open(base + ".failed", "w") as handle:
            handle.write(f"{type(err).__name__}: {err}\n")
        return
    try:
        os.unlink(base + ".failed")
    except FileNotFoundError:
        pass
    Server(listener, path, lock, key_digest, sources, stamp).serve()


def _warm_up() -> None:
    import importlib

    for name in WARM_MODULES:
        importlib.import_module(name)
    from ..audit.log import _builtin_sha256
    from ..guard import ptrace
    from ..parse import _ts_parser

    _ts_parser()
    ptrace.libc()
    _builtin_sha256()  # the audit chain's HMAC: a C module loaded on first use


def _listen(path: str) -> socket.socket:
    try:
        os.unlink(path)  # we hold the lock: a socket left here is a dead server's
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o077)
    try:
        listener.bind(path)
    finally:
        os.umask(old)
    listener.listen(128)
    return listener


def _sources() -> tuple[str, ...]:
    """agentsh's imported source files."""
    files = (getattr(module, "__file__", None) for name, module in sys.modules.items() if name.startswith("agentsh"))
    return tuple(sorted(file for file in files if file))


def _module_stamp(sources: tuple[str, ...]) -> tuple[int, ...]:
    """Their modification times (-1 for one that is gone)."""
    stamp = []
    for source in sources:
        try:
            stamp.append(os.stat(source).st_mtime_ns)
        except OSError:
            stamp.append(-1)
    return tuple(stamp)


class Server:
    """Keeps one worker forked ahead, waiting in accept(): the fork, and the copying of
    the pages the worker will write, are paid between lines, not during one. When that
    worker takes a client it says so on a pipe, and the server forks the next once that
    line is over (or another client waits)."""

    def __init__(self, listener: socket.socket, path: str, lock: int, key_digest: str,
                 sources: tuple[str, ...], stamp: tuple[int, ...]) -> None:
        self.listener = listener
        self.path = path
        self.lock = lock
        self.key_digest = key_digest
        self.inode = os.stat(path).st_ino
        self.sources = sources
        self.stamp = stamp
        with open("/proc/self/status", "rb") as handle:
            self.surroundings = _surroundings("self", handle.read())
        self.last_plan: LandlockPlan | None = None  # the Landlock plan of the last line a worker ran

    def serve(self) -> None:
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the workers
        _reap_ended_workers()  # of the server this process was before a restart
        signal.signal(signal.SIGTERM, _stop)  # leave through the finally below: socket removed
        waiting, note_r = -1, -1
        try:
            while self._still_ours():
                note_r, note_w = os.pipe()
                waiting = os.fork()
                if waiting == 0:
                    os.close(note_r)
                    self._wait_and_work(note_w)  # never returns
                os.close(note_w)
                note = _await_note(waiting, note_r)
                if note is None:
                    break  # idle
                if note == b"s":
                    self._step_down()
                    _restart(self.path, self.key_digest)
                if note == b"a":
                    waiting = -1  # it has a client now: not the server's to end
                    self._until_needed(note_r)
                else:
                    time.sleep(0.1)  # it died before taking a client; do not spin on a fault
                os.close(note_r)
                note_r = -1
        finally:
            if waiting > 0 and not (note_r >= 0 and _noted(note_r)):
                _end(waiting)  # still in accept(): nothing of a client's has started there
            if note_r >= 0:
                os.close(note_r)
            self._step_down()

    def _until_needed(self, note_r: int) -> None:
        """Fork the next worker once this one's line is over (it writes its plan to the note
        pipe, or just closes it), or at once when another client is waiting: the fork and the
        new worker's page copying (_own_memory) then take no CPU from the line that runs, and
        the new worker can build that line's ruleset."""
        if note_r in select.select([note_r, self.listener], [], [], IDLE_SECONDS)[0]:
            note = _read_note(note_r)
            if note[:1] == b"d" and len(note) > 1:
                self.last_plan = plan_from_json(note[1:])

    def _still_ours(self) -> bool:
        try:
            return os.stat(self.path).st_ino == self.inode  # removed or replaced: stop serving
        except OSError:
            return False

    def _step_down(self) -> None:
        """No new client can reach this server after this; workers that took one go on."""
        if self.listener.fileno() < 0:
            return
        if self._still_ours():
            os.unlink(self.path)
        self.listener.close()
        os.close(self.lock)

    def _wait_and_work(self, note_w: int) -> None:
        """A worker: take one client, check it, run its line."""
        try:
            for signum in (signal.SIGCHLD, signal.SIGTERM):
                signal.signal(signum, signal.SIG_DFL)
            os.close(self.lock)  # the lock is the server's life, not a line's
            os.setsid()
            prebuilt = None
            if not select.select([self.listener], [], [], 0)[0]:  # nobody is waiting yet:
                _own_memory()  # take the copy-on-write faults now,
                prebuilt = _prebuild(self.last_plan)  # and build the Landlock ruleset the last line had
            conn, _ = self.listener.accept()
            self.listener.close()
            stale = _module_stamp(self.sources) != self.stamp
            os.write(note_w, b"s" if stale else b"a")
            if stale:
                conn.sendall(b"no stale\n")  # this caller runs its line itself
                os._exit(0)
            conn.sendall(b"ready\n")  # only now does the client send its descriptors
            self._answer(conn, note_w, prebuilt)
        except BaseException:  # a client's bad request, or a kill while waiting: this worker ends
            pass
        os._exit(0)

    def _answer(self, conn: socket.socket, note_w: int, prebuilt: Prebuilt | None) -> None:
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
        if refusal:
            conn.sendall(b"no " + refusal.encode() + b"\n")
            return
        self._work(conn, fds, request, WarmLine(caller, prebuilt), note_w)  # never returns

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
            surroundings = _surroundings(str(pid), status)
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

    def _work(self, conn: socket.socket, fds: list[int], request: Request, warm: WarmLine, note_w: int) -> None:
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
                os.write(note_w, b"d" + (plan_to_json(warm.plan) if warm.plan is not None else b""))
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

    def ruleset_for(self, plan: LandlockPlan, inodes: dict[str, tuple[int, int]]) -> Ruleset | None:
        """The prebuilt ruleset if it is exactly `plan`'s now (landlock.take_prebuilt), once."""
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


def _read_note(note_r: int, limit: int = 1 << 20) -> bytes:
    """What a worker wrote on its note pipe until it closed it (at most `limit` bytes, and
    no more than a second of waiting for each piece)."""
    parts: list[bytes] = []
    size = 0
    while size < limit and select.select([note_r], [], [], 1.0)[0]:
        part = os.read(note_r, 65536)
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


# Lines of /proc/PID/status a worker has from the server, not from its caller: who it is
# (uids, gids, supplementary groups, capabilities) and what filters it runs under.
_IDENTITY_FIELDS = (b"Uid", b"Gid", b"Groups", b"CapInh", b"CapPrm", b"CapEff", b"CapBnd", b"CapAmb",
                    b"NoNewPrivs", b"Seccomp", b"Seccomp_filters")


def _surroundings(pid: str, status: bytes) -> tuple[object, ...]:
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


def _reap_ended_workers() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def _await_note(worker: int, note_r: int) -> bytes | None:
    """What the waiting worker noted: b"a" (took a client), b"s" (found the code changed),
    b"" (died without a client), or None if nobody came for IDLE_SECONDS."""
    try:
        ended = os.pidfd_open(worker)
    except ProcessLookupError:
        return os.read(note_r, 1)
    try:
        ready = select.select([note_r, ended], [], [], IDLE_SECONDS)[0]
    finally:
        os.close(ended)
    if not ready:
        return None if not _noted(note_r) else b"a"
    return os.read(note_r, 1)


def _noted(note_r: int) -> bool:
    os.set_blocking(note_r, False)
    try:
        return bool(os.read(note_r, 1))
    except BlockingIOError:
        return False


def _end(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)  # still in accept(): it has no client and runs nothing
    except ProcessLookupError:
        pass


def _restart(path: str, key_digest: str) -> None:
    """Become a server of the code now on disk (the lock and socket are released; workers
    already forked go on)."""
    os.execv(sys.executable, [sys.executable, *interpreter_flags(), "-m", "agentsh.warm.server", path, key_digest])


def _stop(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


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


if __name__ == "__main__":  # started by the client as `python -P|-I -m agentsh.warm.server PATH KEY_DIGEST`
    main(sys.argv[1], sys.argv[2])
