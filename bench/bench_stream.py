"""Throughput of an interactive agentsh session with recording on, against `script`.

Each contender runs the same command on a PTY that this script reads as fast as it can:

- `script`: `script -q -c CMD /dev/null` (util-linux), the stricter baseline: it records
  nothing;
- `script>file`: `script -q -c CMD FILE`, which records the session to a file as agentsh
  does, and as `script -q -c CMD` does by default (to ./typescript): the baseline the issue
  names, like for like (both then pay the kernel for ~100 MB of file writes);
- `agentsh`: an interactive `agentsh -i` session (recording on) in which CMD is typed;
- `agentsh+secrets`: the same with N keyring credentials injected into CMD, so all its
  output passes through the redactor (N=10 by default; 0 leaves this contender out);
- `baseline` (only with --baseline-tree DIR): agentsh imported from another source tree,
  for before/after comparisons in one run.

The machine is shared and noisy, so the contenders are interleaved: every round runs
each once, in an order rotated from round to round, and the figures are medians over
the rounds with their spread (min-max).  Ratios are taken within a round (neighbours in
time) and then their median is reported.  Besides MB/s, the CPU time of each process
tree (the contender and everything it ran, from wait4's rusage) per 100 MB is reported:
it is much less sensitive to other load than the wall clock.

Targets: agentsh >= 90% of script's throughput (issue 3); peak memory (VmHWM) under
60 MB whatever the output size; with 10 secrets masked at most +10% time (issue 4).

    python3 bench/bench_stream.py [--mb 100] [--runs 7] [--secrets 10] [--json FILE]
                                  [--tree DIR] [--baseline-tree DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ptyprocess import PtyProcess

PROMPT = re.compile(rb"agentsh\(bench[a-z-]*\):[^\r\n]*\$ $")
EOF_ONLY = re.compile(rb"$^")
LINE = "agentsh bench 0123456789 abcdefghijklmnopqrstuvwxyz"  # what the command prints, over and over
OUTPUT = LINE.encode() + b"\r\n"
PROFILE = """\
agentsh: 1
name: {name}
extends: [base]
record: {{dir: "{record}"}}
commands:
  - {{name: gen, run: [head, "yes"], decision: allow{credentials}}}
"""


def drain_until(child: PtyProcess, done: re.Pattern[bytes], limit: int = 1 << 36,
                first: Callable[[], None] | None = None) -> int:
    """Read everything the PTY gives until `done` matches the tail; return bytes read.
    `first` is called when the command's output (OUTPUT) first shows."""
    total = 0
    tail = b""
    while total < limit:
        try:
            data = os.read(child.fd, 1 << 16)
        except OSError:
            break
        if not data:
            break
        if first is not None and OUTPUT in tail[-len(OUTPUT):] + data:  # not the echo: it is quoted there
            first()
            first = None
        total += len(data)
        tail = (tail + data)[-256:]
        if done.search(tail):
            break
    return total


def reap(child: PtyProcess) -> float:
    """Wait for the child; CPU seconds of it and the descendants it waited for."""
    _, _, usage = os.wait4(child.pid, 0)
    child.terminated = True  # reaped here: ptyprocess must not wait again
    child.fileobj.close()
    child.closed = True
    return usage.ru_utime + usage.ru_stime


def run_script(command: str, typescript: str) -> dict[str, float]:
    child = PtyProcess.spawn(["script", "-q", "-c", command, typescript], dimensions=(50, 200))
    start = time.perf_counter()
    total = drain_until(child, EOF_ONLY)
    elapsed = time.perf_counter() - start
    return {"seconds": elapsed, "bytes": total, "cpu": reap(child)}


def run_agentsh(command: str, agentsh: list[str], profile: Path, env: dict[str, str]) -> dict[str, float]:
    # Started in HOME (the temp dir), not here: `python -m agentsh` puts its working directory
    # first on sys.path, so run from a checkout it would import that tree, whatever --tree says.
    child = PtyProcess.spawn([*agentsh, "-i", "-p", str(profile)], dimensions=(50, 200), env=env, cwd=env["HOME"])
    drain_until(child, PROMPT)
    before = proc_cpu(child.pid)
    marks: list[float] = []

    def output_began() -> None:  # the command's first output: parse, decide, keyring, spawn are done
        marks.extend((time.perf_counter(), proc_cpu(child.pid)))

    child.write(command.encode() + b"\r")
    start = time.perf_counter()
    total = drain_until(child, PROMPT, first=output_began)
    end = time.perf_counter()
    elapsed = end - start
    with open(f"/proc/{child.pid}/status") as status:
        hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    own = proc_cpu(child.pid) - before  # agentsh alone, its own start-up excluded
    child.write(b"exit\r")
    drain_until(child, EOF_ONLY)
    tree = reap(child)
    return {"seconds": elapsed, "bytes": total, "cpu": tree, "own_cpu": own, "peak_mb": hwm / 1024,
            "streaming_seconds": end - marks[0], "streaming_own_cpu": own + before - marks[1],
            "setup_seconds": marks[0] - start}


def proc_cpu(pid: int) -> float:
    """utime + stime of one live process (its reaped children not included)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def spread(values: list[float], fmt: str = "{:.0f}") -> str:
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--runs", type=int, default=7, help="rounds; each runs every contender once")
    parser.add_argument("--secrets", type=int, default=10,
                        help="credentials injected into the masked contender's command (0: leave it out)")
    parser.add_argument("--tree", default="", help="import agentsh from this source tree (default: installed)")
    parser.add_argument("--baseline-tree", default="", help="also run agentsh from this tree, for before/after")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    # Text lines of ordinary length, produced faster than any PTY carries them.
    command = f"yes '{LINE}' | head -c {args.mb * 1_000_000}"
    agentsh = [str(Path(sys.executable).parent / "agentsh")]
    if not Path(agentsh[0]).exists() or args.tree or args.baseline_tree:
        agentsh = [sys.executable, "-m", "agentsh"]
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, HOME=tmp, XDG_DATA_HOME=f"{tmp}/data",
                   PYTHON_KEYRING_BACKEND="keyrings.alt.file.PlaintextKeyring")
        if args.tree:
            env["PYTHONPATH"] = os.path.abspath(args.tree)
        record = Path(tmp) / "rec"
        plain = Path(tmp) / "bench.yaml"
        plain.write_text(PROFILE.format(name="bench", record=record, credentials=""))
        typescript = str(Path(tmp) / "typescript")
        contenders: dict[str, object] = {"script": "/dev/null", "script>file": typescript, "agentsh": (plain, env)}
        if args.secrets:
            entries = []
            for i in range(args.secrets):
                subprocess.run([*agentsh, "secret", "set", "bench", f"s{i}"], input=f"secret-value-{i:04d}-xyz",
                               text=True, env=env, check=True, capture_output=True, cwd=tmp)
                entries.append(f"S{i}: {{keyring: bench, user: s{i}}}")
            masked = Path(tmp) / "bench-secrets.yaml"
            masked.write_text(PROFILE.format(name="bench-secrets", record=record,
                                             credentials=", credentials: {" + ", ".join(entries) + "}"))
            contenders["agentsh+secrets"] = (masked, env)
        if args.baseline_tree:
            contenders["baseline"] = (plain, dict(env, PYTHONPATH=os.path.abspath(args.baseline_tree)))
        names = list(contenders)
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in names}
        for round_ in range(args.runs):
            order = names[round_ % len(names):] + names[:round_ % len(names)]
            for name in order:
                setup = contenders[name]
                if isinstance(setup, str):
                    samples[name].append(run_script(command, setup))
                else:
                    profile, run_env = setup  # type: ignore[misc]
                    samples[name].append(run_agentsh(command, agentsh, profile, run_env))
        recorded = sum(f.stat().st_size for f in record.glob("*.cast")) / 1e6 if record.exists() else 0.0
        Path(typescript).unlink(missing_ok=True)
    report(args, names, samples, recorded)


def report(args: argparse.Namespace, names: list[str], samples: dict[str, list[dict[str, float]]],
           recorded: float) -> None:
    def rate(sample: dict[str, float]) -> float:
        return sample["bytes"] / sample["seconds"] / 1e6

    def per_round(name: str, other: str, key: str) -> list[float]:
        return [a[key] / b[key] for a, b in zip(samples[name], samples[other], strict=True)]

    result: dict[str, object] = {"output_mb": args.mb, "runs": args.runs, "secrets": args.secrets,
                                 "recording_mb": recorded, "samples": samples}
    print(f"{args.mb} MB of output, {args.runs} interleaved rounds; median (min-max)\n")
    print("| contender | MB/s | CPU s / 100 MB, whole tree | agentsh's own CPU s / 100 MB | peak RSS MB |")
    print("|---|---|---|---|---|")
    scale = 100 / args.mb
    for name in names:
        runs = samples[name]
        own = spread([s["own_cpu"] * scale for s in runs], "{:.2f}") if "own_cpu" in runs[0] else ""
        peak = spread([s["peak_mb"] for s in runs], "{:.1f}") if "peak_mb" in runs[0] else ""
        print(f"| {name} | {spread([rate(s) for s in runs])} | {spread([s['cpu'] * scale for s in runs], '{:.2f}')} "
              f"| {own} | {peak} |")
        result[name] = {"mb_s": statistics.median(rate(s) for s in runs)}
    print()
    ratios = [rate(a) / rate(b) for a, b in zip(samples["agentsh"], samples["script"], strict=True)]
    print(f"- agentsh / script throughput, per round: {spread(ratios, '{:.2f}')} (target >= 0.90)")
    result["ratio"] = statistics.median(ratios)
    cpu = per_round("agentsh", "script", "cpu")
    print(f"- agentsh / script CPU of the whole tree, per round: {spread(cpu, '{:.2f}')}")
    alike = [rate(a) / rate(b) for a, b in zip(samples["agentsh"], samples["script>file"], strict=True)]
    print(f"- agentsh / `script>file` (both recording to a file) throughput, per round: {spread(alike, '{:.2f}')}")
    result["ratio_recording_script"] = statistics.median(alike)
    if "agentsh+secrets" in samples:
        cost = [x - 1 for x in per_round("agentsh+secrets", "agentsh", "seconds")]
        print(f"- {args.secrets} secrets masked: time {spread([c * 100 for c in cost], '{:+.1f}')} % "
              f"against agentsh in the same round (target <= +10 %)")
        setup = [statistics.median(s["setup_seconds"] * 1000 for s in samples[name])
                 for name in ("agentsh", "agentsh+secrets")]
        print(f"- from Enter to the command's first output (parse, decide, keyring, spawn): {setup[0]:.0f} ms "
              f"without secrets, {setup[1]:.0f} ms with them (median)")
        streaming = [x - 1 for x in per_round("agentsh+secrets", "agentsh", "streaming_seconds")]
        print(f"- {args.secrets} secrets masked, from the command's first output on (without the keyring "
              f"look-ups and the start of the command): time {spread([c * 100 for c in streaming], '{:+.1f}')} %")
        own = [x - 1 for x in per_round("agentsh+secrets", "agentsh", "streaming_own_cpu")]
        print(f"- {args.secrets} secrets masked, from the first output on: agentsh's own CPU "
              f"{spread([c * 100 for c in own], '{:+.1f}')} %")
        result["secrets_time_cost"] = statistics.median(cost)
        result["secrets_streaming_time_cost"] = statistics.median(streaming)
    if "baseline" in samples:
        gain = [rate(a) / rate(b) for a, b in zip(samples["agentsh"], samples["baseline"], strict=True)]
        print(f"- agentsh / baseline tree throughput, per round: {spread(gain, '{:.2f}')}")
    peak = max(s.get("peak_mb", 0.0) for name in names for s in samples[name])
    print(f"- peak RSS of any agentsh session: {peak:.1f} MB (target < 60 MB); recordings written: {recorded:.0f} MB")
    result["agentsh_peak_rss_mb"] = peak
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
