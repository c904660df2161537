"""The host's agentsh configuration: which profile each user (or group) must use.

When agentsh is an account's login shell, the account must not choose its own
profile, so a mapping here overrides `-p`.  The file is the admin's: if it
exists but is broken, agentsh refuses to run anything (fail closed).
"""

from __future__ import annotations

import grp
import os
import pwd

from .errors import ConfigError, UsageError

SYSTEM_CONFIG = "/etc/agentsh/config.yaml"
TOP_KEYS = {"agentsh", "profiles"}
PROFILE_KEYS = {"users", "groups", "default"}


def enforced_profile(user: str, path: str | None = None) -> str | None:
    """The profile the config assigns to `user`, or None when the config says nothing."""
    path = path or SYSTEM_CONFIG
    try:
        with open(path, encoding="utf-8") as handle:
            admin_only(handle.fileno(), path)
            text = handle.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read the system config: {err}", file=path) from None
    from .profile.yamlsrc import load_yaml

    src = load_yaml(text, path)
    data = src.data
    if not isinstance(data, dict):
        raise src.error((), "must be a mapping")
    for key in data:
        if key not in TOP_KEYS:
            raise src.error((key,), f"unknown key '{key}'; known keys: {', '.join(sorted(TOP_KEYS))}")
    if data.get("agentsh") != 1:
        raise src.error(("agentsh",), "missing or unsupported format version; write 'agentsh: 1'")
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        raise src.error(("profiles",), "must be a mapping")
    for key, value in profiles.items():
        if key not in PROFILE_KEYS:
            raise src.error(("profiles", key), f"unknown key '{key}'; known keys: {', '.join(sorted(PROFILE_KEYS))}")
        if key in ("users", "groups") and not (isinstance(value, dict) and
                                                all(isinstance(v, str) for v in value.values())):
            raise src.error(("profiles", key), "must map names to profile names")
        if key == "default" and not isinstance(value, str):
            raise src.error(("profiles", key), "must be a profile name")
    users = profiles.get("users", {})
    if user in users:
        return str(users[user])
    member_of = set(_groups_of(user))
    for group, profile in profiles.get("groups", {}).items():  # first listed group wins
        if group in member_of:
            return str(profile)
    default = profiles.get("default")
    return str(default) if default else None


def profile_for(requested: str | None, user: str) -> str | None:
    """The profile to load for `user`: the one this host's config enforces (found only in the
    admin's directories), else the requested one (`-p`, None for the default)."""
    enforced = enforced_profile(user)
    if enforced is None:
        return requested
    if requested is not None and requested != enforced:
        raise UsageError(f"this account's profile is set to '{enforced}' by {SYSTEM_CONFIG}; -p cannot change it")
    found = admin_profile_path(enforced)
    from .profile.load import EMBEDDED_DIR

    if found.startswith(EMBEDDED_DIR + os.sep):
        # part of agentsh itself, as its code is: whoever can write one can rewrite agentsh
        # (and an install under umask 002 leaves both group-writable)
        return found
    try:
        admin_only(os.open(found, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC), found, close=True)
    except OSError as err:
        raise ConfigError(f"cannot read the enforced profile: {err.strerror}", file=found) from None
    return found


def admin_only(fd: int, path: str, close: bool = False) -> None:
    """Refuse an admin's file (the config, an enforced profile) that someone other than root
    could have written: not owned by root, or writable by its group or others, or in a
    directory that is. Such a file maps or defines the account's profile, so whoever can
    write it chooses the account's policy: with a world-writable config.yaml the account
    mapped itself to any profile, -p's refusal notwithstanding."""
    try:
        info = os.fstat(fd)
    finally:
        if close:
            os.close(fd)
    directory = os.path.dirname(os.path.realpath(path))
    for what, st in (("file", info), ("directory", os.stat(directory))):
        if st.st_uid != 0 or st.st_mode & 0o022:
            shown = path if what == "file" else directory
            raise ConfigError(f"the {what} {shown} must be owned by root and writable by no one else "
                              f"(owner uid {st.st_uid}, mode {st.st_mode & 0o7777:o}); refusing to run",
                              file=path)


def _groups_of(user: str) -> list[str]:
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return []
    names = []
    for gid in os.getgrouplist(user, entry.pw_gid):
        try:
            names.append(grp.getgrgid(gid).gr_name)
        except KeyError:
            continue
    return names


def admin_profile_path(spec: str) -> str:
    """Where an enforced profile is: the admin's directory or the embedded ones, never the
    account's own ~/.config (the account could otherwise shadow the admin's profile)."""
    from .profile.load import EMBEDDED_DIR, SYSTEM_DIR

    if "/" in spec:
        if not os.path.isabs(spec):
            raise ConfigError(f"profile path '{spec}' must be absolute", file=SYSTEM_CONFIG)
        return spec
    for directory in (SYSTEM_DIR, EMBEDDED_DIR):
        for ext in (".yaml", ".yml"):
            candidate = os.path.join(directory, spec + ext)
            if os.path.isfile(candidate):
                return candidate
    raise ConfigError(f"profile '{spec}' not found in {SYSTEM_DIR} or the embedded profiles", file=SYSTEM_CONFIG)
