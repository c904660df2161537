"""The kernel side of Landlock confinement (agentsh/guard/landlock.py makes the plan).

- `build_ruleset(plan)` runs in agentsh before fork: it opens each path of the plan
  (`openat2`, no symlinks anywhere on the way) and builds a ruleset that handles every
  access right this kernel's ABI knows, with the plan's rules.  (Done in the forked
  child, the same loop ran slower: a fresh fork pays a page copy for each page of Python
  objects it touches.)
- `enforce(ruleset)` runs in the forked child just before exec: it adds the child's own
  standard descriptors, drops capabilities, sets no_new_privs and restricts the process.
  Everything the child execs after that, and all of its descendants, stay inside the
  ruleset; nothing can lift it.  `restrict_self(plan)` does both in one process.
- `prebuild` and `take_prebuilt`: a warm worker builds the ruleset of the line before
  while it waits, and a line uses it only when it is exactly what a fresh build would be.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import stat
from typing import NamedTuple

from .landlock import (
    BIND_TCP,
    CONNECT_TCP,
    DROPPED_CAPABILITIES,
    EXECUTE,
    IOCTL_DEV,
    PR_CAPBSET_DROP,
    PR_GET_NO_NEW_PRIVS,
    PR_SET_NO_NEW_PRIVS,
    READ_FILE,
    RESOLVE_NO_MAGICLINKS,
    RESOLVE_NO_SYMLINKS,
    RULE_NET_PORT,
    RULE_PATH_BENEATH,
    SCOPE_ABSTRACT_UNIX_SOCKET,
    SYS_LANDLOCK_ADD_RULE,
    SYS_LANDLOCK_CREATE_RULESET,
    SYS_LANDLOCK_RESTRICT_SELF,
    SYS_OPENAT2,
    TRUNCATE,
    WRITE_FILE,
    LandlockPlan,
    _libc,
    handled_fs,
    status,
)


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
