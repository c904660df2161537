"""The output pump (agentsh/pump.py) on a real PTY: past PUMP_AFTER bytes a forked copy of
agentsh carries a command's output to the agent while the relay records it.  What the agent
sees and what is recorded must stay the same bytes, in order, masked alike; a command that
leaves something holding its PTY, a pump that is killed and an agentsh that is killed must
neither hang nor lose the session."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentsh.pump import PUMP_AFTER
from agentsh.redact import Redactor
from agentsh.stream import PtyRelay
from tests.test_stream import relay_through_pty

LINES = 60_000  # ~4 MB: several times PUMP_AFTER


def numbered(count: int, secret: bytes = b"") -> bytes:
    """What bash prints for line_script(count), after the PTY's \\n -> \\r\\n."""
    return b"".join(b"line %06d %s %s\r\n" % (i, secret if i % 997 == 0 else b"-", b"x" * 50)
                    for i in range(1, count + 1))


def line_script(count: int, secret: str = "") -> str:
    return (f'for ((i = 1; i <= {count}; i++)); do if ((i % 997 == 0)); then s="{secret}"; else s=-; fi; '
            f'printf "line %06d %s %s\\n" "$i" "$s" {"x" * 50}; done')


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_large_output_reaches_agent_and_recording_alike(tmp_path: Path) -> None:
    received, sunk, _, relay = relay_through_pty(line_script(LINES), tmp_path)
    expected = numbered(LINES)
    assert len(expected) > 3 * PUMP_AFTER
    assert relay.pumped and gone(relay.pumped)  # a pump carried it, and was reaped
    assert received == expected  # nothing lost, repeated or reordered at the hand-over
    assert sunk == expected  # the recording holds exactly what the agent saw


def test_secrets_are_masked_before_and_after_the_pump_takes_over(tmp_path: Path) -> None:
    secret = "s3cr3t-Value-0042"
    received, sunk, _, relay = relay_through_pty(line_script(LINES, secret), tmp_path,
                                              output_filter=Redactor([secret.encode()]))
    assert relay.pumped
    expected = numbered(LINES, b"***")
    for seen in (received, sunk):
        assert secret.encode() not in seen and b"s3cr3t" not in seen
        assert seen == expected


def test_a_secret_held_back_at_the_hand_over_is_masked(tmp_path: Path) -> None:
    """The relay's redactor holds back a possible start of a secret; the pump, forked from it,
    must carry that state on: a secret whose first bytes came before the pump started and
    whose rest came after it is still masked."""
    secret = "Q9-handover-secret-Z"
    before = PUMP_AFTER - 3  # the pump starts right after the relay reads the secret's start
    script = (f'head -c {before} /dev/zero | tr "\\0" a; printf "%s" "{secret[:6]}"; sleep 0.3; '
              f'printf "%s\\n" "{secret[6:]}"; head -c 100000 /dev/zero | tr "\\0" b')
    received, sunk, _, relay = relay_through_pty(script, tmp_path, output_filter=Redactor([secret.encode()]))
    assert relay.pumped
    for seen in (received, sunk):
        assert secret[:6].encode() not in seen and secret[6:].encode() not in seen
        assert seen == b"a" * before + b"***\r\n" + b"b" * 100000


def test_a_leftover_holding_the_pty_does_not_keep_the_relay(tmp_path: Path) -> None:
    """bash exits while a background process still holds the PTY: the pump is stopped, the
    output so far is all relayed, and nothing is left running of the pump."""
    script = f'(exec sleep 30) & {line_script(30_000)}; echo done'
    started = time.monotonic()
    received, sunk, _, relay = relay_through_pty(script, tmp_path)
    assert relay.pumped and gone(relay.pumped)
    assert received == numbered(30_000) + b"done\r\n" and sunk == received
    assert time.monotonic() - started < 25  # it did not wait for the sleep to end
    subprocess.run(["pkill", "-f", "^sleep 30$"], check=False)


def test_a_killed_pump_hands_the_output_back_to_the_relay(tmp_path: Path) -> None:
    killed: list[int] = []

    def kill_the_pump(total: int, relay: PtyRelay) -> None:
        if total > 2 * PUMP_AFTER and relay.pumped and not killed:
            killed.append(relay.pumped)
            os.kill(relay.pumped, signal.SIGKILL)

    received, sunk, _, _ = relay_through_pty(line_script(LINES), tmp_path, on_bytes=kill_the_pump)
    assert killed and gone(killed[0])
    expected = numbered(LINES)
    assert received.endswith(expected[-PUMP_AFTER:])  # the relay carried the rest, to the end
    assert sunk.endswith(expected[-PUMP_AFTER:]) and len(sunk) <= len(received)


def test_sigkill_of_agentsh_ends_its_pump(tmp_path: Path, agentsh_env: dict[str, str],
                                          workspace: Path) -> None:
    """A SIGKILLed agentsh must not leave its pump relaying (holding the command's PTY open):
    the pump sees the pipe's reader gone, or its stop pipe closed, and ends."""
    import pexpect

    profile = tmp_path / "pump.yaml"
    profile.write_text(f"agentsh: 1\nname: pump\nextends: [base]\nrecord: {{dir: \"{tmp_path / 'rec'}\"}}\n"
                       "commands:\n  - {name: gen, run: [head, \"yes\", sleep], decision: allow}\n")
    child = pexpect.spawn(sys.executable, ["-m", "agentsh", "-i", "-p", str(profile)], cwd=str(workspace),
                          env=agentsh_env, dimensions=(50, 200), timeout=60)
    child.expect(r"\$ $")
    child.sendline("yes pump-line | head -c 3000000; sleep 30")
    child.expect("pump-line", timeout=60)
    for _ in range(200):  # read until the pump is carrying the output
        child.read_nonblocking(65536, timeout=5)
        pumps = [p for p in _children(child.pid) if _comm(p) == b"agentsh-pump"]
        if pumps:
            break
    else:
        pytest.fail("no pump was started")
    os.kill(child.pid, signal.SIGKILL)
    child.close(force=True)
    deadline = time.monotonic() + 30
    while not all(gone(p) or _zombie(p) for p in pumps):
        assert time.monotonic() < deadline, f"the pump {pumps} outlived agentsh"
        time.sleep(0.1)
    subprocess.run(["pkill", "-f", "^sleep 30$"], check=False)
    [cast] = (tmp_path / "rec").glob("*.cast")
    cat = subprocess.run([sys.executable, "-m", "asciinema", "cat", str(cast)], capture_output=True, timeout=60)
    assert cat.returncode == 0 and b"pump-line" in cat.stdout  # plays up to its last event


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rpartition(")")[2].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return found


def _comm(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/comm", "rb") as comm:
            return comm.read().strip()
    except OSError:
        return b""


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


def test_a_recording_that_fails_while_the_pump_runs_stops_the_command(tmp_path: Path, agentsh_env: dict[str, str],
                                                                       workspace: Path) -> None:
    """RLIMIT_FSIZE of 2 MiB makes the recording fail (EFBIG, as a full disk does with ENOSPC)
    after the pump has taken over (1 MiB): the command is stopped, the pump with it, and the
    agent is told; it saw at most the pump's pipe more than the file holds."""
    import pexpect

    record = tmp_path / "rec"
    profile = tmp_path / "pump.yaml"
    profile.write_text(f"agentsh: 1\nname: pump\nextends: [base]\nrecord: {{dir: \"{record}\"}}\n"
                       "commands:\n  - {name: gen, run: [head, \"yes\"], decision: allow}\n")
    child = pexpect.spawn("bash", ["-c", f'ulimit -f 2048; exec {sys.executable} -m agentsh -i -p "$0"', str(profile)],
                          cwd=str(workspace), env=agentsh_env, dimensions=(50, 200), timeout=60)
    child.expect(r"\$ $")
    child.sendline("yes fill-the-disk | head -c 20000000")
    child.expect("cannot record it", timeout=120)
    seen = child.before.count(b"fill-the-disk")
    child.expect(r"\$ $")
    assert seen * len(b"fill-the-disk\r\n") < 20_000_000 // 2  # stopped long before the end
    assert not [p for p in _children(child.pid) if _comm(p) == b"agentsh-pump"]
    child.sendline("exit")
    child.expect(pexpect.EOF)
    [cast] = record.glob("*.cast")
    assert cast.stat().st_size <= 2048 * 1024
    cat = subprocess.run([sys.executable, "-m", "asciinema", "cat", str(cast)], capture_output=True, timeout=60)
    assert cat.returncode == 0 and b"fill-the-disk" in cat.stdout  # whole lines up to the failure
