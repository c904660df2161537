"""The few ptrace and seccomp calls the exec guard needs, through ctypes.

Only requests whose numbers are the same on every Linux architecture are used
(they come from the generic <linux/ptrace.h>), and the guard reads what it checks from
/proc (a metadata call's arguments from /proc/PID/syscall, its path from /proc/PID/mem).
One thing depends on register layouts: making a refused metadata call fail (skip_call),
written for x86_64 and aarch64.
"""

from __future__ import annotations

import ctypes
import functools
import os
import struct
from typing import NamedTuple

TRACEME = 0
CONT = 7
SETOPTIONS = 0x4200
GETEVENTMSG = 0x4201
GETSIGINFO = 0x4202
POKEUSER = 6
GETREGSET = 0x4204
SETREGSET = 0x4205

O_TRACEFORK = 0x02
O_TRACEVFORK = 0x04
O_TRACECLONE = 0x08
O_TRACEEXEC = 0x10
O_TRACESECCOMP = 0x80  # the metadata calls the filter sends to the guard (metadata.py)
O_EXITKILL = 0x100000  # if the guard dies, every tracee is killed: nothing runs unguarded
OPTIONS = O_TRACEFORK | O_TRACEVFORK | O_TRACECLONE | O_TRACEEXEC | O_TRACESECCOMP | O_EXITKILL

EVENT_FORK = 1
EVENT_VFORK = 2
EVENT_CLONE = 3
EVENT_EXEC = 4
EVENT_SECCOMP = 7
NEW_PROCESS_EVENTS = (EVENT_FORK, EVENT_VFORK, EVENT_CLONE)

WALL = 0x40000000  # __WALL: wait for threads and non-SIGCHLD children too

_libc: ctypes.CDLL | None = None


def libc() -> ctypes.CDLL:
    global _libc  # one handle per process; loading it is the only cost
    if _libc is None:
        lib = ctypes.CDLL(None, use_errno=True)
        lib.ptrace.restype = ctypes.c_long
        lib.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
        lib.prctl.restype = ctypes.c_int
        lib.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        _libc = lib
    return _libc


def _call(request: int, pid: int, addr: int | None, data: int | ctypes.c_void_p | None) -> int:
    result = libc().ptrace(request, pid, addr, data)
    if result == -1:
        err = ctypes.get_errno()
        if err:
            raise OSError(err, os.strerror(err))
    return result


def traceme() -> None:
    _call(TRACEME, 0, None, None)


def set_options(pid: int) -> None:
    _call(SETOPTIONS, pid, None, OPTIONS)


def cont(pid: int, signum: int = 0) -> None:
    """Resume a stopped tracee; a tracee that vanished meanwhile is not an error."""
    try:
        _call(CONT, pid, None, signum)
    except ProcessLookupError:
        pass


def event_message(pid: int) -> int:
    value = ctypes.c_ulong(0)
    _call(GETEVENTMSG, pid, None, ctypes.cast(ctypes.byref(value), ctypes.c_void_p))
    return value.value


def is_signal_delivery(pid: int) -> bool:
    """A stop with siginfo is a signal about to be delivered; without one (EINVAL) it is
    a group-stop, whose signal was delivered already and must not be injected again."""
    info = ctypes.create_string_buffer(128)
    try:
        _call(GETSIGINFO, pid, None, ctypes.cast(info, ctypes.c_void_p))
    except OSError:
        return False
    return True


# -- refusing a call at its seccomp stop ------------------------------------------------
# The one place that writes registers: at a seccomp stop, a call number of -1 makes the
# kernel skip the call, which then returns what the return register holds.
_X86_64_ORIG_RAX = 15 * 8  # offsets in struct user_regs_struct
_X86_64_RAX = 10 * 8
_NT_PRSTATUS = 1
_NT_ARM_SYSTEM_CALL = 0x404
_AARCH64_REGS = 34  # x0-x30, sp, pc, pstate


class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def _regset(request: int, pid: int, kind: int, buffer: ctypes.Array[ctypes.c_char] | ctypes.c_int) -> None:
    iov = _Iovec(ctypes.cast(ctypes.byref(buffer), ctypes.c_void_p), ctypes.sizeof(buffer))
    _call(request, pid, kind, ctypes.cast(ctypes.byref(iov), ctypes.c_void_p))


def skip_call(pid: int, errno_value: int) -> None:
    """Make the call `pid` is stopped in (a seccomp stop) fail with errno_value, unrun.
    Raises OSError when it cannot: the caller must then kill the process."""
    machine = os.uname().machine
    result = (-errno_value) & 0xFFFFFFFFFFFFFFFF
    if machine == "x86_64":
        _call(POKEUSER, pid, _X86_64_ORIG_RAX, 0xFFFFFFFFFFFFFFFF)
        _call(POKEUSER, pid, _X86_64_RAX, result)
    elif machine == "aarch64":
        _regset(SETREGSET, pid, _NT_ARM_SYSTEM_CALL, ctypes.c_int(-1))
        regs = ctypes.create_string_buffer(8 * _AARCH64_REGS)
        _regset(GETREGSET, pid, _NT_PRSTATUS, regs)
        regs[0:8] = struct.pack("<Q", result)  # x0 is the return value
        _regset(SETREGSET, pid, _NT_PRSTATUS, regs)
    else:
        raise OSError(f"cannot refuse a system call on {machine}")


# -- seccomp: close the holes ptrace alone leaves ------------------------------------
# clone(CLONE_UNTRACED) makes a child the tracer is never told about, and clone3 hides its
# flags in memory a filter cannot read; ptrace and process_vm_writev from inside the tree
# could reach processes outside it.  Landlock's TCP port rules hold for TCP sockets only,
# and since Linux 6.15 ("landlock: Fix non-TCP sockets restriction") an MPTCP socket, which
# falls back to plain TCP with a peer that does not speak MPTCP, or an SMC one (TCP
# underneath), connects to and binds any port: those sockets are refused.  io_uring creates
# sockets (IORING_OP_SOCKET) where this filter cannot see their protocol: refused, so
# programs fall back to plain system calls.  i386's socketcall() hides socket()'s arguments
# in memory: its SYS_SOCKET is refused.  A line whose stdin is the caller's terminal could
# push keystrokes into it (TIOCSTI; TIOCLINUX pastes on a console) that the caller's shell
# reads and runs after agentsh has exited: both ioctls are refused.  Traced by the exec guard,
# a line's file-metadata calls go to the guard (metadata.py), set-ID modes in the calls that
# create files are refused, openat2 fails with ENOSYS, and so does a seccomp filter of the
# line's own with a listener (see _arch_block).  Everything else is allowed.  Installed in the
# command's first process, inherited by all its tree.
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
CLONE_UNTRACED = 0x00800000
EPERM = 1
ENOSYS = 38
EPROTONOSUPPORT = 93
EAFNOSUPPORT = 97
AF_SMC = 43
IPPROTO_MPTCP = 262
SYS_SOCKET = 1  # socketcall's call number for socket()
TIOCSTI = 0x5412  # (the same number on x86 and arm)
TIOCLINUX = 0x541C
SECCOMP_FILTER_FLAG_NEW_LISTENER = 8
SYS_OPENAT2 = 437  # the same number everywhere
O_CREAT = 0o100  # (x86 and the generic values: arm's differ in O_DIRECTORY, not these)
O_TMPFILE = 0o20000000  # __O_TMPFILE: an unnamed file, made with the mode too
SET_ID = 0o6000  # S_ISUID | S_ISGID

_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_JGE_K = 0x35
_BPF_JSET_K = 0x45
_BPF_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_RET_TRACE = 0x7FF00000  # a ptrace stop; its low 16 bits are the guard's event message
_NR = 0  # offsets in struct seccomp_data
_ARCH = 4


def _arg(index: int) -> int:
    return 16 + 8 * index  # the low half of args[index] (little-endian)


class _Abi(NamedTuple):
    """One system call ABI's audit arch and the numbers the filter looks at (0: none)."""

    arch: int
    clone: int
    clone3: int
    ptrace: int
    process_vm_writev: int
    socket: int
    io_uring_setup: int
    ioctl: int
    socketcall: int = 0
    seccomp: int = 0
    other_abi_marker: int = 0  # numbers at or above it belong to another ABI (x32): refused
    # The calls that change file metadata: (number, where its target is, a metadata.py KIND).
    # A native ABI's go to the guard; a compat ABI's (i386, arm32: `kinds` False) are
    # refused outright, as the guard does not write those ABIs' registers.
    metadata: tuple[tuple[int, int], ...] = ()
    metadata_ioctls: tuple[int, ...] = ()  # ioctl commands that set a file's attributes (chattr)
    kinds: bool = True
    # The calls that create a file with a mode: (number, its flags argument or -1, its mode
    # argument).  Traced, set-ID bits there are refused (see SET_ID).
    creates: tuple[tuple[int, int, int], ...] = ()


# Where each metadata call keeps its target (metadata.py's KINDs).
_PATH, _LINK_PATH, _FD, _AT, _AT_FLAGS2, _AT_FLAGS3, _AT_FLAGS4 = range(1, 8)
# The numbers every architecture shares (from 403 up): setxattrat, removexattrat, file_setattr,
# fchmodat2.
_GENERIC_NEW = ((463, _AT_FLAGS2), (466, _AT_FLAGS2), (469, _AT_FLAGS4), (452, _AT_FLAGS3))
_X86_64_METADATA = ((90, _PATH), (91, _FD), (268, _AT), (92, _PATH), (93, _FD), (94, _LINK_PATH),
                    (260, _AT_FLAGS4), (132, _PATH), (235, _PATH), (261, _AT), (280, _AT_FLAGS3),
                    (188, _PATH), (189, _LINK_PATH), (190, _FD), (197, _PATH), (198, _LINK_PATH),
                    (199, _FD), *_GENERIC_NEW)
_AARCH64_METADATA = ((52, _FD), (53, _AT), (54, _AT_FLAGS4), (55, _FD), (88, _AT_FLAGS3), (5, _PATH),
                     (6, _LINK_PATH), (7, _FD), (14, _PATH), (15, _LINK_PATH), (16, _FD), *_GENERIC_NEW)
# compat ABIs: refused, so only the numbers matter (chown32 and the like, utimensat_time64)
_I386_METADATA = tuple((nr, 0) for nr in (15, 16, 30, 94, 95, 182, 198, 207, 212, 226, 227, 228, 235, 236, 237,
                                          271, 298, 299, 306, 320, 412, 452, 463, 466, 469))
_ARM32_METADATA = tuple((nr, 0) for nr in (15, 16, 94, 95, 182, 198, 207, 212, 226, 227, 228, 235, 236, 237,
                                           269, 325, 326, 333, 348, 412, 452, 463, 466, 469))
FS_IOC_SETFLAGS = 0x40086602  # chattr (64-bit); FS_IOC32_SETFLAGS below for compat
FS_IOC32_SETFLAGS = 0x40046602
FS_IOC_FSSETXATTR = 0x401C5820  # xfs_io chattr, project ids
# fs-verity makes a file read-only for good; an encryption policy on an empty directory
# keeps anyone without the key from making files in it.  Both need only a descriptor open
# for reading (and, as DAC, the file's owner or write permission), which Landlock gives.
FS_IOC_ENABLE_VERITY = 0x40806685
FS_IOC_SET_ENCRYPTION_POLICY = 0x800C6613
_GENERIC_METADATA_IOCTLS = (FS_IOC_FSSETXATTR, FS_IOC_ENABLE_VERITY, FS_IOC_SET_ENCRYPTION_POLICY)
# A compat process's ioctl passes every number it does not translate, FS_IOC_SETFLAGS (the
# 64-bit one) too, to the native code: both numbers set the flags there.
_COMPAT_METADATA_IOCTLS = (FS_IOC32_SETFLAGS, FS_IOC_SETFLAGS, *_GENERIC_METADATA_IOCTLS)
# open, creat, mknod, openat, mknodat (aarch64 has only the *at ones)
_X86_64_CREATES = ((2, 1, 2), (85, -1, 1), (133, -1, 1), (257, 2, 3), (259, -1, 2))
_I386_CREATES = ((5, 1, 2), (8, -1, 1), (14, -1, 1), (295, 2, 3), (297, -1, 2))
_ARM32_CREATES = ((5, 1, 2), (8, -1, 1), (14, -1, 1), (322, 2, 3), (324, -1, 2))
_AARCH64_CREATES = ((56, 2, 3), (33, -1, 2))
# Where chmod, fchmod, fchmodat and fchmodat2 keep the mode (the guard refuses set-ID bits,
# and makes the change itself).
_MODE_ARG = {"x86_64": {90: 1, 91: 1, 268: 2, 452: 2}, "aarch64": {52: 1, 53: 2, 452: 2}}
# Where chown, fchown, lchown and fchownat keep the owner and group: the guard makes those
# changes itself, as it does chmod's (metadata.py, MetadataGuard._make).
_OWNER_ARGS = {"x86_64": {92: (1, 2), 93: (1, 2), 94: (1, 2), 260: (2, 3)}, "aarch64": {55: (1, 2), 54: (2, 3)}}
# Where utime, utimes, futimesat and utimensat keep their times, and in which form.
_TIMES_ARGS = {"x86_64": {132: ("utimbuf", 1), 235: ("timeval", 1), 261: ("timeval", 2), 280: ("timespec", 2)},
               "aarch64": {88: ("timespec", 2)}}
# Where the xattr calls keep the name and the value: ("set", name, value, size, flags) for
# setxattr, lsetxattr and fsetxattr; ("setat", name, struct xattr_args, its size) for
# setxattrat; ("remove", name) for removexattr, lremovexattr, fremovexattr, removexattrat.
_SET, _REMOVE = ("set", 1, 2, 3, 4), ("remove", 1)
_XATTR_ARGS: dict[str, dict[int, tuple[str | int, ...]]] = {
    "x86_64": {188: _SET, 189: _SET, 190: _SET, 463: ("setat", 3, 4, 5), 197: _REMOVE, 198: _REMOVE,
               199: _REMOVE, 466: ("remove", 3)},
    "aarch64": {5: _SET, 6: _SET, 7: _SET, 463: ("setat", 3, 4, 5), 14: _REMOVE, 15: _REMOVE, 16: _REMOVE,
                466: ("remove", 3)}}

_ARCHES = {
    "x86_64": [_Abi(0xC000003E, 56, 435, 101, 311, 41, 425, 16, other_abi_marker=0x40000000, seccomp=317,
                    metadata=_X86_64_METADATA, metadata_ioctls=(FS_IOC_SETFLAGS, *_GENERIC_METADATA_IOCTLS),
                    creates=_X86_64_CREATES),
               _Abi(0x40000003, 120, 435, 26, 348, 359, 425, 54, socketcall=102, seccomp=354,  # i386: int 0x80
                    metadata=_I386_METADATA, metadata_ioctls=_COMPAT_METADATA_IOCTLS,
                    kinds=False, creates=_I386_CREATES)],
    "aarch64": [_Abi(0xC00000B7, 220, 435, 117, 271, 198, 425, 29, seccomp=277, metadata=_AARCH64_METADATA,
                     metadata_ioctls=(FS_IOC_SETFLAGS, *_GENERIC_METADATA_IOCTLS), creates=_AARCH64_CREATES),
                _Abi(0x40000028, 120, 435, 26, 377, 281, 425, 54, seccomp=383,  # arm32 (EABI: no socketcall)
                     metadata=_ARM32_METADATA, metadata_ioctls=_COMPAT_METADATA_IOCTLS,
                     kinds=False, creates=_ARM32_CREATES)],
}


Insn = tuple[int, int, int, int]  # (code, jump if true, jump if false, k)


def mode_arg(number: int) -> int | None:
    """Where the native chmod-family call `number` keeps the mode."""
    return _MODE_ARG.get(os.uname().machine, {}).get(number)


def xattr_args(number: int) -> tuple[str | int, ...] | None:
    """What the native xattr call `number` does and where it keeps its name and value."""
    return _XATTR_ARGS.get(os.uname().machine, {}).get(number)


def owner_args(number: int) -> tuple[int, int] | None:
    """Where the native chown-family call `number` keeps the owner and the group."""
    return _OWNER_ARGS.get(os.uname().machine, {}).get(number)


def times_args(number: int) -> tuple[str, int] | None:
    """The form of the times the native utime-family call `number` takes, and their argument."""
    return _TIMES_ARGS.get(os.uname().machine, {}).get(number)


# The ioctls the guard makes itself, and the size of the argument each reads (an unsigned
# int of flags, struct fsxattr).  fs-verity's and fscrypt's carry pointers to more memory:
# those the kernel makes.
_MADE_IOCTLS = {FS_IOC_SETFLAGS: 4, FS_IOC_FSSETXATTR: 28}


def made_ioctl(number: int, args: list[int]) -> int | None:
    """The argument size of a native ioctl the guard makes itself (chattr), None for others."""
    ioctl, _, _ = _native_kinds(os.uname().machine)
    return _MADE_IOCTLS.get(args[1] & 0xFFFFFFFF) if number == ioctl else None


def metadata_kind(number: int, args: list[int]) -> int:
    """Where the native call `number` (with `args`) keeps its target, 0 if the filter does
    not send it to the guard.  The guard asks this rather than reading the stop's data: when
    a line stacks a filter of its own that also returns RET_TRACE, the kernel reports the
    newest filter's data, which the line chose."""
    ioctl, kinds, ioctls = _native_kinds(os.uname().machine)
    if number == ioctl:
        return _FD if args[1] & 0xFFFFFFFF in ioctls else 0
    return kinds.get(number, 0)


@functools.cache
def _native_kinds(machine: str) -> tuple[int, dict[int, int], tuple[int, ...]]:
    abi = _ARCHES[machine][0]
    return abi.ioctl, dict(abi.metadata), abi.metadata_ioctls


def _ret(errno_value: int = -1) -> Insn:
    return (_BPF_RET_K, 0, 0, _RET_ALLOW if errno_value < 0 else _RET_ERRNO | errno_value)


def _metadata_ret(abi: _Abi, kind: int) -> Insn:
    """A metadata call goes to the guard (a native ABI), or fails with EPERM (compat)."""
    return (_BPF_RET_K, 0, 0, _RET_TRACE | kind) if abi.kinds else _ret(EPERM)


def _refuse_when(offset: int, value: int, errno_value: int, test: int = _BPF_JEQ_K,
                 action: Insn | None = None) -> list[Insn]:
    """Load the word at `offset`; if it equals `value` (JSET: has a bit of it), fail with errno
    (or return `action`)."""
    return [(_BPF_LD_W_ABS, 0, 0, offset), (test, 0, 1, value), action or _ret(errno_value)]


def _arch_block(abi: _Abi, traced: bool) -> list[Insn]:
    """The checks for one ABI's system call numbers; every path ends in a return."""
    block: list[Insn] = [(_BPF_LD_W_ABS, 0, 0, _NR)]
    if abi.other_abi_marker:
        block += [(_BPF_JGE_K, 0, 1, abi.other_abi_marker), _ret(ENOSYS)]
    for nr, errno_value in ((abi.clone3, ENOSYS), (abi.ptrace, EPERM), (abi.process_vm_writev, EPERM),
                            (abi.io_uring_setup, ENOSYS)):
        block += [(_BPF_JEQ_K, 0, 1, nr), _ret(errno_value)]
    # Calls whose arguments are looked at.  A sub-block loads arguments over the number, so
    # each one ends in a return; one that is skipped leaves the number in place for the next.
    ioctl = _refuse_when(_arg(1), TIOCSTI, EPERM) + _refuse_when(_arg(1), TIOCLINUX, EPERM)
    if traced:
        for command in abi.metadata_ioctls:
            ioctl += _refuse_when(_arg(1), command, 0, action=_metadata_ret(abi, _FD))
    checks = [(abi.socket, _refuse_when(_arg(0), AF_SMC, EAFNOSUPPORT)
               + _refuse_when(_arg(2), IPPROTO_MPTCP, EPROTONOSUPPORT)),
              (abi.clone, _refuse_when(_arg(0), CLONE_UNTRACED, EPERM, _BPF_JSET_K)),
              (abi.ioctl, ioctl)]
    if abi.socketcall:
        checks.append((abi.socketcall, _refuse_when(_arg(0), SYS_SOCKET, ENOSYS)))
    if traced:
        # A set-user-ID or set-group-ID file that a line running as root makes in a write root
        # is a way to root's power for whoever runs it later, outside agentsh: the guard
        # refuses those bits in a chmod; these calls create a file with its mode.  openat2
        # keeps the mode in memory the filter cannot read: ENOSYS, programs fall back to openat.
        for nr, flags, mode in abi.creates:
            sub = _refuse_when(_arg(mode), SET_ID, EPERM, _BPF_JSET_K)
            if flags >= 0:  # the mode counts only with O_CREAT or O_TMPFILE
                sub = [(_BPF_LD_W_ABS, 0, 0, _arg(flags)), (_BPF_JSET_K, 0, len(sub), O_CREAT | O_TMPFILE), *sub]
            checks.append((nr, sub))
        checks.append((SYS_OPENAT2, [_ret(ENOSYS)]))
        # A filter of the line's own that returns SECCOMP_RET_USER_NOTIF for a metadata call
        # takes precedence over this one's RET_TRACE: its listener answering "continue" would
        # run the call unseen by the guard.  Without a listener that action fails the call.
        checks.append((abi.seccomp, _refuse_when(_arg(1), SECCOMP_FILTER_FLAG_NEW_LISTENER, EPERM,
                                                 _BPF_JSET_K)))
    for nr, sub in checks:
        block += [(_BPF_JEQ_K, 0, len(sub) + 1, nr), *sub, _ret()]
    if traced:  # (untraced, a metadata call is allowed: no guard could decide it)
        # last, so that the calls above (ioctl, socket, clone: frequent) do not pass these
        for nr, kind in abi.metadata:
            block += [(_BPF_JEQ_K, 0, 1, nr), _metadata_ret(abi, kind)]
    return block + [_ret()]


def _filter_program(traced: bool = False) -> bytes:
    arches = _ARCHES.get(os.uname().machine)
    if arches is None:
        raise OSError(f"no seccomp filter for this architecture ({os.uname().machine})")
    prog: list[Insn] = [(_BPF_LD_W_ABS, 0, 0, _ARCH)]
    for abi in arches:
        block = _arch_block(abi, traced)
        if len(block) > 255:  # a jump's offsets are 8 bits: the skip below would be wrong
            raise OSError("the seccomp filter has grown past what its jumps can skip")
        prog += [(_BPF_JEQ_K, 0, len(block), abi.arch), *block]  # not this arch: skip its block
    prog.append(_ret())
    return b"".join(struct.pack("HBBI", *insn) for insn in prog)


def install_filter(traced: bool = False) -> None:
    """no_new_privs, then the filter; raises OSError if the kernel refuses.  `traced`: the
    process is traced by the exec guard, which decides the metadata calls (without a tracer
    SECCOMP_RET_TRACE would fail them all with ENOSYS, so they are then left alone)."""
    program = _filter_program(traced)
    count = len(program) // 8
    buffer = ctypes.create_string_buffer(program)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(count, ctypes.cast(buffer, ctypes.c_void_p))
    lib = libc()
    if lib.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"no_new_privs: {os.strerror(err)}")
    if lib.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp filter: {os.strerror(err)}")
