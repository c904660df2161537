"""The streaming redactor on real bytes: every form, every split point, bounded holdback."""

from __future__ import annotations

import base64
import json
import random
import urllib.parse

import pytest

from agentsh.redact import Redactor, forms

SECRET = b'tok-3x/Y+z=w&"q\\8'
OTHER = b"second-secret-value"


def run(redactor: Redactor, data: bytes, sizes: list[int]) -> bytes:
    out = []
    position = 0
    for size in sizes:
        out.append(redactor.feed(data[position:position + size]))
        position += size
    out.append(redactor.feed(data[position:]))
    out.append(redactor.flush())
    return b"".join(out)


def leaked(output: bytes) -> list[bytes]:
    return [f for f in forms(SECRET) | forms(OTHER) if f in output]


SAMPLES = {
    "raw": b"before " + SECRET + b" after",
    "crlf": b"x " + SECRET.replace(b"8", b"8\n") + b"\r\n",
    "base64 at 0": base64.b64encode(SECRET),
    "base64 at 1": base64.b64encode(b"A" + SECRET + b"BC"),
    "base64 at 2": base64.b64encode(b"AB" + SECRET + b"C"),
    "base64 url": base64.urlsafe_b64encode(b"A" + SECRET),
    "percent": urllib.parse.quote(SECRET.decode(), safe="").encode(),
    "percent lower": urllib.parse.quote(SECRET.decode(), safe="").lower().encode(),
    "percent all": "".join(f"%{b:02X}" for b in SECRET).encode(),
    "json": json.dumps({"t": SECRET.decode()}).encode(),
    "two secrets": OTHER + b" and " + SECRET,
}


@pytest.mark.parametrize("name", list(SAMPLES))
def test_form_is_masked_at_every_split(name: str) -> None:
    data = SAMPLES[name]
    secrets = [SECRET, OTHER] if name != "crlf" else [SECRET.replace(b"8", b"8\n")]
    for split in range(len(data) + 1):
        output = run(Redactor(secrets), data, [split])
        assert not leaked(output) and SECRET not in output, (name, split, output)
        assert b"***" in output


def test_one_byte_at_a_time_and_random_splits() -> None:
    data = b"".join(SAMPLES.values()) * 3
    rng = random.Random(4)
    for sizes in ([1] * len(data), [rng.randint(1, 9) for _ in range(len(data) // 3)]):
        output = run(Redactor([SECRET, OTHER]), data, sizes)
        assert not leaked(output)


def test_clean_output_passes_through_and_is_not_delayed() -> None:
    redactor = Redactor([SECRET])
    text = bytes(range(256)) * 4
    assert redactor.feed(text) + redactor.flush() == text
    prompt = b"agentsh(dev):~$ "
    held = Redactor([SECRET]).feed(prompt)
    assert held == prompt[: len(prompt) - (max(map(len, forms(SECRET))) - 1)] or held == b""
    assert Redactor([]).feed(prompt) == prompt and not Redactor([]).active


def test_holdback_is_bounded() -> None:
    redactor = Redactor([SECRET, OTHER])
    longest = max(len(f) for f in forms(SECRET) | forms(OTHER))
    for _ in range(1000):
        redactor.feed(b"x" * 4096)
        assert len(redactor._pending) < longest


def test_short_secrets_are_refused_without_showing_them() -> None:
    with pytest.raises(ValueError, match="3 bytes") as info:
        Redactor([b"abc"])
    assert "abc" not in str(info.value)
