"""Landlock confinement of an approved command's process tree, through ctypes.

Three steps, split so that the child does as little as possible between fork and exec:

- `plan_for(profile)` runs in agentsh (the parent).  It turns the profile's read and write
  roots into Landlock allow rules: plain data, one access mask per real path, and the TCP
  ports the command may connect to or bind.
- `build_ruleset(plan)` also runs in the parent.  It opens each path and builds a ruleset
  that handles every access right this kernel's ABI knows, with the plan's rules: a
  file descriptor the forked child inherits.  (Done in the child, the same loop ran
  slower: a fresh fork pays a page copy for each page of Python objects it touches.)
- `enforce(ruleset)` runs in the forked child just before exec.  It adds the child's own
  standard descriptors, drops capabilities, sets no_new_privs and restricts the process.
  Everything the child execs after that, and all of its descendants, stay inside the
  ruleset; nothing can lift it.  `restrict_self(plan)` does the last two in one process.

Landlock can only allow.  "Everything readable except ~/.ssh" therefore becomes allow
rules on the siblings of every directory on the way from / to ~/.ssh (see `_split`).
The directories on that way get no file-read rule of their own, so an entry created in
one of them after the ruleset was built is not readable, and a file replaced there by a
rename loses its rule.  docs/security-model.md lists the rest of what this layer cannot do.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import stat
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
CAP_MKNOD = 27  # a device node for the disk, made inside a write root
CAP_BPF = 39
DROPPED_CAPABILITIES = (CAP_DAC_READ_SEARCH, CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_MODULE, CAP_SYS_RAWIO,
                        CAP_SYS_ADMIN, CAP_SYS_BOOT, CAP_MKNOD, CAP_BPF)
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


# -- restricting (child) ----------------------------------------------------------------
class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # __attribute__((packed)) in the kernel header: 12 bytes
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _NetPortAttr(ctypes.Structure):
    _fields_ = [("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64)]


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


class Ruleset(NamedTuple):
    """A built ruleset, for `enforce` in the child: the descriptor and what it handles."""

    fd: int  # close-on-exec; enforce() closes it
    fs: int  # the file-system rights handled (ABI-downgraded)
    drop_capabilities: bool
    stdio: bool


def restrict_self(plan: LandlockPlan, abi: int | None = None) -> None:
    """Confine this process (and everything it will exec or fork) to `plan`.

    Call it in the forked child after its stdio is in place and just before exec.
    Raises OSError with a message naming the step that failed; on error the process may
    already have no_new_privs but is not restricted, so the caller must not exec."""
    enforce(build_ruleset(plan, abi))


def build_ruleset(plan: LandlockPlan, abi: int | None = None,
                  opened: list[tuple[int, ...] | None] | None = None) -> Ruleset:
    """The ruleset for `plan`, every path opened and added now (in the parent). `opened`
    gets, per rule, what `_add_path_rule` says it added."""
    lib = _libc()
    abi = status().abi if abi is None else abi
    if abi < 1:
        raise OSError(38, f"Landlock unavailable: {status().reason}")
    fs = handled_fs(abi)
    net = 0
    if abi >= 4:
        net = (CONNECT_TCP if plan.connect_ports is not None else 0) | (BIND_TCP if plan.bind_ports is not None else 0)
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET if abi >= 6 else 0
    attr = _RulesetAttr(fs, net, scoped)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = _check(lib.syscall(ctypes.c_long(SYS_LANDLOCK_CREATE_RULESET), ctypes.byref(attr),
                                 ctypes.c_size_t(size), ctypes.c_uint32(0)), "landlock_create_ruleset")
    try:
        for path, mask in plan.rules:
            added = _add_path_rule(lib, ruleset, path, mask & fs)
            if opened is not None:
                opened.append(added)
        for ports, right in ((plan.connect_ports, CONNECT_TCP), (plan.bind_ports, BIND_TCP)):
            if net & right:
                for port in ports or ():
                    rule = _NetPortAttr(right, port)
                    _check(lib.syscall(ctypes.c_long(SYS_LANDLOCK_ADD_RULE), ctypes.c_int(ruleset),
                                       ctypes.c_int(RULE_NET_PORT), ctypes.byref(rule), ctypes.c_uint32(0)),
                           f"landlock_add_rule (TCP port {port})")
    except BaseException:
        os.close(ruleset)
        raise
    return Ruleset(ruleset, fs, plan.drop_capabilities, plan.stdio)


class Prebuilt(NamedTuple):
    """A ruleset built ahead of need (a warm worker builds one while it waits for a
    client, for the plan of the line before), with what each rule was added for."""

    plan: LandlockPlan
    ruleset: Ruleset
    opened: tuple[tuple[int, ...] | None, ...]


def prebuild(plan: LandlockPlan) -> Prebuilt:
    opened: list[tuple[int, ...] | None] = []
    return Prebuilt(plan, build_ruleset(plan, opened=opened), tuple(opened))


def take_prebuilt(prebuilt: Prebuilt, plan: LandlockPlan,
                  inodes: dict[str, tuple[int, int]] | None = None) -> Ruleset | None:
    """The prebuilt ruleset if it is what `build_ruleset(plan)` would build now, else None
    (and it is closed): the same plan, and every path it added a rule for still the very
    file (device and inode, not a symlink) it was then. Rules hold inodes, so the two
    rulesets then grant the same. A path that could not be opened then is not checked
    again: any such path means a fresh build.

    The ruleset holds a reference to each inode it has a rule for, so none of those inode
    numbers can have been given to a new file meanwhile. `inodes` (from plan_for, made
    just now) saves the `lstat` of a path whose directory entry (not a symlink) still
    names the device and inode the rule was added for. A mount on that entry since then
    would hide the granted inode, which only narrows what the ruleset grants. Other
    paths are checked with `lstat`."""
    usable = prebuilt.plan == plan and None not in prebuilt.opened
    if usable:
        listed = inodes or {}
        for (path, _mask), added in zip(plan.rules, prebuilt.opened, strict=True):
            if not added or listed.get(path) == added:
                continue
            try:
                info = os.lstat(path)
            except OSError:
                usable = False
                break
            if stat.S_ISLNK(info.st_mode) or (info.st_dev, info.st_ino) != added:
                usable = False
                break
    if not usable:
        os.close(prebuilt.ruleset.fd)
        return None
    return prebuilt.ruleset


def plan_to_json(plan: LandlockPlan) -> bytes:
    return json.dumps([[list(rule) for rule in plan.rules], plan.connect_ports, plan.bind_ports,
                       plan.drop_capabilities, plan.stdio, list(plan.unenforced)]).encode()


def plan_from_json(data: bytes) -> LandlockPlan | None:
    """The plan `plan_to_json` wrote; None for anything else."""
    try:
        rules, connect, bind, drop, stdio, unenforced = json.loads(data)
        plan = LandlockPlan(
            rules=tuple((str(path), int(mask)) for path, mask in rules),
            connect_ports=None if connect is None else tuple(int(port) for port in connect),
            bind_ports=None if bind is None else tuple(int(port) for port in bind),
            drop_capabilities=bool(drop), stdio=bool(stdio), unenforced=tuple(str(u) for u in unenforced))
    except (ValueError, TypeError):
        return None
    return plan if plan_to_json(plan) == data else None


def enforce(ruleset: Ruleset) -> None:
    """Restrict this process to `ruleset` (plus re-opening its own fds 0-2); closes it.

    The ruleset is shared with the process that built it: call this in a child of a
    parent that will not use the ruleset again."""
    lib = _libc()
    try:
        if ruleset.stdio:
            _add_stdio_rules(lib, ruleset.fd, ruleset.fs)
        if ruleset.drop_capabilities:
            _drop_capabilities(lib)
        _check(_prctl(lib, PR_SET_NO_NEW_PRIVS, 1), "prctl(PR_SET_NO_NEW_PRIVS)")
        _check(lib.syscall(ctypes.c_long(SYS_LANDLOCK_RESTRICT_SELF), ctypes.c_int(ruleset.fd), ctypes.c_uint32(0)),
               "landlock_restrict_self")
    finally:
        os.close(ruleset.fd)


def _prctl(lib: ctypes.CDLL, option: int, arg: int) -> int:
    return int(lib.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0),
                         ctypes.c_ulong(0)))


def _drop_capabilities(lib: ctypes.CDLL) -> None:
    """Remove DROPPED_CAPABILITIES from the bounding set.  Without CAP_SETPCAP (not root)
    the process cannot hold them after exec anyway, so EPERM is not an error."""
    for cap in DROPPED_CAPABILITIES:
        if _prctl(lib, PR_CAPBSET_DROP, cap) != 0 and ctypes.get_errno() not in (1, 22):
            err = ctypes.get_errno()
            raise OSError(err, f"prctl(PR_CAPBSET_DROP, {cap}) failed: {os.strerror(err)}")


def _add_path_rule(lib: ctypes.CDLL, ruleset: int, path: str, mask: int) -> tuple[int, ...] | None:
    """Add the rule; the (device, inode) it was added for, () if no right applies, None if
    the path could not be opened."""
    if not mask:
        return ()
    fd = _open_path(lib, path)
    if fd < 0:  # gone or replaced by a symlink since the plan: grant nothing
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISDIR(info.st_mode):
            mask &= READ_FILE | WRITE_FILE | TRUNCATE | EXECUTE | IOCTL_DEV  # the kernel refuses others on files
        _add(lib, ruleset, fd, mask, path)
        return (info.st_dev, info.st_ino)
    finally:
        os.close(fd)


def _open_path(lib: ctypes.CDLL, path: str) -> int:
    """An O_PATH descriptor for `path`, refusing symlinks in any component (the plan holds
    real paths, so a symlink there now is a swap since planning); -1 if it cannot be had."""
    how = _OpenHow(os.O_PATH | os.O_CLOEXEC, 0, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)
    fd = lib.syscall(ctypes.c_long(SYS_OPENAT2), ctypes.c_int(-100), path.encode(), ctypes.byref(how),
                     ctypes.c_size_t(ctypes.sizeof(how)))
    return int(fd)


def _add_stdio_rules(lib: ctypes.CDLL, ruleset: int, fs: int) -> None:
    """Let the command re-open what its fds 0-2 already are (`> /dev/stdout`, its own
    /dev/pts/N, a log file it was given) with the access it already has through them."""
    for fd in (0, 1, 2):
        try:
            mode = os.fstat(fd).st_mode
            access = os.O_ACCMODE & fcntl.fcntl(fd, fcntl.F_GETFL)
        except OSError:  # closed
            continue
        if not (stat.S_ISREG(mode) or stat.S_ISCHR(mode)):
            continue  # pipes and sockets are re-opened without a path check
        mask = 0
        if access in (os.O_RDONLY, os.O_RDWR):
            mask |= READ_FILE
        if access in (os.O_WRONLY, os.O_RDWR):
            mask |= WRITE_FILE | TRUNCATE
        if stat.S_ISCHR(mode):
            mask |= IOCTL_DEV
        try:
            path_fd = os.open(f"/proc/self/fd/{fd}", os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            _add(lib, ruleset, path_fd, mask & fs, f"fd {fd}")
        finally:
            os.close(path_fd)


def _add(lib: ctypes.CDLL, ruleset: int, fd: int, mask: int, what: str) -> None:
    rule = _PathBeneathAttr(mask, fd)
    _check(lib.syscall(ctypes.c_long(SYS_LANDLOCK_ADD_RULE), ctypes.c_int(ruleset), ctypes.c_int(RULE_PATH_BENEATH),
                       ctypes.byref(rule), ctypes.c_uint32(0)), f"landlock_add_rule ({what})")


def _check(result: int, step: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"Landlock: {step} failed: {os.strerror(err)}")
    return int(result)


def no_new_privs() -> bool:
    """Whether this process already has no_new_privs set (inherited, e.g. from a container)."""
    lib = _libc()
    return _prctl(lib, PR_GET_NO_NEW_PRIVS, 0) == 1
