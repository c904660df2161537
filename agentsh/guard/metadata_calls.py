"""Make an allowed file-metadata change as the caller would have (metadata.py decides it).

The guard does the change itself, on the object it checked, so the kernel does not look the
path or the descriptor up a second time. Here are the pieces that do it: they read the call's
other arguments (times, an xattr's name and value, an ioctl's argument) from the tracee's
memory once, take the caller's open file (pidfd_getfd), lower the guard's effective
capabilities to the caller's for the call, and return the errno the call would have returned.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

AT_EMPTY_PATH = 0x1000
PATH_MAX = 4096


def read_path(pid: int, address: int) -> bytes:
    """The NUL-terminated string at `address` in the tracee, read as the kernel's getname()
    would: EFAULT where memory is unreadable, ENAMETOOLONG past PATH_MAX."""
    fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = b""
        while len(data) < PATH_MAX:
            at = address + len(data)
            chunk_size = min(4096 - at % 4096, PATH_MAX - len(data))  # never across a page: it may be unmapped
            try:
                chunk = os.pread(fd, chunk_size, at)
            except OSError:
                chunk = b""
            if not chunk:
                raise OSError(errno.EFAULT, "the path cannot be read from the command's memory")
            end = chunk.find(b"\0")
            if end >= 0:
                return data + chunk[:end]
            data += chunk
        raise OSError(errno.ENAMETOOLONG, "the path is too long")
    finally:
        os.close(fd)


def libc_call(name: str, *args: int | bytes) -> int:
    """libc's `name`(*args): 0, or the errno it failed with."""
    from .landlock import _libc

    function = getattr(_libc(), name)
    converted = [ctypes.c_char_p(a) if isinstance(a, bytes) else ctypes.c_uint(a) if a > 0x7FFFFFFF
                 else ctypes.c_int(a) for a in args]
    if function(*converted) == 0:
        return 0
    return ctypes.get_errno() or errno.EPERM


XATTR_NAME_MAX = 255
XATTR_SIZE_MAX = 65536
XATTR_ARGS_SIZE = 16  # struct xattr_args: u64 value, u32 size, u32 flags


def read_memory(pid: int, address: int, size: int) -> bytes:
    fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.pread(fd, size, address) if size else b""
    except OSError:
        data = b""
    finally:
        os.close(fd)
    if len(data) != size:
        raise OSError(errno.EFAULT, "the caller's memory cannot be read")
    return data


def read_xattr_change(pid: int, xattr: tuple[str | int, ...], args: list[int]) -> tuple[bytes, bytes | None, int]:
    """The name, the value (None: remove it) and the flags of an xattr call, read once from the
    caller's memory, with the kernel's errors for a name or a value it would not take."""
    op, name_at = xattr[0], int(xattr[1])
    name = read_path(pid, args[name_at])
    if not name or len(name) > XATTR_NAME_MAX:
        raise OSError(errno.ERANGE, "the name is empty or too long")
    if op == "remove":
        return name, None, 0
    if op == "set":
        address, size, flags = args[int(xattr[2])], args[int(xattr[3])], args[int(xattr[4])] & 0xFFFFFFFF
    else:  # setxattrat: struct xattr_args, its size given
        usize = args[int(xattr[3])]
        if usize < XATTR_ARGS_SIZE:
            raise OSError(errno.EINVAL, "struct xattr_args too small")
        if usize > 4096:
            raise OSError(errno.E2BIG, "struct xattr_args too large")
        raw = read_memory(pid, args[int(xattr[2])], usize)
        if any(raw[XATTR_ARGS_SIZE:]):
            raise OSError(errno.E2BIG, "unknown fields in struct xattr_args")
        address, size, flags = struct.unpack("QII", raw[:XATTR_ARGS_SIZE])
    if size > XATTR_SIZE_MAX:
        raise OSError(errno.E2BIG, "the value is too large")
    return name, read_memory(pid, address, size), flags


def change_xattr(fd: int, name: bytes, value: bytes | None, flags: int) -> int:
    """Set or remove xattr `name` of the object `fd` holds (O_PATH: through /proc/self/fd/N):
    0, or the errno it failed with."""
    try:
        if value is None:
            os.removexattr(f"/proc/self/fd/{fd}", name)
        else:
            os.setxattr(f"/proc/self/fd/{fd}", name, value, flags)
    except OSError as err:
        return err.errno or errno.EPERM
    except (ValueError, OverflowError):  # flags Python will not pass on
        return errno.EINVAL
    return 0


UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2


class _Timespec(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("nsec", ctypes.c_long)]


def read_times(pid: int, form: str, index: int, args: list[int]) -> list[tuple[int, int]] | None:
    """The access and modification times a utime-family call passes, read once from the
    caller's memory as (seconds, nanoseconds); None for "now" (a NULL pointer).  A timeval
    out of range fails with EINVAL, as the kernel's utimes does; a timespec's range the
    kernel checks again when the guard passes it on."""
    address = args[index]
    if not address:
        return None
    size = {"utimbuf": 16, "timeval": 32, "timespec": 32}[form]
    data = read_memory(pid, address, size)
    words = struct.unpack("4q" if size == 32 else "2q", data)
    if form == "utimbuf":
        return [(words[0], 0), (words[1], 0)]
    if form == "timeval":
        if any(not 0 <= usec < 1_000_000 for usec in (words[1], words[3])):
            raise OSError(errno.EINVAL, "microseconds out of range")
        return [(words[0], words[1] * 1000), (words[2], words[3] * 1000)]
    return [(words[0], words[1]), (words[2], words[3])]


def utimens(fd: int, spec: list[tuple[int, int]] | None) -> int:
    """utimensat(fd, "", spec, AT_EMPTY_PATH): 0, or the errno it failed with."""
    from .landlock import _libc

    times = (_Timespec * 2)(*(_Timespec(sec, nsec) for sec, nsec in spec)) if spec is not None else None
    if _libc().utimensat(ctypes.c_int(fd), ctypes.c_char_p(b""), times, ctypes.c_int(AT_EMPTY_PATH)) == 0:
        return 0
    return ctypes.get_errno() or errno.EPERM


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


class EffectiveCapabilities:
    """Within: the guard's effective capabilities are `caps` (a caller's, a subset of the
    guard's own), so that a change it makes for the caller needs no power the caller lacks
    (agentsh drops some from a line).  None: nothing changes."""

    def __init__(self, caps: int | None) -> None:
        self.caps = caps
        self.saved = (_CapData * 2)()

    def _capset(self, data: ctypes.Array[_CapData]) -> None:
        from .landlock import _libc

        header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
        if _libc().capset(ctypes.byref(header), data) != 0:
            raise OSError(ctypes.get_errno(), "capset")

    def __enter__(self) -> None:
        if self.caps is None:
            return
        from .landlock import _libc

        header = _CapHeader(0x20080522, 0)
        if _libc().capget(ctypes.byref(header), self.saved) != 0:
            raise OSError(ctypes.get_errno(), "capget")
        lowered = (_CapData * 2)()
        ctypes.memmove(lowered, self.saved, ctypes.sizeof(lowered))
        lowered[0].effective, lowered[1].effective = self.caps & 0xFFFFFFFF, self.caps >> 32
        self._capset(lowered)

    def __exit__(self, *_: object) -> None:
        if self.caps is not None:
            self._capset(self.saved)


SYS_PIDFD_OPEN = 434  # (the same numbers everywhere)
SYS_PIDFD_GETFD = 438
PIDFD_THREAD = os.O_EXCL  # Linux 6.9: a pidfd of one thread, whose descriptor table it names


def take_descriptor(tid: int, number: int) -> int | None:
    """A copy of thread `tid`'s descriptor `number` (pidfd_getfd: the same open file), or None
    where the kernel cannot give one for a thread."""
    from .landlock import _libc

    lib = _libc()
    pidfd = lib.syscall(ctypes.c_long(SYS_PIDFD_OPEN), ctypes.c_int(tid), ctypes.c_uint(PIDFD_THREAD))
    if pidfd < 0:
        if ctypes.get_errno() in (errno.EINVAL, errno.ENOSYS):
            return None
        raise OSError(ctypes.get_errno(), "pidfd_open")
    try:
        fd = lib.syscall(ctypes.c_long(SYS_PIDFD_GETFD), ctypes.c_int(pidfd), ctypes.c_int(number), ctypes.c_uint(0))
        if fd < 0:
            raise OSError(ctypes.get_errno(), "no such descriptor")
        return int(fd)
    finally:
        os.close(pidfd)
