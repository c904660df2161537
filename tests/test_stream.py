"""PtyRelay on a real PTY: every byte reaches the agent and the sink in order, however the
kernel splits it, and the PTY's descriptor is left as it was found."""

from __future__ import annotations

import os
import pty
import subprocess
import threading
import time
from pathlib import Path

from agentsh.stream import PtyRelay


def test_relay_carries_every_byte_and_restores_blocking(tmp_path: Path) -> None:
    master, slave = pty.openpty()
    out_r, out_w = os.pipe()
    received: list[bytes] = []

    def read_all() -> None:  # the agent's side of the pipe, read until the relay closes it
        while data := os.read(out_r, 65536):
            received.append(data)

    reader = threading.Thread(target=read_all)
    reader.start()
    # 300 KB of numbered lines with a 3-byte character: several 64 KiB bursts, 4 KiB reads.
    # The first 50 lines are written before the relay starts (the child says so with a marker
    # file), so the relay's first read finds many lines waiting whatever the machine's speed.
    line = 'printf "line %05d \\342\\234\\223 %s\\n" "$i" "$(printf x%.0s $(seq 1 40))"'
    marker = tmp_path / "first-lines-written"
    script = (f'for i in $(seq 1 50); do {line}; done; : > "$1"; '
              f'for i in $(seq 51 5000); do {line}; done')
    child = subprocess.Popen(["bash", "-c", script, "bash", str(marker)], stdin=slave, stdout=slave,
                             stderr=slave, start_new_session=True)
    os.close(slave)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < deadline and child.poll() is None
        time.sleep(0.01)
    sunk: list[bytes] = []
    relay = PtyRelay(master, sunk.append, stdin_fd=-1, stdout_fd=out_w)
    relay.run(lambda: child.poll() is not None)
    assert os.get_blocking(master)  # restored for whoever uses the PTY next
    os.close(master)
    os.close(out_w)
    reader.join(timeout=120)
    assert not reader.is_alive()
    os.close(out_r)
    child.wait()
    expected = b"".join(b"line %05d \xe2\x9c\x93 %s\r\n" % (i, b"x" * 40) for i in range(1, 5001))
    assert len(b"".join(received)) == len(expected), (len(b"".join(received)), len(b"".join(sunk)), len(expected))
    assert b"".join(received) == expected  # the PTY turned \n into \r\n; nothing lost or reordered
    assert b"".join(sunk) == expected
    assert len(sunk) < 5000  # the 50 waiting lines came as one burst, not one chunk per line


def test_keystrokes_get_through_while_output_never_pauses() -> None:
    # The relay passes each read on at once and reads again without select(); after CHUNK
    # bytes it must look at the agent's side, or a command printing faster than the relay
    # works would never get the agent's ^C.  A slow sink makes the relay the slower one.
    master, slave = pty.openpty()
    child = subprocess.Popen(["yes", "flood"], stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    typed_r, typed_w = os.pipe()
    os.write(typed_w, b"x")
    devnull = os.open(os.devnull, os.O_WRONLY)
    typed: list[bytes] = []
    relayed = [0]

    def slow_sink(data: bytes) -> None:
        relayed[0] += len(data)
        time.sleep(0.001)

    def on_input(data: bytes) -> None:
        typed.append(data)
        child.kill()

    timer = threading.Timer(30, child.kill)  # without the bound, the keystroke is never read
    timer.start()
    try:
        relay = PtyRelay(master, slow_sink, stdin_fd=typed_r, stdout_fd=devnull, on_input=on_input)
        relay.run(lambda: child.poll() is not None)
    finally:
        timer.cancel()
        child.kill()
        child.wait()
        for fd in (master, typed_r, typed_w, devnull):
            os.close(fd)
    assert typed == [b"x"]
    assert relayed[0] > 0
