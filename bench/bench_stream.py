"""Throughput of an interactive agentsh session with recording on, against `script`.

Both run the same command on a PTY that this script reads as fast as it can:
`script -q -c CMD /dev/null` (util-linux) and an interactive `agentsh -i` session
in which the same command is typed.  Reported: MB/s for each, the ratio (target:
agentsh >= 90% of script), and agentsh's peak resident memory (VmHWM; target:
under 60 MB whatever the output size).

    python3 bench/bench_stream.py [--mb 100] [--runs 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ptyprocess import PtyProcess

PROMPT = re.compile(rb"agentsh\(bench\):[^\r\n]*\$ $")
PROFILE = """\
agentsh: 1
name: bench
extends: [base]
record: {{dir: "{record}"}}
commands:
  - {{name: gen, run: [head, "yes"], decision: allow{credentials}}}
"""


def drain_until(child: PtyProcess, done: re.Pattern[bytes], limit: int = 1 << 36) -> int:
    """Read everything the PTY gives until `done` matches the tail; return bytes read."""
    total = 0
    tail = b""
    while total < limit:
        try:
            data = os.read(child.fd, 1 << 16)
        except OSError:
            break
        if not data:
            break
        total += len(data)
        tail = (tail + data)[-256:]
        if done.search(tail):
            break
    return total


def bench_script(command: str) -> tuple[float, int]:
    child = PtyProcess.spawn(["script", "-q", "-c", command, "/dev/null"], dimensions=(50, 200))
    start = time.perf_counter()
    total = drain_until(child, re.compile(rb"$^"))  # until EOF
    elapsed = time.perf_counter() - start
    child.wait()
    return elapsed, total


def bench_agentsh(command: str, agentsh: list[str], profile: Path, env: dict[str, str]) -> tuple[float, int, int]:
    child = PtyProcess.spawn([*agentsh, "-i", "-p", str(profile)], dimensions=(50, 200), env=env)
    drain_until(child, PROMPT)
    child.write(command.encode() + b"\r")
    start = time.perf_counter()
    total = drain_until(child, PROMPT)
    elapsed = time.perf_counter() - start
    with open(f"/proc/{child.pid}/status") as status:
        hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    child.write(b"exit\r")
    drain_until(child, re.compile(rb"$^"))
    child.wait()
    return elapsed, total, hwm


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", default="")
    parser.add_argument("--secrets", type=int, default=0,
                        help="inject this many keyring credentials into the command, so its output is masked")
    args = parser.parse_args()
    # Text lines of ordinary length, produced faster than any PTY carries them.
    command = f"yes 'agentsh bench 0123456789 abcdefghijklmnopqrstuvwxyz' | head -c {args.mb * 1_000_000}"
    agentsh = [str(Path(sys.executable).parent / "agentsh")]
    if not Path(agentsh[0]).exists():
        agentsh = [sys.executable, "-m", "agentsh"]
    with tempfile.TemporaryDirectory() as tmp:
        profile = Path(tmp) / "bench.yaml"
        env = dict(os.environ, HOME=tmp, XDG_DATA_HOME=f"{tmp}/data",
                   PYTHON_KEYRING_BACKEND="keyrings.alt.file.PlaintextKeyring")
        credentials = ""
        if args.secrets:
            import subprocess

            entries = []
            for i in range(args.secrets):
                subprocess.run([*agentsh, "secret", "set", "bench", f"s{i}"], input=f"secret-value-{i:04d}-xyz",
                               text=True, env=env, check=True, capture_output=True)
                entries.append(f"S{i}: {{keyring: bench, user: s{i}}}")
            credentials = ", credentials: {" + ", ".join(entries) + "}"
        profile.write_text(PROFILE.format(record=Path(tmp) / "rec", credentials=credentials))
        script_runs, agentsh_runs, memory = [], [], []
        for _ in range(args.runs):  # interleaved, so both see the same machine state
            seconds, size = bench_script(command)
            script_runs.append(size / seconds / 1e6)
            seconds, size, hwm = bench_agentsh(command, agentsh, profile, env)
            agentsh_runs.append(size / seconds / 1e6)
            memory.append(hwm / 1024)
        recorded = sum(f.stat().st_size for f in (Path(tmp) / "rec").glob("*.cast")) / 1e6 \
            if (Path(tmp) / "rec").exists() else 0.0
    result = {
        "output_mb": args.mb, "runs": args.runs, "secrets": args.secrets,
        "script_mb_s": statistics.median(script_runs), "agentsh_mb_s": statistics.median(agentsh_runs),
        "ratio": statistics.median(agentsh_runs) / statistics.median(script_runs),
        "agentsh_peak_rss_mb": max(memory), "recording_mb": recorded,
    }
    print("| measure | value |\n|---|---|")
    print(f"| `script -q -c` throughput | {result['script_mb_s']:.0f} MB/s |")
    masked = f", {args.secrets} secrets masked" if args.secrets else ""
    print(f"| agentsh -i (recording on{masked}) throughput | {result['agentsh_mb_s']:.0f} MB/s |")
    print(f"| ratio (target >= 0.90) | {result['ratio']:.2f} |")
    print(f"| agentsh peak RSS, {args.mb} MB of output (target < 60 MB) | {result['agentsh_peak_rss_mb']:.1f} MB |")
    print(f"| recordings written | {recorded:.0f} MB |")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
