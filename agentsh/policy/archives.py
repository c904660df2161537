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
