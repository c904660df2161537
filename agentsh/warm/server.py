"""The warm server: one process per user and key that has imported agentsh's line path
once, and keeps a worker forked ahead for the next `agentsh -c`.

The worker takes on the caller's standard descriptors, working directory, umask,
environment and argv, then runs the very same `main()` the caller would have run: the
profile is loaded, the line checked, approved, run under its exec guard and audited
exactly as in the caller's own process (worker.py). Done beforehand: the imports, the
copying of the pages a worker writes, and the Landlock ruleset of the line before.

What the server trusts: a peer of its own uid (SO_PEERCRED) that is not inside an agentsh
line (not traced, no no_new_privs), whose identity, root, namespaces, security context,
cgroup and limits are the server's own (all read through a pidfd of the peer,
SO_PEERPIDFD, so a recycled PID cannot stand in), asking with the server's own key. It
holds no state between lines but the last line's Landlock plan (a line uses the ruleset
built from it only when it is exactly its own plan): each worker is a fresh fork of the
warmed-up process.

How a server ends (SIGTERM, idling out, its socket replaced or removed, or SIGKILL) and
what becomes of its workers. The server never kills a worker. The one worker waiting for
a caller holds the read end of the server's "life" pipe, of which only the server holds
the write end: when the server ends, however it ends, that end closes and the worker
ends itself, unless it accepted a caller first, and then it serves that caller to the
end. The worker alone decides between the two, so no worker that took a caller is ever
ended for its server's sake. (Until 2026-11-30 the server SIGKILLed the worker it
believed still waiting: a SIGTERM landing just after the server read the worker's "took a
caller" note, before it marked the worker as no longer its own, killed a line that had
started, and its caller said "the warm server's worker ended without an exit status".)
SIGTERM raises nothing in serve(): its handler does nothing, and its number, written by
Python's C-level handler on a wake-up pipe (signal.set_wakeup_fd), is what every wait of
the serving loop also watches. A stop thus takes effect at once, and at a point of the
loop's choosing, never between two bytecodes.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import sys
import time
from typing import NoReturn

from ..guard.landlock import LandlockPlan
from ..guard.ruleset import plan_from_json
from .wire import (
    digest,
    private_directory,
    release_lock,
    server_argv,
    server_key,
    sweep_stale,
    take_lock,
)
from .worker import Worker, surroundings_of

IDLE_SECONDS = 600.0  # a server nobody asked for this long exits
# agentsh's own line path; importing them here is the whole point of the server.
WARM_MODULES = (
    "agentsh.main", "agentsh.session", "agentsh.execute", "agentsh.sysconfig", "agentsh.run", "agentsh.stream",
    "agentsh.guard.spawn", "agentsh.guard.trace", "agentsh.guard.execcheck", "agentsh.guard.landlock",
    "agentsh.guard.ruleset", "agentsh.guard.ptrace", "agentsh.parse", "agentsh.parse.walker", "agentsh.parse.plain",
    "agentsh.policy",
    "agentsh.policy.engine", "agentsh.policy.hazards", "agentsh.policy.scripts", "agentsh.profile.cache",
    "agentsh.profile.load", "agentsh.audit.log", "agentsh.credentials.envcut", "agentsh.record.asciicast",
    "agentsh.live", "agentsh.trail", "agentsh.audit.key", "agentsh.terminal",
    "json", "shlex", "select", "termios", "resource", "ctypes",
)


def main(path: str, key_digest: str) -> None:
    """Serve at `path` until idle; return at once if another server holds the lock."""
    os.chdir("/")  # started in an agent's directory: do not hold it or resolve anything in it
    directory, name = os.path.split(path)
    base = name[: -len(".sock")]
    dir_fd = private_directory(directory)
    if dir_fd is None:
        return  # not this user's 0700 directory (any more): nothing is created in it
    lock = take_lock(base + ".lock", dir_fd)
    if lock is None:
        return  # another server for this key is starting or serving
    os.ftruncate(lock, 0)
    os.write(lock, b"%d\n" % os.getpid())  # who to signal to stop this server (docs/usage.md)
    signal.signal(signal.SIGTERM, _stop)  # a stop while warming up removes the key's files too
    try:
        # A server that restarts itself blocks SIGTERM across its execv (Server._restart),
        # so that a stop asked meanwhile stays pending: it takes effect here.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        key = server_key(dict(os.environ))
        if digest(key) != key_digest:
            shown = os.fsdecode(key).replace("\0", " | ")
            raise RuntimeError(f"this interpreter computes another key than its client did: {shown}")
        _warm_up()
        sources = _sources()
        stamp = _module_stamp(sources)  # before the socket exists: a change after it is seen
        listener = _listen(path)
        server = Server(listener, path, dir_fd, lock, key_digest, sources, stamp)
        server.take_stop_requests()  # from here on a SIGTERM is the serving loop's to read
    except SystemExit:  # stopped before serving: what this server made goes (it holds the lock)
        try:
            os.unlink(name, dir_fd=dir_fd)
        except OSError:
            pass
        release_lock(base + ".lock", lock, dir_fd)
        raise
    except Exception as err:
        # Clients do not start another server for a while, and the reason is on disk
        # (until a later server's sweep_stale; the lock file goes now).
        # Never through a symlink, nor waiting on a FIFO: a line can plant either there (the
        # directory is the user's).
        try:
            failed = os.open(base + ".failed", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_NONBLOCK
                             | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
            with open(failed, "w") as handle:
                handle.write(f"{type(err).__name__}: {err}\n")
        except OSError:
            pass
        finally:
            release_lock(base + ".lock", lock, dir_fd)
        return
    try:
        os.unlink(base + ".failed", dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    server.serve()


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
    """Keeps one worker forked ahead, waiting for a caller: the fork, and the copying of
    the pages the worker will write, are paid between lines, not during one. When that
    worker takes a client it says so on a pipe, and the server forks the next once that
    line is over (or another client waits)."""

    def __init__(self, listener: socket.socket, path: str, dir_fd: int, lock: int, key_digest: str,
                 sources: tuple[str, ...], stamp: tuple[int, ...]) -> None:
        self.listener = listener
        self.path = path
        self.dir_fd = dir_fd
        self.lock_name = os.path.basename(path)[: -len(".sock")] + ".lock"
        self.lock = lock
        self.key_digest = key_digest
        self.inode = os.stat(path).st_ino
        self.sources = sources
        self.stamp = stamp
        with open("/proc/self/status", "rb") as handle:
            self.surroundings = surroundings_of("self", handle.read())
        self.last_plan: LandlockPlan | None = None  # the Landlock plan of the last line a worker ran
        # The waiting worker reads `life_r`; only the server holds `life_w`, so the worker
        # sees EOF once the server ends (by SIGKILL too, when the kernel closes it).
        self.life_r, self.life_w = os.pipe()
        # Python's C-level signal handler writes each signal's number here (set_wakeup_fd):
        # a SIGTERM that lands just before a select() still wakes it.
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self.stopping = False
        # Workers wait in select() on the listener and the life pipe, then accept(): a
        # worker blocked in accept() would not see its server end.
        listener.setblocking(False)

    def take_stop_requests(self) -> None:
        """SIGTERM raises nothing any more: its number goes on the wake-up pipe, which serve()
        reads, and leaves through its finally (socket and lock removed)."""
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGTERM, _asked_to_stop)

    def serve(self) -> None:
        note_r = -1
        try:
            signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the workers
            _reap_ended_workers()  # of the server this process was before a restart
            sweep_stale(self.dir_fd, self.lock_name[: -len(".lock")], time.time())  # once per server, not per line
            while self._still_ours() and not self._stop_asked():
                note_r, note_w = os.pipe()
                worker = os.fork()
                if worker == 0:
                    self._be_worker(note_r, note_w)
                os.close(note_w)
                note = self._await_note(worker, note_r)
                if note is None:
                    break  # idle, or asked to stop
                if note == b"s":
                    self._restart()
                    break  # asked to stop before it could
                if note == b"a":
                    self._until_needed(note_r)  # the worker and its caller's line are on their own now
                else:
                    time.sleep(0.1)  # it died before taking a client; do not spin on a fault
                os.close(note_r)
                note_r = -1
        finally:
            if note_r >= 0:
                os.close(note_r)
            self._step_down()
            # Now rather than at this process's exit: the waiting worker ends at once (or
            # goes on with the caller it has just accepted).
            os.close(self.life_w)

    def _be_worker(self, note_r: int, note_w: int) -> NoReturn:
        """In the child just forked: become the worker waiting for the next caller. Never
        returns into serve(), whose way out is the server's."""
        try:
            signal.set_wakeup_fd(-1)  # the server's pipe: a signal of this worker's is no stop of the server
            for fd in (note_r, self.lock, self.dir_fd, self.wake_r, self.wake_w, self.life_w):
                os.close(fd)  # the lock is the server's life, not a line's; so is `life_w`
            Worker(self.listener, self.key_digest, self.surroundings,
                   lambda: _module_stamp(self.sources) != self.stamp, self.last_plan, note_w, self.life_r).run()
        finally:
            os._exit(0)

    def _await_note(self, worker: int, note_r: int) -> bytes | None:
        """What the waiting worker noted: b"a" (took a client), b"s" (found the code changed),
        b"" (died without a client), or None if nobody came for IDLE_SECONDS or a stop was
        asked meanwhile."""
        try:
            ended = os.pidfd_open(worker)
        except ProcessLookupError:
            return os.read(note_r, 1)
        try:
            ready = self._wait([note_r, ended], IDLE_SECONDS)
        finally:
            os.close(ended)
        if ready is None:
            return None
        if not ready:
            return b"a" if _noted(note_r) else None  # idle, unless a caller came just now
        return os.read(note_r, 1)

    def _until_needed(self, note_r: int) -> None:
        """Fork the next worker once this one's line is over (it writes its plan to the note
        pipe, or just closes it), or at once when another client is waiting: the fork and the
        new worker's page copying (_own_memory) then take no CPU from the line that runs, and
        the new worker can build that line's ruleset. Returns at once on a stop."""
        ready = self._wait([note_r, self.listener.fileno()], IDLE_SECONDS)
        if ready and note_r in ready:
            note = _read_note(note_r)
            if note[:1] == b"d" and len(note) > 1:
                self.last_plan = plan_from_json(note[1:])

    def _wait(self, fds: list[int], timeout: float) -> list[int] | None:
        """The descriptors of `fds` ready within `timeout` seconds ([] if none), or None as
        soon as a stop is asked."""
        deadline = time.monotonic() + timeout
        while True:
            ready = select.select([*fds, self.wake_r], [], [], max(0.0, deadline - time.monotonic()))[0]
            if self.wake_r in ready and self._stop_asked():
                return None
            ready = [fd for fd in ready if fd != self.wake_r]  # another signal's number: wait on
            if ready or time.monotonic() >= deadline:
                return ready

    def _stop_asked(self) -> bool:
        """Whether a SIGTERM came: its number on the wake-up pipe (read empty here)."""
        try:
            while numbers := os.read(self.wake_r, 256):
                self.stopping = self.stopping or signal.SIGTERM in numbers
        except BlockingIOError:
            pass
        return self.stopping

    def _restart(self) -> None:
        """Become a server of the code now on disk (the lock and socket are released; workers
        already forked go on), unless a stop was asked. SIGTERM stays blocked from the last
        look at the wake-up pipe into the new program, which unblocks it (main): a stop
        asked in between is pending there, not lost with this program."""
        self._step_down()
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        try:
            if not self._stop_asked():
                os.execv(sys.executable, server_argv(self.path, self.key_digest))
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})

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
        release_lock(self.lock_name, self.lock, self.dir_fd)  # the key's files go with its server


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


def _reap_ended_workers() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def _noted(note_r: int) -> bool:
    os.set_blocking(note_r, False)
    try:
        return bool(os.read(note_r, 1))
    except BlockingIOError:
        return False


def _stop(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _asked_to_stop(_signum: int, _frame: object) -> None:
    """SIGTERM while serving: nothing here. What counts is its number on the wake-up pipe,
    read where the serving loop chooses (an exception raised here could land between any
    two bytecodes, say between reading a worker's note and acting on it)."""


if __name__ == "__main__":  # `python -P|-I -m agentsh.warm.server PATH KEY_DIGEST`; clients use wire.server_argv
    main(sys.argv[1], sys.argv[2])
