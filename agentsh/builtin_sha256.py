"""sha256 from CPython's built-in module, without hashlib (which loads OpenSSL, milliseconds
at start-up). Used by the audit chain's HMAC and by the warm client's key."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def builtin_sha256() -> Any:
    """The built-in module's sha256 constructor, or None in a build without it."""
    try:
        from _sha256 import sha256  # Python 3.11
    except ImportError:
        try:
            from _sha2 import sha256  # Python >= 3.12
        except ImportError:
            return None
    return sha256
