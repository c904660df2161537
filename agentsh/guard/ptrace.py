"""The few ptrace and seccomp calls the exec guard needs, through ctypes.

Only requests whose numbers are the same on every Linux architecture are used
(they come from the generic <linux/ptrace.h>), so nothing here depends on register
layouts: the guard reads what it checks from /proc, not from the tracee's memory.
"""

from __future__ import annotations

import ctypes
import os
import struct

TRACEME = 0
CONT = 7
SETOPTIONS = 0x4200
GETEVENTMSG = 0x4201
GETSIGINFO = 0x4202

O_TRACEFORK = 0x02
O_TRACEVFORK = 0x04
O_TRACECLONE = 0x08
O_TRACEEXEC = 0x10
O_EXITKILL = 0x100000  # if the guard dies, every tracee is killed: nothing runs unguarded
OPTIONS = O_TRACEFORK | O_TRACEVFORK | O_TRACECLONE | O_TRACEEXEC | O_EXITKILL

EVENT_FORK = 1
EVENT_VFORK = 2
EVENT_CLONE = 3
EVENT_EXEC = 4
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


# -- seccomp: close the holes ptrace alone leaves ------------------------------------
# clone(CLONE_UNTRACED) makes a child the tracer is never told about, and clone3 hides its
# flags in memory a filter cannot read; ptrace and process_vm_writev from inside the tree
# could reach processes outside it.  The filter makes these calls fail; everything else
# is allowed.  Installed in the command's first process, inherited by all its tree.
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
CLONE_UNTRACED = 0x00800000
EPERM = 1
ENOSYS = 38

_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_JGE_K = 0x35
_BPF_JSET_K = 0x45
_BPF_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000

# (audit arch, clone, clone3, ptrace, process_vm_writev, other-ABI marker or 0)
_ARCHES = {
    "x86_64": [(0xC000003E, 56, 435, 101, 311, 0x40000000),  # x32 calls carry bit 30: refused
               (0x40000003, 120, 435, 26, 348, 0)],  # i386 via int 0x80
    "aarch64": [(0xC00000B7, 220, 435, 117, 271, 0),
                (0x40000028, 120, 435, 26, 377, 0)],  # arm32 compat
}


Insn = tuple[int, int, int, int]  # (code, jump if true, jump if false, k)


def _arch_block(clone: int, clone3: int, ptrace_nr: int, vm_write: int, marker: int) -> list[Insn]:
    """The checks for one architecture's system call numbers; every path ends in a return."""
    block: list[Insn] = [(_BPF_LD_W_ABS, 0, 0, 0)]  # seccomp_data.nr
    if marker:
        block += [(_BPF_JGE_K, 0, 1, marker), (_BPF_RET_K, 0, 0, _RET_ERRNO | ENOSYS)]
    for nr, errno_value in ((clone3, ENOSYS), (ptrace_nr, EPERM), (vm_write, EPERM)):
        block += [(_BPF_JEQ_K, 0, 1, nr), (_BPF_RET_K, 0, 0, _RET_ERRNO | errno_value)]
    return block + [
        (_BPF_JEQ_K, 0, 3, clone),
        (_BPF_LD_W_ABS, 0, 0, 16),  # low half of args[0], the flags (little-endian)
        (_BPF_JSET_K, 0, 1, CLONE_UNTRACED),
        (_BPF_RET_K, 0, 0, _RET_ERRNO | EPERM),
        (_BPF_RET_K, 0, 0, _RET_ALLOW),
    ]


def _filter_program() -> bytes:
    arches = _ARCHES.get(os.uname().machine)
    if arches is None:
        raise OSError(f"no seccomp filter for this architecture ({os.uname().machine})")
    prog: list[Insn] = [(_BPF_LD_W_ABS, 0, 0, 4)]  # seccomp_data.arch
    for arch, *numbers in arches:
        block = _arch_block(*numbers)
        prog += [(_BPF_JEQ_K, 0, len(block), arch), *block]  # not this arch: skip its block
    prog.append((_BPF_RET_K, 0, 0, _RET_ALLOW))
    return b"".join(struct.pack("HBBI", *insn) for insn in prog)


def install_filter() -> None:
    """no_new_privs, then the filter; raises OSError if the kernel refuses."""
    program = _filter_program()
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
