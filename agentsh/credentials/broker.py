"""Hand credentials to exactly the approved process, at its exec, and to nothing else.

How: for a line with credentialed commands, agentsh makes a private 0700 directory
holding a tiny exec helper (a Python script run with -IS) linked under each
credentialed program's name, and pins those names to the links with `hash -p`.
When bash runs, say, `aws s3 ls`, it execs the helper with that argv; the helper
asks agentsh over a unix socket in the same directory for its credentials and
execs the real program with them added to its environment.  agentsh answers only
if:

- the peer (SO_PEERCRED) is a descendant of this line's bash and is the helper
  (its command line is exactly interpreter, -I, -S, helper link, arguments);
- the argv it presents, now fully known, is decided again by the profile and
  allowed by a rule that names credentials (an exec-time re-check);
- that rule still has an unused issue left (one per approved command).

Secrets never appear in an argv, in bash's environment, in agentsh's own
environment, or in a file other than `as: file` ones (0600, removed when the line
ends).  Limits (see docs/credentials.md): in guardrail mode a same-user process
can read the credentialed process's /proc/PID/environ while it runs, which is
why lines that mention /proc or run another program able to start programs are
refused together with credentials.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from typing import Any

from ..warm.wire import SO_PEERPIDFD
from .leftovers import DONE, LEFTOVER_ENV, WATCHER, alive, end_holders

HELPER = """\
#!{python} -IS
import json, os, socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    sock.connect({socket})
    name = os.path.basename(sys.argv[0])
    sock.sendall(json.dumps({{"argv": [name] + sys.argv[1:], "cwd": os.getcwd()}}).encode() + b"\\n")
    sock.shutdown(socket.SHUT_WR)
    reply = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        reply += chunk
    data = json.loads(reply)
except Exception as err:
    sys.stderr.write("agentsh: cannot get credentials: %s\\n" % err)
    sys.exit(126)
if "error" in data:
    sys.stderr.write("agentsh: denied: %s\\n" % data["error"])
    sys.exit(126)
env = dict(os.environ)
env.update(data["env"])
import signal
for sig in (signal.SIGPIPE, signal.SIGXFSZ):  # Python ignores these; the program must not inherit that
    signal.signal(sig, signal.SIG_DFL)
os.execve(data["path"], [name] + sys.argv[1:], env)
"""

def credentials_root(environ: Mapping[str, str] | None = None) -> str:
    """The one per-user directory every line's broker directory is made in.

    A fixed path, so that a line with credentials can be checked with it denied before its
    broker directory exists: the `as: file` files, the helper and the socket are all in
    there, and another command of the line (same user, so file modes do not stop it) read
    `cat /tmp/agentsh-cred-*/TOKEN_FILE-*` while the credentialed program ran."""
    environ = os.environ if environ is None else environ
    runtime = environ.get("XDG_RUNTIME_DIR", "")
    if runtime.startswith("/") and _private(runtime):
        root = os.path.join(os.path.realpath(runtime), "agentsh-cred")
        # a line's socket, ROOT/held-XXXXXXXX/broker.sock, must fit sun_path (108 bytes)
        if len(os.fsencode(root)) + 40 < 108:
            return root
    return os.path.join(os.path.realpath("/tmp"), f"agentsh-cred-{os.getuid()}")


def _private(directory: str) -> bool:
    """A real directory (not a link) of this user that no one else may enter."""
    try:
        info = os.lstat(directory)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077


LINE_PREFIX = "held-"  # a line's directory, locked (flock) by its agentsh for the line's whole life
_LEGACY_PREFIX = "line-"  # ROOT/line-PID-XXXXXXXX/: made by an older agentsh, with no lock
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _private_root(root: str) -> str:
    """Create (or accept) the credentials root; refuse one someone else made or planted."""
    try:
        os.mkdir(root, 0o700)
    except FileExistsError:
        pass
    if not _private(root):
        raise PermissionError(f"{root} is not a private directory of this user (a link, someone else's, or "
                              "open to others): credentials are not handed out through it")
    _sweep(root)
    return root


def _line_directory(root: str) -> tuple[str, int]:
    """Make this line's directory in root and lock it; return its path and the locked fd.

    The lock (flock on the directory itself) is what says the line is alive: a PID in the
    name did not, across PID namespaces sharing the root (a live line elsewhere looked dead
    and lost its socket) or after the PID went to another process (a dead line's `as: file`
    credential was kept).  flock belongs to the open file description, so the kernel drops
    it when agentsh ends however it ends, and a sweep in this same process (the warm
    server's worker) still sees its other lines' directories locked."""
    for _ in range(100):
        path = tempfile.mkdtemp(prefix=LINE_PREFIX, dir=root)
        fd = os.open(path, _DIRECTORY)
        # A sweep between mkdtemp and here found the new directory unlocked and removes it,
        # holding the lock while it does: flock waits for it, and the directory is gone.
        fcntl.flock(fd, fcntl.LOCK_EX)
        info = os.fstat(fd)
        try:
            here = os.lstat(path)
        except FileNotFoundError:
            here = None
        if info.st_nlink and here is not None and (here.st_dev, here.st_ino) == (info.st_dev, info.st_ino):
            return path, fd
        os.close(fd)
    raise OSError(f"cannot keep a directory in {root}: each one made was removed at once")


def _sweep(root: str) -> None:
    """Remove the directories of lines whose agentsh is gone: one killed (SIGKILL, a crash)
    could not remove its own, and it may hold an `as: file` credential.

    Only this user's directories directly in the root (opened without following a link)
    are looked at, and only one whose lock this process takes without waiting is removed,
    still holding the lock (shutil.rmtree relative to the root's fd follows no link)."""
    root_fd = os.open(root, _DIRECTORY)
    try:
        for entry in os.listdir(root_fd):
            if entry.startswith(LINE_PREFIX):
                _remove_if_unlocked(root_fd, entry)
            elif entry.startswith(_LEGACY_PREFIX):
                _remove_if_pid_gone(root_fd, entry)
    finally:
        os.close(root_fd)


def _remove_if_unlocked(root_fd: int, entry: str) -> None:
    try:
        fd = os.open(entry, _DIRECTORY, dir_fd=root_fd)
    except OSError:  # a link, not a directory, or already gone
        return
    try:
        if os.fstat(fd).st_uid != os.getuid():
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # its line is alive, in whatever PID namespace
        shutil.rmtree(entry, dir_fd=root_fd, ignore_errors=True)
    finally:
        os.close(fd)


def _remove_if_pid_gone(root_fd: int, entry: str) -> None:
    """An older agentsh's directory (no lock): only its PID tells, as it used to, which
    keeps it when the PID went to another process and misjudges another PID namespace."""
    owner = entry.split("-")[1] if entry.count("-") >= 2 else ""
    if not owner.isdigit() or int(owner) == os.getpid():
        return
    try:
        os.kill(int(owner), 0)
    except ProcessLookupError:
        shutil.rmtree(entry, dir_fd=root_fd, ignore_errors=True)
    except PermissionError:
        pass


def _peer_pidfd(conn: socket.socket, pid: int) -> int:
    """A pidfd of the process that connected: SO_PEERPIDFD (Linux 6.5+) takes it at
    connect(); before that, pidfd_open of its PID now, which a caller that has exited and
    left its PID to another process could still pass (docs/credentials.md)."""
    try:
        return conn.getsockopt(socket.SOL_SOCKET, SO_PEERPIDFD)
    except OSError:
        return os.pidfd_open(pid)


REQUEST_TIMEOUT = 5.0  # seconds a connection may take to send its request (the helper needs ms)


# Called with the helper's argv (all static now) and cwd; returns (real path, env to add)
# or raises PermissionError with the reason for the agent.
Issuer = Callable[[list[str], str], tuple[str, dict[str, str]]]


class CredentialBroker:
    def __init__(self, names: list[str], issuer: Issuer, bash_pid: Callable[[], int]) -> None:
        self.names = names
        self.issuer = issuer
        self.bash_pid = bash_pid
        self.marker = os.urandom(16).hex()  # LEFTOVER_ENV's value for this line
        self.ended = 0  # processes holding it that close() ended
        self.dir, self._lock = _line_directory(_private_root(credentials_root()))
        # Cleans up after an agentsh that could not (leftovers.watch): a SIGKILL left the
        # `as: file` files on disk for the next line (with no credentials, so nothing denied
        # the directory) to read.  It waits on a pipe only agentsh holds: EOF is agentsh's end.
        package = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        self._watchdog = subprocess.Popen([sys.executable, *WATCHER, package, self.dir, self.marker],
                                          stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
        self.socket_path = os.path.join(self.dir, "broker.sock")
        self.helper = os.path.join(self.dir, "helper")
        with open(self.helper, "w", encoding="utf-8") as handle:
            # The socket's path is written in the helper, not handed over in the environment:
            # AGENTSH_CREDENTIALS, exported to bash, was changed by a plain assignment in the
            # line (`AGENTSH_CREDENTIALS=/tmp/s; aws -c ...`), and the helper ran whatever
            # program the process serving that socket named.
            handle.write(HELPER.format(python=sys.executable, socket=repr(self.socket_path)))
        os.chmod(self.helper, 0o700)
        self.links = {}
        for name in names:
            link = os.path.join(self.dir, "bin", name)
            os.makedirs(os.path.dirname(link), mode=0o700, exist_ok=True)
            os.symlink(self.helper, link)
            self.links[name] = link
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.socket_path)
        os.chmod(self.socket_path, 0o600)
        self.server.listen(8)
        self.issued: list[str] = []  # variable names handed out, for the audit trail
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def file_for(self, variable: str, value: str) -> str:
        """Write an `as: file` credential to a 0600 file, removed with the directory."""
        fd, path = tempfile.mkstemp(prefix=variable + "-", dir=self.dir)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(value)
        return path

    def pins(self) -> list[tuple[str, str]]:
        return sorted(self.links.items())

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                # One request at a time: a same-user process that connects and sends nothing
                # held the broker, and the credentialed program waited for ever.
                conn.settimeout(REQUEST_TIMEOUT)
                try:
                    reply = self._answer(conn)
                except PermissionError as err:
                    reply = {"error": str(err)}
                except TimeoutError:
                    reply = {"error": f"no request within {REQUEST_TIMEOUT:g} s"}
                except Exception as err:  # any failure must reach the helper as a refusal
                    reply = {"error": f"credential broker error: {type(err).__name__}"}
                try:
                    conn.sendall(json.dumps(reply).encode())
                except OSError:
                    pass

    def _answer(self, conn: socket.socket) -> dict[str, Any]:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, uid, _gid = struct.unpack("3i", creds)
        if uid != os.getuid():
            raise PermissionError("credential request from another user")
        pidfds = [_peer_pidfd(conn, pid)]
        try:
            return self._answer_peer(conn, pid, pidfds)
        finally:
            for fd in pidfds:
                os.close(fd)

    def _answer_peer(self, conn: socket.socket, pid: int, pidfds: list[int]) -> dict[str, Any]:
        data = b""
        while not data.endswith(b"\n") and len(data) < 1 << 20:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        request = json.loads(data)
        argv = [str(a) for a in request["argv"]]
        cwd = str(request.get("cwd", "/"))
        if not self._is_helper(pid, argv):
            raise PermissionError("credential request from a process that is not agentsh's exec helper")
        chain = self._ancestry(pid, pidfds)
        # /proc was read by PID: a caller that connected and exited could leave its PID to a
        # real helper of this line, which would then vouch for it.  The chain is read again,
        # and the processes it was read from must still be alive, each through a pidfd taken
        # before (the caller's at connect()): a live process's PID is no one else's.
        if chain is None or self._ancestry(pid, []) != chain or not all(map(alive, pidfds)):
            raise PermissionError("credential request from outside this command line")
        path, env = self.issuer(argv, cwd)
        self.issued.extend(env)
        return {"path": path, "env": env}

    def _is_helper(self, pid: int, argv: list[str]) -> bool:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = [a.decode("utf-8", "surrogateescape") for a in handle.read().split(b"\0")[:-1]]
        except OSError:
            return False
        link = self.links.get(argv[0])
        return link is not None and cmdline[:3] in ([sys.executable, "-IS", link],
                                                    [os.path.realpath(sys.executable), "-IS", link]) \
            and cmdline[3:] == argv[1:]

    def _ancestry(self, pid: int, pidfds: list[int]) -> list[int] | None:
        """The PIDs from pid up to this line's bash (None if bash is not an ancestor),
        adding a pidfd of each ancestor met to pidfds (bash needs none: agentsh has not
        reaped its child, so its PID stays its own)."""
        root = self.bash_pid()
        chain = [pid]
        for _ in range(64):
            if pid == root:
                return chain
            try:
                with open(f"/proc/{pid}/stat", "rb") as handle:
                    stat = handle.read()
                pid = int(stat[stat.rindex(b")") + 2:].split()[1])
                if pid <= 1:
                    return None
                if pid != root and len(pidfds) < 64:
                    pidfds.append(os.pidfd_open(pid))
            except OSError:
                return None
            chain.append(pid)
        return None

    def close(self) -> None:
        self._stop = True
        try:
            self.server.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.server.close()
        self._thread.join(timeout=2)
        # In guardrail mode nothing else ends what the line left running (in confined mode the
        # exec guard has): a daemon a credentialed program started kept the secret in its
        # /proc/PID/environ, and a later line, with no credentials and so no check on /proc,
        # read it (`cat /proc/*/environ | rev`).  (After the broker stopped: none is added.)
        if LEFTOVER_ENV in self.issued:
            self.ended = end_holders(LEFTOVER_ENV, self.marker, os.path.join(self.dir, "bin", ""))
        shutil.rmtree(self.dir, ignore_errors=True)
        os.close(self._lock)  # after the removal: a sweep must not find it unlocked and half there
        if self._watchdog.stdin is not None:
            try:
                self._watchdog.stdin.write(DONE)
                self._watchdog.stdin.close()
            except OSError:  # it is gone: there was nothing for it to do but this
                pass
        self._watchdog.wait()
