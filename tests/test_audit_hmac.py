"""The audit trail's HMAC-SHA256 (built-in SHA-256, no OpenSSL import) equals hmac.digest."""

from __future__ import annotations

import hmac
import os

from agentsh.audit.log import compare_digest, hmac_sha256


def test_equals_hmac_digest() -> None:
    for key_len in (0, 1, 32, 63, 64, 65, 200):
        for msg_len in (0, 1, 55, 56, 64, 500, 10000):
            key, message = os.urandom(key_len), os.urandom(msg_len)
            assert hmac_sha256(key, message) == hmac.digest(key, message, "sha256"), (key_len, msg_len)


def test_rfc4231_case_2() -> None:
    expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert hmac_sha256(b"Jefe", b"what do ya want for nothing?").hex() == expected


def test_compare_digest() -> None:
    assert compare_digest("ab" * 32, "ab" * 32)
    assert not compare_digest("ab" * 32, "ab" * 31 + "ac")
