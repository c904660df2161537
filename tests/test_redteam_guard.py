"""Red-team of the exec guard and its seccomp filter, for real: an allowed interpreter
(python3) tries to get something past the layers of confined mode, and each test checks
the outcome (a canary file, bytes at a listener, bytes in a terminal's input queue), not a
message.  Each of these got through before its fix, except the i386 one, which pins down
the filter's check of the compat ABI.
"""

from __future__ import annotations

import errno
import os
import pty
import shutil
import socket
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agentsh.guard import landlock
from tests.conftest import write_profile

Run = Callable[..., subprocess.CompletedProcess[str]]
PY_BIN = os.path.dirname(os.path.realpath(sys.executable))
X86_64 = os.uname().machine == "x86_64"

# Only python3 -c and a script on a directory the line cannot write (`hello`) are allowed;
# the line writes only its workspace.
PROFILE = """\
agentsh: 1
name: redteam
extends: [base]
path: [{bin}, {py_bin}, /usr/local/bin, /usr/bin, /bin]
write: {{allow: ["{{workspace}}"]}}
commands:
  - {{name: py, run: python3, args: ["-c ..."], decision: allow}}
  - {{name: hello, run: hello, decision: allow}}
  - {{name: tools, run: [ls, cat], decision: allow}}
"""


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    hello = bin_dir / "hello"
    hello.write_text("#!/bin/sh\necho hello from the real script\n")
    hello.chmod(0o755)
    return write_profile(tmp_path, "redteam", PROFILE.format(bin=bin_dir, py_bin=PY_BIN))


def py(code: str) -> str:
    import shlex

    return f"python3 -c {shlex.quote(code)}"


# -- a program copied under a shell's name ----------------------------------------------------
@pytest.mark.skipif(shutil.which("perl") is None, reason="perl (the denied program run here) is not installed")
def test_a_program_copied_under_a_shells_name_is_not_decided_as_that_shell(run_agentsh: Run, profile: Path,
                                                                         workspace: Path) -> None:
    """`sh -c STRING` was decided by STRING whenever the file's name was a shell's: perl copied
    to ./sh and run as `./sh -c echo` passed as the line `echo`, and perl ran the file `echo`."""
    code = ("import os, shutil\n"
            "shutil.copy(shutil.which('perl'), 'sh'); os.chmod('sh', 0o755)\n"
            "open('echo', 'w').write('BEGIN { open(my $f, \">\", \"canary\"); print $f \"perl ran\"; }')\n"
            "os.execv('./sh', ['sh', '-c', 'echo'])\n")
    result = run_agentsh("-p", str(profile), "-c", py(code))
    assert not (workspace / "canary").exists(), result.stderr
    assert "denied at exec: sh -c echo" in result.stderr
    # the real shell still runs shell strings
    result = run_agentsh("-p", str(profile), "-c", py("import os; os.execv('/bin/sh', ['sh', '-c', 'ls'])"))
    assert result.returncode == 0 and "README.md" in result.stdout, result.stderr


# -- chroot: the guard read one script, the interpreter another -------------------------------
CHROOT = """\
import ctypes, os, shutil
libc = ctypes.CDLL(None, use_errno=True)
real_sh = os.path.realpath('/bin/sh')
root = os.path.abspath('fake')
for lib in {libs!r}:
    os.makedirs(root + os.path.dirname(lib), exist_ok=True)
    shutil.copy(lib, root + lib)
os.makedirs(root + '{bin}')
open(root + '{bin}/hello', 'w').write('#!/bin/sh\\necho not the script that was decided > /canary\\n')
fd = os.open(real_sh, os.O_RDONLY)
pid = os.fork()
if pid == 0:
    libc.unshare(0x10000000)  # a user namespace: CAP_SYS_CHROOT for anyone (root has it anyway)
    if libc.chroot(root.encode()) != 0:
        print('no chroot', ctypes.get_errno(), flush=True)
        os._exit(3)
    argv = (ctypes.c_char_p * 3)(b'sh', b'{bin}/hello', None)
    envp = (ctypes.c_char_p * 1)(None)
    libc.syscall(322, fd, b'', argv, envp, 0x1000)  # execveat(fd, "", AT_EMPTY_PATH): the real sh
    os._exit(4)
os.waitpid(pid, 0)
"""


@pytest.mark.skipif(not X86_64, reason="the raw execveat call here is written for x86_64")
@pytest.mark.skipif(shutil.which("ldd") is None, reason="ldd is needed to copy /bin/sh's libraries")
def test_chroot_cannot_swap_the_script_the_guard_read(run_agentsh: Run, profile: Path, workspace: Path,
                                                     tmp_path: Path) -> None:
    """The guard reads a `#!` script by its path from its own root; a process that chroot()ed
    into a tree it wrote ran the real /bin/sh (by descriptor) as `sh BIN/hello`: decided as the
    allowed script `hello`, while sh read the fake BIN/hello inside the new root."""
    ldd = subprocess.run(["ldd", os.path.realpath("/bin/sh")], capture_output=True, text=True).stdout
    code = CHROOT.format(bin=tmp_path / "bin", libs=[w for w in ldd.split() if w.startswith("/")])
    result = run_agentsh("-p", str(profile), "-c", py(code))
    if "no chroot" in result.stdout:
        pytest.skip(f"chroot() is refused on this machine: {result.stdout.strip()}")
    assert not (workspace / "fake" / "canary").exists(), result.stderr
    assert "another root directory" in result.stderr
    result = run_agentsh("-p", str(profile), "-c", "hello")  # the script itself runs
    assert result.stdout.strip() == "hello from the real script", result.stderr


# -- MPTCP: TCP to a port Landlock should have refused -----------------------------------------
def _mptcp_available() -> bool:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(landlock.abi_version() < 4, reason="Landlock before ABI 4 does not restrict TCP ports")
@pytest.mark.skipif(not _mptcp_available(), reason="MPTCP is not enabled on this machine (net.mptcp.enabled)")
def test_mptcp_cannot_reach_a_port_the_profile_does_not_list(run_agentsh: Run, profile: Path) -> None:
    """Landlock's port rules apply to TCP sockets only, and an MPTCP socket falls back to plain
    TCP with a plain peer: it connected to any port (the profile lists none)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        code = ("import socket\n"
                "for proto in (0, 262):\n"
                "    try:\n"
                "        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto)\n"
                f"        s.connect(('127.0.0.1', {port})); s.sendall(b'through %d' % proto)\n"
                "    except OSError as e:\n"
                "        print(proto, e.errno)\n")
        result = run_agentsh("-p", str(profile), "-c", py(code))
        listener.setblocking(False)
        try:
            conn, _ = listener.accept()  # a connect that succeeded waits in the backlog
            got = conn.recv(100)
            conn.close()
        except BlockingIOError:
            got = b""
    assert got == b"", got
    assert f"262 {errno.EPROTONOSUPPORT}" in result.stdout, result.stdout + result.stderr


def test_io_uring_is_refused(run_agentsh: Run, profile: Path) -> None:
    """io_uring makes sockets (IORING_OP_SOCKET, an MPTCP one too) where the seccomp filter
    cannot see their arguments: io_uring_setup fails, so programs use plain system calls."""
    code = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "params = ctypes.create_string_buffer(120)\n"
            "print('setup', libc.syscall(425, 4, params), ctypes.get_errno())\n")
    result = run_agentsh("-p", str(profile), "-c", py(code))
    assert f"setup -1 {errno.ENOSYS}" in result.stdout, result.stdout + result.stderr


# -- keystrokes pushed into the caller's terminal ------------------------------------------------
def test_a_line_cannot_push_keystrokes_into_the_callers_terminal(agentsh_env: dict[str, str], profile: Path,
                                                                 workspace: Path) -> None:
    """With stdin on the caller's terminal (and output on pipes) the line runs on that terminal:
    TIOCSTI put `touch canary` in its input queue, which the caller's shell reads and runs after
    agentsh exits, outside agentsh."""
    master, slave = pty.openpty()
    try:
        code = "import fcntl, termios\nfor c in b'touch canary\\n':\n    fcntl.ioctl(0, termios.TIOCSTI, bytes([c]))\n"

        def own_terminal() -> None:
            os.setsid()
            import fcntl
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        result = subprocess.run([sys.executable, "-m", "agentsh", "-p", str(profile), "-c", py(code)],
                                stdin=slave, capture_output=True, text=True, cwd=workspace, env=agentsh_env,
                                preexec_fn=own_terminal, timeout=60)
        attrs = termios.tcgetattr(slave)
        attrs[3] &= ~termios.ICANON  # read what is queued even without a newline
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        os.set_blocking(slave, False)
        try:
            queued = os.read(slave, 4096)
        except BlockingIOError:
            queued = b""
    finally:
        os.close(master)
        os.close(slave)
    assert b"touch" not in queued, queued
    assert "PermissionError" in result.stderr, result.stderr


# -- processes forking while the line ends ---------------------------------------------------------
HOPPERS = """\
import os, time
start = time.time()
for i in range(6):
    if os.fork() == 0:
        while True:  # a daemon that forks and lets its parent exit, again and again
            if os.fork():
                os._exit(0)
            if time.time() - start > 1.5:
                open('late-%d' % os.getpid(), 'w').close()
                os._exit(0)
time.sleep(0.3)
"""


def test_processes_forking_as_the_line_ends_neither_hang_it_nor_survive(run_agentsh: Run, profile: Path,
                                                                        workspace: Path) -> None:
    """A child whose parent was killed between its fork and the parent's fork event was held
    stopped for ever: it kept the line's output open, and agentsh never returned."""
    started = time.monotonic()
    result = run_agentsh("-p", str(profile), "-c", py(HOPPERS), timeout=40)
    assert result.returncode == 0, result.stderr
    time.sleep(max(0.0, started + 2.5 - time.monotonic()))  # past the moment the hoppers would write
    assert not list(workspace.glob("late-*"))


# -- the i386 ABI from a 64-bit process gets the same rules ----------------------------------------
I386_CLONE = """\
import ctypes, os
# push rbx; mov eax, 120 (i386 clone); mov ebx, CLONE_UNTRACED|SIGCHLD; ecx=edx=esi=edi=0; int 0x80; pop rbx; ret
code = bytes.fromhex('53b878000000bb1100800031c931d231f631ffcd805bc3')
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
addr = libc.mmap(None, 4096, 7, 0x22 | 0x40, -1, 0)  # read/write/exec, private anonymous, MAP_32BIT
ctypes.memmove(addr, code, len(code))
pid = ctypes.CFUNCTYPE(ctypes.c_int)(addr)()
if pid == 0:
    os.execv('/usr/bin/touch', ['touch', 'canary'])
print('clone', pid, flush=True)
if pid > 0:
    os.waitpid(pid, 0)
"""


@pytest.mark.skipif(not X86_64, reason="int 0x80 is x86's")
def test_i386_untraced_clone_is_refused(run_agentsh: Run, profile: Path, workspace: Path) -> None:
    result = run_agentsh("-p", str(profile), "-c", py(I386_CLONE))
    if "clone -38" in result.stdout:
        pytest.skip("this kernel has no i386 emulation")
    assert not (workspace / "canary").exists(), result.stdout + result.stderr
    assert "clone -1" in result.stdout, result.stdout + result.stderr  # -EPERM from the filter


@pytest.mark.parametrize("argv", [["bash", "-c", "-", "touch canary"], ["sh", "-c", "--", "touch canary"],
                                  ["bash", "-c", "-e", "touch canary"], ["bash", "-c", "+o", "pipefail", "x"]])
def test_the_word_after_c_is_the_string_only_when_it_is_no_option(argv: list[str]) -> None:
    """bash runs the first word that is no option: in `bash -c - STRING` that is STRING, not `-`
    (which was decided as the line; only the lack of a program named `-` refused it)."""
    from agentsh.guard.execcheck import _shell_command_string

    assert _shell_command_string(argv) is None
    assert _shell_command_string(["sh", "-ec", "ls"]) == "ls"


# -- file metadata: Landlock has no right for it, the exec guard decides it ---------------------
def test_metadata_outside_the_write_roots_cannot_change(run_agentsh: Run, profile: Path, home: Path) -> None:
    key = home / ".ssh" / "id_rsa"  # in a denied root, and outside the write roots
    key.chmod(0o600)
    code = f"import os\ntry:\n    os.chmod({str(key)!r}, 0o644)\nexcept OSError as e:\n    print(e.errno)\n"
    run_agentsh("-p", str(profile), "-c", py(code))
    assert key.stat().st_mode & 0o777 == 0o600
