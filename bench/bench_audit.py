"""Audit trail costs: what one event adds to a command, and `verify` on a million events.

Targets (issue 5): an audit event adds under 1 ms per command; `agentsh audit verify`
on a 1,000,000-event log takes under 10 s.

Measured, in a temp dir (HOME and XDG dirs point there; nothing touches the user's files):

    write            AuditLog.write of a realistic decision event: flock, head read, JSON,
                     HMAC, one O_APPEND write(2), head update, flock release (per event)
    write, N procs   the same with N processes appending to one log at once (wall time
                     per event over all of them: lock contention included)
    open             open_audit_log (files, key check on the log's last line), once per command
    load_key file    load_key(use_keyring=False) in a fresh interpreter, imports included (what
                     agentsh pays per command; then also open + one write); .pyc files cached
    load_key keyring load_key(use_keyring=True) with keyrings.alt's PlaintextKeyring, fresh
                     interpreter: includes `import keyring`
    verify 1M        verify() of a 1,000,000-event log written by the real writer

    python3 bench/bench_audit.py [--events 1000000] [--writes 5000] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agentsh.audit.log import open_audit_log  # noqa: E402
from agentsh.audit.verify import verify  # noqa: E402

KEY = bytes(range(32))
WRITE_TARGET_MS = 1.0
VERIFY_TARGET_S = 10.0


def decision_event(i: int) -> dict[str, object]:
    """Fields the session writes for a decision, at a realistic size (~700 bytes on disk)."""
    return {
        "session": "s-20260501-7f3a9c", "command": f"s-20260501-7f3a9c/{i}",
        "line": f"git -C /home/dev/project log --oneline -n {i % 50} | head -20",
        "commands": [{"argv": ["git", "-C", "/home/dev/project", "log", "--oneline", "-n", str(i % 50)],
                      "program": "/usr/bin/git", "decision": "allow", "rule": "git-read"},
                     {"argv": ["head", "-20"], "program": "/usr/bin/head", "decision": "allow", "rule": "tools"}],
        "decision": "allow", "rule": "git-read", "profile": "/home/dev/.config/agentsh/profiles/dev.yaml",
        "profile_sha256": "9f2c4e1d0b7a6f5e3c2d1b0a9f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6",
        "identity": {"user": "dev", "uid": 1000, "agent": "claude-code", "host": "build-7"},
        "approver": None, "credentials": ["GITHUB_TOKEN"],
        "recording": "/home/dev/.local/state/agentsh/recordings/s-20260501-7f3a9c.cast",
    }


def bench_write(directory: Path, writes: int) -> dict[str, float]:
    log = open_audit_log(str(directory / "write.jsonl"), KEY)
    fields = decision_event(1)
    for _ in range(200):  # warm up: page cache, allocator
        log.write("decision", **fields)
    samples = []
    for _ in range(writes):
        start = time.perf_counter_ns()
        log.write("decision", **fields)
        samples.append((time.perf_counter_ns() - start) / 1e6)
    log.close()
    samples.sort()
    return {"median_ms": statistics.median(samples), "p99_ms": samples[int(len(samples) * 0.99)],
            "max_ms": samples[-1], "bytes": (directory / "write.jsonl").stat().st_size / (writes + 200)}


def _writer(path: str, count: int) -> None:
    log = open_audit_log(path, KEY)
    fields = decision_event(2)
    for _ in range(count):
        log.write("decision", **fields)
    log.close()


def bench_contended(directory: Path, procs: int, per_proc: int) -> dict[str, float]:
    path = str(directory / f"contended{procs}.jsonl")
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_writer, args=(path, per_proc)) for _ in range(procs)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start
    result = verify(path, KEY)
    assert result.ok and result.events == procs * per_proc, result
    return {"per_event_ms": elapsed * 1000 / (procs * per_proc), "events": procs * per_proc}


def bench_open(directory: Path, runs: int = 200) -> dict[str, float]:
    path = str(directory / "write.jsonl")
    samples = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        open_audit_log(path, KEY).close()
        samples.append((time.perf_counter_ns() - start) / 1e6)
    return {"median_ms": statistics.median(samples)}


LOAD_KEY_SNIPPET = """
import sys, time, os
sys.path.insert(0, {repo!r})
start = time.perf_counter()
from agentsh.audit.key import load_key
key, where = load_key(os.environ, use_keyring={use_keyring})
loaded = time.perf_counter()
from agentsh.audit.log import open_audit_log
log = open_audit_log(os.path.join(os.environ["HOME"], "audit.jsonl"), key)
log.write("line", session="s", line="true")
log.close()
print((loaded - start) * 1000, (time.perf_counter() - start) * 1000, where)
"""


def bench_load_key(directory: Path, use_keyring: bool, runs: int = 15) -> dict[str, Any]:
    home = directory / ("home-keyring" if use_keyring else "home-file")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "AGENTSH_", "PYTHON_KEYRING"))}
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / "data"))
    # Installed agentsh has .pyc files; let this source tree have them too (kept in the temp dir).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    home.mkdir()
    if use_keyring:
        env["PYTHON_KEYRING_BACKEND"] = "keyrings.alt.file.PlaintextKeyring"
    code = LOAD_KEY_SNIPPET.format(repo=str(REPO), use_keyring=use_keyring)
    samples, totals, where = [], [], ""
    for i in range(runs + 2):
        out = subprocess.run([sys.executable, "-X", f"pycache_prefix={directory / 'pyc'}", "-c", code],
                             env=env, capture_output=True, text=True, check=True)
        ms, total, where = out.stdout.split(maxsplit=2)
        if i > 1:  # the first run creates the key and the .pyc files
            samples.append(float(ms))
            totals.append(float(total))
    return {"median_ms": statistics.median(samples), "with_open_write_ms": statistics.median(totals),
            "where": where.strip()}


def bench_verify(directory: Path, events: int) -> dict[str, float]:
    path = str(directory / "million.jsonl")
    log = open_audit_log(path, KEY)
    kinds = ("line", "decision", "command_end")
    start = time.perf_counter()
    for i in range(events):
        kind = kinds[i % 3]
        if kind == "decision":
            log.write(kind, **decision_event(i))
        elif kind == "line":
            log.write(kind, session="s-20260501-7f3a9c", line=f"git log -n {i % 50}")
        else:
            log.write(kind, session="s-20260501-7f3a9c", command=f"s-20260501-7f3a9c/{i}", exit=0, duration_ms=12.5)
    log.close()
    write_s = time.perf_counter() - start
    size = os.path.getsize(path)
    verify(path, KEY)  # once to bring the file into the page cache, as on a host that just wrote it
    start = time.perf_counter()
    result = verify(path, KEY)
    elapsed = time.perf_counter() - start
    assert result.ok and result.events == events, result
    return {"events": events, "size_mb": size / 1e6, "write_s": write_s, "verify_s": elapsed,
            "per_event_us": elapsed * 1e6 / events}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the verify log")
    parser.add_argument("--writes", type=int, default=5000, help="timed single writes")
    parser.add_argument("--json", dest="json_out", default=None, help="also write the figures as JSON to FILE ('-': stdout)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agentsh-bench-audit-") as tmp:
        directory = Path(tmp)
        figures: dict[str, Any] = {
            "write": bench_write(directory, args.writes),
            "write_4_procs": bench_contended(directory, 4, 2000),
            "write_20_procs": bench_contended(directory, 20, 250),
            "open": bench_open(directory),
            "load_key_file": bench_load_key(directory, False),
            "load_key_keyring": bench_load_key(directory, True),
            "verify": bench_verify(directory, args.events),
        }
    w, v = figures["write"], figures["verify"]
    print("## Audit trail\n")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n")
    print("| measure | figure | target |")
    print("|---|---|---|")
    print(f"| one event (decision, {w['bytes']:.0f} B): write incl. lock + head update, median | {w['median_ms']:.3f} ms "
          f"| < {WRITE_TARGET_MS:g} ms |")
    print(f"| same, p99 / max | {w['p99_ms']:.3f} ms / {w['max_ms']:.3f} ms | |")
    for procs in (4, 20):
        c = figures[f"write_{procs}_procs"]
        print(f"| {procs} processes writing one log, wall time per event | {c['per_event_ms']:.3f} ms | |")
    print(f"| open_audit_log (once per command) | {figures['open']['median_ms']:.3f} ms | |")
    for name, label in (("load_key_file", "key file"), ("load_key_keyring", "keyring (keyrings.alt), incl. `import keyring`")):
        lk = figures[name]
        print(f"| fresh interpreter: import + load_key, {label} | {lk['median_ms']:.2f} ms | |")
        print(f"| fresh interpreter: same + open_audit_log + one write, {label} | {lk['with_open_write_ms']:.2f} ms | |")
    print(f"| verify {v['events']:,} events ({v['size_mb']:.0f} MB) | {v['verify_s']:.2f} s "
          f"({v['per_event_us']:.2f} µs/event) | < {VERIFY_TARGET_S:g} s |")
    print(f"| (writing that log: {v['write_s']:.1f} s) | | |")
    if args.json_out:
        text = json.dumps(figures, indent=2)
        if args.json_out == "-":
            print(text)
        else:
            Path(args.json_out).write_text(text + "\n")
    ok = w["median_ms"] < WRITE_TARGET_MS and v["verify_s"] < VERIFY_TARGET_S
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
