"""bash opens a socket itself for a redirection to /dev/tcp/HOST/PORT or /dev/udp/HOST/PORT:
a network connection that no program in the line makes. It is checked against the
profile's `network.connect` like a program's connection would be."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agentsh.policy import Policy
from agentsh.profile import Host, load_profile
from tests.conftest import write_profile

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)
    yield server
    server.close()


def _accepted(server: socket.socket) -> bool:
    try:
        conn, _ = server.accept()
    except TimeoutError:
        return False
    conn.close()
    return True


@pytest.mark.parametrize("shape", ["cat < /dev/tcp/127.0.0.1/{port}", "echo hi > /dev/tcp/127.0.0.1/{port}",
                                   "head -c 1 0< /dev/tcp/127.0.0.1/{port}", 'p={port}; cat < "/dev/tcp/127.0.0.1/$p"'])
def test_dev_tcp_is_refused_without_network(shape: str, listener: socket.socket, run_agentsh: Run) -> None:
    line = shape.format(port=listener.getsockname()[1])
    done = run_agentsh("-c", line, input="")
    assert done.returncode == 126, done.stderr
    assert "bash opens a TCP connection" in done.stderr
    assert not _accepted(listener)


def test_dev_udp_and_allowed_ports(tmp_path: Path, home: Path, workspace: Path) -> None:
    host = Host(cwd=str(workspace), home=str(home), config_home=str(home / ".config"))
    default = Policy(load_profile(None, host), host)
    assert default.decide("head -c 1 < /dev/udp/127.0.0.1/53").decision == "deny"
    web = write_profile(tmp_path, "web", "agentsh: 1\nname: web\nextends: [base]\n"
                                         "network: {connect: [8080]}\n"
                                         "commands:\n  - {name: c, run: [cat], decision: allow}\n")
    policy = Policy(load_profile(str(web), host), host)
    assert policy.decide("cat < /dev/tcp/127.0.0.1/8080").decision == "allow"
    assert policy.decide("cat < /dev/tcp/127.0.0.1/22").decision == "deny"
    assert policy.decide("cat < /dev/udp/127.0.0.1/8080").decision == "deny"
