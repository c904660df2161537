"""The audit log's HMAC key: in the OS keyring when asked and available, else in a 0600 key file.

`keyring` is imported only when `use_keyring` is true: importing it costs 60-100 ms,
more than agentsh's whole start-up budget, so the key-file path never pays it.

The first call creates the key (32 random bytes).  Creation is serialised by an flock
on a lock file next to the key file, so two agentsh processes starting at once do
not each create a key and sign half the log with one and half with the other.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Mapping
from typing import Any

from ..regular import open_regular
from .log import AuditError, state_dir

SERVICE = "agentsh"
USERNAME = "audit-hmac-key"
KEY_BYTES = 32
ENV_KEY_FILE = "AGENTSH_AUDIT_KEY_FILE"


def key_path(environ: Mapping[str, str]) -> str:
    """$AGENTSH_AUDIT_KEY_FILE, else audit.key in agentsh's state dir (next to the default log)."""
    return environ.get(ENV_KEY_FILE) or os.path.join(state_dir(environ), "audit.key")


def load_key(environ: Mapping[str, str], *, use_keyring: bool, create: bool = True) -> tuple[bytes, str]:
    """(key, where): where is "keyring" or the key file's path.  create=False only reads (for verify)."""
    path = key_path(environ)
    if use_keyring:
        keyring = _keyring()
        if keyring is not None:
            return _from_keyring(keyring, path, create), "keyring"
    return _from_file(path, create), path


def _keyring() -> Any:
    """The keyring module if it has a usable backend, else None (then the key file is used)."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    try:
        backend = keyring.get_keyring()
    except Exception:  # a misconfigured PYTHON_KEYRING_BACKEND raises from deep inside keyring
        return None
    return None if isinstance(backend, fail.Keyring) else keyring


def _from_keyring(keyring: Any, path: str, create: bool) -> bytes:
    try:
        key = _keyring_get(keyring)
    except AuditError:
        if not create:
            raise
        key = None  # maybe another process is writing the entry right now: re-read under the lock
    if key is not None:
        return key
    if not create:
        if os.path.exists(path):
            return read_key_file(path)
        raise AuditError(f"no audit key in the keyring (service '{SERVICE}', user '{USERNAME}') nor in {path}")
    with _creation_lock(path):
        key = _keyring_get(keyring)  # another process may have created it while we waited
        if key is not None:
            return key
        # A key file from before the keyring was used keeps signing the same chain.
        key = read_key_file(path) if os.path.exists(path) else os.urandom(KEY_BYTES)
        try:
            keyring.set_password(SERVICE, USERNAME, key.hex())
        except Exception as err:  # backends raise many kinds of errors; fail closed
            raise AuditError(f"cannot store the audit key in the keyring: {type(err).__name__}: {err}") from None
    return key


def _keyring_get(keyring: Any) -> bytes | None:
    try:
        value = keyring.get_password(SERVICE, USERNAME)
    except Exception as err:
        # The keyring exists but cannot be read (locked, D-Bus gone): falling back to a
        # file would sign with another key, so refuse instead.
        raise AuditError(f"cannot read the audit key from the keyring: {type(err).__name__}: {err}") from None
    if value is None:
        return None
    try:
        key = bytes.fromhex(value.strip())
    except ValueError:
        raise AuditError(f"the audit key in the keyring (service '{SERVICE}', user '{USERNAME}') is not hex") from None
    if len(key) < 16:
        raise AuditError(f"the audit key in the keyring (service '{SERVICE}', user '{USERNAME}') is too short")
    return key


def _from_file(path: str, create: bool) -> bytes:
    try:
        return read_key_file(path)
    except FileNotFoundError:
        if not create:
            raise AuditError(f"no audit key file at {path}") from None
    with _creation_lock(path):
        try:
            return read_key_file(path)
        except FileNotFoundError:
            pass
        key = os.urandom(KEY_BYTES)
        # Written aside and linked into place whole: a process reading the key without the
        # lock (the fast path above) sees no file or the complete key, never an empty one.
        temporary = f"{path}.{os.getpid()}.new"
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
            try:
                os.write(fd, key.hex().encode() + b"\n")
                os.fsync(fd)  # a key lost in a crash would make the whole log unverifiable
            finally:
                os.close(fd)
            try:
                os.link(temporary, path)
            except FileExistsError:  # made meanwhile by a writer that did not take the lock
                return read_key_file(path)
            finally:
                os.unlink(temporary)
            _sync_directory(os.path.dirname(path) or ".")
        except OSError as err:
            raise AuditError(f"cannot create audit key file {path}: {err.strerror or err}") from None
    return key


def _sync_directory(directory: str) -> None:
    """Make the new name durable too (the key's bytes were synced before the link)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_key_file(path: str) -> bytes:
    """The key in a hex key file; raises FileNotFoundError if absent, AuditError if unusable."""
    try:
        # A FIFO planted here hung every agentsh start (open blocked).  (No owner check: root
        # verifying a user's log reads that user's key file.)
        fd = open_regular(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise
    except OSError as err:
        raise AuditError(f"cannot read audit key file {path}: {err.strerror or err}") from None
    try:
        st = os.fstat(fd)
        if st.st_mode & 0o077:
            raise AuditError(f"audit key file {path} is readable by others (mode {st.st_mode & 0o777:o}); "
                             f"run: chmod 600 {path}")
        data = os.read(fd, 4096)
    except OSError as err:
        raise AuditError(f"cannot read audit key file {path}: {err.strerror or err}") from None
    finally:
        os.close(fd)
    try:
        key = bytes.fromhex(data.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        raise AuditError(f"audit key file {path} does not hold a hex key") from None
    if len(key) < 16:
        raise AuditError(f"audit key file {path} holds a key shorter than 16 bytes")
    return key


class _creation_lock:
    """Exclusive flock on <key file>.lock, creating the 0700 state dir if needed."""

    def __init__(self, path: str) -> None:
        self.path = path + ".lock"
        self.fd = -1

    def __enter__(self) -> None:
        try:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), mode=0o700, exist_ok=True)
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError as err:
            if self.fd >= 0:
                os.close(self.fd)
            raise AuditError(f"cannot lock {self.path}: {err.strerror or err}") from None

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)  # closing drops the flock
