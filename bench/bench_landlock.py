"""Landlock costs per command, for each shipped profile.

    plan      plan_for(profile) in the parent: listing the directories on the way to each
              denied root, one rule per sibling (median over --runs)
    restrict  restrict_self(plan) in a forked child: openat2 of every path, the ruleset,
              no_new_privs, restrict (median, timed inside the child)
    spawn     fork + exec of /bin/true and wait, plain against with restrict_self in the
              child, interleaved; the ratio is of medians from the same run

Profiles load with the working directory in a temp workspace and the real HOME (the
number of rules depends on what HOME holds: its top level is split around ~/.ssh etc.).

    python3 bench/bench_landlock.py [--runs 200] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agentsh.guard import landlock, ruleset  # noqa: E402
from agentsh.profile import Host, Profile  # noqa: E402
from agentsh.session import load_policy  # noqa: E402

PROFILES = ("default", str(REPO / "profiles" / "developer.yaml"), str(REPO / "profiles" / "reviewer.yaml"),
            str(REPO / "profiles" / "kubectl-readonly.yaml"))
TRUE = "/bin/true"


def load(spec: str, workspace: str) -> Profile:
    host = Host(cwd=workspace, home=os.path.expanduser("~"), config_home=os.path.expanduser("~/.config"))
    return load_policy(spec, host).profile


def time_restrict(plan: landlock.LandlockPlan) -> float:
    """Seconds restrict_self took in a forked child."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            start = time.perf_counter()
            ruleset.restrict_self(plan)
            os.write(write_end, repr(time.perf_counter() - start).encode())
        except BaseException as err:
            os.write(write_end, f"error: {err}".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    answer = os.read(read_end, 4096).decode()
    if answer.startswith("error"):
        raise SystemExit(f"restrict_self failed in the child: {answer}")
    took = float(answer)
    os.close(read_end)
    os.waitpid(pid, 0)
    return took


def spawn(plan: landlock.LandlockPlan | None) -> float:
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            if plan is not None:
                ruleset.restrict_self(plan)
            os.execv(TRUE, [TRUE])
        finally:
            os._exit(127)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    return time.perf_counter() - start


def measure(spec: str, workspace: str, runs: int) -> dict[str, Any]:
    profile = load(spec, workspace)
    plans, plan_times = [], []
    for _ in range(runs):
        start = time.perf_counter()
        plans.append(landlock.plan_for(profile))
        plan_times.append(time.perf_counter() - start)
    plan = plans[-1]
    restrict_times = [time_restrict(plan) for _ in range(runs)]
    plain, confined = [], []
    for _ in range(runs):
        plain.append(spawn(None))
        confined.append(spawn(plan))
    ms = 1000.0
    return {"profile": profile.name, "rules": len(plan.rules),
            "plan_ms": statistics.median(plan_times) * ms, "restrict_ms": statistics.median(restrict_times) * ms,
            "spawn_plain_ms": statistics.median(plain) * ms, "spawn_confined_ms": statistics.median(confined) * ms,
            "ratio": statistics.median(confined) / statistics.median(plain)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    status = landlock.status()
    if status.abi < 1:
        print(f"Landlock unavailable: {status.reason}")
        return 1
    with tempfile.TemporaryDirectory() as workspace:
        results = [measure(spec, os.path.realpath(workspace), args.runs) for spec in PROFILES]
    print(f"Landlock ABI {status.abi}, {args.runs} runs each, medians\n")
    print("| profile | rules | plan_for | restrict_self | fork+exec true | same, confined | ratio |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['profile']} | {r['rules']} | {r['plan_ms']:.2f} ms | {r['restrict_ms']:.2f} ms | "
              f"{r['spawn_plain_ms']:.2f} ms | {r['spawn_confined_ms']:.2f} ms | {r['ratio']:.2f}x |")
    if args.json:
        Path(args.json).write_text(json.dumps({"abi": status.abi, "runs": args.runs, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
