"""File metadata in confined mode: the exec guard decides chmod, chown, utime and the xattr
calls by where their target is (agentsh/guard/metadata.py), as Landlock cannot.

Each test runs a real line under the guard and checks the outcome on disk (mode, owner,
mtime, xattr), not only a message: outside the write roots nothing changes, inside the
workspace what builds and archives do keeps working.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shlex
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from agentsh.guard.doctor import probe_exec_guard
from agentsh.guard.metadata import MetadataGuard
from agentsh.profile import Host, load_profile
from tests.conftest import write_profile

Run = Callable[..., subprocess.CompletedProcess[str]]
pytestmark = pytest.mark.skipif(not probe_exec_guard().active, reason="no exec guard here (ptrace unavailable)")

PROFILE = """\
agentsh: 1
name: metadata
extends: [base]
path: [{py_bin}, /usr/local/bin, /usr/bin, /bin]
write: {{allow: ["{{workspace}}"]}}
commands:
  - {{name: py, run: python3, args: ["-c ..."], decision: allow}}
  - {{name: tools, run: [ls, cat, chmod, touch, cp, tar, install, stat], decision: allow}}
  - {{name: git, run: git, args: ["init -q", "config core.filemode"], decision: allow}}
"""
OLD = 1_000_000_000  # an mtime far from now
FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
NOATIME = 0x80  # chattr +A


def xattrs_work(path: Path) -> bool:
    try:
        os.setxattr(path, "user.agentsh-probe", b"1")
        os.removexattr(path, "user.agentsh-probe")
    except OSError:
        return False
    return True


def inode_flags(path: Path) -> int | None:
    """The file's inode flags (lsattr), None where the file system has none."""
    import fcntl
    import struct

    fd = os.open(path, os.O_RDONLY)
    try:
        return struct.unpack("l", fcntl.ioctl(fd, FS_IOC_GETFLAGS, b"\0" * 8))[0]
    except OSError:
        return None
    finally:
        os.close(fd)


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    return write_profile(tmp_path, "metadata", PROFILE.format(py_bin=os.path.dirname(os.path.realpath(sys.executable))))


@pytest.fixture
def outside(home: Path) -> Path:
    """A file outside the write roots, not denied to reads (~/.bashrc), with a known state."""
    path = home / ".bashrc"
    path.write_text("# rc\n")
    path.chmod(0o600)
    os.utime(path, (OLD, OLD))
    return path


def attempts(run_agentsh: Run, profile: Path, tries: dict[str, str], setup: str = "") -> dict[str, int]:
    """Run each statement in one confined python3; the errno each failed with, 0 if it worked."""
    lines = ["import ctypes, json, os", "libc = ctypes.CDLL(None, use_errno=True)", setup, "out = {}"]
    for name, statement in tries.items():
        lines += ["try:", f"    {statement}", f"    out[{name!r}] = 0", "except OSError as e:",
                  f"    out[{name!r}] = e.errno"]
    lines.append("print(json.dumps(out))")
    result = run_agentsh("-p", str(profile), "-c", f"python3 -c {shlex.quote(chr(10).join(lines))}")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_each_family_is_refused_outside_the_write_roots(run_agentsh: Run, profile: Path, outside: Path,
                                                         home: Path) -> None:
    key = home / ".ssh" / "id_rsa"  # in a denied root
    key.chmod(0o600)
    xattrs = xattrs_work(outside)
    if xattrs:
        os.setxattr(outside, "user.keep", b"1")
    tries = {
        "chmod": f"os.chmod({str(outside)!r}, 0o666)",
        "chmod_denied_root": f"os.chmod({str(key)!r}, 0o644)",
        "chown": f"os.chown({str(outside)!r}, 4242, 4242)",
        "utime": f"os.utime({str(outside)!r}, (5, 5))",
        "utime_now": f"os.utime({str(outside)!r})",
    }
    flags = inode_flags(outside)
    if flags is not None:  # chattr +A through the ioctl, on a descriptor open for reading
        tries["chattr_ioctl"] = (f"import fcntl, struct; fd = os.open({str(outside)!r}, os.O_RDONLY); "
                                 f"fcntl.ioctl(fd, {FS_IOC_SETFLAGS:#x}, struct.pack('l', {flags | NOATIME:#x}))")
    if xattrs:
        tries["setxattr"] = f"os.setxattr({str(outside)!r}, 'user.evil', b'1')"
        tries["removexattr"] = f"os.removexattr({str(outside)!r}, 'user.keep')"
    got = attempts(run_agentsh, profile, tries)
    assert got == {name: errno.EPERM for name in tries}
    info = outside.stat()
    assert (info.st_mode & 0o777, info.st_uid, info.st_mtime) == (0o600, os.getuid(), OLD)
    assert key.stat().st_mode & 0o777 == 0o600
    if xattrs:
        assert os.listxattr(outside) == ["user.keep"]
    assert inode_flags(outside) == flags
    denied = [json.loads(line) for line in (home / ".local/state/agentsh/audit.jsonl").read_text().splitlines()
              if '"metadata_denied"' in line]
    assert {event["target"] for event in denied} >= {str(outside), str(key)}


def test_links_dirfds_and_descriptors_resolve_to_the_real_target(run_agentsh: Run, profile: Path, outside: Path,
                                                                 workspace: Path) -> None:
    (workspace / "link").symlink_to(outside)  # in the workspace, pointing out of it
    (workspace / "dirlink").symlink_to(outside.parent)
    setup = (f"T = {str(outside)!r}\n"
             f"d = os.open({str(outside.parent)!r}, os.O_PATH)\n"
             f"r = os.open(T, os.O_RDONLY)\n"
             f"p = os.open(T, os.O_PATH)\n"
             "def check(result):\n"
             "    if result != 0:\n"
             "        raise OSError(ctypes.get_errno(), 'failed')\n")
    tries = {
        "chmod_through_link": "os.chmod('link', 0o666)",
        "utime_through_link": "os.utime('link', (5, 5))",
        "chmod_through_dir_link": "os.chmod('dirlink/.bashrc', 0o666)",
        "chmod_dotdot": f"os.chmod('../{outside.parent.name}/.bashrc', 0o666)",
        "fchmodat_dirfd": "os.chmod('.bashrc', 0o666, dir_fd=d)",
        "utimensat_dirfd": "os.utime('.bashrc', (5, 5), dir_fd=d)",
        "fchmod": "os.fchmod(r, 0o666)",
        "futimens": "os.utime(r, (5, 5))",
        "fchown": "os.fchown(r, 4242, 4242)",
        # (spelt so that the static check does not see /proc/self in the line)
        "proc_self_fd": "os.chmod('/proc/' + 'se' + f'lf/fd/{p}', 0o666)",
        "fchmodat2_empty_path": "check(libc.syscall(452, p, b'', 0o666, 0x1000))",
        "fchownat_empty_path": "check(libc.syscall(260, p, b'', 4242, 4242, 0x1000))",
        # the link itself, in the workspace, may change: only its target may not
        "lchown_link_itself": "os.chown('link', 4242, 4242, follow_symlinks=False)",
        "utime_link_itself": "os.utime('link', (5, 5), follow_symlinks=False)",
    }
    if os.uname().machine != "x86_64":
        for name in ("fchmodat2_empty_path", "fchownat_empty_path"):  # the raw numbers are x86_64's
            tries.pop(name)
    got = attempts(run_agentsh, profile, tries, setup)
    assert got == {name: 0 if "itself" in name else errno.EPERM for name in tries}
    info = outside.stat()
    assert (info.st_mode & 0o777, info.st_uid, info.st_mtime) == (0o600, os.getuid(), OLD)
    if os.getuid() == 0:  # only root can give a file away
        assert os.lstat(workspace / "link").st_uid == 4242


def test_what_builds_do_in_the_workspace_keeps_working(run_agentsh: Run, profile: Path, workspace: Path,
                                                       tmp_path: Path) -> None:
    tool = workspace / "tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o644)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        member = tarfile.TarInfo("pkg/run.sh")
        member.mode, member.mtime, member.size = 0o750, OLD, 3
        archive.addfile(member, io.BytesIO(b"hi\n"))
    (tmp_path / "pkg.tar").write_bytes(buffer.getvalue())
    (workspace / "src.txt").write_text("x\n")
    os.chmod(workspace / "src.txt", 0o640)
    os.utime(workspace / "src.txt", (OLD, OLD))
    xattrs = xattrs_work(workspace / "README.md")
    xattr = '; os.setxattr(\"new\", \"user.built\", b\"1\")' if xattrs else ""
    line = (f"chmod +x tool && touch new && touch -d @{OLD} README.md && cp -p src.txt copy.txt && "
            f"tar -xf {shlex.quote(str(tmp_path / 'pkg.tar'))} && install -m 700 README.md installed && "
            f"python3 -c 'import os; os.utime(\"new\", (5, 5)); os.chmod(\"new\", 0o604){xattr}' && "
            # git init finds out whether modes are kept by chmod-ing .git/config
            "git init -q && git config core.filemode")
    result = run_agentsh("-p", str(profile), "-c", line)
    assert result.returncode == 0, result.stderr
    assert "denied" not in result.stderr
    assert result.stdout.split() == ["true"]
    assert tool.stat().st_mode & 0o111
    assert (workspace / "README.md").stat().st_mtime == OLD
    copy = (workspace / "copy.txt").stat()
    assert (copy.st_mode & 0o777, copy.st_mtime) == (0o640, OLD)
    extracted = (workspace / "pkg" / "run.sh").stat()
    assert (extracted.st_mode & 0o777, extracted.st_mtime) == (0o750, OLD)
    assert (workspace / "installed").stat().st_mode & 0o777 == 0o700
    new = (workspace / "new").stat()
    assert (new.st_mode & 0o777, new.st_mtime) == (0o604, 5)
    if xattrs:
        assert os.getxattr(workspace / "new", "user.built") == b"1"


@pytest.mark.skipif(os.getuid() != 0, reason="only root may give a file away: the chown outcome needs root")
def test_root_cannot_give_away_or_setuid_a_program_outside(run_agentsh: Run, profile: Path, home: Path) -> None:
    program = home / "prog"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    got = attempts(run_agentsh, profile, {"setuid": f"os.chmod({str(program)!r}, 0o4755)",
                                          "chown": f"os.chown({str(program)!r}, 0, 4242)"})
    assert got == {"setuid": errno.EPERM, "chown": errno.EPERM}
    assert (program.stat().st_mode & 0o7777, program.stat().st_gid) == (0o755, os.getgid())


def test_missing_targets_fail_as_the_kernel_would(run_agentsh: Run, profile: Path) -> None:
    """What cannot be resolved is refused with the kernel's own errno, not run."""
    got = attempts(run_agentsh, profile, {"missing": "os.chmod('no-such-file', 0o644)",
                                          "bad_fd": "os.fchmod(987, 0o644)",
                                          "empty": "os.chmod('', 0o644)"})
    assert got == {"missing": errno.ENOENT, "bad_fd": errno.EBADF, "empty": errno.ENOENT}


def test_the_write_roots_are_the_profiles(tmp_path: Path, home: Path, workspace: Path) -> None:
    """Where metadata may change: the write roots, minus the denied read roots and /dev."""
    host = Host(cwd=str(workspace), home=str(home), config_home=str(home / ".config"))
    text = 'agentsh: 1\nname: m\nextends: [base]\nwrite: {allow: ["{workspace}"]}\nread: {deny: ["{workspace}/secrets"]}\n'
    guard = MetadataGuard(load_profile(str(write_profile(tmp_path, "m", text)), host))
    assert guard.allowed(str(workspace / "a" / "b"))
    assert not guard.allowed(str(workspace / "secrets" / "x"))
    assert not guard.allowed(str(home / ".bashrc"))
    assert not guard.allowed(str(workspace) + "-sibling")


I386_CHMOD = """\
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
addr = libc.mmap(None, 4096, 7, 0x22 | 0x40, -1, 0)  # read/write/exec, private anonymous, MAP_32BIT
path = {path!r}.encode() + b'\\\\0'
ctypes.memmove(addr + 64, path, len(path))
# push rbx; mov eax, 15 (i386 chmod); mov ebx, PATH; mov ecx, 0o666; int 0x80; pop rbx; ret
code = bytes.fromhex('53b80f000000bb') + (addr + 64).to_bytes(4, 'little') + bytes.fromhex('b9b6010000cd805bc3')
ctypes.memmove(addr, code, len(code))
print('chmod', ctypes.CFUNCTYPE(ctypes.c_int)(addr)(), flush=True)
"""


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="int 0x80 is x86's")
def test_i386_metadata_calls_are_refused(run_agentsh: Run, profile: Path, outside: Path) -> None:
    """The guard decides the native ABI's calls; a 64-bit process's i386 ones are refused."""
    result = run_agentsh("-p", str(profile), "-c", f"python3 -c {shlex.quote(I386_CHMOD.format(path=str(outside)))}")
    if "chmod -38" in result.stdout:
        pytest.skip("this kernel has no i386 emulation")
    assert "chmod -1" in result.stdout, result.stdout + result.stderr  # -EPERM from the filter
    assert outside.stat().st_mode & 0o777 == 0o600


def test_proc_self_fd_is_the_thread_groups_table(run_agentsh: Run, profile: Path, outside: Path) -> None:
    """A thread that unshared its descriptor table has its own descriptor N, but /proc/self/fd/N
    is the thread group's: the guard looked at the calling thread's and allowed the call."""
    setup = (f"import threading\n"
             f"n = os.open({str(outside)!r}, os.O_PATH)\n"
             "box = {}\n"
             "def thread():\n"
             "    check(libc.unshare(0x400))  # CLONE_FILES: a table of its own\n"
             "    os.close(n)\n"
             "    assert os.open('README.md', os.O_PATH) == n\n"
             "    try:\n"
             "        os.chmod('/proc/' + 'se' + f'lf/fd/{n}', 0o666)\n"
             "        box['e'] = 0\n"
             "    except OSError as e:\n"
             "        box['e'] = e.errno\n"
             "def check(result):\n"
             "    if result != 0:\n"
             "        raise OSError(ctypes.get_errno(), 'failed')\n"
             "t = threading.Thread(target=thread); t.start(); t.join()\n")
    setup += "def the_threads(code):\n    if code:\n        raise OSError(code, 'in the thread')\n"
    got = attempts(run_agentsh, profile, {"thread": "the_threads(box['e'])"}, setup)
    assert got == {"thread": errno.EPERM}
    assert outside.stat().st_mode & 0o777 == 0o600
