"""What the warm client and server agree on: where the socket is, which server may serve
which client, and the bytes of a request.

Imported by every `agentsh -c`, so only built-in modules (no re, typing, json, socket).
"""

from __future__ import annotations

import os
import stat
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PROTOCOL = b"agentsh-warm/1"
# Variables read when an interpreter starts (stdio encoding, import path): a server started
# under other values could import or answer differently, so they are part of the key.
STARTUP_VARIABLES = ("LANG", "LC_ALL", "LC_CTYPE")  # and every PYTHON* variable
DISABLE_VARIABLE = "AGENTSH_WARM"  # "0": never use or start a warm server
MAX_REQUEST = 16 << 20  # argv + environment; the kernel allows far less on exec
HEADER = 4  # big-endian length of the request that follows
SO_PEERPIDFD = 77  # Linux >= 6.5; the socket module of Python < 3.13 does not name it


class Request:
    """One `agentsh -c` as the client saw it: its argv, environment and umask (its stdin,
    stdout, stderr and working directory travel as descriptors beside it), and the digest
    of its server key."""

    def __init__(self, key: str, umask: int, argv0: str, argv: list[str], environ: dict[str, str]) -> None:
        self.key = key
        self.umask = umask
        self.argv0 = argv0
        self.argv = argv
        self.environ = environ


def server_key(environ: dict[str, str]) -> bytes:
    """Everything that makes a server's answer differ from this process's own: the
    interpreter and its PYTHON* variables, where agentsh is imported from, the locale and
    the user. A server answers only a client with its exact key."""
    parts = [PROTOCOL, sys.executable, package_parent(), str(os.getuid()), " ".join(interpreter_flags()),
             *(f"{name}={environ.get(name, '')}" for name in STARTUP_VARIABLES),
             *sorted(f"{name}={value}" for name, value in environ.items() if name.startswith("PYTHON"))]
    return b"\0".join(p if isinstance(p, bytes) else os.fsencode(p) for p in parts)


def interpreter_flags() -> list[str]:
    """The isolation this interpreter runs with, for the server to run with too: a client
    started with -I (agentsh's shims are) ignores PYTHONPATH and user site-packages, and a
    server that honoured them would import what the agent put there. -P always: the server
    starts in the caller's directory."""
    if sys.flags.isolated:
        return ["-I"]
    return ["-P", *(["-E"] if sys.flags.ignore_environment else []), *(["-s"] if sys.flags.no_user_site else [])]


# How a server is started (by a client, and again by a server restarting itself): the
# module is named in the code, so `pkill -f agentsh.warm.server` finds it. It runs with -c
# rather than -m so that it imports agentsh from where its client did: a shim runs
# `python -I` and puts its agentsh's directory on sys.path itself, which -I -m would not
# (that server imported another agentsh, or none, computed another key and never served).
SERVER_CODE = ("import sys\n"
                "if sys.argv[3] not in sys.path:\n"  # the shim's own rule: never ahead of a path it has
                "    sys.path.insert(0, sys.argv[3])\n"
                "from agentsh.warm.server import main\n"
                "main(sys.argv[1], sys.argv[2])\n")


def server_argv(path: str, key_digest: str) -> list[str]:
    """The command line of a server at `path` for the key with this digest."""
    return [sys.executable, *interpreter_flags(), "-c", SERVER_CODE, path, key_digest, package_parent()]


def server_environ(environ: dict[str, str]) -> dict[str, str]:
    """The environment a server starts with: only what its key covers (no credentials; each
    line brings its own environment)."""
    env = {name: environ[name] for name in STARTUP_VARIABLES if name in environ}
    env.update((name, value) for name, value in environ.items() if name.startswith("PYTHON"))
    env["PATH"] = "/usr/bin:/bin"
    return env


def package_parent() -> str:
    """The directory agentsh is imported from (a server that imports it from elsewhere
    computes another key and refuses to serve)."""
    import agentsh

    return os.path.dirname(os.path.dirname(os.path.abspath(agentsh.__file__)))


def socket_path(environ: dict[str, str], key: bytes) -> str | None:
    """The server's socket for this key, in a directory only this user can enter; None
    when there is no such directory (then nothing is started or trusted)."""
    uid = os.getuid()
    runtime = environ.get("XDG_RUNTIME_DIR", "")
    directory = os.path.join(runtime, "agentsh") if runtime.startswith("/") and _private(runtime, uid) \
        else f"/tmp/agentsh-{uid}"
    try:
        os.mkdir(directory, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    if not _private(directory, uid):
        return None  # someone else's directory at our name: do not use it
    name = f"warm-{digest(key)[:16]}.sock"
    path = os.path.join(directory, name)
    return path if len(os.fsencode(path)) < 108 else None  # sun_path holds 108 bytes


def _private(directory: str, uid: int) -> bool:
    try:
        info = os.lstat(directory)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == uid and not info.st_mode & 0o077


def digest(data: bytes) -> str:
    from ..builtin_sha256 import builtin_sha256

    sha256 = builtin_sha256()
    if sha256 is None:  # a build without the built-in hashes
        from hashlib import sha256
    return str(sha256(data).hexdigest())


def encode_request(request: Request) -> bytes:
    fields = [PROTOCOL, request.key.encode("ascii"), b"%o" % request.umask, os.fsencode(request.argv0),
              b"%d" % len(request.argv), *map(os.fsencode, request.argv),
              *(os.fsencode(f"{k}={v}") for k, v in request.environ.items())]
    payload = b"\0".join(fields)
    return len(payload).to_bytes(HEADER, "big") + payload


def decode_request(payload: bytes) -> Request:
    """The request in `payload` (without its length header); ValueError if malformed."""
    fields = payload.split(b"\0")
    if len(fields) < 5 or fields[0] != PROTOCOL:
        raise ValueError("not an agentsh-warm/1 request")
    count = int(fields[4])
    if count < 0 or 5 + count > len(fields):
        raise ValueError("argument count out of range")
    argv = [os.fsdecode(f) for f in fields[5:5 + count]]
    environ = {}
    for entry in fields[5 + count:]:
        name, eq, value = os.fsdecode(entry).partition("=")
        if not eq or not name:
            raise ValueError("malformed environment entry")
        environ[name] = value
    return Request(fields[1].decode("ascii"), int(fields[2], 8), os.fsdecode(fields[3]), argv, environ)


def confinement_of(status: bytes) -> str:
    """Why a process (its /proc/PID/status) is inside an agentsh line, or "".

    Every process of an approved line is traced by its exec guard, and has no_new_privs
    set by its Landlock or seccomp layer. Such a process must not reach a server that
    runs lines outside its guard, so either mark refuses it."""
    for line in status.splitlines():
        name, _, value = line.partition(b":")
        value = value.strip()
        if name == b"TracerPid" and value != b"0":
            return "the caller is traced (an exec guard watches it)"
        if name == b"NoNewPrivs" and value != b"0":
            return "the caller has no_new_privs set (it runs confined)"
    return ""


def read_line(conn: Any) -> bytes:
    """One short reply line from a socket (either side's socket object), or what came before EOF."""
    data = b""
    while not data.endswith(b"\n") and len(data) < 64:
        chunk = conn.recv(64 - len(data))
        if not chunk:
            break
        data += chunk
    return data


def peer_pidfd_supported() -> bool:
    """SO_PEERPIDFD (Linux >= 6.5), without which a server cannot tell who calls it and
    serves nobody."""
    import socket

    left, right = socket.socketpair()
    with left, right:
        try:
            os.close(left.getsockopt(socket.SOL_SOCKET, SO_PEERPIDFD))
            return True
        except OSError:
            return False


# A key's files in the server directory, all named warm-DIGEST16 plus one of these.
KEY_SUFFIXES = (".lock", ".sock", ".failed")
LOCK_ATTEMPTS = 8  # a lock file removed under this many flocks in a row is someone's game: give up
STALE_SECONDS = 600.0  # a key none of whose files changed for this long, and no server holds, is swept


def private_directory(directory: str) -> int | None:
    """A descriptor of the server directory if it is still this user's own and mode 0700
    (not a symlink to one): the server works relative to it, never by path again."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    info = os.fstat(fd)
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        os.close(fd)
        return None
    return fd


def take_lock(name: str, dir_fd: int | None = None) -> int | None:
    """An exclusive flock on the lock file `name` (relative to `dir_fd`, or a path; created
    if missing, never through a symlink), as a descriptor; None if another process holds it.

    Lock files are removed (release_lock, sweep_stale), so the file this process opened
    may be unlinked before its flock is granted: a lock on that inode would guard nothing,
    and a second server could lock the new file at the same name. So after the flock the
    name must still be the very file locked, or this process tries again."""
    import fcntl

    for _attempt in range(LOCK_ATTEMPTS):
        try:
            fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
        except OSError:
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return _closed(fd)  # a FIFO or device planted at the name: no lock, and no retrying
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return _closed(fd)
        if _names(fd, name, dir_fd):
            return fd
        os.close(fd)  # removed or replaced before this process's flock: lock what is there now
    return None  # replaced again and again: someone is playing with the directory


def _closed(fd: int) -> None:
    os.close(fd)
    return None


def _names(fd: int, name: str, dir_fd: int | None) -> bool:
    """Whether `name` is (still) the regular file open as `fd`."""
    held = os.fstat(fd)
    try:
        there = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return False
    return stat.S_ISREG(held.st_mode) and (held.st_dev, held.st_ino) == (there.st_dev, there.st_ino)


def release_lock(name: str, fd: int, dir_fd: int | None = None) -> None:
    """Remove the lock file this process holds as `fd`, then let it go. Unlinked first:
    a process that opened it meanwhile gets its flock on a removed file, sees so, and
    creates the next one (take_lock)."""
    if _names(fd, name, dir_fd):
        try:
            os.unlink(name, dir_fd=dir_fd)
        except OSError:
            pass
    os.close(fd)


def sweep_stale(dir_fd: int, keep: str, now: float) -> list[str]:
    """Remove the files of every key but `keep` (a warm-DIGEST16 name) that no server holds
    and none of whose files changed for STALE_SECONDS: left by a server that was killed
    (its socket), that failed to start (.failed), or by a client that found a server
    running (a lock it created). The names removed.

    A server holds its key's lock as long as it lives, so a live server's files are never
    taken; holding that lock here also keeps a server of that key from starting meanwhile.
    Run when a server starts, not by `agentsh -c`: one directory listing and a stat per file."""
    newest: dict[str, float] = {}
    for name in os.listdir(dir_fd):
        base, dot, suffix = name.rpartition(".")
        if not base.startswith("warm-") or dot + suffix not in KEY_SUFFIXES or base == keep:
            continue
        try:
            newest[base] = max(newest.get(base, 0.0), os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mtime)
        except OSError:
            continue
    removed: list[str] = []
    for base, changed in newest.items():
        if now - changed < STALE_SECONDS:
            continue
        lock = take_lock(base + ".lock", dir_fd)
        if lock is None:
            continue  # a server holds it (or one is starting): its files stay
        try:
            if not _all_older(dir_fd, base, now - STALE_SECONDS):
                continue  # a server wrote one just before this process took the lock
            for suffix in (".sock", ".failed"):
                try:
                    os.unlink(base + suffix, dir_fd=dir_fd)
                    removed.append(base + suffix)
                except OSError:
                    pass
            removed.append(base + ".lock")
        finally:
            release_lock(base + ".lock", lock, dir_fd)  # either way: a lock nobody holds guards nothing
    return removed


def _all_older(dir_fd: int, base: str, limit: float) -> bool:
    for suffix in (".sock", ".failed"):
        try:
            if os.stat(base + suffix, dir_fd=dir_fd, follow_symlinks=False).st_mtime >= limit:
                return False
        except OSError:
            pass
    return True


def live_server(lock_path: str) -> int | None:
    """The PID of the server holding this lock, or None if none holds it (a dead server's
    PID may be another process's by now, so the lock decides, not the PID)."""
    import fcntl

    try:
        # O_NONBLOCK: a FIFO planted at the name would block this open until a writer came
        fd = os.open(lock_path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None  # not a lock any server took
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).strip()
            return int(text) if text.isdigit() else None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def stop_servers(directory: str) -> list[int]:
    """SIGTERM every live server whose lock is in `directory`; the PIDs signalled."""
    stopped = []
    for name in os.listdir(directory) if os.path.isdir(directory) else ():
        pid = live_server(os.path.join(directory, name)) if name.endswith(".lock") else None
        if pid is not None:
            try:
                os.kill(pid, 15)  # SIGTERM; the signal module costs an import here
                stopped.append(pid)
            except ProcessLookupError:
                pass
    return stopped
