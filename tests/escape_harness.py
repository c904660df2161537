"""Run an escape payload under agentsh's runner on a real terminal, for test_corpus_exec_guard.

Many GTFOBins escapes end in an interactive shell that reads the terminal (`/bin/sh -i 0<&2`,
`</dev/tty`, a pager's `!sh`), so each payload runs on its own PTY: this module's `main`
(run as a script) makes the PTY its controlling terminal and calls `agentsh.run.run_bash`
with the confinement asked for; `run_payload` types keys into the PTY as a person would,
collects what the command printed, and kills whatever is left when it is done or its time
is up.  Every process of a run carries a marker variable, so leftovers (daemons, `setsid`
shells, processes that left the session) are found and killed by it.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parent.parent
MARKER = "ESCAPE_RUN_MARKER"
MODES = ("none", "landlock", "full")  # no layer; Landlock alone; exec guard + Landlock + seccomp


class Outcome(NamedTuple):
    output: bytes  # everything the terminal showed
    status: int | None  # the line's status; None when it was killed at the time limit
    timed_out: bool
    stopped_early: bool  # the escape was seen to work, and the run was ended there
    reports: list[dict]  # what the exec guard reported (exec_denied, ended)
    seconds: float


def run_payload(spec: dict, keys: list[str], time_limit: float, first_key: float = 0.6, key_gap: float = 0.45,
                done: Callable[[bytes], bool] | None = None) -> Outcome:
    """Run spec["script"] (see `main`) on a new PTY; type `keys` one by one once the line started.

    ``done(output)`` true ends the run early (the escape has visibly worked).  The time limit
    counts from the line's start and is extended by the typing.
    """
    work = Path(spec["state"])
    work.mkdir(parents=True, exist_ok=True)
    spec_file, pid_file, result_file = work / "spec.json", work / "pid", work / "result.json"
    for stale in (pid_file, result_file):
        stale.unlink(missing_ok=True)
    spec = dict(spec, pid_file=str(pid_file), result_file=str(result_file))
    spec_file.write_text(json.dumps(spec))
    master, slave = os.openpty()
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {"PATH": "/usr/bin:/bin", "HOME": spec["home"], "LANG": "C.UTF-8", MARKER: spec["marker"],
           "PYTHONPATH": str(REPO)}
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, __file__, str(spec_file)], stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True, close_fds=True, env=env, cwd=spec["cwd"])
    os.close(slave)
    output = bytearray()
    pending = list(keys)
    next_key = None
    deadline = started + time_limit + 5  # the runner's own start-up, until the line is there
    timed_out = stopped_early = False
    try:
        while True:
            now = time.monotonic()
            if next_key is None and pid_file.exists():
                next_key = now + first_key
                deadline = now + time_limit + len(keys) * key_gap
            if pending and next_key is not None and now >= next_key:
                try:
                    os.write(master, pending.pop(0).encode())
                except OSError:
                    pending.clear()
                next_key = now + key_gap
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready and not _read_into(master, output):
                ready = []
            if proc.poll() is not None:
                while _read_into(master, output, wait=0.05):
                    pass
                # The line is over; what it left running (a shell that called setsid) may still
                # read the terminal: go on typing to it.
                if not (pending and alive(spec["marker"])):
                    break
            if done is not None and done(bytes(output)):
                stopped_early = True
                break
            if now > deadline:
                timed_out = True
                break
    finally:
        kill_run(spec["marker"], proc, pid_file)
        os.close(master)
    try:
        result = json.loads(result_file.read_text())
    except (OSError, ValueError):  # killed before it could say
        result = {}
    return Outcome(bytes(output), result.get("status"), timed_out, stopped_early, result.get("reports", []),
                   time.monotonic() - started)


def _read_into(fd: int, output: bytearray, wait: float = 0.0) -> bool:
    if wait and not select.select([fd], [], [], wait)[0]:
        return False
    try:
        data = os.read(fd, 65536)
    except OSError:  # EIO: every process holding the terminal is gone
        return False
    output += data
    return bool(data)


def kill_run(marker: str, proc: subprocess.Popen, pid_file: Path) -> None:
    """Kill the runner, the line's process group, and every process that carries the marker."""
    groups = [proc.pid]
    try:
        groups.append(int(pid_file.read_text()))
    except (OSError, ValueError):
        pass
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except OSError:
            pass
    needle = f"{MARKER}={marker}".encode()
    for _ in range(50):
        found = [pid for pid in _pids() if _has_marker(pid, needle)]
        if not found:
            break
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.05)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def alive(marker: str) -> bool:
    needle = f"{MARKER}={marker}".encode()
    return any(_has_marker(pid, needle) for pid in _pids())


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit() and int(name) != os.getpid()]


def _has_marker(pid: int, needle: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return needle in f.read().split(b"\0")
    except OSError:
        return False


def main(spec_path: str) -> None:
    """The runner: make fd 0 (the PTY) our controlling terminal and run the line as agentsh would."""
    spec = json.loads(Path(spec_path).read_text())
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # we lead a new session (start_new_session)

    from agentsh.guard.execcheck import ExecChecker
    from agentsh.guard.landlock import plan_for
    from agentsh.guard.spawn import Confinement
    from agentsh.policy import Policy
    from agentsh.profile import Host, load_profile
    from agentsh.run import UNCONFINED, build_environment, run_bash

    host = Host(cwd=spec["cwd"], home=spec["home"], config_home=os.path.join(spec["home"], ".config"))
    profile = load_profile(spec["profile"], host)
    mode = spec["mode"]
    if mode == "none":
        confinement = UNCONFINED
    elif mode == "landlock":
        confinement = Confinement(checker=None, landlock=plan_for(profile), strict=True, seccomp=False)
    else:
        confinement = Confinement(ExecChecker(Policy(profile, host)), landlock=plan_for(profile), strict=True)
    env = build_environment(profile, {"HOME": spec["home"], "TERM": "xterm", "LANG": "C.UTF-8"}, spec["cwd"])

    def started(pid: int) -> None:
        Path(spec["pid_file"]).write_text(str(pid))

    result = run_bash(spec["script"], env, spec["cwd"], confinement=confinement, on_spawn=started)
    partial = Path(spec["result_file"] + ".part")
    partial.write_text(json.dumps({"status": result.status, "reports": list(result.reports)}, default=str))
    partial.rename(spec["result_file"])


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main(sys.argv[1])
