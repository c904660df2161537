"""Recorder throughput: events/s and MB/s of output fed to agentsh.record in fixed-size chunks.

    python3 bench/bench_record.py [--mb 100] [--chunk 65536] [--dir DIR] [--repeat 3]

Cases (each writes --mb of output into a fresh recording):
  plain-write   os.write of the raw bytes to a file: the floor nothing can beat
  per-chunk     one "o" event per chunk (flush() after each output(): lock, JSON, page-sized writes)
  joined        output() alone, as the relay calls it: bursts joined into ~64 KiB events
  small-4k      joined, but fed in 4 KiB reads (what a PTY hands over)
  split-utf8    per-chunk with every chunk cut inside a UTF-8 character
The output is terminal-like: text lines with colour escapes and some non-ASCII text.
The best of --repeat runs is reported, with the spread.  chunks/s is output() calls per
second (events as the caller sees them); lines/s counts the file's lines, since an event
longer than the room left in a 4 KiB page is cut into several (so SIGKILL cannot tear one).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agentsh.record.asciicast import open_recording

LINE = "\x1b[32m2026-11-28 15:30:00\x1b[0m INFO worker[42]: processed item — naïve café ✓ 12345\r\n"


def sample(size: int) -> bytes:
    unit = LINE.encode()
    return (unit * (size // len(unit) + 1))[:size]


def run_case(name: str, directory: str, total: int, chunk: int) -> tuple[float, int, int]:
    """Seconds to record `total` bytes, the chunks fed, and the lines in the file."""
    size = 4096 if name == "small-4k" else chunk
    data = sample(size)
    if name == "split-utf8":
        cut = data.index("—".encode()) + 1  # inside the 3-byte em dash
        data = data[cut:] + data[:cut]  # every chunk starts and ends mid-character
    count = total // size
    if name == "plain-write":
        fd = os.open(os.path.join(directory, "plain.out"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        begin = time.perf_counter()
        for _ in range(count):
            os.write(fd, data)
        elapsed = time.perf_counter() - begin
        os.close(fd)
        return elapsed, count, count
    recorder = open_recording(directory, f"bench-{name}", width=120, height=40, title="agentsh bench x root",
                              command="bench", env={"SHELL": "agentsh", "TERM": "xterm-256color"})
    flush: Callable[[], None] = recorder.flush if name in ("per-chunk", "split-utf8") else (lambda: None)
    begin = time.perf_counter()
    for _ in range(count):
        recorder.output(data)
        flush()
    recorder.close()
    elapsed = time.perf_counter() - begin
    with open(recorder.path, "rb") as handle:
        lines = sum(1 for _ in handle) - 1  # events are cut into page-sized lines (agentsh/record/lines.py)
    return elapsed, count, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=100.0, help="output per case, in MB (default 100)")
    parser.add_argument("--chunk", type=int, default=65536, help="chunk size in bytes (default 64 KiB)")
    parser.add_argument("--dir", default=None, help="where to write (default: a temp dir; the disk matters)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    total = int(args.mb * 1_000_000)
    print(f"{args.mb:g} MB per case, {args.chunk} byte chunks, best of {args.repeat}; python {sys.version.split()[0]}")
    print(f"{'case':<12} {'MB/s':>8} {'chunks/s':>10} {'lines/s':>10} {'lines':>8} {'spread':>8}")
    for name in ("plain-write", "per-chunk", "joined", "small-4k", "split-utf8"):
        rates = []
        lines = 0
        for _ in range(args.repeat):
            directory = tempfile.mkdtemp(prefix="bench-record-", dir=args.dir)
            try:
                elapsed, chunks, lines = run_case(name, directory, total, args.chunk)
            finally:
                shutil.rmtree(directory)
            rates.append((total / elapsed / 1e6, chunks / elapsed, lines / elapsed))
        best = max(rates)
        spread = (best[0] - min(rates)[0]) / best[0] * 100
        print(f"{name:<12} {best[0]:>8.0f} {best[1]:>10.0f} {best[2]:>10.0f} {lines:>8} {spread:>7.1f}%")


if __name__ == "__main__":
    main()
