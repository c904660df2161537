"""PtyRelay on a real PTY: every byte reaches the agent and the sink in order, however the
kernel splits it, and the PTY's descriptor is left as it was found."""

from __future__ import annotations

import os
import pty
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from agentsh.redact import Redactor
from agentsh.stream import PtyRelay


def test_relay_carries_every_byte_and_restores_blocking(tmp_path: Path) -> None:
    # 300 KB of numbered lines with a 3-byte character: several 64 KiB bursts, 4 KiB reads.
    # The first 50 lines are written before the relay starts (the child says so with a marker
    # file), so the relay's first read finds many lines waiting whatever the machine's speed.
    line = 'printf "line %05d \\342\\234\\223 %s\\n" "$i" "$(printf x%.0s $(seq 1 40))"'
    marker = tmp_path / "first-lines-written"
    script = (f'for i in $(seq 1 50); do {line}; done; : > "{marker}"; '
              f'for i in $(seq 51 5000); do {line}; done')
    received, sunk, chunks, relay = relay_through_pty(script, tmp_path, ready=marker.exists)
    expected = b"".join(b"line %05d \xe2\x9c\x93 %s\r\n" % (i, b"x" * 40) for i in range(1, 5001))
    assert len(received) == len(expected), (len(received), len(sunk), len(expected))
    assert received == expected  # the PTY turned \n into \r\n; nothing lost or reordered
    assert sunk == expected
    assert chunks < 5000 and not relay.pumped  # bursts, not a chunk per line; no pump for this little


class Relayed(NamedTuple):
    received: bytes  # what the agent got
    sunk: bytes  # what the sink (the recorder) got
    chunks: int  # in how many calls of the sink
    relay: PtyRelay


def relay_through_pty(script: str, tmp_path: Path, output_filter: Redactor | None = None,
                      on_bytes: Callable[[int, PtyRelay], None] | None = None,
                      ready: Callable[[], bool] | None = None) -> Relayed:
    """Run bash -c script on a new PTY through PtyRelay.
    With `ready`, the relay starts only once it says so (bash is printing meanwhile)."""
    master, slave = pty.openpty()
    out_r, out_w = os.pipe()
    received: list[bytes] = []
    relay = PtyRelay(master, lambda data: sunk.append(data), stdin_fd=-1, stdout_fd=out_w,
                     output_filter=output_filter)
    sunk: list[bytes] = []

    def read_all() -> None:  # the agent's side, read until every writer has closed it
        total = 0
        while data := os.read(out_r, 65536):
            received.append(data)
            total += len(data)
            if on_bytes is not None:
                on_bytes(total, relay)

    reader = threading.Thread(target=read_all)
    reader.start()
    child = subprocess.Popen(["bash", "-c", script], stdin=slave, stdout=slave, stderr=slave,
                             start_new_session=True)
    os.close(slave)
    deadline = time.monotonic() + 60
    while ready is not None and not ready():
        assert time.monotonic() < deadline and child.poll() is None
        time.sleep(0.01)
    try:
        relay.run(lambda: child.poll() is not None)
        assert os.get_blocking(master)  # restored for whoever uses the PTY next
    finally:
        os.close(master)
        os.close(out_w)
    reader.join(timeout=120)
    assert not reader.is_alive()
    os.close(out_r)
    child.wait()
    return Relayed(b"".join(received), b"".join(sunk), len(sunk), relay)


