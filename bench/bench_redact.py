"""Throughput of the credential redactor alone: `Redactor.feed()` over realistic output.

The output is build/test-log-like text (timestamps, paths, hashes, JSON lines, URLs,
base64 blobs), generated deterministically, fed in 64 KiB chunks as the output stream
reads it.  Cases: 0, 1 and 10 secrets of realistic shapes, each also with one of the
secrets' forms (raw, base64, percent, JSON, PTY) planted every few KB.  Reported per
case: MB/s, the time added per 100 MB, and that time as a share of a whole pipeline
running at --pipeline-mbps (the issue's budget: 10 secrets cost at most +10%).  Each
case is also checked: no form of any secret survives, and the labels are counted.

    python3 bench/bench_redact.py [--mb 100] [--runs 3] [--pipeline-mbps 38] [--json [FILE]]
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import string
import sys
import time

from agentsh.redact import Redactor, forms

CHUNK = 65536
BLOCK = 4 << 20  # distinct text generated once, then cycled through to reach --mb


def make_secrets(rng: random.Random) -> list[bytes]:
    alnum = string.ascii_letters + string.digits

    def pick(alphabet: str, n: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(n))

    body = "\n".join(pick(alnum + "+/", 64) for _ in range(3))
    pem = f"-----BEGIN EC PRIVATE KEY-----\n{body}\n-----END EC PRIVATE KEY-----"
    return [s.encode() for s in (
        "ghp_" + pick(alnum, 36),                          # GitHub token
        pick(alnum + "+/", 40),                            # AWS secret access key
        "AKIA" + pick(string.ascii_uppercase + string.digits, 16),
        "xoxb-" + pick(string.digits, 12) + "-" + pick(alnum, 24),
        pick(alnum, 8) + "!@#$ %&" + pick(alnum, 6),       # password with reserved characters
        "eyJhbGciOiJIUzI1NiJ9." + pick(alnum + "-_", 40) + "." + pick(alnum + "-_", 43),
        pem,
        "postgres://app:" + pick(alnum, 20) + "@db:5432/app",
        pick("0123456789abcdef", 64),                      # hex API key
        "sk-" + pick(alnum, 48),
    )]


def make_block(rng: random.Random, plant: list[bytes], every: int) -> bytes:
    """About BLOCK bytes of log-like text; a planted form roughly every `every` bytes."""
    words = "the build test error warning passed failed compile link module import from cache hit miss".split()
    lines: list[bytes] = []
    size = since_plant = 0
    while size < BLOCK:
        kind = rng.randrange(6)
        if kind == 0:
            line = f"2026-05-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z INFO " + \
                " ".join(rng.choice(words) for _ in range(rng.randint(3, 14)))
        elif kind == 1:
            line = f"/usr/lib/python3.11/site-packages/pkg{rng.randint(0, 99)}/mod.py:{rng.randint(1, 999)}: in f"
        elif kind == 2:
            line = f"commit {rng.getrandbits(160):040x} Author: dev <dev@example.org>"
        elif kind == 3:
            line = json.dumps({"level": "debug", "msg": " ".join(rng.choice(words) for _ in range(6)), "n": rng.random()})
        elif kind == 4:
            line = f"GET https://api.example.org/v1/items?page={rng.randint(1, 99)}&q=a%20b 200 {rng.randint(1, 900)}ms"
        else:
            line = base64.b64encode(rng.randbytes(rng.randint(20, 57))).decode()
        encoded = line.encode() + b"\n"
        if plant and since_plant >= every:
            encoded = b"token=" + rng.choice(plant) + b"\n" + encoded
            since_plant = 0
        lines.append(encoded)
        size += len(encoded)
        since_plant += len(encoded)
    return b"".join(lines)


def measure(secrets: list[bytes], block: bytes, total: int, runs: int) -> dict[str, float]:
    chunks = [block[i:i + CHUNK] for i in range(0, len(block), CHUNK)]
    rounds = max(1, total // len(block))
    best = float("inf")
    for _ in range(runs):
        redactor = Redactor(secrets)
        began = time.perf_counter()
        for _ in range(rounds):
            for chunk in chunks:
                redactor.feed(chunk)
        redactor.flush()
        best = min(best, time.perf_counter() - began)
    # Untimed check on one block: nothing of any secret survives, and how many labels it took.
    redactor = Redactor(secrets)
    output = b"".join(redactor.feed(chunk) for chunk in chunks) + redactor.flush()
    leaked = sum(form in output for secret in secrets for form in forms(secret))
    return {"seconds": best, "mb": rounds * len(block) / 1e6, "labels_per_block": output.count(b"***"),
            "leaked_forms": leaked}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100, help="output size per case (MB)")
    parser.add_argument("--runs", type=int, default=3, help="runs per case; the best is reported")
    parser.add_argument("--every", type=int, default=4096, help="bytes between planted secrets")
    parser.add_argument("--pipeline-mbps", type=float, default=38.0,
                        help="throughput of the whole output pipeline without masking (README: 38 MB/s)")
    parser.add_argument("--json", nargs="?", const="-", metavar="FILE", help="write results as JSON (- for stdout)")
    args = parser.parse_args()

    rng = random.Random(2026)
    secrets = make_secrets(rng)
    clean = make_block(random.Random(1), [], 0)
    results = []
    for count in (0, 1, 10):
        chosen = secrets[:count]
        planted = [form for secret in chosen for form in sorted(forms(secret))]
        dirty = make_block(random.Random(2), planted, args.every)
        for name, block in (("clean", clean), (f"form every {args.every // 1024} KB", dirty)):
            if not count and name != "clean":
                continue
            row = measure(chosen, block, args.mb * 1_000_000, args.runs)
            mbps = row["mb"] / row["seconds"]
            added = 100 / mbps if count else 0.0
            results.append({"secrets": count, "text": name, "mb_per_s": round(mbps, 1),
                            "added_s_per_100mb": round(added, 3),
                            "pipeline_overhead_pct": round(100 * added / (100 / args.pipeline_mbps), 1),
                            "labels_per_4mb": row["labels_per_block"], "leaked_forms": row["leaked_forms"]})

    print(f"{args.mb} MB per case in {CHUNK // 1024} KiB chunks, best of {args.runs}; "
          f"pipeline share against {args.pipeline_mbps:g} MB/s\n")
    print("| secrets | text | feed() MB/s | added s / 100 MB | pipeline overhead | labels per 4 MB | forms leaked |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['secrets']} | {r['text']} | {r['mb_per_s']:,.0f} | {r['added_s_per_100mb']:.3f} | "
              f"+{r['pipeline_overhead_pct']}% | {r['labels_per_4mb']} | {r['leaked_forms']} |")
    if args.json:
        text = json.dumps({"mb": args.mb, "runs": args.runs, "chunk": CHUNK, "results": results}, indent=2)
        if args.json == "-":
            print(text)
        else:
            with open(args.json, "w") as handle:
                handle.write(text + "\n")
    return 1 if any(r["leaked_forms"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
