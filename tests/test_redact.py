"""The streaming redactor on real bytes: every form, every split point, bounded holdback,
and the limits the module docstring states, measured."""

from __future__ import annotations

import base64
import codecs
import gzip
import json
import random
import re
import urllib.parse

import pytest

from agentsh import redact
from agentsh.redact import Redactor, forms

# Reserved characters, a quote, a backslash, a space and non-ASCII: every encoder differs on it.
SECRET = 'tok-3x/Y+z=w&"q\\8 é<>'.encode()
OTHER = b"second-secret-value-0123"
MULTILINE = b"-----BEGIN KEY-----\nMIIEvQIBADANBgkqh\nkiG9w0BAQ\n-----END KEY-----"
BINARY = b"\xff\xfe\x00bin\x80ary\xc3"  # not UTF-8: no JSON form, raw and the rest still apply
ALL = [SECRET, OTHER, MULTILINE, BINARY]


def run(redactor: Redactor, data: bytes, sizes: list[int]) -> bytes:
    """Feed data in pieces of the given sizes (the rest in one piece), then flush."""
    out, position = [], 0
    for size in sizes:
        out.append(redactor.feed(data[position:position + size]))
        position += size
    out.append(redactor.feed(data[position:]))
    out.append(redactor.flush())
    return b"".join(out)


def leaks(output: bytes, secrets: list[bytes] = ALL) -> list[bytes]:
    return [form for secret in secrets for form in forms(secret) if form in output]


def stdlib_forms(secret: bytes) -> dict[str, bytes]:
    """The encodings as other programs produce them, computed independently of redact.py."""
    text = secret.decode("utf-8", "surrogateescape")
    found = {
        "raw": secret,
        "every byte %XX": "".join(f"%{b:02X}" for b in secret).encode(),
        "every byte %xx": "".join(f"%{b:02x}" for b in secret).encode(),
    }
    if b"\n" in secret:
        found["pty"] = secret.replace(b"\n", b"\r\n")
    try:
        secret.decode("utf-8")
    except UnicodeDecodeError:
        return found
    for name, encoded in {"quote": urllib.parse.quote(text, safe=""), "quote path": urllib.parse.quote(text),
                          "quote_plus": urllib.parse.quote_plus(text)}.items():
        found[name] = encoded.encode()
        found[name + " lower"] = re.sub("%[0-9A-F]{2}", lambda m: m[0].lower(), encoded).encode()
    found["json ascii"] = json.dumps(text)[1:-1].encode()
    found["json utf-8"] = json.dumps(text, ensure_ascii=False)[1:-1].encode()
    return found


CASES = [(f"{secret[:6]!r} {name}", secret, form) for secret in ALL for name, form in stdlib_forms(secret).items()]


@pytest.mark.parametrize(("name", "secret", "form"), CASES, ids=[c[0] for c in CASES])
def test_each_form_is_masked_at_every_split_point(name: str, secret: bytes, form: bytes) -> None:
    assert form in forms(secret)
    data = b"log: " + form + b" done\n"
    whole = run(Redactor(ALL), data, [])
    assert whole == b"log: *** done\n", name
    for split in range(len(data) + 1):
        assert run(Redactor(ALL), data, [split]) == whole, (name, split)


def test_one_byte_at_a_time_and_random_splits_give_the_same_output() -> None:
    rng = random.Random(4)
    pieces = [form for secret in ALL for form in forms(secret)]
    data = b"".join(rng.choice(pieces) + bytes(rng.randrange(256) for _ in range(rng.randrange(12))) for _ in range(300))
    whole = run(Redactor(ALL), data, [])
    assert not leaks(whole) and whole.count(b"***") >= 250
    assert run(Redactor(ALL), data, [1] * len(data)) == whole
    for _ in range(20):
        sizes = [rng.choice([1, 2, 3, 7, 64, 500]) for _ in range(len(data) // 40)]
        assert run(Redactor(ALL), data, sizes) == whole


def test_multiline_secret_through_a_pty() -> None:
    pty = b"$ cat key.pem\r\n" + MULTILINE.replace(b"\n", b"\r\n") + b"\r\n$ "
    output = run(Redactor([MULTILINE]), pty, [1] * len(pty))
    assert output == b"$ cat key.pem\r\n***\r\n$ "


@pytest.mark.parametrize("offset", range(6))
@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
def test_base64_inside_longer_base64_at_every_alignment(offset: int, encode: object) -> None:
    rng = random.Random(offset)
    for secret in ALL:
        before = bytes(rng.randrange(256) for _ in range(offset))
        after = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
        stream = encode(before + secret + after)  # type: ignore[operator]
        # Exactly the characters whose 6 bits all come from the secret are replaced.
        first, end = -(-8 * offset // 6), 8 * (offset + len(secret)) // 6
        expected = stream[:first] + b"***" + stream[end:]
        for sizes in ([], [1] * len(stream), [first + 1]):
            assert run(Redactor([secret]), stream, sizes) == expected


def test_text_without_secrets_passes_through_byte_for_byte() -> None:
    rng = random.Random(7)
    data = bytes(rng.randrange(256) for _ in range(200_000)) + bytes(range(256)) * 8  # not UTF-8
    for sizes in ([], [1] * 5000, [rng.randrange(1, 70_000) for _ in range(10)]):
        assert run(Redactor(ALL), data, sizes) == data
    unmasked = Redactor([])
    assert not unmasked.active and unmasked.feed(data) is data and unmasked.flush() == b""
    assert Redactor([OTHER]).active


def test_holdback_is_bounded_and_only_while_a_match_is_pending() -> None:
    redactor = Redactor(ALL)
    longest = max(len(form) for secret in ALL for form in forms(secret))
    fed = emitted = 0
    for i in range(2000):  # every chunk ends in a long proper prefix of some form
        chunk = b"x" * (i % 50) + OTHER[:-1] + b"%7" + SECRET[: i % len(SECRET)]
        fed += len(chunk)
        emitted += len(redactor.feed(chunk))
        assert 0 <= fed - emitted < longest
    # A prompt that cannot begin a secret comes out at once; a secret's prefix waits.
    fresh = Redactor([OTHER])
    assert fresh.feed(b"agentsh:~$ ") == b"agentsh:~$ "
    assert fresh.feed(b"second-sec") == b""
    assert fresh.feed(b"ond!") == b"second-second!"
    assert fresh.feed(b"value second-secret") == b"value "
    assert fresh.flush() == b"second-secret"
    assert fresh.flush() == b"" and fresh.feed(b"ok") == b"ok"


def test_flush_masks_a_complete_form_in_the_tail() -> None:
    redactor = Redactor([b"abcd", b"abcdefgh"])
    assert redactor.feed(b"> abcd") == b"> "  # could still grow into the longer secret
    assert redactor.flush() == b"***"


def test_overlapping_adjacent_and_prefix_secrets_leave_nothing_showing() -> None:
    secrets = [b"abcdef", b"defghi", b"hunter22", b"hunter22xyz"]
    data = b"1 abcdefghi 2 hunter22xyz 3 hunter22xy 4 abcdefabcdef 5 abcdefdefghi"
    expected = b"1 *** 2 *** 3 ***xy 4 *** 5 ***"
    for sizes in ([], [1] * len(data), [5, 3, 9, 1, 14]):
        assert run(Redactor(secrets), data, sizes) == expected
    # A self-overlapping secret in a run of its own bytes: one label, whatever the splits.
    assert run(Redactor([b"aaaa"]), b"baaaaaaaaab", [1] * 11) == b"b***b"


def test_a_secret_is_masked_when_another_secrets_anchor_overlaps_its_own() -> None:
    # The fast scan looks for 4 rare bytes of each form: `_KEY` at offset 6 of the first
    # secret, `y_KE` at offset 3 of the second.  In `deploy_KEY_2024`, `y_KE` starts one byte
    # before `_KEY`, so leftmost-longest scanning reported it and skipped `_KEY`; the window
    # searched around it began 3 bytes before it, after the secret's start, and the whole
    # first secret was emitted unmasked.
    secrets = [b"deploy_KEY_2024", b"stay_KEen"]
    data = b"key: deploy_KEY_2024\n"
    for use_dfa in (False, True):
        for split in range(len(data) + 1):
            redactor = Redactor(secrets)
            redactor._use_dfa = use_dfa
            assert run(redactor, data, [split]) == b"key: ***\n", (use_dfa, split)


def masked_by_reference(secrets: list[bytes], data: bytes) -> bytes:
    """What the redactor must give, found the slow obvious way: every occurrence of every
    form, merged where they overlap or touch, each merged run replaced by one label."""
    spans = sorted((m.start(), m.start() + len(form)) for secret in secrets for form in forms(secret)
                   for m in re.finditer(b"(?=" + re.escape(form) + b")", data))
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, position = [], 0
    for start, end in merged:
        out += [data[position:start], b"***"]
        position = end
    return b"".join([*out, data[position:]])


def test_random_secrets_over_a_small_alphabet_match_the_obvious_masking() -> None:
    # Few distinct bytes make secrets, their forms and their anchors overlap in every way.
    rng = random.Random(11)
    alphabet = b"aZQ!%/+"
    for _ in range(600):
        secrets = [bytes(rng.choice(alphabet) for _ in range(rng.randint(4, 12))) for _ in range(rng.randint(1, 4))]
        pieces = []
        for _ in range(rng.randint(1, 8)):
            kind = rng.random()
            if kind < 0.4:
                secret = rng.choice(secrets)
                pieces.append(secret[rng.randrange(len(secret)) if kind < 0.1 else 0:])
            elif kind < 0.6:
                pieces.append(rng.choice(sorted(forms(rng.choice(secrets)))))
            else:
                pieces.append(bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 8))))
        data = b"".join(pieces)
        expected = masked_by_reference(secrets, data)
        sizes = [rng.randint(0, 6) for _ in range(rng.randint(0, 4))]
        for use_dfa in (False, True):
            redactor = Redactor(secrets)
            redactor._use_dfa = use_dfa
            assert run(redactor, data, sizes) == expected, (secrets, data, sizes, use_dfa)


def test_label_is_configurable() -> None:
    assert run(Redactor([OTHER], label=b"[masked]"), b"k=" + OTHER, [3]) == b"k=[masked]"


@pytest.mark.parametrize("short", [b"", b"Q", b"QZ", b"QZ#"])
def test_short_secrets_are_refused_without_showing_them(short: bytes) -> None:
    with pytest.raises(ValueError, match=f"{len(short)} bytes") as info:
        Redactor([OTHER, short])
    assert not short or short.decode() not in str(info.value)
    with pytest.raises(ValueError):
        forms(short)


def test_both_scanners_and_the_trials_give_the_same_output(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(9)
    secrets = [OTHER, SECRET, MULTILINE] + [b"key-%d-" % i + rng.randbytes(20) for i in range(10)]  # > 64 forms
    data = b"".join(rng.choice([*secrets, b"filler " * 300]) for _ in range(3000))
    sizes = [65536] * (len(data) // 65536)
    expected = run(Redactor(secrets), data, [])
    assert not leaks(expected, secrets)
    for use_dfa in (False, True):
        redactor = Redactor(secrets)
        redactor._use_dfa = use_dfa
        monkeypatch.setattr(redact, "_TRIAL_MIN_BYTES", 1 << 40)  # no trial: keep the chosen scanner
        assert run(redactor, data, sizes) == expected
    monkeypatch.setattr(redact, "_TRIAL_MIN_BYTES", 1024)  # a trial every few chunks, both scanners timed
    monkeypatch.setattr(redact, "_RETRIAL_EVERY", 5)
    monkeypatch.setattr(redact, "_TRIAL_CHUNKS", 2)
    redactor = Redactor(secrets[:2])  # one group: the DFA is the padded one
    assert run(redactor, data, [4096] * (len(data) // 4096)) == run(Redactor(secrets[:2]), data, [])
    assert redactor._dfa is not None


def rot13(data: bytes) -> bytes:
    return codecs.encode(data.decode(), "rot13").encode()


LIMITS = {
    "hex": lambda s: s.hex().encode(),
    "base32": base64.b32encode,
    "rot13": rot13,
    "gzip": lambda s: gzip.compress(s, mtime=0),
    "reversed": lambda s: s[::-1],
    "interleaved": lambda s: b".".join(s[i:i + 1] for i in range(len(s))),
    "split by other output": lambda s: s[:10] + b" [progress 50%] " + s[10:],
    "upper case": bytes.upper,
    "base64 wrapped at 76": lambda s: base64.encodebytes(b"x" * 50 + s),
}


@pytest.mark.parametrize("name", list(LIMITS))
def test_documented_limits_do_leak(name: str) -> None:
    """What the docstring says it cannot catch: the secret is recoverable from the output."""
    secret = b"ghp_" + bytes(random.Random(1).choice(b"abcdefghijkmnpqrstuvwxyz23456789") for _ in range(36))
    encoded = LIMITS[name](secret)
    output = run(Redactor([secret]), encoded, [])
    assert output == encoded  # passed through unmasked
    if name == "base64 wrapped at 76":  # the part before the line break is still masked
        assert b"***" not in output and len(base64.b64encode(b"x" * 50 + secret)) > 76


def test_anchor_avoids_ordinary_text() -> None:
    assert redact._anchor(b"secret-value-0001-xyz") == (b"ret-", 3)  # the first run with the most punctuation
    assert redact._anchor(b"abcdefgh") == (b"abcd", 0)  # nothing rarer: the first four bytes
    assert redact._anchor(b"AKIAabcd")[1] == 0


@pytest.mark.parametrize("use_dfa", [False, True])
def test_forms_sharing_a_long_prefix_at_every_split(monkeypatch: pytest.MonkeyPatch, use_dfa: bool) -> None:
    """Secrets that differ only near their end (their anchors lie deep inside the forms), planted
    in ordinary text in every form, with a read boundary at every position of the occurrence."""
    secrets = [b"secret-value-%04d-xyz" % i for i in range(10)]
    filler = b"agentsh bench 0123456789 abcdefghijklmnopqrstuvwxyz\r\n" * 3
    monkeypatch.setattr(redact, "_TRIAL_MIN_BYTES", 1 << 40)  # keep the chosen scanner
    for secret in (secrets[0], secrets[7]):
        for form in sorted(forms(secret)):
            data = filler + form + filler
            for cut in range(len(filler), len(filler) + len(form) + 1):
                redactor = Redactor(secrets)
                redactor._use_dfa = use_dfa
                output = run(redactor, data, [cut])
                assert output == filler + b"***" + filler, (form, cut)
