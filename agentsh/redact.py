"""Streaming redaction of injected credentials from the agent's output, the recording
and the audit trail.

One `Redactor` per output stream.  Each secret is looked for in every form listed by
`forms()`:

- the raw bytes; a multi-line secret also as a PTY prints it (`\\n` -> `\\r\\n`);
- base64 inside a longer base64 stream, the secret starting at offset 0, 1 or 2 mod 3,
  standard and URL-safe alphabets: only the characters whose 6 bits all come from the
  secret are matched (the first and last character are shared with neighbouring bytes);
- percent-encoding: every byte, and only the bytes outside RFC 3986's unreserved set
  (also with `/` or `!'()*` left alone and with space as `+`), upper and lower hex;
- JSON string escaping (`json.dumps` without the quotes, `ensure_ascii` on and off,
  plus `\\/` and Go's `\\u003c`-style HTML-safe escapes).

Every occurrence of every form is replaced; overlapping or adjacent occurrences (two
secrets that overlap, one that is a prefix of another) become one label, so the longest
match always wins and no piece of the other secret is left showing.

Streaming: `feed()` returns at once everything that can no longer become part of a
secret.  It holds back only the shortest tail of the stream that is still a proper
prefix of some form (at most the longest form minus one byte), so memory is constant
and a prompt that does not look like the start of a secret is emitted immediately.
The output does not depend on how the stream was split into reads.

Speed: matching is done by ahocorasick-rs (Rust, imported only when there is a secret).
A leftmost-longest automaton scans each chunk; only the few places where it reports a
match are re-searched for overlapping occurrences.  With up to 64 forms the crate uses a
SIMD prefilter (several GB/s) that can misfire on some secrets; then we switch, once, to
a plain DFA (about 600 MB/s on one core whatever the secrets) if that measures faster.

What it cannot catch (measured in tests/test_redact.py where it can be):

- other encodings: hex, base32, rot13, gzip or any compression, encryption, other
  escapes (shell `$'\\x..'`, HTML entities, UTF-16), base64 of a transformed secret;
- a secret printed in pieces with other output in between (`abc` ... `def`), with
  characters interleaved (`a.b.c.d`), reversed, or case-changed;
- base64 whose alignment shifts inside the secret (a line break every 76 characters
  in the middle of it, as `base64` without `-w0` prints it); the characters before
  the break are still masked when they are long enough;
- the bits of the secret inside the first and last base64 character (2-4 bits each),
  and in the last character of unpadded `base64(secret)` at offset 0;
- anything that is not a form: a 3-byte secret is refused, because masking it would
  destroy ordinary output and its position would reveal it anyway;
- side channels: the label has a fixed length, so it does not reveal the secret's
  length, but the time at which held-back bytes appear, the number of labels, and a
  secret that contains the label or ends a label-adjacent string can;
- output that reaches the agent without going through a Redactor (files the command
  writes, the network).
Forms shorter than 6 bytes (4- or 5-byte secrets) also match ordinary output by
chance now and then; that costs a spurious label, never a leak.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterable
from typing import Any

MIN_SECRET = 4
# RFC 3986 unreserved characters: percent-encoders leave these alone.
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# The crate's SIMD prefilter (Teddy) is only used for up to 64 patterns; padding past that
# gives the plain DFA, the fallback when the prefilter misfires.
_TEDDY_LIMIT = 64
_TRIAL_CHUNKS = 8  # slow chunks compared before choosing a scanner for good
_TRIAL_MIN_BYTES = 16384
_SLOW_BYTES_PER_NS = 1.0  # under 1 GB/s the prefilter is not paying for itself


def _check(secret: bytes) -> bytes:
    secret = bytes(secret)
    if len(secret) < MIN_SECRET:
        # Name the length only: the value must not reach an error message or a log.
        raise ValueError(f"a secret of {len(secret)} bytes is too short to mask (minimum {MIN_SECRET})")
    return secret


def _base64_forms(secret: bytes) -> set[bytes]:
    found = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + secret)
        # Character k carries bits [6k, 6k+6); the secret occupies bits [8*offset, 8*(offset+n)).
        first = -(-8 * offset // 6)
        end = 8 * (offset + len(secret)) // 6
        standard = encoded[first:end]
        found.add(standard)
        found.add(standard.translate(bytes.maketrans(b"+/", b"-_")))
    return found


def _percent(secret: bytes, keep: frozenset[int], plus: bool, hex_format: str) -> bytes:
    parts = []
    for byte in secret:
        if byte in keep:
            parts.append(chr(byte))
        elif plus and byte == 0x20:
            parts.append("+")
        else:
            parts.append(hex_format.format(byte))
    return "".join(parts).encode("ascii")


def _percent_forms(secret: bytes) -> set[bytes]:
    found = set()
    for hex_format in ("%{:02X}", "%{:02x}"):
        found.add(_percent(secret, frozenset(), False, hex_format))  # every byte
        for extra in (b"", b"/", b"!'()*"):  # quote(safe=""), quote(), encodeURIComponent
            for plus in (False, True):  # quote_plus / form encoding
                found.add(_percent(secret, _UNRESERVED | frozenset(extra), plus, hex_format))
    return found


def _json_forms(secret: bytes) -> set[bytes]:
    try:
        text = secret.decode("utf-8")
    except UnicodeDecodeError:
        return set()  # JSON cannot carry these bytes as a string: nothing to add
    found = set()
    for ascii_only in (True, False):
        escaped = json.dumps(text, ensure_ascii=ascii_only)[1:-1]
        found.add(escaped.encode("utf-8"))
        found.add(escaped.replace("/", "\\/").encode("utf-8"))
        html_safe = escaped.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        found.add(html_safe.encode("utf-8"))
    return found


def forms(secret: bytes) -> set[bytes]:
    """Every encoded form of `secret` that a Redactor masks."""
    secret = _check(secret)
    found = {secret, secret.replace(b"\n", b"\r\n"), secret.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")}
    found |= _base64_forms(secret) | _percent_forms(secret) | _json_forms(secret)
    return found


class Redactor:
    """One output stream's redactor: pass every chunk through feed(), then flush() at the end."""

    def __init__(self, secrets: Iterable[bytes], label: bytes = b"***") -> None:
        patterns: set[bytes] = set()
        for secret in secrets:
            patterns |= forms(secret)
        self._label = bytes(label)
        self._pending = b""
        # pending[:_open] is secret that a label already emitted stands for (-1: none).  A
        # match overlapping or touching it continues that label instead of adding another.
        self._open = -1
        self._scanner: Any = None
        self._slow: Any = None
        self._trial: list[int] | None = None
        if not patterns:
            return
        import ahocorasick_rs as ac  # 10-20 ms: only when there is something to mask

        ordered = sorted(patterns)
        self._longest = max(map(len, ordered))
        # Forms by first byte: finds the held-back tail without a scan of every form.
        self._by_first: dict[int, tuple[bytes, ...]] = {}
        for form in ordered:
            self._by_first[form[0]] = (*self._by_first.get(form[0], ()), form)
        # The exact automaton only re-searches small windows around reported matches: an NFA
        # builds ten times faster than a DFA and is fast enough there.
        self._exact = ac.BytesAhoCorasick(ordered, matchkind=ac.MatchKind.Standard,
                                          implementation=ac.Implementation.ContiguousNFA)
        self._scanner = ac.BytesAhoCorasick(ordered, matchkind=ac.MatchKind.LeftmostLongest,
                                            implementation=ac.Implementation.DFA)
        if len(ordered) <= _TEDDY_LIMIT:
            self._trial = [0, 0, 0]  # slow chunks seen, ns spent by the prefilter, ns by the DFA

    @property
    def active(self) -> bool:
        """False when there is nothing to mask: feed() then returns its input unchanged."""
        return self._scanner is not None

    def feed(self, data: bytes) -> bytes:
        """Return what is safe to emit now; keep only a tail that may still become a secret."""
        if self._scanner is None:
            return data
        buffer = self._pending + data if self._pending else data if type(data) is bytes else bytes(data)
        return self._process(buffer, final=False)

    def flush(self) -> bytes:
        """End of stream: emit the held-back tail (masked where it is a complete form)."""
        if self._scanner is None or not self._pending:
            self._pending, self._open = b"", -1
            return b""
        out = self._process(self._pending, final=True)
        self._pending, self._open = b"", -1
        return out

    def _process(self, buffer: bytes, final: bool) -> bytes:
        size = len(buffer)
        safe = size if final else size - self._held(buffer)
        spans = self._spans(buffer)
        if not spans and safe == size and self._open < 0:
            self._pending = b""
            return buffer  # the common case: no secret anywhere near, emit unchanged
        out: list[bytes] = []
        position = 0
        last_end = self._open  # end of the label most recently emitted, in buffer positions
        for start, end in spans:
            if start >= safe:
                break  # begins in the held-back tail: decided once more output arrives
            out.append(buffer[position:start])
            if not (start == 0 and self._open >= 0):
                out.append(self._label)
            position = last_end = end
        if position < safe:
            out.append(buffer[position:safe])
        self._pending = buffer[safe:]
        self._open = last_end - safe if last_end >= safe else -1
        return b"".join(out)

    def _held(self, buffer: bytes) -> int:
        """Length of the longest tail of buffer that is a proper prefix of some form."""
        size = len(buffer)
        by_first = self._by_first
        # Bounded by the longest form, so this loop is per chunk, never per byte of output.
        for index in range(max(0, size - self._longest + 1), size):
            candidates = by_first.get(buffer[index])
            if candidates:
                tail = buffer[index:]
                if any(len(form) > len(tail) and form.startswith(tail) for form in candidates):
                    return size - index
        return 0

    def _spans(self, buffer: bytes) -> list[tuple[int, int]]:
        """Every occurrence of every form, merged where they overlap or touch, plus the open label."""
        reported = self._scan(buffer)
        spans: list[tuple[int, int]] = [(0, self._open)] if self._open >= 0 else []
        # Leftmost-longest scanning skips occurrences that begin inside a reported match, but
        # every occurrence begins inside one, so a windowed overlapping search finds them all.
        windows: list[list[int]] = []
        for _, start, end in reported:
            stop = min(len(buffer), end + self._longest - 1)
            if windows and start <= windows[-1][1]:
                windows[-1][1] = max(windows[-1][1], stop)
            else:
                windows.append([start, stop])
        for begin, stop in windows:
            for _, s, e in self._exact.find_matches_as_indexes(buffer[begin:stop], overlapping=True):
                spans.append((begin + s, begin + e))
        if not reported and self._open < 0:
            return []
        spans.sort()
        merged: list[tuple[int, int]] = []
        for start, end in spans:
            if merged and start <= merged[-1][1]:
                if end > merged[-1][1]:
                    merged[-1] = (merged[-1][0], end)
            else:
                merged.append((start, end))
        return merged

    def _scan(self, buffer: bytes) -> list[tuple[int, int, int]]:
        if self._trial is None or len(buffer) < _TRIAL_MIN_BYTES:
            return self._scanner.find_matches_as_indexes(buffer)
        began = time.perf_counter_ns()
        reported = self._scanner.find_matches_as_indexes(buffer)
        spent = time.perf_counter_ns() - began
        if len(buffer) >= _SLOW_BYTES_PER_NS * spent:
            return reported  # fast enough
        # The prefilter misfires on this output: time the plain DFA on the same chunk.
        if self._slow is None:
            self._slow = self._padded_scanner()
        began = time.perf_counter_ns()
        reported = self._slow.find_matches_as_indexes(buffer)
        trial = self._trial
        trial[0] += 1
        trial[1] += spent
        trial[2] += time.perf_counter_ns() - began
        if trial[0] >= _TRIAL_CHUNKS:
            if trial[2] < trial[1]:
                self._scanner = self._slow
            self._trial = self._slow = None
        return reported

    def _padded_scanner(self) -> Any:
        """The same forms plus enough padding (which masks nothing) to rule out the SIMD prefilter."""
        import ahocorasick_rs as ac

        # Bytes that real output seldom contains; a hit only costs one re-search of a window.
        padding = [b"\xff\xfe\x00" + i.to_bytes(2, "big") + b"\x00\xfe\xff" for i in range(_TEDDY_LIMIT + 1)]
        ordered = sorted(form for group in self._by_first.values() for form in group)
        return ac.BytesAhoCorasick(ordered + padding, matchkind=ac.MatchKind.LeftmostLongest,
                                   implementation=ac.Implementation.DFA)
