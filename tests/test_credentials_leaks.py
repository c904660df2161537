"""Red-team probes: where a credential's bytes could reach the agent, the recording, the
audit trail or another process (keyrings.alt's file backend as the real keyring)."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, failing_syscalls_runner, write_profile

# A quote: shlex.join splits it into pieces that no longer match the raw form.
SECRET = "Zq9-probe'Secret/val+ue"
# Pieces of it that must not show either (a cut or quoting could leave them).
FRAGMENTS = (SECRET, "Zq9-pro", "Secret/val")
PROFILE = """\
agentsh: 1
name: leaks
extends: [base]
path: ["{bin}", /usr/bin, /bin]
record: {{dir: "{record}"}}
commands:
  - name: tools
    run: [printenv, cat, ls, head, ps, sleep, od, rev, xxd, base64, tr]
    decision: allow
  - name: deploy
    run: [show-wait, use-denied, use-denied-long, use-leftover, crash, spawn-daemon]
    decision: allow
    credentials:
      MY_TOKEN: {{keyring: agentsh-test, user: probe}}
"""
PROGRAMS = {
    # a credentialed program that passes its secret to a program the profile refuses
    "use-denied": 'id "--token=$MY_TOKEN"; echo done',
    # ... so that the 500-character cut of the shown command falls inside the secret
    "use-denied-long": 'id "$(printf "%0485d" 0)$MY_TOKEN"; echo done',
    # ... and leaves a program running with it in its argv when the line ends
    # (cat prints this script's first line, which head waits for, then waits on stdin)
    # runs a while after saying so, with the secret in its environment
    "show-wait": 'echo ready; sleep 1',
    "use-leftover": 'head -n1 < <(sleep 30 | cat "$0" - "./$MY_TOKEN") >/dev/null; echo started',
    # a credentialed program that crashes (or is sent SIGQUIT: Ctrl-backslash in a terminal)
    "crash": 'echo crashing; kill -SEGV $$',
    # a credentialed program that leaves a daemon behind (a build daemon, a credential cache)
    "spawn-daemon": 'sleep 30 </dev/null >/dev/null 2>&1 & echo spawned',
}


def keyring_setup(tmp_path: Path, agentsh_env: dict[str, str], profile_text: str, programs: dict[str, str],
                  user: str, secret: str) -> tuple[Path, Path, dict[str, str]]:
    """A profile, its programs (bash scripts) and one secret in keyrings.alt's file backend."""
    data = tmp_path / "keyring-data"
    data.mkdir()
    env = dict(agentsh_env, PYTHON_KEYRING_BACKEND="keyrings.alt.file.PlaintextKeyring",
               XDG_DATA_HOME=str(data), XDG_STATE_HOME=str(tmp_path / "state"))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name, body in programs.items():
        (bindir / name).write_text("#!/bin/bash\n" + body + "\n")
        (bindir / name).chmod(0o755)
    record = tmp_path / "record"
    profile = write_profile(tmp_path, "probes", profile_text.format(bin=bindir, record=record))
    stored = agentsh(["secret", "set", "agentsh-test", user], env, secret)
    assert stored.returncode == 0, stored.stderr
    return profile, record, env


@pytest.fixture
def setup(tmp_path: Path, agentsh_env: dict[str, str]) -> tuple[Path, Path, dict[str, str]]:
    return keyring_setup(tmp_path, agentsh_env, PROFILE, PROGRAMS, "probe", SECRET)


def agentsh(args: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agentsh", *args], input=stdin, capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=60)


def everything(record: Path, env: dict[str, str], result: subprocess.CompletedProcess[str]) -> str:
    audit = Path(env["XDG_STATE_HOME"]) / "agentsh" / "audit.jsonl"
    return (result.stdout + result.stderr + "".join(p.read_text() for p in record.glob("*.cast"))
            + (audit.read_text() if audit.exists() else ""))


@pytest.mark.parametrize("line", ["use-denied", "use-denied-long", "use-leftover"])
def test_a_credential_in_a_guarded_programs_argv_is_masked(setup: tuple[Path, Path, dict[str, str]],
                                                          line: str) -> None:
    # The exec guard shows a refused exec's argv to the agent and writes it to the audit
    # trail, and the argv of what it ended when the line was over.  Before, the audit event
    # held the secret as it was, and the agent saw it quoted apart by shlex.join or cut
    # inside by the 500-character limit, where no form matched.
    profile, record, env = setup
    result = agentsh(["-p", str(profile), "-c", line], env)
    assert "done" in result.stdout or "started" in result.stdout, result.stderr
    text = everything(record, env, result)
    assert ("exec_denied" if "denied" in line else "leftovers_ended") in text
    for fragment in FRAGMENTS:
        assert fragment not in text, fragment


@pytest.mark.parametrize("reader", [
    "cd / && cat proc/*/environ",  # no `/proc` in the text
    "cat /dev/fd/../../*/environ",  # /dev/fd -> /proc/self/fd
    "ps axeww",  # ps reads /proc itself
    "x=pro; cat /${x}c/*/environ",  # a path only known at run time: the exec guard sees it
    # bash reads it itself (no exec to check) and upper-cases it
    "x=pro; for f in /${x}c/*/environ; do while IFS= read -r -d '' l; do printf '%s\\n' \"${l^^}\"; done < \"$f\"; done",
])
def test_no_other_command_of_the_line_reads_the_credentialed_process(
        setup: tuple[Path, Path, dict[str, str]], reader: str) -> None:
    # Before, only the text `/proc`, `$$` and `$PPID` refused such a line: these read
    # show-wait's /proc/PID/environ while it ran, and `rev` undid the masking.
    profile, record, env = setup
    result = agentsh(["-p", str(profile), "-c", f"show-wait | {{ head -n1 >/dev/null; {reader} | tr '\\0' '\\n' | rev; }}"], env)
    text = everything(record, env, result)
    for fragment in (*FRAGMENTS, SECRET[::-1], SECRET.upper()):
        assert fragment not in text, (fragment, result.stderr)
    # refused before it runs, or (a path only known at run time) at cat's exec; a path through
    # /dev/fd/.. is refused whatever it names (policy/realpaths.own_process)
    assert "credential" in result.stderr or "inside the denied read root /proc" in result.stderr \
        or "the command's own process" in result.stderr, result.stderr


def test_a_crashing_credentialed_program_dumps_no_core(setup: tuple[Path, Path, dict[str, str]],
                                                       tmp_path: Path) -> None:
    """Before, with the soft core limit above 0 (which the agent's launcher sets, and a
    container often has), a credentialed program that crashed wrote its memory, the
    secret in its environment, to `core` in the line's working directory, for any later
    line to read unmasked (guardrail mode; in confined mode too where Landlock lets it write
    there).  agentsh now sets its core limit to 0, hard, before it reads the keyring."""
    with open("/proc/sys/kernel/core_pattern") as handle:
        if handle.read().startswith("|"):
            pytest.skip("core dumps go to a program here, not to a file the test can look at")
    if resource.getrlimit(resource.RLIMIT_CORE)[1] == 0:
        pytest.skip("core dumps are off (hard limit 0)")
    profile, _record, env = setup
    work = tmp_path / "work"
    work.mkdir()
    result = _guardrail(tmp_path, profile, env, "crash", cwd=work,
                        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY,) * 2))
    assert "crashing" in result.stdout, result.stderr
    written = {p.name: p.read_bytes() for p in work.rglob("*") if p.is_file()}
    assert not [name for name, data in written.items() if SECRET.encode() in data], sorted(written)


def _guardrail(tmp_path: Path, profile: Path, env: dict[str, str], line: str,
               **popen: Any) -> subprocess.CompletedProcess[str]:
    runner = tmp_path / "guardrail.py"
    if not runner.exists():
        runner.write_text(failing_syscalls_runner((101, 444, 445, 446), 1))
    return subprocess.run([sys.executable, str(runner), "-p", str(profile), "-c", line], capture_output=True,
                          text=True, env=dict(env, AGENTSH_WARM="0"), cwd=popen.pop("cwd", tmp_path), timeout=60,
                          **popen)


def _holders(secret: str) -> dict[int, bytes]:
    """This user's processes with the secret in their environment: PID -> command line."""
    pids = {}
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and secret.encode() in (entry / "environ").read_bytes():
                pids[int(entry.name)] = (entry / "cmdline").read_bytes()
        except OSError:
            pass
    return pids


def test_a_daemon_a_credentialed_program_left_is_ended_with_the_line(tmp_path: Path,
                                                                    agentsh_env: dict[str, str]) -> None:
    """Before, in guardrail mode (no exec guard to end leftovers), a daemon the credentialed
    program started outlived the line with the secret in its environment, and the next
    line, with no credentials and so no check on /proc, printed it reversed."""
    secret = "Dm4-daemon'Secret/" + os.urandom(4).hex()  # this test's own: no other test's leftovers
    profile, _record, env = keyring_setup(tmp_path, agentsh_env, PROFILE, PROGRAMS, "probe", secret)
    try:
        first = _guardrail(tmp_path, profile, env, "spawn-daemon")
        assert "spawned" in first.stdout, first.stderr
        state = Path(env.get("XDG_STATE_HOME") or Path(env["HOME"]) / ".local" / "state")
        events = [json.loads(line) for line in (state / "agentsh" / "audit.jsonl").read_text().splitlines()]
        assert any(e["kind"] == "leftovers_ended" and e.get("credential_holders", 0) >= 1 for e in events)
        second = _guardrail(tmp_path, profile, env, "cat /proc/*/environ | tr '\\0' '\\n' | rev")
        for form in (secret, secret[::-1], "Secret/"[::-1]):
            assert form not in second.stdout + second.stderr, form
        assert not _holders(secret), _holders(secret)
    finally:
        for pid in _holders(secret):  # the test's own leftovers, before the fix
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_a_killed_agentsh_leaves_no_process_holding_the_credential(tmp_path: Path,
                                                                   agentsh_env: dict[str, str]) -> None:
    """Before, SIGKILL of agentsh mid-line (a harness's timeout, or the agent) left the
    credentialed program and the daemon it started running with the secret in their
    environments (guardrail mode: bash and its children go on without agentsh), for a later
    line to read from /proc.  agentsh's watcher now ends them."""
    secret = "Kl5-killed'Secret/" + os.urandom(4).hex()
    profile, _record, env = keyring_setup(tmp_path, agentsh_env, PROFILE, PROGRAMS, "probe", secret)
    runner = tmp_path / "guardrail.py"
    runner.write_text(failing_syscalls_runner((101, 444, 445, 446), 1))
    line = subprocess.Popen([sys.executable, str(runner), "-p", str(profile), "-c", "spawn-daemon; show-wait"],
                            env=dict(env, AGENTSH_WARM="0"), cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        assert line.stdout is not None
        said = line.stdout.readline()
        assert said == "spawned\n", said
        assert _holders(secret)  # the daemon, with the secret, while the line runs
        line.kill()  # agentsh alone: the line's bash is in a session of its own
        line.wait(timeout=10)
        deadline = time.monotonic() + 20  # a bound, not a timing assertion: the watcher is asynchronous
        while _holders(secret) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _holders(secret), _holders(secret)
    finally:
        for pid in _holders(secret):  # the test's own leftovers, before the fix
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        line.communicate(timeout=30)
