"""What extracting an archive writes: its members, read from the archive when the line is checked.

`tar -xf a.tar` and `unzip a.zip` write wherever their members say, below the directory they
extract into: `.git/hooks/pre-commit`, a symbolic link that a later command of the line reads
through.  The engine checks each member's path as a write target and treats a member that is
a symbolic link as a link the line makes (policy/links.py).  An archive too big to read here,
in a format the stdlib cannot read (zstd), or changed after the check, is not looked into:
docs/security-model.md says so.
"""

from __future__ import annotations

import os
import stat
from typing import NamedTuple

MAX_ARCHIVE_BYTES = 64 << 20  # reading a member list costs up to decompressing the archive
MAX_MEMBERS = 20000
# What the members may hold in all: a compressed tar is read through to list it, and 64 MB
# of xz can hold gigabytes (a check must not take minutes).  Beyond, it is not looked into.
MAX_CONTENT_BYTES = 128 << 20


class Member(NamedTuple):
    name: str  # the path the archive gives it
    link: bool  # a symbolic link


def members(program: str, path: str) -> list[Member] | None:
    """The members of the archive at `path`; None when it is not read here (missing, too big,
    not a regular file, a format or compression the stdlib does not read, too many members)."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_ARCHIVE_BYTES:
        return None
    try:
        return _zip_members(path) if program == "unzip" else _tar_members(path)
    except Exception:  # a corrupt or foreign archive: tar or unzip will say so themselves
        return None


def _tar_members(path: str) -> list[Member] | None:
    import tarfile

    found: list[Member] = []
    content = 0
    with tarfile.open(path, "r:*") as archive:
        for entry in archive:
            content += entry.size
            if len(found) >= MAX_MEMBERS or content > MAX_CONTENT_BYTES:
                return None
            found.append(Member(entry.name, entry.issym()))
    return found


def _zip_members(path: str) -> list[Member] | None:
    import zipfile

    with zipfile.ZipFile(path) as archive:
        entries = archive.infolist()
    if len(entries) > MAX_MEMBERS:
        return None
    return [Member(entry.filename, stat.S_ISLNK(entry.external_attr >> 16)) for entry in entries]


# What tar takes off each member's name before it lands, and where --one-top-level puts it.
_TAR_SUFFIXES = (".tar.gz", ".tar.bz2", ".tar.xz", ".tar.lzma", ".tar.lzo", ".tar.lz", ".tar.zst", ".tar.Z",
                 ".tgz", ".taz", ".tbz", ".tbz2", ".tz2", ".tlz", ".txz", ".tzst", ".tar")


class Landing(NamedTuple):
    strip: int  # --strip-components: leading components taken off each member's name
    tops: tuple[str, ...]  # --one-top-level: the directories members land below ('' for none)
    unknown: str  # why where members land is known only at run time ('' when it is known)
    junk: bool = False  # unzip -j: each member lands by its base name alone


AS_NAMED = Landing(0, ("",), "")  # each member lands by its own name


_MOVING_OPTIONS = ("--one-top-level", "--transform", "--xform", "--strip-components")


def tar_landing(args: tuple[str | None, ...], archives: tuple[str | None, ...]) -> Landing:
    """Where `tar -x ARGS` puts each member, besides -C: `--strip-components=N` drops N
    leading components (`x/.ssh/authorized_keys` lands as `.ssh/...`), `--one-top-level[=DIR]`
    puts them below DIR or a directory named after the archive (hooks.tar: `hooks/`), and
    `--transform`/`--xform` renames them with a sed expression, which is not followed here."""
    strip = 0
    tops: list[str] = []
    i = 0
    while i < len(args):
        value = args[i] or ""
        i += 1
        if value == "--":
            break
        name, eq, given = value.partition("=")
        if not value.startswith("--") or len(name.rstrip("\0")) < 5:
            continue
        if "\0" in value and any(o.startswith(name.rstrip("\0")) for o in _MOVING_OPTIONS):
            # a value (or name) only known at run time (the caller marks it with a NUL)
            return Landing(0, ("",), f"{value.rstrip(chr(0))}... is only known at run time, and with it where "
                                     "tar puts the members")
        if "--transform".startswith(name) or "--xform".startswith(name):
            return Landing(0, ("",), f"{name} renames the members it extracts, so where they land is "
                                     "known only when it runs")
        if "--strip-components".startswith(name):
            if not eq and i < len(args):
                given, i = args[i] or "", i + 1
            if not given.isdigit():
                return Landing(0, ("",), f"{name} takes a number known only at run time")
            strip = int(given)
        elif "--one-top-level".startswith(name):
            if eq:
                tops.append(given)
            else:  # the archive's name without its suffix, or the whole name (fail closed)
                for archive in archives:
                    base = os.path.basename(archive or "")
                    tops.append(base)
                    tops.extend(base[:-len(s)] for s in _TAR_SUFFIXES if base.endswith(s) and base != s)
    return Landing(strip, tuple(dict.fromkeys(tops)) or ("",), "")


def unzip_landing(args: tuple[str | None, ...]) -> Landing:
    """`unzip -j` puts every member in the extraction directory by its base name (`cd .git &&
    unzip -j ../a.zip` wrote a/b/config as .git/config)."""
    junk = any(value is not None and value[:1] == "-" and value[1:2] != "-" and "j" in value for value in args)
    return Landing(0, ("",), "", junk) if junk else AS_NAMED


def landed(name: str, landing: Landing) -> str | None:
    """Where a member named `name` lands below the extraction directory; None when
    --strip-components leaves nothing of it (tar skips it)."""
    parts = [part for part in os.path.normpath(name.lstrip("/")).split("/") if part and part != "."]
    if landing.junk:
        return parts[-1] if parts and not name.endswith("/") else None  # a directory entry: skipped
    if landing.strip:
        if len(parts) <= landing.strip:
            return None
        parts = parts[landing.strip:]
    return "/".join(parts)
