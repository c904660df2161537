"""Credentials in the OS keyring: read only for an approved command's rule, never logged.

`keyring` is imported only here and only when a credential is actually needed:
importing it costs 60-100 ms, more than the rest of agentsh's start-up.
Names of stored entries are kept in a small index file (keyring has no portable
way to list entries); values live only in the keyring.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

from ..profile import Credential

MIN_LENGTH = 4  # shorter secrets cannot be masked in output without destroying it


class CredentialError(Exception):
    """Names the credential and the cause, never the value."""


def _keyring() -> Any:
    try:
        import keyring
        import keyring.errors
    except ImportError as err:  # pragma: no cover - keyring is a dependency
        raise CredentialError(f"the keyring package is not installed: {err}") from None
    backend = keyring.get_keyring()
    if type(backend).__name__ == "Keyring" and "fail" in type(backend).__module__:
        raise CredentialError("no keyring backend is available (install and unlock a Secret Service "
                              "keyring, or configure keyrings.alt)")
    return keyring


def backend_name() -> str:
    backend = _keyring().get_keyring()
    return f"{type(backend).__module__}.{type(backend).__name__}"


def fetch(credentials: Iterable[Credential]) -> dict[str, str]:
    """Read the secrets one rule names; any missing one refuses the whole command."""
    keyring = _keyring()
    values: dict[str, str] = {}
    for credential in credentials:
        where = f"{credential.variable} (keyring service '{credential.service}', user '{credential.user}')"
        try:
            value = keyring.get_password(credential.service, credential.user)
        except Exception as err:  # backends raise many kinds of errors
            raise CredentialError(f"cannot read credential {where}: {type(err).__name__}: {err}") from None
        if value is None:
            raise CredentialError(f"credential {where} is not in the keyring; "
                                  f"store it with `agentsh secret set {credential.service} {credential.user}`")
        if len(value.encode()) < MIN_LENGTH:
            raise CredentialError(f"credential {where} is shorter than {MIN_LENGTH} bytes and cannot be masked")
        values[credential.variable] = value
    return values


def index_path(environ: Mapping[str, str]) -> str:
    from ..audit.log import state_dir  # (a relative XDG_STATE_HOME is ignored: it put this in the workspace)

    return os.path.join(state_dir(environ), "secrets.index")


def _read_index(path: str) -> list[list[str]]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return []
    return [list(map(str, item)) for item in data if isinstance(item, list) and len(item) == 2]


def _write_index(path: str, entries: list[list[str]]) -> None:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(sorted(entries), handle)
    os.replace(tmp, path)


def store(environ: Mapping[str, str], service: str, user: str, value: str) -> None:
    if len(value.encode()) < MIN_LENGTH:
        raise CredentialError(f"refusing a secret shorter than {MIN_LENGTH} bytes: it could not be masked")
    entries = _read_index(index_path(environ))
    for known_service, known_user in entries:
        if known_service == service and known_user.lower() == user.lower() and known_user != user:
            raise CredentialError(f"'{user}' and the stored '{known_user}' differ only in case; some keyring "
                                  "backends fold user names to lower case, so they would collide")
    _keyring().set_password(service, user, value)
    if [service, user] not in entries:
        entries.append([service, user])
        _write_index(index_path(environ), entries)


def delete(environ: Mapping[str, str], service: str, user: str) -> None:
    keyring = _keyring()
    try:
        keyring.delete_password(service, user)
    except keyring.errors.PasswordDeleteError:
        raise CredentialError(f"no credential for service '{service}', user '{user}'") from None
    entries = [e for e in _read_index(index_path(environ)) if e != [service, user]]
    _write_index(index_path(environ), entries)


def info(service: str, user: str) -> dict[str, Any]:
    value = _keyring().get_password(service, user)
    return {"service": service, "user": user, "stored": value is not None,
            "length": len(value.encode()) if value is not None else 0, "backend": backend_name()}


def names(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    return [(s, u) for s, u in _read_index(index_path(environ))]
