"""Page-sized event lines (agentsh/record/lines.py): no line crosses a 4 KiB boundary, no
escape or surrogate pair is cut, and the pieces join back to the original text."""

from __future__ import annotations

import json
import random
from json.encoder import encode_basestring_ascii

import pytest

from agentsh.record.asciicast import json_body
from agentsh.record.lines import MIN_ROOM, PAGE, page_lines, safe_cut

ALPHABET = ["a", "b", " ", "\x1b", "[", "\\", '"', "\n", "\r", "\t", "\x00", "é", "✓", "😀", "\u2028", "\ufffd"]


def random_text(rng: random.Random, size: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(size))


def encode(text: str, utf8: bool) -> bytes:
    """The body as the recorder writes it (UTF-8 kept raw), or all-ASCII with \\u escapes."""
    return json_body(text.encode()) if utf8 else encode_basestring_ascii(text)[1:-1].encode()


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("utf8", [True, False])
def test_lines_stay_inside_pages_and_join_back(seed: int, utf8: bool) -> None:
    rng = random.Random(seed)
    text = random_text(rng, rng.choice([0, 5, 300, 3000, 20_000, 70_000]))
    body = encode(text, utf8)
    code = rng.choice("oimr")
    if code in "mr":
        text = text[:rng.choice([10, 1000])]
        body = encode(text, utf8)
    # Offsets as our writer leaves them: a fresh page or at least MIN_ROOM bytes of room.
    offset = rng.randrange(PAGE * 3) // 1 if seed % 2 else PAGE * 2
    while 0 < PAGE - offset % PAGE < MIN_ROOM:
        offset += 1
    lines = page_lines("12.345678", code, body, offset)
    joined = ""
    for line in lines:
        start = offset
        offset += len(line)
        assert line.endswith(b"]\n") and b"\n" not in line[:-1]
        if len(line) <= PAGE:
            assert start // PAGE == (offset - 1) // PAGE, "a line crosses a page boundary"
        else:
            assert code in "mr"  # only an uncuttable event longer than a page
        room = PAGE - offset % PAGE
        assert room == PAGE or room >= MIN_ROOM  # the next line always has room
        when, kind, data = json.loads(line)
        assert when == 12.345678
        if data or kind == code:
            assert kind == code
            joined += data
    assert joined == text
    assert sum(1 for line in lines if json.loads(line)[1] == code) == 1 or code in "oi"


def test_a_small_event_is_one_line() -> None:
    assert page_lines("0.5", "m", b"cmd-1", 100) == [b'[0.5, "m", "cmd-1"]\n']


def test_safe_cut_never_splits_an_escape() -> None:
    body = encode_basestring_ascii("ab\\\x1b😀\"c")[1:-1].encode()  # ab\\ \u001b \ud83d\ude00 \" c
    cuts = {safe_cut(body, 0, end) for end in range(len(body) + 1)}
    for cut in cuts:
        json.loads(b'"' + body[:cut] + b'"')
        json.loads(b'"' + body[cut:] + b'"')
        assert "\ud83d" not in json.loads(b'"' + body[:cut] + b'"')  # a pair is never cut in two


def test_json_body_is_json() -> None:
    """Every byte value, and text in every alphabet, round-trips through json.loads."""
    rng = random.Random(3)
    texts = ["".join(map(chr, range(128))), "".join(rng.choice(ALPHABET) for _ in range(5000)), "\u2028\x7f\x85"]
    for text in texts:
        assert json.loads(b'"' + json_body(text.encode()) + b'"') == text


def test_safe_cut_never_splits_a_utf8_character() -> None:
    body = json_body("aé✓😀\x1b\\b".encode())
    for end in range(len(body) + 1):
        cut = safe_cut(body, 0, end)
        assert cut <= end
        json.loads(b'"' + body[:cut] + b'"')  # both halves decode as UTF-8 and parse
        json.loads(b'"' + body[cut:] + b'"')
