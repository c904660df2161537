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
Each chunk is scanned for short anchors, 4 bytes of each form chosen where they look least
like ordinary text (punctuation, upper case), by leftmost-longest automata of at most 64
anchors (so the crate's SIMD prefilter applies); only small windows around anchor hits are
re-searched for every (overlapping) occurrence of every form, and the held-back tail is
found by one more automaton call, so no Python code runs per byte.  Anchors make the scan
fast where whole forms are not: forms that share a long prefix (`secret-value-0000`,
`secret-value-0001`, ...) or start with common letters make the crate's prefilter misfire
on ordinary text (40-100 MB/s); their anchors scan at several GB/s.  When the anchors hit
often anyway, a plain DFA over the whole forms (~500 MB/s on one core whatever the text)
is faster: both ways (scan plus windows) are timed on a few large chunks every 64 MB and
the faster is kept.  bench/bench_redact.py: 10 realistic secrets, 64 KiB chunks: ~2.8 GB/s
on log text without them, ~430 MB/s with one every 4 KB; the 10 look-alike secrets of
bench_stream.py on its text: ~4.8 GB/s (the whole-form scan: ~540 MB/s).

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
  length, but the number of labels and the moment held-back bytes appear can hint at
  a secret; a secret that contains the label can be rebuilt by label + nearby output;
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
from operator import itemgetter
from typing import Any

MIN_SECRET = 4
# RFC 3986 unreserved characters: percent-encoders leave these alone.
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# The crate's SIMD prefilter (Teddy) is only used for up to 64 patterns: the fast path
# splits the forms into groups that size.  Padding past it gives the plain DFA fallback.
_TEDDY_LIMIT = 64
_HEAD = 4  # forms are found in the held-back tail by their first 4 bytes (no form is shorter)
_ANCHOR = 4  # bytes of each form that the fast scan looks for
# Bytes that ordinary output is full of: an anchor avoids them where the form allows.
_COMMON = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789 \t\r\n.,:;/")
_TRIAL_MIN_BYTES = 16384  # only chunks this large are timed (timer noise)
_TRIAL_CHUNKS = 8  # chunks timed with both scanners before choosing one
_RETRIAL_EVERY = 1024  # large chunks between trials (the output may change character)

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


def _anchor(form: bytes) -> tuple[bytes, int]:
    """The 4 bytes of `form` least like ordinary text, and their offset in it (the first such)."""
    size = min(_ANCHOR, len(form))

    def rarity(offset: int) -> tuple[int, int]:
        return sum(0 if b in _COMMON else 1 if 0x41 <= b <= 0x5A else 2 for b in form[offset:offset + size]), -offset

    offset = max(range(len(form) - size + 1), key=rarity)
    return form[offset:offset + size], offset


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
        self._groups: list[Any] = []
        self._dfa: Any = None
        self._use_dfa = False
        self._large_chunks = 0
        self._trial_ns = [0, 0]  # time spent in this trial by the groups and by the DFA
        if not patterns:
            return
        import ahocorasick_rs as ac  # 1-10 ms: only when there is something to mask

        self._forms = sorted(patterns)
        self._longest = max(map(len, self._forms))
        # The held-back tail is found without a Python loop over its bytes: one automaton
        # call finds where a form's first 4 bytes occur in it, a set holds the 1-3 byte
        # prefixes that the last bytes of the stream may be.
        by_head: dict[bytes, list[bytes]] = {}
        for form in self._forms:
            by_head.setdefault(form[:_HEAD], []).append(form)
        self._head_forms = list(by_head.values())
        self._heads = ac.BytesAhoCorasick(list(by_head), matchkind=ac.MatchKind.Standard,
                                          implementation=ac.Implementation.ContiguousNFA)
        self._short = frozenset(form[:k] for form in self._forms for k in range(1, min(_HEAD, len(form))))
        self._short_tuple = tuple(self._short)
        # Only small windows around reported matches are re-searched with this one: an NFA
        # builds ten times faster than a DFA and is fast enough there.
        self._exact = ac.BytesAhoCorasick(self._forms, matchkind=ac.MatchKind.Standard,
                                          implementation=ac.Implementation.ContiguousNFA)
        # An occurrence of a form holds its anchor this many bytes after its start (at most).
        reach: dict[bytes, int] = {}
        for anchor, offset in map(_anchor, self._forms):
            reach[anchor] = max(offset, reach.get(anchor, 0))
        unique = sorted(reach)
        count = -(-len(unique) // _TEDDY_LIMIT)
        # A window goes back by the largest reach in the anchor's group, not the reported
        # anchor's own: leftmost-longest scanning skips an anchor that overlaps one reported
        # just before it, and the form around the skipped anchor may begin up to its own reach
        # before it.  (With each anchor's own reach, `aaQZ` reported at 2 hid `aQZZ` at 3, and
        # the secret `aQaaQZZ` at 0 was emitted unmasked.)
        self._reach = [max(reach[anchor] for anchor in unique[i::count]) for i in range(count)]
        self._groups = [ac.BytesAhoCorasick(unique[i::count], matchkind=ac.MatchKind.LeftmostLongest,
                                            implementation=ac.Implementation.ContiguousNFA) for i in range(count)]

    @property
    def active(self) -> bool:
        """False when there is nothing to mask: feed() then returns its input unchanged."""
        return bool(self._groups)

    def feed(self, data: bytes) -> bytes:
        """Return what is safe to emit now; keep only a tail that may still become a secret."""
        if not self._groups:
            return data
        buffer = self._pending + data if self._pending else data if type(data) is bytes else bytes(data)
        return self._process(buffer, final=False)

    def flush(self) -> bytes:
        """End of stream: emit the held-back tail (masked where it is a complete form)."""
        if not self._groups or not self._pending:
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
        start = max(0, len(buffer) - self._longest + 1)
        tail = buffer[start:]
        heads = self._heads.find_matches_as_indexes(tail, overlapping=True)
        for index, at, _ in sorted(heads, key=itemgetter(1)) if heads else ():
            rest = tail[at:]
            if any(len(form) > len(rest) and form.startswith(rest) for form in self._head_forms[index]):
                return len(tail) - at
        if not buffer.endswith(self._short_tuple):  # (one C call: this runs for every read)
            return 0
        for length in range(min(_HEAD - 1, len(buffer)), 0, -1):
            if buffer[-length:] in self._short:
                return length
        return 0

    def _spans(self, buffer: bytes) -> list[tuple[int, int]]:
        """Every occurrence of every form, merged where they overlap or touch, plus the open label."""
        spans = self._scan(buffer)
        if self._open >= 0:
            spans.append((0, self._open))
        elif not spans:
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

    def _scan(self, buffer: bytes) -> list[tuple[int, int]]:
        """Every occurrence of every form, found the faster of the two ways.

        The anchors make the groups several GB/s on most output, but on some secrets and
        texts the anchors hit often (or the crate's prefilter misfires) and the plain DFA
        over the forms is faster.  So, now and then, both ways are timed on the same large
        chunks and the faster one is kept."""
        phase = 0
        if len(buffer) >= _TRIAL_MIN_BYTES:
            self._large_chunks += 1
            phase = self._large_chunks % _RETRIAL_EVERY
        if not 1 <= phase <= _TRIAL_CHUNKS:
            return self._occurrences(buffer, self._use_dfa)
        began = time.perf_counter_ns()
        found = self._occurrences(buffer, False)
        middle = time.perf_counter_ns()
        self._occurrences(buffer, True)
        self._trial_ns[0] += middle - began
        self._trial_ns[1] += time.perf_counter_ns() - middle
        if phase == _TRIAL_CHUNKS:
            self._use_dfa = self._trial_ns[1] < self._trial_ns[0]
            self._trial_ns = [0, 0]
        return found

    def _occurrences(self, buffer: bytes, dfa: bool) -> list[tuple[int, int]]:
        """Leftmost-longest scanning reports no match that begins inside an earlier one, but
        every occurrence (of an anchor; of the form around it) begins inside a reported
        match, so a windowed overlapping search around the reports finds them all."""
        windows: list[list[int]] = []
        for begin, end in self._run(dfa, buffer):
            begin = max(0, begin)
            stop = min(len(buffer), end + self._longest - 1)
            if windows and begin <= windows[-1][1]:
                windows[-1][1] = max(windows[-1][1], stop)
            else:
                windows.append([begin, stop])
        return [(begin + s, begin + e) for begin, stop in windows
                for _, s, e in self._exact.find_matches_as_indexes(buffer[begin:stop], overlapping=True)]

    def _run(self, dfa: bool, buffer: bytes) -> list[tuple[int, int]]:
        """(earliest start of a form around the match, end of the match), in order."""
        if dfa:
            if self._dfa is None:  # built on first use: 5 ms for 10 secrets
                import ahocorasick_rs as ac

                # Padding (bytes output seldom holds; a hit masks nothing) rules out the prefilter.
                padding = [b"\xff\xfe\x00" + i.to_bytes(2, "big") + b"\x00\xfe\xff"
                           for i in range(max(0, _TEDDY_LIMIT + 1 - len(self._forms)))]
                self._dfa = ac.BytesAhoCorasick(self._forms + padding, matchkind=ac.MatchKind.LeftmostLongest,
                                                implementation=ac.Implementation.DFA)
            return [(start, end) for _, start, end in self._dfa.find_matches_as_indexes(buffer)]
        if len(self._groups) == 1:  # the usual case (up to 64 anchors), checked per read of output
            hits = self._groups[0].find_matches_as_indexes(buffer)
            if not hits:
                return []
            reach = self._reach[0]
            return sorted((start - reach, end) for _, start, end in hits)
        found = [(start - reach, end) for group, reach in zip(self._groups, self._reach, strict=True)
                 for _, start, end in group.find_matches_as_indexes(buffer)]
        found.sort()  # windows are merged in order of position
        return found
