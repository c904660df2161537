"""Cost of the exec-time layers on a build-like workload, guarded against unguarded, in one run.

Target (issue 6): a workload of 500 short execs costs at most 2x guarded what it costs
unguarded.

Workloads (each runs in a temp workspace):

    exec-loop   bash runs `/usr/bin/true` 500 times (500 execs straight from the line's bash)
    make        `make -s -j1` of 500 targets, each recipe `cat FILE > OUT` through /bin/sh
                (1000 execs: a shell and cat per target; the shell strings are parsed and
                decided as lines)

Variants, interleaved round by round so a busy moment hits all alike:

    bash        `bash -c SCRIPT` via subprocess (the floor)
    unguarded   agentsh's runner with no exec-time layers (run_bash, UNCONFINED)
    landlock    the runner with Landlock and the seccomp filter only
    guarded     the runner with the exec guard, Landlock and the seccomp filter
                (what every approved line gets)

The ratio that the target speaks of is guarded / unguarded (medians).

    pip install . -q && python3 bench/bench_guard.py [--runs 7] [--json guard.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 2.0

PROFILE = """\
agentsh: 1
name: bench-guard
extends: [base]
write: {allow: ["{workspace}", /tmp]}
commands:
  - {name: tools, run: ["true", cat, make, seq, rm], decision: allow}
"""


def make_workspace(root: Path, targets: int) -> None:
    (root / "in.txt").write_text("x\n")
    names = " ".join(f"t{i}" for i in range(targets))
    rules = "".join(f"t{i}:\n\tcat in.txt > out/t{i}\n" for i in range(targets))
    (root / "Makefile").write_text(f".PHONY: all {names}\nall: {names}\n{rules}")
    (root / "out").mkdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--execs", type=int, default=500)
    parser.add_argument("--json")
    options = parser.parse_args()

    from agentsh.guard.execcheck import ExecChecker
    from agentsh.guard.landlock import abi_version, plan_for
    from agentsh.guard.spawn import Confinement
    from agentsh.policy import Policy
    from agentsh.profile import Host, load_profile
    from agentsh.run import UNCONFINED, run_bash

    with tempfile.TemporaryDirectory(prefix="agentsh-bench-guard-") as tmp:
        root = Path(tmp)
        make_workspace(root, options.execs)
        (root / "p.yaml").write_text(PROFILE)
        host = Host(cwd=str(root), home=os.environ.get("HOME", str(root)), config_home=str(root / ".config"))
        profile = load_profile(str(root / "p.yaml"), host)
        policy = Policy(profile, host)
        plan = plan_for(profile) if abi_version() else None
        variants = {
            "unguarded": UNCONFINED,
            "landlock": Confinement(checker=None, landlock=plan),
            "guarded": Confinement(checker=ExecChecker(policy), landlock=plan),
        }
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(root), "LANG": "C.UTF-8"}
        workloads = {
            "exec-loop": f"for i in $(seq {options.execs}); do /usr/bin/true; done",
            "make": "rm -f out/*; make -s -j1",
        }
        times: dict[tuple[str, str], list[float]] = {}
        for round_no in range(options.runs + 1):  # round 0 warms caches and is dropped
            for workload, script in workloads.items():
                started = time.perf_counter()
                subprocess.run(["bash", "--noprofile", "--norc", "-c", script], cwd=root, env=env, check=True,
                               stdout=subprocess.DEVNULL)
                elapsed = time.perf_counter() - started
                if round_no:
                    times.setdefault((workload, "bash"), []).append(elapsed)
                for name, confinement in variants.items():
                    started = time.perf_counter()
                    result = run_bash(script, env, str(root), confinement=confinement)
                    elapsed = time.perf_counter() - started
                    if result.status != 0 or result.reports:
                        raise SystemExit(f"{workload}/{name} failed: status {result.status}, {result.reports}")
                    if round_no:
                        times.setdefault((workload, name), []).append(elapsed)

    print(f"{options.execs} execs per workload, {options.runs} interleaved runs, median (min-max) ms; "
          f"Landlock ABI {abi_version()}\n")
    print("| workload | bash -c | unguarded | Landlock+seccomp | guarded | guarded / unguarded |")
    print("|---|---|---|---|---|---|")
    results = {}
    for workload in workloads:
        cells = []
        medians = {}
        for name in ("bash", "unguarded", "landlock", "guarded"):
            samples = times[(workload, name)]
            medians[name] = statistics.median(samples)
            cells.append(f"{medians[name] * 1000:.0f} ({min(samples) * 1000:.0f}-{max(samples) * 1000:.0f})")
        ratio = medians["guarded"] / medians["unguarded"]
        verdict = "meets" if ratio <= TARGET_RATIO else "misses"
        print(f"| {workload} | " + " | ".join(cells) + f" | {ratio:.2f}x ({verdict} {TARGET_RATIO:.0f}x) |")
        results[workload] = {"medians_ms": {k: v * 1000 for k, v in medians.items()}, "ratio": ratio,
                             "samples_ms": {k: [s * 1000 for s in times[(workload, k)]]
                                            for k in ("bash", "unguarded", "landlock", "guarded")}}
    if options.json:
        Path(options.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
