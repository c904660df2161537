"""The agent's side of the warm server: hand `agentsh -c LINE` to it, or say why not.

This runs before anything else in every `agentsh -c`, so it imports only built-in
modules. It gives up (returns None, and the line runs in this process as it always did)
whenever the server cannot take the line *before* the line could have started: no
server, another key, a caller inside an agentsh line, a terminal on stdin/stdout/stderr.
Once it has told the worker to go, it never runs the line itself.
"""

from __future__ import annotations

import _signal
import _socket
import os
import sys
import time

from .wire import (
    DISABLE_VARIABLE,
    SO_PEERPIDFD,
    Request,
    confinement_of,
    digest,
    encode_request,
    read_line,
    server_argv,
    server_environ,
    server_key,
    socket_path,
    take_lock,
)

REPLY_TIMEOUT = 5.0  # seconds for the server to fork a worker; past it, this process runs the line
FORWARDED = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT)
FAILED_BACKOFF = 60.0  # seconds not to restart a server that failed to start


def run_warm(argv: list[str], argv0: str) -> int | None:
    """Run `agentsh ARGV` (a -c line) in the warm server; its exit status, or None if
    this process must run it itself."""
    environ = dict(os.environ)
    if environ.get(DISABLE_VARIABLE) == "0":
        return None
    try:
        if any(os.isatty(fd) for fd in (0, 1, 2)):
            return None  # a terminal stays the line's controlling terminal: run here
        with open("/proc/self/status", "rb") as handle:
            if confinement_of(handle.read()):
                return None  # inside an agentsh line: its guard decides this agentsh as it is
    except OSError:
        return None
    key = server_key(environ)
    path = socket_path(environ, key)
    if path is None:
        return None
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        try:
            sock.connect(path)
        except OSError:
            start_server(path, key, environ)
            return None
        if not _trusted_server(sock):
            return None
        status = _hand_over(sock, Request(digest(key), 0, argv0, argv, environ))
        if status == _UNRESPONSIVE:
            _retire(path)
            return None
        return status
    finally:
        sock.close()


_UNRESPONSIVE = -1  # not an exit status (0-255): the server took the connection and said nothing


def _retire(path: str) -> None:
    """A server that does not answer (stopped, or stuck) costs one caller REPLY_TIMEOUT;
    its socket goes, so later callers run their lines at once. Its lock stays held while
    it lives, so no other server starts beside it."""
    try:
        os.unlink(path)
    except OSError:
        pass


def _trusted_server(sock: _socket.socket) -> bool:
    """Whether the process listening on the socket may have this caller's line, environment
    and descriptors: this user's, and not inside an agentsh line. A confined line can write
    the server directory (it is the user's) and listen at a key's name while it runs; a
    caller that handed it a line would get answers made up outside any check, and give it
    its environment. Every process of a line is traced and has no_new_privs, as the real
    server never is (its clients are neither, and it is their child). Read through a pidfd
    of the listener (SO_PEERPIDFD), so a recycled PID cannot stand in."""
    raw = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
    pid, uid = (int.from_bytes(raw[i:i + 4], sys.byteorder, signed=True) for i in (0, 4))
    if uid != os.getuid():
        return False
    try:
        pidfd = sock.getsockopt(_socket.SOL_SOCKET, SO_PEERPIDFD)
    except OSError:
        return False  # Linux < 6.5: the server would refuse this caller anyway
    try:
        fd = os.open(f"/proc/{pid}/status", os.O_RDONLY | os.O_CLOEXEC)
        try:
            status = os.read(fd, 1 << 16)  # (a few kB; read in one go by the kernel)
        finally:
            os.close(fd)
        _signal.pidfd_send_signal(pidfd, 0)  # what was read was the listener's own
    except OSError:
        return False
    finally:
        os.close(pidfd)
    return not confinement_of(status)


def _hand_over(sock: _socket.socket, request: Request) -> int | None:
    # A worker says "ready" once it has accepted. Until then nothing is sent: descriptors
    # queued on a socket nobody accepts would hold the agent's pipes open.
    sock.settimeout(REPLY_TIMEOUT)
    try:
        if read_line(sock) != b"ready\n":
            return None  # refused (a changed agentsh): this process runs the line
    except TimeoutError:
        return _UNRESPONSIVE
    except OSError:
        return None
    try:
        cwd = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None  # no working directory: this process reports it as it always did
    try:
        for fd in (0, 1, 2):
            os.fstat(fd)  # a closed standard descriptor cannot be handed over
        request.umask = os.umask(0o022)
        os.umask(request.umask)
        _blank_credentials(request.environ)
        data = encode_request(request)
        fds = b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2, cwd))
        sent = sock.sendmsg([data[:65536]], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
        sock.sendall(data[sent:])
    except OSError:
        return None
    finally:
        os.close(cwd)
    try:
        reply = read_line(sock)
    except TimeoutError:
        return _UNRESPONSIVE  # no worker said it started, and none starts without our "go"
    except OSError:
        return None
    if not reply.startswith(b"pid "):
        return None
    worker = int(reply[4:])
    forwarded = [0]

    def forward(signum: int, _frame: object) -> None:
        forwarded[0] = signum
        try:
            os.kill(worker, signum)
        except ProcessLookupError:
            pass

    try:
        sock.sendall(b"go\n")
    except OSError:
        return None  # the worker is gone before it was told to start: nothing ran
    for signum in FORWARDED:
        _signal.signal(signum, forward)
    sock.settimeout(None)
    try:
        reply = read_line(sock)
    except OSError:
        reply = b""
    if reply.startswith(b"status "):
        return int(reply[7:])
    if forwarded[0]:  # the worker died of the signal we passed on: so do we, as bash would
        _signal.signal(forwarded[0], _signal.SIG_DFL)
        os.kill(os.getpid(), forwarded[0])
    os.write(2, b"agentsh: the warm server's worker ended without an exit status\n")
    return 1


def _blank_credentials(environ: dict[str, str]) -> None:
    """This process stays alive while the line runs, and its initial environment is readable
    as /proc/PID/environ: credential-like values go from it before the line is sent (the
    request carries them; the worker drops them as agentsh always does)."""
    from ..credentials.envcut import blank_initial_environment, looks_like_credential

    names = {name for name in environ if looks_like_credential(name)}
    if names:
        blank_initial_environment(names)


def start_server(path: str, key: bytes, environ: dict[str, str]) -> None:
    """Start a server for this key in the background, unless one holds its lock or one
    failed to start lately. It is not this process's job to wait for it."""
    base = path[: -len(".sock")]
    try:
        if time.time() - os.lstat(base + ".failed").st_mtime < FAILED_BACKOFF:
            return
    except OSError:
        pass
    lock = take_lock(base + ".lock")
    if lock is None:
        return  # a server is starting or running
    os.close(lock)  # (the file stays: the server locks it next, and removes it when it ends)
    env = server_environ(environ)
    actions: list[tuple[int, ...] | tuple[int, int, str, int, int]] = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDWR, 0), (os.POSIX_SPAWN_DUP2, 0, 1), (os.POSIX_SPAWN_DUP2, 0, 2)]
    for name in os.listdir("/proc/self/fd"):  # descriptors the agent let us inherit are not the server's
        fd = int(name)
        if fd > 2 and _inheritable(fd):
            actions.append((os.POSIX_SPAWN_CLOSE, fd))
    try:
        os.posix_spawn(sys.executable, server_argv(path, digest(key)), env, file_actions=actions, setsid=True)
    except OSError:
        return


def _inheritable(fd: int) -> bool:
    try:
        return os.get_inheritable(fd)
    except OSError:
        return False
