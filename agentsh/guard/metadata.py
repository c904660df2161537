"""Decide one file-metadata system call (chmod, chown, utime, xattrs) seen by the exec guard.

Landlock has no access right for a file's mode, owner, times or extended attributes, so a
confined command could `chmod 644 ~/.ssh/id_rsa` or, as root, chown or setuid any file.
The seccomp filter (ptrace.py) sends these calls, which ordinary programs make rarely, to
the guard as SECCOMP_RET_TRACE stops.  Where a call keeps its target (a KIND below) comes
from ptrace.py's table of the call numbers, not from the stop's data: a line may stack a
filter of its own, and the kernel reports the newest filter's data.

The guard resolves the target as the kernel will: a path relative to the tracee's working
directory or to its directory descriptor (/proc/PID/cwd, /proc/PID/fd/N), following the
last link or not as the call's flags say, a descriptor through /proc/PID/fd/N.  It opens
that target with O_PATH once (so the path it checks is the one object it found, not a
string put together from several look-ups) and asks where the object is: it may change
only inside the profile's write roots and outside its denied roots, the places Landlock
lets the command write.  Anything that cannot be read or resolved is refused.

A chmod, chown, utime or xattr change that may go on is made by the guard itself, on the
object it checked, as the caller (MetadataGuard._make), and the caller's call is skipped
with its result.

What remains (docs/security-model.md, "File metadata"): the fs-verity and encryption-policy
ioctls (and chattr's before Linux 6.9) are made by the kernel, which takes the descriptor
from the table again after the guard: a thread that dup2s another file over it in between
can win the race.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import re
import stat
from typing import NamedTuple

from ..policy.paths import within
from ..profile import Profile
from .landlock import DEVICE_DIR, RESOLVE_NO_MAGICLINKS, SYS_OPENAT2
from .metadata_calls import (
    AT_EMPTY_PATH,
    EffectiveCapabilities,
    change_xattr,
    libc_call,
    read_memory,
    read_path,
    read_times,
    read_xattr_change,
    take_descriptor,
    utimens,
)
from .ptrace import made_ioctl, metadata_kind, mode_arg, owner_args, times_args, xattr_args

# Where a traced call keeps its target (ptrace.metadata_kind; the filter returns it as its data too).
PATH = 1  # args[0] is a path; the last link is followed (chmod, chown, utime(s), setxattr, removexattr)
LINK_PATH = 2  # args[0] is a path; the last link is not followed (lchown, lsetxattr, lremovexattr)
FD = 3  # args[0] is a descriptor (fchmod, fchown, fsetxattr, fremovexattr, the FS_IOC_SET* ioctls)
AT = 4  # args[0] a directory descriptor, args[1] a path, no flags (fchmodat, futimesat)
AT_FLAGS2 = 5  # ... AT_* flags in args[2] (setxattrat, removexattrat)
AT_FLAGS3 = 6  # ... flags in args[3] (fchmodat2, utimensat; utimensat's NULL path is the descriptor)
AT_FLAGS4 = 7  # ... flags in args[4] (fchownat, file_setattr)
FLAGS_ARG = {AT_FLAGS2: 2, AT_FLAGS3: 3, AT_FLAGS4: 4}

AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
SHM = "/dev/shm"
_PASS_DIRECTORIES = (1 << 1) | (1 << 2)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH: the guard's look-up
_ELSEWHERE = "\0elsewhere"  # _where: the object's path leads to another object (no path has a NUL)
# glibc (before fchmodat2) and gnulib change a link's own mode through this name of an O_PATH
# descriptor: it names the tracee's descriptor, which the guard cannot open by that name.
_OWN_FD = re.compile(r"/proc/(self|thread-self)/fd/([0-9]+)")


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


class Made(NamedTuple):
    """The guard made the change itself on the object it checked: the call is skipped and
    returns this (0, or the errno the guard's own call failed with)."""

    errno: int


class Refusal(NamedTuple):
    errno: int  # what the call fails with
    target: str  # what was asked for, as far as it was read
    reason: str


def _signed32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def stopped_call(pid: int) -> tuple[int, list[int]]:
    """The number and the six arguments of the call `pid` is stopped in (/proc/PID/syscall:
    NR ARG... SP PC)."""
    with open(f"/proc/{pid}/syscall", "rb") as f:
        words = f.read().split()
    if len(words) < 7:  # "running", or a kernel that does not say
        raise OSError(errno.EIO, "the stopped call's arguments cannot be read")
    return int(words[0]), [int(word, 16) for word in words[1:7]]


def _openat2(dirfd: int, path: bytes, flags: int) -> int:
    """O_PATH open of `path` that refuses to cross a /proc magic link (/proc/self/..., the
    guard's own, not the tracee's)."""
    from .landlock import _libc

    how = _OpenHow(flags | os.O_PATH | os.O_CLOEXEC, 0, RESOLVE_NO_MAGICLINKS)
    fd = _libc().syscall(ctypes.c_long(SYS_OPENAT2), ctypes.c_int(dirfd), ctypes.c_char_p(path),
                         ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int(fd)


def _open_descriptor(pid: int, number: int, directory: bool = False) -> int:
    """An O_PATH descriptor of what the tracee's descriptor `number` refers to."""
    try:
        return os.open(f"/proc/{pid}/fd/{number}", os.O_PATH | os.O_CLOEXEC | (os.O_DIRECTORY if directory else 0))
    except FileNotFoundError:
        raise OSError(errno.EBADF, "no such descriptor") from None


def _key(path: str) -> tuple[int, int]:
    info = os.stat(path)
    return (info.st_dev, info.st_ino)


def _credentials(pid: int) -> tuple[tuple[bytes, ...], int]:
    """A process's user ids, group ids and groups (as /proc/PID/status writes them), and its
    effective capabilities."""
    fields = {}
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            name, _, value = line.partition(b":")
            fields[name] = value.strip()
    return (fields[b"Uid"], fields[b"Gid"], fields[b"Groups"]), int(fields[b"CapEff"], 16)


def _opened_as_path(pid: int, number: int) -> bool:
    """The tracee's descriptor `number` was opened with O_PATH (/proc/PID/fdinfo/N, octal flags)."""
    try:
        with open(f"/proc/{pid}/fdinfo/{number}", "rb") as f:
            for line in f:
                if line.startswith(b"flags:"):
                    return bool(int(line.split()[1], 8) & os.O_PATH)
    except FileNotFoundError:
        raise OSError(errno.EBADF, "no such descriptor") from None
    return False


def _set_id(mode: int, info: os.stat_result) -> bool:
    """A chmod's set-ID bits that are refused.  A set-user-ID program (or one with file
    capabilities, refused by name in _make) that a line running as root leaves in a write root
    gives root's power to whoever runs it later, outside agentsh (a line's own user lends its
    own).  A set-group-ID directory only passes its group on."""
    return bool(mode & stat.S_ISUID or (mode & stat.S_ISGID and not stat.S_ISDIR(info.st_mode)))


def _thread_group(tid: int) -> int:
    with open(f"/proc/{tid}/status", "rb") as f:
        for line in f:
            if line.startswith(b"Tgid:"):
                return int(line.split()[1])
    raise OSError(errno.ESRCH, "no thread group")


class MetadataGuard:
    """The places a command may change file metadata: its profile's write roots, minus the
    roots it may not read (never writable) and /dev, as Landlock's plan (landlock.plan_for)."""

    def __init__(self, profile: Profile) -> None:
        self.roots = tuple(profile.write_allow)
        self.denies = (*profile.read_deny, DEVICE_DIR)
        # /dev/shm is /tmp's twin in memory, granted with it (see plan_for)
        self.shm = any(within("/tmp", root) for root in self.roots)
        # A shared write root itself (/tmp, /var/tmp, /dev/shm) keeps its mode, owner, times and
        # ACLs: as root, `chmod 777 /tmp` (or a `./` member extracted there) drops the sticky
        # bit that keeps users from deleting or swapping each other's files.  The workspace's
        # own directory may change: an archive's `./` member extracted there sets it.
        self.fixed = frozenset({*(r for r in self.roots if r not in profile.workspace), *((SHM,) if self.shm else ())})
        self.root = os.stat("/")
        self.mount_ns = os.stat("/proc/self/ns/mnt")
        self.ids, self.caps = _credentials(os.getpid())
        self.user_ns = _key("/proc/self/ns/user")
        # Without capabilities, and with all its user ids and group ids the same, a line
        # cannot change its ids or groups (no_new_privs: no set-ID program raises them): only a
        # user namespace of its own changes what it may do, and /proc/PID/status (~30 us) need
        # not be read at each call.
        self.ids_fixed = not self.caps and all(len(set(line.split())) == 1 for line in self.ids[:2])

    def check(self, pid: int) -> Refusal | Made | None:
        """None when the call may go on; Made when the guard made the change itself; else why
        not and the errno it fails with."""
        target = ""
        try:
            number, args = stopped_call(pid)
            kind = metadata_kind(number, args)
            if not kind:
                # Not a call agentsh's filter sends here, so that filter allowed it: the stop
                # is a RET_TRACE of a filter the line installed itself.  (A compat call, which
                # /proc numbers in its own ABI, may be taken for a native one: at worst it is
                # refused; agentsh's filter already fails every compat metadata call.)
                return None
            if not self._same_view(pid):
                return Refusal(errno.EPERM, "", "it runs under another root directory or mount namespace")
            ioctl_size = made_ioctl(number, args)
            taken = take_descriptor(pid, _signed32(args[0])) if ioctl_size is not None else None
            if taken is None:
                ioctl_size = None  # (no pidfd_getfd of a thread here: the kernel makes the ioctl)
                fd, target = self._open_target(pid, kind, args)
            else:  # the caller's own open file: checked and used once, not looked up again
                fd, target = taken, f"descriptor {_signed32(args[0])}"
            try:
                info = os.fstat(fd)
                where = self._where(fd, info)
                if where == _ELSEWHERE:
                    return Refusal(errno.EPERM, target, "its path leads elsewhere: it is on a mount of the "
                                   "command's own")
                if where is not None and not self.allowed(where):
                    return Refusal(errno.EPERM, target if target == where else f"{target} -> {where}" if target
                                   else where, "a shared write root itself" if where in self.fixed
                                   else "outside the write roots")
                mode_at = mode_arg(number)
                if mode_at is not None and _set_id(args[mode_at], info):
                    return Refusal(errno.EPERM, target, "a set-user-ID or set-group-ID bit on a file")
                return self._make(pid, kind, number, args, fd, info, target, ioctl_size)
            finally:
                os.close(fd)
        except OSError as err:
            code = err.errno or errno.EPERM
            return Refusal(code, target, f"cannot resolve it: {os.strerror(code)}")

    def _make(self, pid: int, kind: int, number: int, args: list[int], fd: int, info: os.stat_result,
              target: str, ioctl_size: int | None = None) -> Made | Refusal | None:
        """Make a chmod, chown, utime or xattr change on the object the guard checked, `fd`,
        rather than let the kernel look the path (or the descriptor) up again: another thread
        of the line could rewrite the path in memory, or another process swap a link, in
        between.  The guard acts
        exactly as the caller: the same user ids, group ids, groups and user namespace, its
        effective capabilities lowered to the caller's.  A caller it cannot act as (one that
        changed its ids, entered a user namespace, or gave up the capabilities that pass
        directories its path crosses) is refused: letting the kernel make its call would hand
        any line the race back for the price of an unshare().  An ioctl (chattr) is made on the
        caller's own open file (`fd`, taken with pidfd_getfd) when `ioctl_size` says so; None
        for the others, which the kernel makes."""
        mode_at, owners, times, xattr = mode_arg(number), owner_args(number), times_args(number), xattr_args(number)
        if mode_at is None and owners is None and times is None and xattr is None and ioctl_size is None:
            return None
        ids, caps = (self.ids, self.caps) if self.ids_fixed else _credentials(pid)
        if (ids != self.ids or _key(f"/proc/{pid}/ns/user") != self.user_ns or caps & ~self.caps
                or bool(caps & _PASS_DIRECTORIES) != bool(self.caps & _PASS_DIRECTORIES)):
            return Refusal(errno.EPERM, target, "it runs as other ids, in another user namespace or with fewer "
                           "capabilities than the guard can take on to make the change for it")
        if kind == FD and ioctl_size is None and _opened_as_path(pid, _signed32(args[0])):
            return Made(errno.EBADF)  # fchmod, fchown, fsetxattr... refuse an O_PATH descriptor
        if mode_at is not None and stat.S_ISLNK(info.st_mode):
            return Made(errno.EOPNOTSUPP)  # fchmodat2(AT_SYMLINK_NOFOLLOW) on a link
        spec = None
        if times is not None:
            if kind == AT_FLAGS3 and not args[1]:  # utimensat(fd, NULL, times, flags): futimens
                if args[3] & 0xFFFFFFFF:
                    return Made(errno.EINVAL)
                if _opened_as_path(pid, _signed32(args[0])):
                    return Made(errno.EBADF)
            try:
                spec = read_times(pid, *times, args)
            except OSError as err:
                return Made(err.errno or errno.EINVAL)
        if ioctl_size is not None:
            try:
                argument = read_memory(pid, args[2], ioctl_size)
            except OSError as err:
                return Made(err.errno or errno.EFAULT)
            with EffectiveCapabilities(caps if caps != self.caps else None):
                try:
                    fcntl.ioctl(fd, args[1] & 0xFFFFFFFF, argument)
                except OSError as err:
                    return Made(err.errno or errno.EPERM)
            return Made(0)
        change = None
        if xattr is not None:
            try:
                change = read_xattr_change(pid, xattr, args)
            except OSError as err:
                return Made(err.errno or errno.EINVAL)
            if change[1] is not None and change[0] == b"security.capability":
                return Refusal(errno.EPERM, target, "file capabilities")
            if stat.S_ISLNK(info.st_mode):
                # (no user. xattrs on a link; the others need what agentsh drops or an LSM's say)
                return Made(errno.EPERM)
        with EffectiveCapabilities(caps if caps != self.caps else None):
            if change is not None:
                result = change_xattr(fd, *change)
            elif times is not None:
                result = utimens(fd, spec)
            elif mode_at is not None:
                result = libc_call("fchmodat", AT_FDCWD, f"/proc/self/fd/{fd}".encode(), args[mode_at] & 0o7777, 0)
            else:
                assert owners is not None
                uid, gid = (args[i] & 0xFFFFFFFF for i in owners)
                result = libc_call("fchownat", fd, b"", uid, gid, AT_EMPTY_PATH)
        return Made(result)

    def allowed(self, path: str) -> bool:
        if path in self.fixed:
            return False
        if self.shm and within(path, SHM):
            return not any(within(path, deny) for deny in self.denies if deny != DEVICE_DIR)
        return any(within(path, root) for root in self.roots) and not any(within(path, d) for d in self.denies)

    def _same_view(self, pid: int) -> bool:
        """The guard resolves absolute paths from its own root and mounts: the tracee's must be those."""
        root, ns = os.stat(f"/proc/{pid}/root"), os.stat(f"/proc/{pid}/ns/mnt")
        return ((root.st_dev, root.st_ino) == (self.root.st_dev, self.root.st_ino)
                and (ns.st_dev, ns.st_ino) == (self.mount_ns.st_dev, self.mount_ns.st_ino))

    def _open_target(self, pid: int, kind: int, args: list[int]) -> tuple[int, str]:
        """An O_PATH descriptor of the call's target, and the target as the call named it."""
        if kind == FD:
            number = _signed32(args[0])
            return _open_descriptor(pid, number), f"descriptor {number}"
        if kind in (PATH, LINK_PATH):
            dirfd, address, flags = AT_FDCWD, args[0], AT_SYMLINK_NOFOLLOW if kind == LINK_PATH else 0
        elif kind == AT or kind in FLAGS_ARG:
            dirfd, address = _signed32(args[0]), args[1]
            flags = _signed32(args[FLAGS_ARG[kind]]) if kind in FLAGS_ARG else 0
        else:
            raise OSError(errno.EPERM, f"unknown kind of call {kind}")
        if address == 0 and kind == AT_FLAGS3 and dirfd != AT_FDCWD:
            return _open_descriptor(pid, dirfd), f"descriptor {dirfd}"  # utimensat(fd, NULL): futimens
        if not address:
            raise OSError(errno.EFAULT, "no path")
        path = read_path(pid, address)
        shown = path.decode("utf-8", "surrogateescape")
        if not path:
            if not flags & AT_EMPTY_PATH:
                raise OSError(errno.ENOENT, "empty path")
            if dirfd == AT_FDCWD:
                return os.open(f"/proc/{pid}/cwd", os.O_PATH | os.O_CLOEXEC), "."
            return _open_descriptor(pid, dirfd), f"descriptor {dirfd}"
        own = _OWN_FD.fullmatch(shown)
        if own:  # the tracee's own descriptor by name: the call follows that magic link
            # (/proc/self is the thread group's, whose descriptors a thread that unshared
            # its table does not share; /proc/thread-self is the calling thread's)
            owner = pid if own.group(1) == "thread-self" else _thread_group(pid)
            return _open_descriptor(owner, int(own.group(2))), shown
        nofollow = os.O_NOFOLLOW if flags & AT_SYMLINK_NOFOLLOW else 0
        if path.startswith(b"/"):
            return _openat2(AT_FDCWD, path, nofollow), shown
        base = (os.open(f"/proc/{pid}/cwd", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) if dirfd == AT_FDCWD
                else _open_descriptor(pid, dirfd, directory=True))
        try:
            return _openat2(base, path, nofollow), shown
        finally:
            os.close(base)

    @staticmethod
    def _where(fd: int, info: os.stat_result) -> str | None:
        """The path of the object `fd` holds; None for an object no other path reaches."""
        if info.st_nlink == 0:
            # Unlinked (a deleted file, memfd, O_TMPFILE): no name anyone else opens it by; linking
            # it back into a directory is a Landlock-checked make there.
            return None
        where = os.readlink(f"/proc/self/fd/{fd}")
        if not where.startswith("/"):
            # pipe:[N], socket:[N], anon_inode:...: objects of pseudo file systems, on no path
            return None if not stat.S_ISREG(info.st_mode) and not stat.S_ISDIR(info.st_mode) else where
        # The kernel spells the path from the root of the object's own mount tree: for a mount
        # the command cloned (open_tree() in a user namespace of its own) that is the clone's,
        # and a tree outside holding the workspace's path (/var holds tmp/) would pass for the
        # workspace.  The path is the object's only if it leads to the object from our root.
        try:
            named = os.lstat(where)
        except OSError:
            return _ELSEWHERE
        return where if (named.st_dev, named.st_ino) == (info.st_dev, info.st_ino) else _ELSEWHERE
