"""Canary tests: a profile that allows a program with any arguments still blocks its escapes.

For every GTFOBins entry (shared/corpus/gtfobins_escapes.jsonl) of a program installed here
with function shell or command, and for the interpreters' ways of running programs, the
escape runs twice through agentsh's runner (`run_bash`), on a real terminal, with the
profile `base` + `{run: PROGRAM, decision: allow}`:

1. without the exec guard (Landlock only: the baseline runs as root on a shared machine,
   and Landlock keeps payloads such as `sysctl`, `ip netns` or `apt` from changing it;
   the canary is inside a write root, so Landlock never stands between it and the escape);
2. with every exec-time layer (exec guard, Landlock, seccomp), as agentsh runs a line: once
   with the program allowed with any arguments (the guard then often refuses the program
   itself, by the same hazard knowledge as the static check), and once with a rule allowing
   exactly the payload's arguments, which names every hazard in them, so the program runs
   and the guard has to stop what it starts.

The static line check is not involved: it refuses many of these lines by itself, and the
point here is what the exec-time layers stop when a line got past it.  The environment
hardening of `base` (LESSSECURE, PAGER=cat, EDITOR=false, ...) is undone in the line for
the same reason.  An escape that works in (1) must be blocked in (2): the canary file does
not appear.  An entry whose escape does not work even in (1) must be in NOT_WORKING, with
the reason; one that is not run at all is in NOT_RUN.  The typed line also writes a canary
outside the write roots, which Landlock alone must stop in (1).

For file-read and file-write entries (a secret in ~/.ssh, a target outside the write
roots), the baseline is no confinement at all, and both Landlock alone and the full set
must keep the secret bytes out of the output and the file from appearing.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.escape_cases import BASE_PATH, BYPASSES, GTFOBINS, INTERPRETERS, SECRET, Escape, corpus_escapes, installed
from tests.escape_harness import Outcome, run_payload

CORPUS, MISSING = corpus_escapes() if GTFOBINS.is_file() else ([], [])
ESCAPES = [*CORPUS, *(e for e in INTERPRETERS if installed(e.binary)), *BYPASSES]
WORKERS = 6
UNDO_HARDENING = "unset LESSSECURE PAGER MANPAGER GIT_PAGER SYSTEMD_PAGER EDITOR VISUAL GIT_EDITOR; "

# Not run at all: what the payload would do to this machine, or what it needs that no test
# can provide.
NOT_RUN: dict[str, str] = {
    "apt:shell:0": "installs the package sl from the network on this host",
    "apt-get:shell:0": "installs the package sl from the network on this host",
    "dpkg:shell:0": "needs a crafted .deb, which it installs on this host",
    "docker:shell:0": "needs a Docker daemon (there is none here) and pulls an image",
    "docker:shell:1": "needs a Docker daemon (there is none here) and pulls an image",
    "docker:file-read:0": "needs a running container",
    "docker:file-write:0": "needs a running container",
    "sysctl:command:0": "sets kernel.core_pattern for the whole host; the command would run at the next core dump",
    "tmux:shell:1": "attaches to another user's tmux server socket",
}

# The baseline without any layer is not run for these (after Landlock alone stopped them).
NO_UNCONFINED_BASELINE: dict[str, str] = {
    "systemctl:shell:0": "links a unit file into /etc/systemd/system",
}

# Run, but the escape does not work here even without the exec guard.  Filled from runs on
# this machine; each reason says why.
NOT_WORKING: dict[str, str] = {
    "dmsetup:shell:0": "no device-mapper driver here (/dev/mapper/control: No such device); `ls --exec` runs its "
                       "command once per device",
    "dmsetup:shell:1": "no device-mapper driver here (/dev/mapper/control: No such device)",
    "jrunscript:shell:0": "Java 17 has no JavaScript engine (Nashorn left in Java 15): 'script engine for language js "
                          "can not be found'",
    "jrunscript:shell:1": "Java 17 has no JavaScript engine (Nashorn left in Java 15)",
    "loginctl:shell:0": "needs systemd-logind; this machine was not booted with systemd",
    "man:shell:0": "man -H needs groff's HTML output (grohtml), which fails here before the browser would run",
    "perlbug:shell:0": "perlbug asks a series of questions (module, category, severity, ...) before it runs the editor",
    "psql:shell:0": "needs a PostgreSQL server; none runs here",
    "red:shell:0": "red (restricted ed) refuses `!` ('?')",
    "sftp:shell:0": "needs an ssh server that accepts the login",
    "ssh:shell:0": "needs an ssh server that accepts the login (none listens on localhost:22)",
    "ssh:shell:2": "LocalCommand runs only after a successful login (no ssh server on localhost:22)",
    "systemctl:shell:0": "needs systemd as init (and writes to /etc/systemd/system, so it has no unconfined baseline)",
    "systemctl:shell:1": "needs systemd as init: 'System has not been booted with systemd'",
    "systemd-run:command:0": "needs systemd as init: 'System has not been booted with systemd'",
    "systemd-run:shell:0": "needs systemd as init",
    "systemd-run:shell:1": "needs systemd as init",
    "top:shell:0": "top refuses a toprc it did not write itself ('incompatible rcfile'); the pipe entry is appended to one",
}


def _id(escape: Escape) -> str:
    return escape.id


class Dirs:
    def __init__(self, root: Path, marker: str) -> None:
        self.root = root
        self.ws, self.home, self.outside, self.scratch, self.state = (root / n for n in
                                                                       ("work", "home", "outside", "scratch", "state"))
        for d in (self.ws, self.home / ".ssh", self.outside, self.scratch, self.state):
            d.mkdir(parents=True)
        (self.home / ".ssh" / "id_rsa").write_text(SECRET + "\n")
        self.values = {"{ws}": str(self.ws), "{canary}": str(self.ws / "escaped"),
                       "{outside_canary}": str(self.outside / "escaped"), "{cmd}": str(self.ws / "command"),
                       "{secret}": str(self.home / ".ssh" / "id_rsa"), "{out}": str(self.outside / "written"),
                       "{long}": str(self.ws / "long.txt"), "{netns}": f"agentsh-{marker}"}
        (self.ws / "long.txt").write_text("".join(f"line {i} of a text longer than the terminal\n" for i in range(300)))
        command = self.ws / "command"
        command.write_text(f"#!/bin/sh\necho escaped > {self.values['{canary}']}\n")
        command.chmod(0o755)

    def fill(self, text: str) -> str:
        for name, value in self.values.items():
            text = text.replace(name, value)
        return text


def exact_args(line: str, binary: str) -> list[str] | None:
    """The arguments the line gives `binary` (the first simple command that runs it), as bash will pass them."""
    semicolon = "\0semicolon\0"  # find's `\;` is an argument, not a separator
    lexer = shlex.shlex(line.replace("\\;", semicolon), posix=True, punctuation_chars=";&|()<>")
    lexer.whitespace_split = True
    words = list(lexer)
    for i, word in enumerate(words):
        if word == binary or word.endswith("/" + binary):
            if i and words[i - 1] not in ("|", "||", "&&", ";", "(", "&") and "=" not in words[i - 1]:
                continue
            args = []
            for arg in words[i + 1:]:
                if arg and set(arg) <= set(";&|()<>"):
                    break
                args.append(arg.replace(semicolon, ";"))
            return args
    return None


def _literal(arg: str) -> str:
    """A pattern element that matches exactly `arg` (patterns glob with *, ? and [...])."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in arg)


def profile_text(escape: Escape, dirs: Dirs, marker: str, exact: bool = False) -> str:
    path = [dirs.fill(p) for p in escape.path] + list(BASE_PATH)
    where = installed(escape.binary)
    if where and os.path.dirname(where) not in path:  # /usr/sbin programs
        path.append(os.path.dirname(where))
    rules = dirs.fill(escape.rules) or f"  - {{name: it, run: {json.dumps(escape.binary)}, decision: allow}}\n"
    if exact:  # the payload's own arguments, every hazard in them named: the program runs
        args = exact_args(dirs.fill(escape.line), escape.binary) or []
        pattern = shlex.join(_literal(a) for a in args)
        rules = (f"  - {{name: it, run: {json.dumps(escape.binary)}, args: [{json.dumps(pattern)}],"
                 " decision: allow}\n")
    return ("agentsh: 1\nname: escape\nextends: [base]\n"
            f"path: {json.dumps(path)}\n"
            f'write: {{allow: ["{{workspace}}", {json.dumps(str(dirs.home))}, {json.dumps(str(dirs.scratch))}]}}\n'
            f"env: {{set: {{TMPDIR: {json.dumps(str(dirs.scratch))}, ESCAPE_RUN_MARKER: {marker}}}}}\n"
            + escape.profile + "commands:\n" + rules)


class Result(dict):
    """mode -> (Outcome, what happened: escaped / leaked / written, outside canary written)."""


def run_one(escape: Escape, mode: str, root: Path, slow: float = 1.0) -> tuple[Outcome, bool, bool]:
    """Run in `mode` (a MODES name; "full-exact" is "full" with a rule allowing exactly the payload's argv)."""
    exact = mode == "full-exact"
    mode = "full" if exact else mode
    marker = f"{os.getpid()}-{abs(hash((escape.id, mode, str(root)))) % 10**9}"
    dirs = Dirs(root, marker)
    if escape.setup:
        subprocess.run(["bash", "-c", dirs.fill(escape.setup)], cwd=dirs.ws, capture_output=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": str(dirs.home)})
    profile = dirs.root / "profile.yaml"
    profile.write_text(profile_text(escape, dirs, marker, exact))
    canary, written = dirs.ws / "escaped", dirs.outside / "written"

    def happened(output: bytes) -> bool:
        if escape.kind == "canary":
            return canary.exists()
        if escape.kind == "read":  # some print it lower-cased (ssh, wget)
            return SECRET.lower().encode() in output.lower()
        return written.exists()

    spec = {"profile": str(profile), "cwd": str(dirs.ws), "home": str(dirs.home), "mode": mode,
            "script": UNDO_HARDENING + dirs.fill(escape.line), "state": str(dirs.state), "marker": marker}
    try:
        outcome = run_payload(spec, [dirs.fill(k) for k in escape.keys], escape.seconds * slow,
                              first_key=0.6 * slow, key_gap=0.45 * slow,
                              done=None if mode == "full" else happened)
        time.sleep(0.1)
        return outcome, happened(outcome.output), (dirs.outside / "escaped").exists()
    finally:
        if escape.teardown:
            subprocess.run(["bash", "-c", dirs.fill(escape.teardown)], capture_output=True, timeout=60)


def run_escape(escape: Escape, root: Path) -> Result:
    """The baseline first: Landlock alone, then (if that stopped it) nothing; then the layers."""
    result = Result()
    if escape.kind == "canary":
        result["landlock"] = run_one(escape, "landlock", root / "landlock")
        if not result["landlock"][1] and escape.id not in NO_UNCONFINED_BASELINE:
            result["none"] = run_one(escape, "none", root / "none")
    else:
        result["none"] = run_one(escape, "none", root / "none")
    if not worked(escape, result) and escape.id not in NOT_WORKING:  # once more, slower, before calling it broken
        mode = "none" if "none" in result else "landlock"
        result[mode] = run_one(escape, mode, root / (mode + "-again"), slow=2.0)
    for mode in guarded_modes(escape):
        result[mode] = run_one(escape, mode, root / mode)
    return result


def guarded_modes(escape: Escape) -> list[str]:
    """Landlock alone (for reads and writes), the full set with the program allowed with any arguments,
    and with exactly the payload's arguments (which names their hazards, so the program itself runs)."""
    modes = [] if escape.kind == "canary" else ["landlock"]
    return [*modes, "full"] + ([] if escape.rules else ["full-exact"])


def baselines(escape: Escape) -> tuple[str, ...]:
    return ("landlock", "none") if escape.kind == "canary" else ("none",)


def worked(escape: Escape, result: Result) -> bool:
    """Did the escape work in a baseline run (Landlock alone, or nothing)?"""
    return any(result[mode][1] for mode in baselines(escape) if mode in result)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> dict[str, Result]:
    """Run every escape the session selected, in parallel, once."""
    wanted = {item.callspec.params["escape"].id for item in request.session.items
              if getattr(item, "callspec", None) and "escape" in item.callspec.params}
    chosen = [e for e in ESCAPES if e.id in wanted and e.id not in NOT_RUN]
    base = tmp_path_factory.mktemp("escapes")
    started = time.monotonic()
    with ThreadPoolExecutor(WORKERS) as pool:
        futures = {e.id: pool.submit(run_escape, e, base / e.id.replace(":", "_").replace("/", "_")) for e in chosen}
        results = {ident: future.result() for ident, future in futures.items()}
    results["__seconds__"] = time.monotonic() - started  # type: ignore[assignment]
    return results


def _shown(outcome: Outcome) -> str:
    text = outcome.output.decode("utf-8", "replace")[-1500:]
    return f"status={outcome.status} timed_out={outcome.timed_out} reports={outcome.reports}\n{text}"


@pytest.mark.parametrize("escape", [e for e in ESCAPES if e.id not in NOT_RUN], ids=_id)
def test_escape_is_blocked_at_exec_time(escape: Escape, outcomes: dict[str, Result]) -> None:
    result = outcomes[escape.id]
    if escape.kind == "canary":
        base_outcome, _, outside = result["landlock"]
        assert not outside, f"Landlock let the escaped shell write outside the write roots:\n{_shown(base_outcome)}"
    for mode in guarded_modes(escape):
        outcome, happened, outside = result[mode]
        what = {"canary": "the canary appeared", "read": "the secret's bytes were printed",
                "write": "the file outside the write roots was written"}[escape.kind]
        assert not happened and not outside, f"{what} under {mode}:\n{_shown(outcome)}"
    if not worked(escape, result) and escape.id not in NOT_WORKING:
        # Typed keys and timeouts make a few interactive baselines flaky on a loaded machine: one
        # that did not work here is named, and test_summary fails if more than a few do.
        shown = "\n".join(f"-- {mode}: {_shown(result[mode][0])}" for mode in baselines(escape) if mode in result)
        pytest.skip(f"the escape did not work even without the exec guard on this machine, so this run proves "
                    f"nothing for it (fix its adaptation in escape_cases.py, or list it in NOT_WORKING):\n{shown[-600:]}")


def test_not_working_table_lists_only_corpus_entries() -> None:
    known = {e.id for e in ESCAPES} | set(MISSING)
    assert not (set(NOT_WORKING) | set(NOT_RUN)) - known


def refused_itself(escape: Escape, outcome: Outcome) -> bool:
    """Was the allowed program's own exec refused (rather than something it started)?"""
    for report in outcome.reports:
        words = report.get("command", "").split()[:2]
        if report.get("kind") == "exec_denied" and any(w == escape.binary or w.endswith("/" + escape.binary)
                                                       for w in words):
            return True
    return False


def test_summary(outcomes: dict[str, Result], capsys: pytest.CaptureFixture[str]) -> None:
    """The counts, printed: installed, working without the guard, blocked with it, not applicable."""
    ran = {k: v for k, v in outcomes.items() if k != "__seconds__"}
    by_id = {e.id: e for e in ESCAPES}
    corpus_ids = {e.id for e in CORPUS}
    working = [k for k, r in ran.items() if worked(by_id[k], r)]
    blocked = [k for k in working if not any(r[1] or r[2] for m, r in ran[k].items() if m.startswith("full"))]
    only_unconfined = [k for k in working if "none" in ran[k] and by_id[k].kind == "canary"]
    exact = [k for k in working if "full-exact" in ran[k]]
    program_ran = [k for k in exact if not refused_itself(by_id[k], ran[k]["full-exact"][0])]
    lines = [
        f"gtfobins shell/command/file-read/file-write entries: {len(CORPUS) + len(MISSING)}; program installed: "
        f"{len(CORPUS)}; not installed: {len(MISSING)} ({len({m.split(':')[0] for m in MISSING})} programs)",
        f"run: {len(ran)} (corpus {len(corpus_ids & set(ran))}, interpreters and agent bypasses "
        f"{len(set(ran) - corpus_ids)}); not run: {len(NOT_RUN)}",
        f"escape works without the exec guard: {len(working)} ({len(only_unconfined)} of them only without Landlock "
        f"too); blocked with it: {len(blocked)}; does not work here even without it: {len(ran) - len(working)} "
        f"(NOT_WORKING lists {len(NOT_WORKING)})",
        f"with the payload's exact arguments allowed: the program itself ran in {len(program_ran)} of {len(exact)}, "
        "and what it started was stopped",
        f"runs killed at their time limit: {sum(r[0].timed_out for v in ran.values() for r in v.values())} of "
        f"{sum(len(v) for v in ran.values())}; time: {outcomes['__seconds__']:.0f} s with {WORKERS} workers",
    ]
    with capsys.disabled():  # shown in the test output, not only on failure
        print("".join(f"\nexec guard corpus: {line}" for line in lines))
    assert len(blocked) == len(working)
    unexpected = sorted(k for k in ran if k not in working and k not in NOT_WORKING)
    assert len(unexpected) <= max(3, len(ran) // 20), f"escapes that did not work even without the guard: {unexpected}"
    # The exact rules must really let the programs run, or the guard would win by refusing everything.
    assert len(program_ran) >= len(exact) * 0.6, sorted(set(exact) - set(program_ran))


# -- holes found ------------------------------------------------------------------------------------
GIT_DISPATCH_RULES = ("  - {name: py, run: python3, args: [\"-c ...\"], decision: allow}\n"
                      "  - {name: git, run: git, decision: allow}\n")


@pytest.mark.parametrize("argv0", [
    "git",
    "git-config",  # git run under this name runs `git config`: decided by argv[0], refused
])
def test_argv0_dispatch_does_not_change_what_is_decided(argv0: str, tmp_path: Path) -> None:
    """A program that picks its subcommand from argv[0] must be decided by what it will do."""
    code = f'import os; os.execv("/usr/bin/git", ["{argv0}", "config", "core.fsmonitor", "touch {{canary}}"])'
    if argv0 != "git":
        code = code.replace('"config", ', "")
    escape = Escape("git-argv0", "git", "canary", "python3 -c " + shlex.quote(code), rules=GIT_DISPATCH_RULES,
                    setup="git init -q .")
    outcome, _, _ = run_one(escape, "full", tmp_path)
    config = (tmp_path / "work" / ".git" / "config").read_text()
    assert "fsmonitor" not in config, _shown(outcome)
    assert any(r.get("kind") == "exec_denied" for r in outcome.reports), _shown(outcome)
