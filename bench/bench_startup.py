"""Start-up cost of `agentsh -c LINE` against `bash -c LINE`, measured in one run.

Target (issue): `agentsh -c true` adds at most 30 ms to `bash -c true`, median.

Every variant runs N times, interleaved round by round (so a busy moment of the
machine hits all variants alike), after a few warm-up rounds that also fill
agentsh's per-user profile cache; wall time of spawn to exit, with stdin and
stdout not a terminal (as an agent calls a shell):

    bash -c true                    agentsh -c true      (profile cache and warm server up: the steady state)
    agentsh -c true, AGENTSH_WARM=0      (the line run in the calling process, no warm server)
    bash -c 'git status'            agentsh -c 'git status'   (in a temp git repo)
    agentsh -c true, AGENTSH_NO_CACHE=1  (YAML, validation and self-tests on every call)
    agentsh -c true, GITHUB_TOKEN set    (a credential-like variable: dropped and blanked in /proc)
    agentsh -c true, interpreter -S      (what the installed launcher runs, without site.py and .pth files),
                                         also with AGENTSH_WARM=0
    python3 -c pass                 python3 -S -c pass   (same interpreter as agentsh's)
    with --venv DIR: agentsh -c true from DIR/bin/agentsh, and DIR's python -c pass: agentsh
                                         installed in its own venv, as docs/login-shell.md deploys it
                                         (site.py runs, but only the venv's own .pth files)

The interpreter of this sandbox runs a sandbox-injected
site-packages/_sandboxing_egress_ca.pth at every start (it imports certifi and
with it pathlib, tempfile, typing, importlib.resources ...); a real host does not
have it.  `python3 -c pass` minus `python3 -S -c pass` measures what site.py and
the .pth files cost here, so the added time can be stated raw and adjusted.

Every variant gets the same small fixed environment (PATH, HOME, USER, TERM, LANG, XDG
dirs): HOME and the XDG dirs point into a temp dir, so the benchmark neither reads nor
writes the user's agentsh cache, uses its own warm server (stopped at the end), and
nothing touches the network.

    pip install /work/main -q && python3 bench/bench_startup.py [--runs 40] [--json FILE]
    python3 -m venv /tmp/v && /tmp/v/bin/pip install -q /work/main && python3 bench/bench_startup.py --venv /tmp/v
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

from agentsh.warm.wire import stop_servers

TARGET_MS = 30.0
SANDBOX_PTH = "_sandboxing_egress_ca.pth"

# What the installed launcher (bin/agentsh) runs, run by an interpreter started with -S:
# site.py and every .pth file skipped, site-packages put on sys.path by hand. (A real host's
# site.py imports os, stat, io and builtins, which -S still loads; not re, whatever agentsh needs.)
NO_SITE_SCRIPT = """\
import sys
sys.path.append({site!r})
from agentsh.main import entry
sys.argv[0] = 'agentsh'
sys.exit(entry())
"""


class Variant(NamedTuple):
    key: str
    label: str
    argv: list[str]
    cwd: str
    env: dict[str, str]


def agentsh_command() -> tuple[list[str], str]:
    """The installed `agentsh` beside this interpreter (not a pyenv shim), else `python -m agentsh`."""
    script = Path(sys.executable).parent / "agentsh"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)], str(script)
    return [sys.executable, "-m", "agentsh"], f"{sys.executable} -m agentsh"


def make_repo(path: Path, env: dict[str, str]) -> None:
    path.mkdir()
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "-c", "init.defaultBranch=main"]
    for name in ("README.md", "app.py", "test_app.py"):
        (path / name).write_text(f"# {name}\n")
    subprocess.run([*git, "init", "-q"], cwd=path, env=env, check=True)
    subprocess.run([*git, "add", "."], cwd=path, env=env, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], cwd=path, env=env, check=True)
    (path / "app.py").write_text("# changed\n")  # so `git status` has something to say


def run_once(variant: Variant) -> tuple[int, int, str]:
    start = time.perf_counter_ns()
    proc = subprocess.run(variant.argv, cwd=variant.cwd, env=variant.env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter_ns() - start
    return elapsed, proc.returncode, proc.stderr.decode("utf-8", "replace")


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def build_variants(root: Path, venv: Path | None = None) -> tuple[list[Variant], dict[str, str]]:
    home = root / "home"
    home.mkdir()
    # A small fixed environment, the same for every variant, so results do not depend on the caller's
    # (a credential-like variable makes agentsh drop it and blank /proc/self/environ: its own variant).
    env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "USER": "bench", "LOGNAME": "bench",
           "TERM": "dumb", "LANG": "C.UTF-8"}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(root / "cache"), XDG_CONFIG_HOME=str(root / "config"),
               XDG_STATE_HOME=str(root / "state"), XDG_DATA_HOME=str(root / "data"), LC_ALL="C",
               XDG_RUNTIME_DIR=str(root / "run"))
    (root / "run").mkdir(mode=0o700)
    repo = root / "repo"
    make_repo(repo, env)
    bash = shutil.which("bash") or "/bin/bash"
    agentsh, agentsh_shown = agentsh_command()
    site = sysconfig.get_paths()["purelib"]
    no_cache = dict(env, AGENTSH_NO_CACHE="1")
    with_token = dict(env, GITHUB_TOKEN="ghp_" + "0" * 36)
    cold = dict(env, AGENTSH_WARM="0")
    no_site = [sys.executable, "-S", "-c", NO_SITE_SCRIPT.format(site=site), "-c", "true"]
    here = str(root)
    variants = [
        Variant("bash_true", "bash -c true", [bash, "-c", "true"], here, env),
        Variant("agentsh_true", "agentsh -c true", [*agentsh, "-c", "true"], here, env),
        Variant("bash_git", "bash -c 'git status'", [bash, "-c", "git status"], str(repo), env),
        Variant("agentsh_git", "agentsh -c 'git status'", [*agentsh, "-c", "git status"], str(repo), env),
        Variant("agentsh_true_nocache", "agentsh -c true, AGENTSH_NO_CACHE=1", [*agentsh, "-c", "true"], here,
                no_cache),
        Variant("agentsh_true_token", "agentsh -c true, GITHUB_TOKEN set (dropped)", [*agentsh, "-c", "true"], here,
                with_token),
        Variant("agentsh_true_cold", "agentsh -c true, AGENTSH_WARM=0 (in the calling process)",
                [*agentsh, "-c", "true"], here, cold),
        Variant("agentsh_true_nosite", "agentsh -c true, interpreter -S (no site, no .pth)", no_site, here, env),
        Variant("agentsh_true_nosite_cold", "agentsh -c true, interpreter -S, AGENTSH_WARM=0", no_site, here, cold),
        Variant("python_pass", "python3 -c pass", [sys.executable, "-c", "pass"], here, env),
        Variant("python_S_pass", "python3 -S -c pass", [sys.executable, "-S", "-c", "pass"], here, env),
    ]
    if venv is not None:
        variants += [
            Variant("agentsh_true_venv", f"agentsh -c true, installed in the venv {venv}",
                    [str(venv / "bin" / "agentsh"), "-c", "true"], here, env),
            Variant("venv_python_pass", "the venv's python -c pass", [str(venv / "bin" / "python"), "-c", "pass"],
                    here, env),
        ]
    info = {"agentsh": agentsh_shown, "bash": bash, "python": sys.executable, "site_packages": site}
    return variants, info


def measure(variants: list[Variant], runs: int, warmup: int) -> dict[str, list[float]]:
    for variant in variants:  # fail early and clearly, and fill the profile cache
        _, status, err = run_once(variant)
        if status != 0:
            sys.exit(f"{variant.label} exited {status}: {err.strip()}")
    samples: dict[str, list[float]] = {v.key: [] for v in variants}
    for round_no in range(warmup + runs):
        # rotate the order each round, so no variant always follows the same one
        shift = round_no % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            elapsed, status, err = run_once(variant)
            if status != 0:
                sys.exit(f"{variant.label} exited {status}: {err.strip()}")
            if round_no >= warmup:
                samples[variant.key].append(elapsed / 1e6)
    return samples


def importtime_certifi() -> float:
    """Cumulative import time (ms) of what the sandbox .pth imports, from `python -X importtime -c pass`."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "pass"], capture_output=True, text=True,
                          check=True)
    for line in proc.stderr.splitlines():
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[2] == "certifi":
            return int(parts[1]) / 1000
    return 0.0


def summarise(samples: dict[str, list[float]], variants: list[Variant]) -> dict[str, Any]:
    med = {k: statistics.median(v) for k, v in samples.items()}
    site_cost = med["python_pass"] - med["python_S_pass"]
    return {
        "medians_ms": {k: round(v, 2) for k, v in med.items()},
        "p10_ms": {k: round(pct(v, 0.1), 2) for k, v in samples.items()},
        "p90_ms": {k: round(pct(v, 0.9), 2) for k, v in samples.items()},
        "labels": {v.key: v.label for v in variants},
        "added_true_ms": round(med["agentsh_true"] - med["bash_true"], 2),
        "added_git_status_ms": round(med["agentsh_git"] - med["bash_git"], 2),
        "added_true_nocache_ms": round(med["agentsh_true_nocache"] - med["bash_true"], 2),
        "site_and_pth_ms": round(site_cost, 2),
        # Lower bound: subtracting all of site.py + .pth over-subtracts, since the .pth
        # imports modules (re, pathlib, typing ...) that agentsh would import anyway.
        "added_true_minus_site_ms": round(med["agentsh_true"] - med["bash_true"] - site_cost, 2),
        # Upper-ish bound measured directly: no .pth, but also no site.py at all (~1 ms on a real host).
        "added_true_nosite_ms": round(med["agentsh_true_nosite"] - med["bash_true"], 2),
        "added_true_cold_ms": round(med["agentsh_true_cold"] - med["bash_true"], 2),
        "added_true_nosite_cold_ms": round(med["agentsh_true_nosite_cold"] - med["bash_true"], 2),
        **({"added_true_venv_ms": round(med["agentsh_true_venv"] - med["bash_true"], 2)}
           if "agentsh_true_venv" in med else {}),
    }


def markdown(results: dict[str, Any]) -> str:
    s = results["summary"]
    med, p10, p90, labels = s["medians_ms"], s["p10_ms"], s["p90_ms"], s["labels"]
    base = {"agentsh_true": "bash_true", "agentsh_git": "bash_git", "agentsh_true_nocache": "bash_true",
            "agentsh_true_token": "bash_true",
            "agentsh_true_nosite": "bash_true", "agentsh_true_cold": "bash_true",
            "agentsh_true_nosite_cold": "bash_true", "python_pass": "bash_true", "python_S_pass": "bash_true",
            "agentsh_true_venv": "bash_true", "venv_python_pass": "bash_true"}
    out = [f"Start-up, {results['runs']} interleaved runs each after {results['warmup']} warm-up rounds "
           f"(Python {results['python_version']}, {results['machine']}); wall time, ms:", "",
           "| command | median | p10 | p90 | added vs bash, median |", "|---|---:|---:|---:|---:|"]
    for key, label in labels.items():
        added = f"{med[key] - med[base[key]]:+.1f}" if key in base else ""
        out.append(f"| `{label}` | {med[key]:.1f} | {p10[key]:.1f} | {p90[key]:.1f} | {added} |")
    verdict = "meets" if s["added_true_ms"] <= TARGET_MS else "misses"
    out += [
        "",
        f"- `agentsh -c true` adds **{s['added_true_ms']:.1f} ms** to `bash -c true` (raw, this machine): "
        f"{verdict} the {TARGET_MS:.0f} ms target; `git status` adds {s['added_git_status_ms']:.1f} ms; "
        f"without the profile cache, {s['added_true_nocache_ms']:.1f} ms. Without the warm server "
        f"(`AGENTSH_WARM=0`, the line run in the calling process) it adds {s['added_true_cold_ms']:.1f} ms.",
        (f"- This interpreter's start-up includes the sandbox-injected `{SANDBOX_PTH}` "
        f"(imports certifi: {results['certifi_importtime_ms']:.1f} ms by `-X importtime`); a real host does not "
        f"run it. site.py plus all .pth files cost {s['site_and_pth_ms']:.1f} ms here "
        "(`python3 -c pass` minus `python3 -S -c pass`)." if results["sandbox_pth_present"] else
         f"- No `{SANDBOX_PTH}` here; site.py plus .pth files cost {s['site_and_pth_ms']:.1f} ms."),
        f"- Adjusted: measured with `-S` (what the launcher runs, no .pth files, no site.py) agentsh adds "
        f"**{s['added_true_nosite_ms']:.1f} ms** ({s['added_true_nosite_cold_ms']:.1f} ms without the warm "
        "server); on a real host add site.py's own 1-2 ms. Subtracting the whole "
        f"site.py + .pth cost from the raw figure instead gives {s['added_true_minus_site_ms']:.1f} ms, which is "
        "too low: the .pth pre-imports modules agentsh imports anyway (re, typing, pathlib, tempfile ...).",
    ]
    if "added_true_venv_ms" in s:
        venv_verdict = "meets" if s["added_true_venv_ms"] <= TARGET_MS else "misses"
        out.append(f"- Installed in its own venv (the deployment docs/login-shell.md describes: site.py runs, "
                   f"with the venv's own .pth files only) agentsh adds **{s['added_true_venv_ms']:.1f} ms**: "
                   f"{venv_verdict} the {TARGET_MS:.0f} ms target.")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=40, help="timed runs of each variant (default 40)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", metavar="FILE", help="also write the results (with every sample) as JSON")
    parser.add_argument("--venv", metavar="DIR", type=Path,
                        help="also time DIR/bin/agentsh, agentsh installed in its own venv")
    args = parser.parse_args()
    if args.venv is not None and not (args.venv / "bin" / "agentsh").exists():
        parser.error(f"{args.venv}/bin/agentsh does not exist: python3 -m venv DIR && DIR/bin/pip install .")

    with tempfile.TemporaryDirectory(prefix="agentsh-startup-") as tmp:
        variants, info = build_variants(Path(tmp), args.venv)
        try:
            samples = measure(variants, args.runs, args.warmup)
            info["warm_server_ran"] = str(bool(list((Path(tmp) / "run" / "agentsh").glob("*.sock"))))
        finally:
            stop_servers(str(Path(tmp) / "run" / "agentsh"))
    results: dict[str, Any] = {
        **info, "python_version": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "runs": args.runs, "warmup": args.warmup,
        "target_ms": TARGET_MS,
        "sandbox_pth_present": (Path(info["site_packages"]) / SANDBOX_PTH).exists(),
        "certifi_importtime_ms": importtime_certifi(),
        "summary": summarise(samples, variants),
        "samples_ms": {k: [round(x, 3) for x in v] for k, v in samples.items()},
    }
    print(markdown(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
