"""Streaming redaction of injected credentials from everything the agent, the recording
and the audit trail see.

Each secret is searched for in several forms at once (one Aho-Corasick automaton,
ahocorasick-rs: C-speed with SIMD prefilters, several GB/s for tens of forms, where
a Python loop or a regex alternation manages 60-120 MB/s):

- the raw bytes, and the `\\r\\n` form of a multi-line secret (a PTY turns `\\n` into `\\r\\n`);
- base64 at all three alignments (the secret inside a longer base64 stream: only the
  characters fully determined by the secret's bytes are matched), standard and URL-safe;
- percent-encoding (reserved bytes only, and every byte; upper and lower hex);
- JSON string escaping (`json.dumps` without the quotes, ASCII and UTF-8 forms).

A secret split across reads is caught because the redactor holds back the last
(longest form - 1) bytes until more output arrives or the stream ends; nothing else
is delayed, and memory stays bounded whatever the output size.

What it cannot catch (also in docs/credentials.md): other encodings (hex, base32,
rot13, compression, encryption), a secret printed with other characters interleaved,
reversed, or in pieces separated by other output; base64 whose alignment is broken
by line wrapping inside the secret; a form that begins before a secret that
overlaps another secret (the leftmost longest match wins, the rest of the other may
show); and the secret's length, which the label does not reveal but timing might.
Secrets shorter than 4 bytes are refused.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MIN_SECRET = 4


def forms(secret: bytes) -> set[bytes]:
    """Every encoded form of a secret that is masked."""
    found = {secret}
    if b"\n" in secret:
        found.add(secret.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + secret)
        start = -(-8 * pad // 6)  # first character whose 6 bits all come from the secret
        end = (8 * (pad + len(secret))) // 6  # last character with no padding bits
        for alphabet in (encoded, encoded.translate(bytes.maketrans(b"+/", b"-_"))):
            found.add(alphabet[start:end])
    text = secret.decode("utf-8", "surrogateescape")
    for encoded_text in (quote(text, safe=""), quote_plus(text, safe=""),
                         "".join(f"%{b:02X}" for b in secret)):
        found.add(encoded_text.encode())
        found.add(encoded_text.lower().encode() if "%" in encoded_text else encoded_text.encode())
    try:
        for ascii_only in (True, False):
            found.add(json.dumps(secret.decode("utf-8"), ensure_ascii=ascii_only)[1:-1].encode())
    except UnicodeDecodeError:
        pass
    return {f for f in found if len(f) >= MIN_SECRET}


class Redactor:
    """One output stream's redactor: feed() what arrives, emit what it returns."""

    def __init__(self, secrets: Iterable[bytes], label: bytes = b"***") -> None:
        patterns: set[bytes] = set()
        for secret in secrets:
            if len(secret) < MIN_SECRET:
                raise ValueError(f"a secret of {len(secret)} bytes is too short to mask (minimum {MIN_SECRET})")
            patterns |= forms(secret)
        self.label = label
        self._pending = b""
        self._automaton: Any = None
        self._hold = 0
        if patterns:
            import ahocorasick_rs

            self._patterns = sorted(patterns)
            self._automaton = ahocorasick_rs.BytesAhoCorasick(
                self._patterns, matchkind=ahocorasick_rs.MatchKind.LeftmostLongest)
            self._hold = max(len(p) for p in patterns) - 1

    @property
    def active(self) -> bool:
        return self._automaton is not None

    def feed(self, data: bytes) -> bytes:
        if self._automaton is None:
            return data
        buffer = self._pending + data if self._pending else data
        # A match starting before `cut` lies wholly inside the buffer (no form is longer
        # than hold + 1), so every byte before `cut` that no match covers is safe.
        cut = len(buffer) - self._hold
        out, position = self._replace(buffer, cut)
        emit_to = max(position, cut)
        self._pending = buffer[emit_to:]
        out.append(buffer[position:emit_to])
        return b"".join(out)

    def flush(self) -> bytes:
        if self._automaton is None or not self._pending:
            return b""
        buffer, self._pending = self._pending, b""
        out, position = self._replace(buffer, len(buffer))
        out.append(buffer[position:])
        return b"".join(out)

    def _replace(self, buffer: bytes, cut: int) -> tuple[list[bytes], int]:
        out: list[bytes] = []
        position = 0
        for _, start, end in self._automaton.find_matches_as_indexes(buffer):
            if start >= cut:
                break
            out.append(buffer[position:start])
            out.append(self.label)
            position = end
        return out, position
