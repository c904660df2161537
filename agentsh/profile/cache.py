"""A per-user cache of validated, self-tested profiles, so `agentsh -c` skips YAML.

agentsh runs once per agent command; importing PyYAML and validating and
self-testing a profile costs more than the rest of start-up together.  The cache
stores the merged profile data of one load, keyed by the profile file, the host
facts that shape it (cwd, HOME, config dir) and agentsh's version, and is used
only while every source file is unchanged (device, inode, size, mtime, ctime), and while
none of the files `extends` looked for and did not find has appeared.

Trust: a cache entry is as good as the files it came from only if whoever can
write the entry could also write those files.  So an entry is written and used
only when every source file is owned by the effective user, and the entry itself
is a 0600 file owned by that user.  An admin's root-owned profile used by an
agent account is never cached in the agent's home: the agent could forge the
entry, and that would widen the admin's policy.
"""

# No `from __future__ import annotations`: typing.NamedTuple compiles every string
# annotation at import (~4 ms over agentsh -c's models); tests/test_startup_imports.py.

import marshal
import os
import stat
import zlib
from typing import Any, NamedTuple

from .. import __version__
from .model import ArgPattern

FORMAT = 4
MAX_ENTRIES = 256
Signature = tuple[str, int, int, int, int, int]


class CachedProfile(NamedTuple):
    merged: dict[str, Any]
    files: list[str]
    sha256: str


def cache_dir(environ_home: str, xdg_cache_home: str | None) -> str:
    base = xdg_cache_home or os.path.join(environ_home, ".cache")
    return os.path.join(base, "agentsh", "profiles")


def _key(path: str, host: Any) -> str:
    return "\0".join((__version__, str(FORMAT), path, host.cwd, host.home, host.config_home))


def _entry_path(directory: str, key: str) -> str:
    return os.path.join(directory, f"{zlib.crc32(key.encode('utf-8', 'surrogateescape')):08x}.bin")


def _signature(path: str) -> Signature | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    if info.st_uid != os.geteuid() or not stat.S_ISREG(info.st_mode):
        return None
    return (path, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def read(directory: str, path: str, host: Any) -> CachedProfile | None:
    key = _key(path, host)
    entry = _entry_path(directory, key)
    try:
        fd = os.open(entry, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if info.st_uid != os.geteuid() or info.st_mode & 0o077 or not stat.S_ISREG(info.st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = marshal.loads(handle.read())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    finally:
        os.close(fd)
    if not (isinstance(data, tuple) and len(data) == 6 and data[0] == FORMAT and data[1] == key):
        return None
    _, _, signatures, absent, merged, sha256 = data
    # The profile itself must be the last source: an entry naming only the user's own files
    # (or none) under the key of an admin's profile was a hit, and served whatever it held.
    if not signatures or signatures[-1][0] != path:
        return None
    for signature in signatures:
        if _signature(signature[0]) != tuple(signature):
            return None
    if any(os.path.isfile(candidate) for candidate in absent):
        return None  # a file `extends` would now take first has appeared
    return CachedProfile(merged=_thaw(merged), files=[s[0] for s in signatures], sha256=sha256)


def write(directory: str, path: str, host: Any, merged: dict[str, Any], files: list[str], sha256: str,
          absent: list[str]) -> None:
    """Store a load that passed validation and self-tests; silently skip if not possible.

    `absent`: the files `extends` looked for first and did not find (load.load_sources)."""
    signatures = [_signature(f) for f in files]
    if any(s is None for s in signatures):
        return  # a source file belongs to someone else: never cache it (see module doc)
    key = _key(path, host)
    try:
        payload = marshal.dumps((FORMAT, key, signatures, list(absent), _freeze(merged), sha256))
        os.makedirs(directory, mode=0o700, exist_ok=True)
        _prune(directory)
        tmp = _entry_path(directory, key) + f".{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.replace(tmp, _entry_path(directory, key))
    except (OSError, ValueError):
        return


def _prune(directory: str) -> None:
    entries = [e for e in os.scandir(directory) if e.name.endswith(".bin")]
    if len(entries) < MAX_ENTRIES:
        return
    entries.sort(key=lambda e: e.stat().st_mtime)
    for entry in entries[: len(entries) // 2]:
        try:
            os.unlink(entry.path)
        except OSError:
            pass


def _freeze(merged: dict[str, Any]) -> dict[str, Any]:
    """ArgPattern objects become plain tuples: marshal stores only built-in types."""
    out = dict(merged)
    out["commands"] = [dict(r, args=[tuple(p) for p in r["args"]]) if "args" in r else r
                       for r in merged.get("commands", [])]
    return out


def _thaw(merged: dict[str, Any]) -> dict[str, Any]:
    out = dict(merged)
    out["commands"] = [dict(r, args=[ArgPattern(*p) for p in r["args"]]) if "args" in r else r
                       for r in merged.get("commands", [])]
    return out
