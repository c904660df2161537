"""Where a path in a line really leads: symlinks and `..` resolved as the kernel resolves
them, with the fast paths the policy engine takes for every argument of every command.

Every function here answers exactly as os.path.realpath / os.path.lexists would (the tests
compare them on generated trees); the shortcuts only save system calls.
"""

from __future__ import annotations

import os
from stat import S_ISDIR, S_ISLNK

# The command's own streams: resolving them here would describe agentsh's descriptors,
# not the command's.
OWN_STREAMS = ("/dev/stdin", "/dev/stdout", "/dev/stderr", "/dev/null", "/dev/tty")
OWN_STREAM_DIRS = ("/dev/fd/", "/proc/self/fd/")
# What a path through the command's own process names, when only the running command knows it
# (see own_process): read_problem and write_problem refuse it.
THROUGH_OWN_PROCESS = "/proc/self/(the command's own process)"
# Where those names live: a link to one of them (`ln -s /proc p`, then `p/self/cwd`) hides them
PROCESS_DIRECTORIES = ("/proc", "/dev")
_PROCESS_NAMES = {"proc": ("self", "thread-self"), "dev": ("fd", "stdin", "stdout", "stderr")}


def resolve(value: str, cwd: str, reals: dict[str, str] | None = None, read: bool = False) -> str:
    """The real path `value` names from `cwd` (own streams by their own name).

    `reals` is one line's scratch of directories' real paths (never kept past the line):
    given it, a short relative value takes _resolve_under.
    """
    if reals is not None:
        found = _resolve_under(value, cwd, reals, read)
        if found is not None:
            return found
    joined = own_process(os.path.join(cwd, value), cwd)
    if joined == THROUGH_OWN_PROCESS:
        return joined
    path = os.path.normpath(joined)
    # `..` is resolved the kernel's way: after a link it goes up from the link's target, so
    # `link/../id_rsa` names a file beside what link points to, whatever normpath says.
    # Only a path without `..` is the same file written either way.
    physical = ".." in joined.split("/")
    if (path in OWN_STREAMS or path.startswith(OWN_STREAM_DIRS)) and not physical:
        return path
    try:
        real = real_path(joined if physical else path)
    except OSError:  # e.g. /proc/1/ns/net: unreadable links are judged by their own path
        return path
    if real != path and crosses_magic_link(joined if physical else path):
        return THROUGH_OWN_PROCESS  # a link on the way led through /proc/PID/cwd, fd/N ...
    return real


_OPENAT2 = {"x86_64": 437, "aarch64": 437, "riscv64": 437}  # the same number on each
_RESOLVE_NO_MAGICLINKS = 0x02
_ELOOP = 40


def crosses_magic_link(path: str) -> bool:
    """Does resolving `path` go through one of /proc's magic links (`/proc/PID/cwd`, `root`,
    `fd/N`, `exe`), which name what the process holding them holds?  Resolved here they are
    agentsh's: with `x -> /proc/self/cwd/../..` in the workspace, `cd src && cat
    ../x/.ssh/id_rsa` was checked from the workspace and printed the key.  The kernel says,
    through openat2's RESOLVE_NO_MAGICLINKS (Linux 5.6; elsewhere, or refused by a seccomp
    filter, the answer is no).  Taken only for paths a link made differ from their text."""
    number = _OPENAT2.get(os.uname().machine)
    if number is None or not _O_PATH:
        return False
    import ctypes  # only for paths through a link: most lines never load it

    class OpenHow(ctypes.Structure):
        _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]

    libc = ctypes.CDLL(None, use_errno=True)
    how = OpenHow(_O_PATH | os.O_CLOEXEC, 0, _RESOLVE_NO_MAGICLINKS)
    while path and path != "/":
        fd = libc.syscall(number, -100, os.fsencode(path), ctypes.byref(how), ctypes.sizeof(how))
        if fd >= 0:
            os.close(fd)
            return False
        error = ctypes.get_errno()
        if error != 2:  # ENOENT: the last component is missing (a file to write): ask of its directory
            return error == _ELOOP
        path = os.path.dirname(path)
    return False


def names_own_process(path: str) -> bool:
    """Does `path` go through a name of the process that opens it (/proc/self, /dev/fd ...)?"""
    parts = path.split("/")
    return any(parts[i + 1] in _PROCESS_NAMES.get(parts[i], ()) for i in range(len(parts) - 1))


def own_process(path: str, cwd: str) -> str:
    """`path` (absolute, as written) as the command that opens it sees it, where that differs
    from what agentsh would see resolving it: /proc/self is the process that opens the path.

    /proc/self/cwd is the command's working directory (`cwd`, where the line has cd'd to), not
    agentsh's: `cd src && cat /proc/self/cwd/../../.ssh/id_rsa` was checked from the workspace
    and printed the key in guardrail mode.  /proc/self/root is `/`.  A path below one of the
    command's descriptors (`/dev/fd/3/.netrc` with `3< ..`, `/dev/stdin/.ssh/id_rsa` with
    `< ..`: a directory the line opened) or into its other per-process links (`task/`,
    `map_files/`, /proc/self itself as a directory) names what only the running command
    knows: THROUGH_OWN_PROCESS, which the checks refuse.  The descriptors themselves
    (`/dev/fd/1`, `/dev/stdin`) and plain files of /proc/self (`status`) stay as written.
    """
    if "/proc/" not in path and "/dev/" not in path:
        return path
    if path.startswith(THROUGH_OWN_PROCESS):  # below a directory the line cd'd to that way
        return THROUGH_OWN_PROCESS
    parts = [p for p in path.split("/") if p and p != "."]
    if len(parts) >= 2 and parts[0] == "proc" and parts[1] in ("self", "thread-self"):
        rest = parts[2:]
        if rest[:1] == ["cwd"]:
            return own_process(os.path.join(cwd, *rest[1:]), cwd) if len(rest) > 1 else cwd
        if rest[:1] == ["root"]:
            return own_process("/" + "/".join(rest[1:]), cwd)
        if rest and rest[0] not in ("task", "map_files", "fd", "..") and ".." not in rest:
            return path  # status, environ: a file of the process, the same kind of file for both
        if len(rest) == 2 and rest[0] == "fd" and rest[1].isdigit():
            return path
        return THROUGH_OWN_PROCESS
    if len(parts) >= 2 and parts[0] == "dev" and parts[1] in _PROCESS_NAMES["dev"]:
        if len(parts) == 2 or (len(parts) == 3 and parts[1] == "fd" and parts[2].isdigit()):
            return path
        return THROUGH_OWN_PROCESS
    # the same names later in the path (`/tmp/../proc/self/cwd`, `/dev/../dev/fd/3/x`): `..`
    # or a link before them moves where they are; no check follows that, so none is made
    return THROUGH_OWN_PROCESS if names_own_process(path) else path


# Longer relative values take real_path: an lstat per component stops paying past a few.
_UNDER_PARTS = 4


def _resolve_under(value: str, cwd: str, reals: dict[str, str], read: bool) -> str | None:
    """resolve(value, cwd) for a relative value of a few plain components (`a.txt`,
    `src/app.py`, `src/`, `.`) when cwd is its own real path, else None.

    A line's file arguments are mostly such names in one directory.  os.path.realpath walks
    a path left to right, appending each component that lstat finds is no symlink (or, last,
    finds missing); from a directory already known real that is an lstat per component
    (~1.5 µs each) instead of resolve's normpath + open(O_PATH) + readlink + close (~8 µs).
    cwd's real path is found once per line, in `reals`: from the first value read there
    (`read`), or by real_path(cwd) for a write target (often missing).  Symlinks, `.`/`..`/empty
    components, absolute values and errors other than a missing last component return None:
    resolve then does what it always did.  What this returns is also the value's normalised
    path, which is what resolve answers for an own stream (/dev/null, /dev/fd/1) anyway.
    """
    if value == ".":
        parts = []
    else:
        parts = value.split("/")
        if len(parts) > 1 and not parts[-1]:
            parts.pop()  # one trailing slash: normpath drops it, and realpath never sees it
        if len(parts) > _UNDER_PARTS or "" in parts or "." in parts or ".." in parts:
            return None
    real = reals.get(cwd)
    if real is None and _is_working_directory(cwd):
        real = reals[cwd] = cwd
    if real is None:
        if parts and read:
            # The first value read from cwd in this line (it exists, as a rule): the kernel's
            # name for the whole path, as real_path would ask it.  When that is the path as
            # written, cwd, a prefix of a real path, is real itself (the kernel's name has no
            # symlink or `.` in it), and later values take the lstat way.  Otherwise resolve
            # decides, as it always did.
            full = ("" if cwd == "/" else cwd) + "/" + "/".join(parts)
            if _opened_real_path(full) != full:
                return None
            reals[cwd] = cwd
            return full
        if len(parts) > 1:
            return None  # a write target: real_path(cwd) and two lstats cost more than resolve
        try:
            real = reals[cwd] = real_path(cwd)
        except OSError:
            return None
    if real != cwd:
        return None  # cwd reached through a link, or not normalised: not worth the cases
    base = "" if cwd == "/" else cwd
    if not parts:
        return cwd
    full = base + "/" + "/".join(parts)
    path = base
    last = len(parts) - 1
    for i, part in enumerate(parts):
        path = path + "/" + part
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return full if i == last else None
        except (OSError, ValueError):
            return None
        if S_ISLNK(mode) or (i < last and not S_ISDIR(mode)):
            return None
    return full


def _is_working_directory(cwd: str) -> bool:
    """Is cwd, as written, the process's working directory?  Then it is its own real path:
    the kernel names the working directory by its path from the root, with no symlink or
    `.` in it.  One getcwd (~1 µs) instead of resolving a first path (~6 µs); `agentsh -c`
    checks its lines in the caller's directory, which is its own."""
    try:
        return os.getcwd() == cwd
    except OSError:  # the directory was removed
        return False


_O_PATH = getattr(os, "O_PATH", 0)


def real_path(path: str) -> str:
    """os.path.realpath(path), in three system calls when the path exists.

    os.path.realpath walks the path in Python with an lstat per component (~15 µs for a
    file in a workspace); the kernel resolves it in one open(O_PATH), which neither reads
    the file nor has an open's side effects (FIFOs, devices), and names the result in
    /proc/self/fd.  A path whose last component alone is missing (a file about to be
    written) is its directory's real path and the name.  Anything else unusual (no /proc,
    a link to a pipe, a deleted file, a dangling link) takes os.path.realpath, so the
    result is always realpath's.
    """
    if not _O_PATH or not path.startswith("/"):
        return os.path.realpath(path)
    real = _opened_real_path(path)
    if real is None:
        real = _missing_real_path(path)
    return real


def _opened_real_path(path: str) -> str | None:
    """The name the kernel gives `path` once resolved; None if it cannot give it plainly."""
    try:
        fd = os.open(path, _O_PATH | os.O_CLOEXEC)
    except (OSError, ValueError):
        return None
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None
    finally:
        os.close(fd)
    if not real.startswith("/") or real.endswith(" (deleted)"):
        return None
    return real


def _missing_real_path(path: str) -> str:
    """realpath of a path open() did not resolve.

    realpath resolves the directory part, then appends a last component that lstat does not
    find as it stands: so when lstat finds no such name (ENOENT: not even a dangling link)
    in a directory that resolves, the result is that directory's real path and the name.
    Every other case takes os.path.realpath itself, and so, to keep this easy to check, do
    paths with `.`, `..` or empty components (realpath takes `..` after a missing component
    lexically, the kernel does not; the directory would not resolve then, but no matter).
    """
    parent, _, name = path.rpartition("/")
    if name in ("", ".", "..") or "//" in path or "/./" in path or "/../" in path:
        return os.path.realpath(path)
    try:
        os.lstat(path)
    except FileNotFoundError:
        parent_real = _opened_real_path(parent or "/")
        if parent_real is not None:
            return os.path.join(parent_real, name)
    except (OSError, ValueError):
        pass
    return os.path.realpath(path)


def nofollow_access_works() -> bool:
    """Does access(F_OK) without following links answer here?

    Python makes it faccessat(..., AT_SYMLINK_NOFOLLOW), which glibc 2.33 and later turn
    into the faccessat2 system call.  A seccomp filter older than that call (container
    runtimes before 2021) fails it with EPERM, and os.access then says False for every
    path: every operand would be taken for a word that names no file and go unchecked.
    So it is used only where it answers for "/", which always exists."""
    try:
        return os.access("/", os.F_OK, follow_symlinks=False)
    except (NotImplementedError, OSError, ValueError):
        return False


_NOFOLLOW_ACCESS = nofollow_access_works()


def _pathlike(value: str, cwd: str) -> bool:
    if "/" in value or value.startswith(".") or value == "~":
        return True
    # os.path.lexists(os.path.join(cwd, value)) for a value without a slash, without their
    # Python-level layers: this runs for most arguments of most commands, and most of them
    # (`status`, `HEAD~1`, `20`) name no file: access(F_OK) without following a link answers
    # as lstat would, but a miss returns False where lstat raises (~0.7 µs less).
    path = cwd + value if not cwd or cwd.endswith("/") else cwd + "/" + value
    try:
        if _NOFOLLOW_ACCESS:
            return os.access(path, os.F_OK, follow_symlinks=False)
        os.lstat(path)
    except (OSError, ValueError):  # a NUL in the word
        return False
    return True
