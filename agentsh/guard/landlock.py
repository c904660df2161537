"""Landlock confinement of an approved command's process tree: the plan.

`plan_for(profile)` runs in agentsh (the parent).  It turns the profile's read and write
roots into Landlock allow rules: plain data, one access mask per real path, and the TCP
ports the command may connect to or bind.  `agentsh/guard/ruleset.py` turns a plan into a
ruleset and restricts the command's first process with it, through ctypes.

Landlock can only allow.  "Everything readable except ~/.ssh" therefore becomes allow
rules on the siblings of every directory on the way from / to ~/.ssh (see `_split`).
The directories on that way get no file-read rule of their own, so an entry created in
one of them after the ruleset was built is not readable, and a file replaced there by a
rename loses its rule.  docs/security-model.md lists the rest of what this layer cannot do.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable
from typing import NamedTuple

from ..policy.paths import within
from ..profile import Profile

# Syscall numbers: generic ones, the same on x86_64 and aarch64.
SYS_LANDLOCK_CREATE_RULESET = 444
SYS_LANDLOCK_ADD_RULE = 445
SYS_LANDLOCK_RESTRICT_SELF = 446
SYS_OPENAT2 = 437
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
RULE_NET_PORT = 2
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_NO_MAGICLINKS = 0x02

# File-system access rights (include/uapi/linux/landlock.h).
EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3
IOCTL_DEV = 1 << 15  # ABI 5
# Network access rights (ABI 4).
BIND_TCP = 1 << 0
CONNECT_TCP = 1 << 1
# Scopes (ABI 6).
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0

FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1, 5: (1 << 16) - 1}
FS_ABI_LATEST = 5  # later ABIs add no file-system right

FEATURES = (  # (ABI, what it adds), for doctor
    (1, "file-system access control"), (2, "REFER: cross-directory rename and link"),
    (3, "TRUNCATE"), (4, "TCP bind/connect ports"), (5, "IOCTL_DEV"),
    (6, "scoping of abstract unix sockets and signals"), (7, "audit logging of denials"),
)

# What a readable path grants: its files' bytes and running them.  Listing directories
# (READ_DIR) is granted on whole read roots instead, see plan_for.
READ_RIGHTS = READ_FILE | EXECUTE
# What a writable path grants.  Never MAKE_CHAR or MAKE_BLOCK: a device node made in the
# workspace (by root, or anyone with CAP_MKNOD) would reach the raw disk past every rule.
WRITE_RIGHTS = (WRITE_FILE | TRUNCATE | REMOVE_DIR | REMOVE_FILE | MAKE_DIR | MAKE_REG | MAKE_SOCK
                | MAKE_FIFO | MAKE_SYM | REFER)
# Devices every ordinary command writes or reads, whatever the profile says.
ALWAYS_WRITABLE_DEVICES = ("/dev/null", "/dev/zero", "/dev/full")
ALWAYS_READABLE_DEVICES = ("/dev/urandom", "/dev/random")
TTY = "/dev/tty"  # the controlling terminal, whichever it is; ENXIO when there is none
# /dev is never granted whole: reading /dev/sda (as root) is reading every file on the disk.
# Only the devices below, the command's own stdio and /dev/shm are granted.
DEVICE_DIR = "/dev"
# Capabilities dropped from the bounding set before exec, so that a command running as root
# does not have them: the ways around path and port rules that Landlock does not see.
CAP_DAC_READ_SEARCH = 2  # open_by_handle_at: files by handle, not by path
CAP_NET_ADMIN = 12  # firewall and routing changes
CAP_NET_RAW = 13  # raw sockets: hand-made TCP packets past the port rules
CAP_SYS_MODULE = 16  # kernel modules
CAP_SYS_RAWIO = 17  # /proc/kcore, I/O ports
CAP_SYS_ADMIN = 21  # mounts in new namespaces, bpf, keyctl, swapon, ...
CAP_SYS_BOOT = 22  # reboot, kexec
CAP_SYS_TIME = 25  # the system clock (`date -s`), which every log, certificate and audit time reads
CAP_MKNOD = 27  # a device node for the disk, made inside a write root
CAP_BPF = 39
DROPPED_CAPABILITIES = (CAP_DAC_READ_SEARCH, CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_MODULE, CAP_SYS_RAWIO,
                        CAP_SYS_ADMIN, CAP_SYS_BOOT, CAP_SYS_TIME, CAP_MKNOD, CAP_BPF)
PR_CAPBSET_DROP = 24
# With read.allow, what programs need just to start (loader, libraries, locale, passwd).
RUNTIME_ROOTS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/proc")


class LandlockPlan(NamedTuple):
    """Everything restrict_self needs, computed in the parent: plain data."""

    rules: tuple[tuple[str, int], ...]  # (real path, file-system access mask), before ABI downgrade
    connect_ports: tuple[int, ...] | None  # None: TCP connect not restricted
    bind_ports: tuple[int, ...] | None  # None: TCP bind not restricted
    drop_capabilities: bool = True  # see DROPPED_CAPABILITIES
    stdio: bool = True  # also grant re-opening the child's own fds 0-2 (/dev/stdout, its /dev/pts/N)
    unenforced: tuple[str, ...] = ()  # profile denies this layer leaves to the others, with why


class LandlockStatus(NamedTuple):
    abi: int  # 0: unavailable
    reason: str  # why it is unavailable, or ""


def _load_libc() -> ctypes.CDLL:
    lib = ctypes.CDLL(None, use_errno=True)
    lib.syscall.restype = ctypes.c_long
    lib.prctl.restype = ctypes.c_int
    return lib


# Loaded when the parent imports this module, not in the forked child: dlopen there could
# wait forever on a loader lock that another thread of agentsh held at the fork.
_LIBC = _load_libc()


def _libc() -> ctypes.CDLL:
    return _LIBC


def status() -> LandlockStatus:
    """The kernel's Landlock ABI version, or 0 and the reason it is unavailable."""
    lib = _libc()
    version = lib.syscall(ctypes.c_long(SYS_LANDLOCK_CREATE_RULESET), None, ctypes.c_size_t(0),
                          ctypes.c_uint32(CREATE_RULESET_VERSION))
    if version >= 1:
        return LandlockStatus(int(version), "")
    err = ctypes.get_errno()
    reasons = {38: "the kernel has no Landlock (ENOSYS: older than 5.13 or built without it)",
               95: "Landlock is built in but not enabled (EOPNOTSUPP: add landlock to the lsm= boot option)",
               1: "a seccomp filter or container runtime refuses the Landlock syscalls (EPERM)"}
    return LandlockStatus(0, reasons.get(err, f"landlock_create_ruleset failed: {os.strerror(err)}"))


def abi_version() -> int:
    """The Landlock ABI version (0 when unavailable; `status()` says why)."""
    return status().abi


def handled_fs(abi: int) -> int:
    return FS_BY_ABI[min(abi, FS_ABI_LATEST)] if abi >= 1 else 0


# -- planning (parent) ------------------------------------------------------------------
def plan_for(profile: Profile, *, exact_write_deny: bool = False, extra_read: Iterable[str] = (),
             inodes: dict[str, tuple[int, int]] | None = None) -> LandlockPlan:
    """The rules that confine a command to `profile`'s roots.

    Read roots: `read_allow`, or `/` when it is empty (plus, when it is given, the write
    roots and RUNTIME_ROOTS), minus `read_deny` by splitting.  Write roots: `write_allow`
    minus `read_deny` (a secret store or agentsh's own state is never writable) and, only
    with `exact_write_deny`, minus `write_deny`: splitting a write root cuts the directories
    on the way, and git's lock-then-rename in `.git` (the default profile denies
    `.git/hooks` and `.git/config`) then fails.  Without it those denies are left to the
    static check and the exec guard, and listed in `unenforced`.  `extra_read`: real paths
    agentsh itself puts there for the command (the credential helper's directory), readable
    and executable even with `read.allow` (denies still win). `inodes` gets, for each entry
    of a listed directory it granted, the directory's device and the inode number the
    listing gave (see take_prebuilt).
    """
    read_roots = list(profile.read_allow) or ["/"]
    if profile.read_allow:
        read_roots += list(profile.write_allow) + [r for r in RUNTIME_ROOTS + profile.path if os.path.exists(r)]
    read_roots += list(extra_read)
    grants: dict[str, int] = {}
    read_denies = tuple(profile.read_deny) + (DEVICE_DIR,)
    for root in _outermost(read_roots):
        if not any(within(root, deny) for deny in profile.read_deny):
            _grant(grants, root, READ_DIR)  # listing: names below a denied root stay visible
        _split(root, read_denies, READ_RIGHTS, grants, inodes)
    write_denies = read_denies + (tuple(profile.write_deny) if exact_write_deny else ())
    for root in _outermost(profile.write_allow):
        _split(root, write_denies, WRITE_RIGHTS, grants, inodes)
    unenforced = () if exact_write_deny else tuple(
        f"write.deny {deny}: inside a write root; not split by Landlock (it would break git's lock files)"
        for deny in profile.write_deny if any(within(deny, root) for root in profile.write_allow))
    for device in ALWAYS_WRITABLE_DEVICES:
        _grant(grants, device, READ_FILE | WRITE_FILE | TRUNCATE)
    for device in ALWAYS_READABLE_DEVICES:
        _grant(grants, device, READ_FILE)
    _grant(grants, TTY, READ_FILE | WRITE_FILE | TRUNCATE | IOCTL_DEV)
    if "/dev/shm" not in grants and _writable_in(grants, "/tmp"):
        # POSIX shared memory and semaphores (multiprocessing's locks): /tmp's twin in
        # memory, granted only when the profile already lets commands write /tmp.
        _grant(grants, "/dev/shm", READ_RIGHTS | READ_DIR | WRITE_RIGHTS)
    return LandlockPlan(rules=tuple(sorted(grants.items())), connect_ports=profile.network_connect,
                        bind_ports=profile.network_bind, unenforced=unenforced)


def _grant(grants: dict[str, int], path: str, mask: int) -> None:
    if os.path.lexists(path):
        grants[path] = grants.get(path, 0) | mask


def _outermost(roots: Iterable[str]) -> list[str]:
    """Roots with those inside another root dropped (they add nothing)."""
    unique = sorted(set(roots))
    return [root for root in unique if not any(other != root and within(root, other) for other in unique)]


def _split(root: str, denies: Iterable[str], mask: int, grants: dict[str, int],
           inodes: dict[str, tuple[int, int]] | None = None) -> None:
    """Grant `mask` on everything under `root` except the denied roots: on `root` itself if
    no denied root is inside it, else on each child of it, recursively."""
    if any(within(root, deny) for deny in denies):
        return
    inner = [deny for deny in denies if within(deny, root)]
    if not inner:
        _grant(grants, root, mask)
        return
    prefix = root.rstrip("/") + "/"
    below: dict[str, list[str]] = {}  # child name -> the denied roots inside (or equal to) it
    for deny in inner:
        below.setdefault(deny[len(prefix):].split("/", 1)[0], []).append(deny)
    try:
        entries = list(os.scandir(root))
        device = os.stat(root).st_dev if inodes is not None else 0
    except OSError:  # not a directory any more, or unlistable: grant nothing (fail closed)
        return
    for entry in entries:
        try:
            if entry.is_symlink():
                # The target is reachable by its real path, which has rules of its own; a
                # link could point into the denied root.
                continue
        except OSError:
            continue
        child = prefix + entry.name
        if entry.name in below:
            _split(child, below[entry.name], mask, grants, inodes)
        else:  # nothing denied inside: the whole child (listed just now, so it exists)
            grants[child] = grants.get(child, 0) | mask
            if inodes is not None:
                inodes[child] = (device, entry.inode())  # from the listing: no system call per entry


def _writable_in(grants: dict[str, int], path: str) -> bool:
    return any(mask & WRITE_FILE and within(path, granted) for granted, mask in grants.items())
