"""The warm server (agentsh/warm): a plain `agentsh -c` is handed to a per-user process
that has imported agentsh already. Real processes throughout: the client is `python -m
agentsh`, the server is started by it, the line runs under its exec guard.

Each test gets its own XDG_RUNTIME_DIR, hence its own server, stopped at the end."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentsh.guard import landlock
from agentsh.warm import wire
from tests.conftest import peer_pidfd_supported, write_profile

AGENTSH = [sys.executable, "-m", "agentsh"]


# Without SO_PEERPIDFD (Linux < 6.5) the server refuses every peer by design, and the
# tests below that need a line served would fail for that reason alone.
pytestmark = pytest.mark.skipif(not peer_pidfd_supported(), reason="SO_PEERPIDFD needs Linux >= 6.5")


@pytest.fixture
def warm_env(agentsh_env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env = dict(agentsh_env, XDG_RUNTIME_DIR=str(runtime), LANG="C.UTF-8")
    yield env
    wire.stop_servers(str(runtime / "agentsh"))


def run(env: dict[str, str], line: str, cwd: Path, *, input: str | None = None,
        extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AGENTSH, *extra, "-c", line], env=env, cwd=cwd, input=input, capture_output=True,
                          text=True, timeout=60)


def server_pid(env: dict[str, str]) -> int | None:
    for lock in (Path(env["XDG_RUNTIME_DIR"]) / "agentsh").glob("*.lock"):
        if (pid := wire.live_server(str(lock))) is not None:
            return pid
    return None


def wait_for_server(env: dict[str, str], workspace: Path) -> int:
    """The first call runs in its own process and starts the server; wait until it serves."""
    run(env, "true", workspace)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pid = server_pid(env)
        if pid is not None and list((Path(env["XDG_RUNTIME_DIR"]) / "agentsh").glob("*.sock")):
            return pid
        time.sleep(0.05)
    failed = list((Path(env["XDG_RUNTIME_DIR"]) / "agentsh").glob("*.failed"))
    raise AssertionError(f"no warm server started: {[f.read_text() for f in failed]}")


def wait_for_file(path: Path, proc: subprocess.Popen[bytes]) -> None:
    """Until the line has written `path` (so it is running, whatever the machine's speed)."""
    deadline = time.monotonic() + 60
    while not path.exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)


def audit_lines(home: Path) -> list[dict[str, object]]:
    path = home / ".local" / "state" / "agentsh" / "audit.jsonl"
    events = [json.loads(line) for line in path.read_text().splitlines()]
    return [e for e in events if e["kind"] == "line"]


def test_a_line_runs_in_a_worker_exactly_as_it_would_in_process(warm_env: dict[str, str], workspace: Path,
                                                                 home: Path) -> None:
    server = wait_for_server(warm_env, workspace)
    (workspace / "sub").mkdir()
    line = "pwd; umask; cat; echo to-stderr >&2; printf '%s\\n' \"$AGENTSH_TEST_VALUE\"; exit 7"
    env = dict(warm_env, AGENTSH_TEST_VALUE="passed?")
    done = subprocess.run([*AGENTSH, "-c", line], env=env, cwd=workspace / "sub", input="from-stdin\n",
                          capture_output=True, text=True, timeout=60, preexec_fn=lambda: os.umask(0o027))
    assert done.returncode == 7
    assert done.stdout.splitlines() == [str(workspace / "sub"), "0027", "from-stdin", ""]  # not passed by the profile
    assert "to-stderr" in done.stderr
    last = audit_lines(home)[-1]
    assert last["warm_caller"] not in (None, os.getpid())  # the client's PID, recorded by the worker
    assert server_pid(warm_env) == server  # served, not restarted


def test_the_worker_is_not_the_caller_and_the_caller_holds_no_credentials(warm_env: dict[str, str],
                                                                          workspace: Path) -> None:
    wait_for_server(warm_env, workspace)
    env = dict(warm_env, GITHUB_TOKEN="ghp_warmclientsecret0000000000000000000")
    proc = subprocess.Popen([*AGENTSH, "-c", "touch started; sleep 1"], env=env, cwd=workspace,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for_file(workspace / "started", proc)
    environ = Path(f"/proc/{proc.pid}/environ").read_bytes()
    proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert b"GITHUB_TOKEN=" in environ and b"ghp_warmclientsecret" not in environ  # blanked in the client


def test_disabled_or_terminal_callers_run_in_their_own_process(warm_env: dict[str, str], workspace: Path,
                                                               home: Path) -> None:
    wait_for_server(warm_env, workspace)
    done = run(dict(warm_env, AGENTSH_WARM="0"), "echo here", workspace)
    assert done.stdout == "here\n"
    assert "warm_caller" not in audit_lines(home)[-1]


def test_a_caller_inside_a_confined_process_is_refused_by_the_server(warm_env: dict[str, str],
                                                                     workspace: Path, home: Path) -> None:
    """A process with no_new_privs (as every process of an agentsh line has) must not get a
    line run outside its own guard: the server refuses it and it runs the line itself."""
    wait_for_server(warm_env, workspace)
    done = subprocess.run(["setpriv", "--no-new-privs", *AGENTSH, "-c", "echo confined"], env=warm_env,
                          cwd=workspace, capture_output=True, text=True, timeout=60)
    assert done.stdout == "confined\n"
    assert "warm_caller" not in audit_lines(home)[-1]
    # and the server's own check, with the client's check bypassed: a raw request is refused
    code = ("import os,sys,_socket; from agentsh.warm import wire; env=dict(os.environ);"
            "key=wire.server_key(env); s=_socket.socket(_socket.AF_UNIX,_socket.SOCK_STREAM);"
            "s.connect(wire.socket_path(env,key)); assert wire.read_line(s)==b'ready\\n';"
            "data=wire.encode_request(wire.Request(wire.digest(key),0o22,'agentsh',['-c','touch canary'],env));"
            "fds=b''.join(fd.to_bytes(4,sys.byteorder) for fd in (0,1,2,os.open('.',os.O_PATH)));"
            "s.sendmsg([data],[(_socket.SOL_SOCKET,_socket.SCM_RIGHTS,fds)]); print(wire.read_line(s))")
    refused = subprocess.run(["setpriv", "--no-new-privs", sys.executable, "-c", code], env=warm_env,
                             cwd=workspace, capture_output=True, text=True, timeout=60)
    assert "no confined caller" in refused.stdout, refused.stderr
    assert not (workspace / "canary").exists()


def test_nothing_runs_without_the_clients_go(warm_env: dict[str, str], workspace: Path) -> None:
    wait_for_server(warm_env, workspace)
    key = wire.server_key(warm_env)
    path = wire.socket_path(warm_env, key)
    assert path is not None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        assert wire.read_line(sock) == b"ready\n"
        data = wire.encode_request(wire.Request(wire.digest(key), 0o22, "agentsh", ["-c", "touch canary"],
                                                warm_env))
        cwd = os.open(workspace, os.O_PATH)
        sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, bytes(
            b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2, cwd))))])
        os.close(cwd)
        assert wire.read_line(sock).startswith(b"pid ")
    time.sleep(1)  # the worker saw EOF instead of "go"
    assert not (workspace / "canary").exists()
    assert run(warm_env, "echo still serving", workspace).stdout == "still serving\n"


def test_a_worker_runs_only_agentsh_c_lines(warm_env: dict[str, str], workspace: Path) -> None:
    """The client hands over only `-c LINE`; a peer that asks for a subcommand or a script on
    stdin (`-s`) gets a refusal, not a worker running it."""
    wait_for_server(warm_env, workspace)
    key = wire.server_key(warm_env)
    path = wire.socket_path(warm_env, key)
    assert path is not None
    (workspace / "script").write_text("touch canary\n")
    for argv in (["-s"], ["version"], ["profile", "show", "default"]):
        script = os.open(workspace / "script", os.O_RDONLY)
        out_r, out_w = os.pipe()
        cwd = os.open(workspace, os.O_PATH)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(path)
            assert wire.read_line(sock) == b"ready\n"
            data = wire.encode_request(wire.Request(wire.digest(key), 0o22, "agentsh", argv, warm_env))
            sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, bytes(
                b"".join(fd.to_bytes(4, sys.byteorder) for fd in (script, out_w, out_w, cwd))))])
            for fd in (script, out_w, cwd):
                os.close(fd)
            reply = wire.read_line(sock)
            if reply.startswith(b"pid "):
                sock.sendall(b"go\n")
                wire.read_line(sock)
        with os.fdopen(out_r, "rb") as out:
            shown = out.read()
        assert reply == b"no not an agentsh -c line\n" and shown == b"", (argv, reply, shown)
    assert not (workspace / "canary").exists()
    assert run(warm_env, "echo still serving", workspace).stdout == "still serving\n"


def test_garbage_on_the_socket_does_not_stop_the_server(warm_env: dict[str, str], workspace: Path) -> None:
    server = wait_for_server(warm_env, workspace)
    path = wire.socket_path(warm_env, wire.server_key(warm_env))
    assert path is not None
    for junk in (b"", b"\xff" * 10, b"\x00\x00\x00\x05hello", b"\x7f\xff\xff\xff"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(path)
            assert wire.read_line(sock) == b"ready\n"
            sock.sendall(junk)
            sock.shutdown(socket.SHUT_WR)
            assert not wire.read_line(sock).startswith(b"pid ")
    assert run(warm_env, "echo ok", workspace).stdout == "ok\n"
    assert server_pid(warm_env) == server


def test_killing_the_client_ends_the_line(warm_env: dict[str, str], workspace: Path) -> None:
    """An agent's timeout SIGKILLs its shell: the worker sees the socket close and the line
    ends, so the canary the line would write later never appears."""
    wait_for_server(warm_env, workspace)
    proc = subprocess.Popen([*AGENTSH, "-c", "touch started; sleep 3; touch canary"], env=warm_env,
                            cwd=workspace, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for_file(workspace / "started", proc)
    proc.kill()
    proc.communicate(timeout=30)  # the pipes close: nothing of the line holds them any more
    time.sleep(3)
    assert not (workspace / "canary").exists()


def test_a_signal_to_the_client_reaches_the_line(warm_env: dict[str, str], workspace: Path) -> None:
    wait_for_server(warm_env, workspace)
    proc = subprocess.Popen([*AGENTSH, "-c", "touch started; sleep 5; touch canary"], env=warm_env,
                            cwd=workspace, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for_file(workspace / "started", proc)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM  # bash's status for a line ended by SIGTERM
    time.sleep(0.5)
    assert not (workspace / "canary").exists()


def test_changed_code_makes_the_server_restart(warm_env: dict[str, str], workspace: Path, home: Path) -> None:
    """A server must not run code older than what is on disk: when a module changed, it
    refuses the line (the caller runs it) and re-executes itself."""
    wait_for_server(warm_env, workspace)
    source = Path(wire.__file__)
    info = source.stat()
    os.utime(source, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))
    done = run(warm_env, "echo after-change", workspace)
    assert done.stdout == "after-change\n"
    assert "warm_caller" not in audit_lines(home)[-1]  # refused by the stale server; the caller ran it
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if run(warm_env, "true", workspace).returncode == 0 and "warm_caller" in audit_lines(home)[-1]:
            break  # served again, by the re-executed server
        time.sleep(0.2)
    else:
        raise AssertionError("the server did not come back")


def test_the_socket_directory_must_be_private(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    key = wire.server_key({})
    path = wire.socket_path({"XDG_RUNTIME_DIR": str(shared)}, key)
    assert path is not None and not path.startswith(str(shared))  # not a directory others can enter
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    (private / "agentsh").mkdir(mode=0o755)  # ours, but open to others: not used
    assert wire.socket_path({"XDG_RUNTIME_DIR": str(private)}, key) is None


def test_requests_round_trip_and_malformed_ones_are_refused() -> None:
    request = wire.Request("ab" * 32, 0o027, "-agentsh", ["-c", "echo \udcff é", ""], {"A": "1=2", "É": ""})
    data = wire.encode_request(request)
    back = wire.decode_request(data[wire.HEADER:])
    assert (back.key, back.umask, back.argv0, back.argv, back.environ) == \
        (request.key, request.umask, request.argv0, request.argv, request.environ)
    for bad in (b"", b"other/1\0k\0" + b"22\0a\x000", data[wire.HEADER:].replace(b"\x003\x00", b"\x009\x00"),
                data[wire.HEADER:] + b"\0no-equals-sign"):
        with pytest.raises(ValueError):
            wire.decode_request(bad)


@pytest.mark.parametrize("wrapper", [
    ["bash", "-c", 'ulimit -f 64; exec "$@"', "bash"],  # a lower resource limit than the server's
    ["unshare", "--net"],  # no network: a worker forked in the server's namespace would have it
    ["setpriv", "--groups", "4242"],  # other supplementary groups: a worker would have the server's
    ["setpriv", "--inh-caps", "-all", "--bounding-set", "-net_raw"],  # fewer capabilities
])
def test_callers_the_server_cannot_stand_in_for_run_their_line_themselves(
        wrapper: list[str], warm_env: dict[str, str], workspace: Path, home: Path) -> None:
    if wrapper[0] in ("unshare", "setpriv") and "--no-new-privs" not in wrapper and os.geteuid() != 0:
        pytest.skip(f"{wrapper[0]} {wrapper[1]} needs root here (no user namespaces assumed)")
    wait_for_server(warm_env, workspace)
    done = subprocess.run([*wrapper, *AGENTSH, "-c", "echo served"], env=warm_env, cwd=workspace,
                          capture_output=True, text=True, timeout=60)
    assert done.stdout == "served\n", done.stderr
    assert "warm_caller" not in audit_lines(home)[-1]
    assert run(warm_env, "true", workspace).returncode == 0
    assert "warm_caller" in audit_lines(home)[-1]  # while a plain caller is still served


def test_concurrent_callers_each_get_their_own_worker(warm_env: dict[str, str], workspace: Path,
                                                      home: Path) -> None:
    """One worker waits in accept() at a time; the others queue until the server has forked
    the next. Every caller gets its own line's output and status."""
    wait_for_server(warm_env, workspace)
    procs = [subprocess.Popen([*AGENTSH, "-c", f"sleep 0.3; echo line-{i}; exit {i}"], env=warm_env, cwd=workspace,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(6)]
    for i, proc in enumerate(procs):
        out, err = proc.communicate(timeout=60)
        assert (out, proc.returncode) == (f"line-{i}\n", i), err
    callers = [e.get("warm_caller") for e in audit_lines(home)[-6:]]
    assert sorted(callers) == sorted(p.pid for p in procs)  # all six served by workers


def test_the_waiting_worker_has_copied_the_servers_memory_ahead(warm_env: dict[str, str],
                                                               workspace: Path) -> None:
    """The worker in accept() breaks copy-on-write sharing before a client comes (so a line
    does not take ~1,200 page faults in its start): its dirty memory is its own, not the
    server's. A fresh fork that had not done so would share nearly all of it."""
    server = wait_for_server(warm_env, workspace)
    assert run(warm_env, "true", workspace).returncode == 0  # served; the next worker forks after it
    deadline = time.monotonic() + 30
    while True:
        sizes = {}
        for child in waiting_workers(server):
            try:
                rollup = Path(f"/proc/{child}/smaps_rollup").read_text()
            except (FileNotFoundError, ProcessLookupError):  # (ESRCH while it is being torn down)
                continue  # the worker of the line before, ending
            sizes = {k: int(v.split()[0]) for k, _, v in (line.partition(":") for line in rollup.splitlines())
                     if k in ("Private_Dirty", "Shared_Dirty")}
        if sizes and sizes["Private_Dirty"] > 4 * max(sizes["Shared_Dirty"], 256):
            break
        assert time.monotonic() < deadline, f"worker memory still shared with the server: {sizes}"
        time.sleep(0.05)


@pytest.mark.skipif(landlock.abi_version() < 1, reason="needs a kernel with Landlock")
def test_the_next_worker_builds_the_last_lines_landlock_ruleset_and_lines_stay_confined(
        warm_env: dict[str, str], workspace: Path, home: Path, tmp_path: Path) -> None:
    """A worker waiting for a client builds the Landlock ruleset of the line before (the
    server has its plan from that line's worker); a line with the same plan uses it. The
    confinement must hold either way: an allowed interpreter cannot read ~/.ssh."""
    profile = write_profile(tmp_path, "py", (
        "agentsh: 1\nname: py\nextends: [base]\n"
        f"path: [{os.path.dirname(os.path.realpath(sys.executable))}, /usr/local/bin, /usr/bin, /bin]\n"
        "commands:\n  - {name: py, run: python3, args: ['-c ...'], decision: allow}\n"))
    code = (f"try:\n    print(open({str(home / '.ssh' / 'id_rsa')!r}).read())\n"
            "except OSError as e:\n    print('read refused', e.errno)\n")
    line = "python3 -c " + shlex.quote(code)
    server = wait_for_server(warm_env, workspace)
    for attempt in range(3):
        done = run(warm_env, line, workspace, extra=("-p", str(profile)))
        assert done.returncode == 0, done.stderr
        assert done.stdout == "read refused 13\n" and "SECRET-KEY-BYTES" not in done.stdout + done.stderr
        if attempt == 0:
            deadline = time.monotonic() + 30
            while not any("landlock-ruleset" in link for child in waiting_workers(server) for link in fd_links(child)):
                assert time.monotonic() < deadline, "the waiting worker built no ruleset"
                time.sleep(0.05)
    assert [e["warm_caller"] is not None for e in audit_lines(home)[-3:]] == [True] * 3


def waiting_workers(server: int) -> list[int]:
    """The server's children: the worker waiting for a client (and any still running a line)."""
    return [int(pid) for task in Path(f"/proc/{server}/task").iterdir() for pid in (task / "children").read_text().split()]


def fd_links(pid: int) -> list[str]:
    """What a process's descriptors are; [] once it has gone (a worker ending its line)."""
    try:
        return [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
    except FileNotFoundError:
        return []


def test_a_lock_nobody_holds_names_no_server(tmp_path: Path) -> None:
    """A dead server's lock still holds its PID, which may be another process's by now:
    stop_servers must not signal it (here: this test's own PID)."""
    directory = tmp_path / "agentsh"
    directory.mkdir()
    (directory / "warm-0.lock").write_text(f"{os.getpid()}\n")
    assert wire.live_server(str(directory / "warm-0.lock")) is None
    assert wire.stop_servers(str(directory)) == []


DIFFERENTIAL_LINES = [
    "echo plain",
    "printf '%s' \"$(seq 1 3)\" | wc -c",
    "cat ~/.ssh/id_rsa",  # refused by the profile: 126 and the same message
    "echo $((",  # a syntax error
    "echo " + "x" * 100_000 + " | wc -c",  # larger than one socket buffer
    "echo " + "y" * 131_000,  # near the line limit (the kernel's per-argument limit is the same)
    "echo $'\\x01' | od -c",  # a control character, as an escape
    "(" * 2000 + "true" + ")" * 2000,  # deep nesting
    "exit 3",
    "echo to-stderr >&2; false",
]


@pytest.mark.parametrize("line", DIFFERENTIAL_LINES, ids=range(len(DIFFERENTIAL_LINES)))
def test_warm_and_in_process_give_the_same_result(line: str, warm_env: dict[str, str], workspace: Path,
                                                  home: Path) -> None:
    wait_for_server(warm_env, workspace)
    warm = run(warm_env, line, workspace)
    assert "warm_caller" in audit_lines(home)[-1] or warm.returncode == 126 or warm.returncode == 2
    cold = run(dict(warm_env, AGENTSH_WARM="0"), line, workspace)
    assert (warm.returncode, warm.stdout, warm.stderr) == (cold.returncode, cold.stdout, cold.stderr)


def test_invalid_utf8_in_the_line_and_environment_survives_the_hand_over(warm_env: dict[str, str],
                                                                         workspace: Path) -> None:
    wait_for_server(warm_env, workspace)
    env = {os.fsencode(k): os.fsencode(v) for k, v in warm_env.items()}
    env[b"LC_BYTES"] = b"\xff\xfe"
    line = b"printf '%s' '\xff\xfe' | od -An -tx1"

    def call(extra: dict[bytes, bytes]) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([*map(os.fsencode, AGENTSH), b"-c", line], env={**env, **extra}, cwd=workspace,
                              capture_output=True, timeout=60)

    warm, cold = call({}), call({b"AGENTSH_WARM": b"0"})
    assert (warm.returncode, warm.stdout, warm.stderr) == (cold.returncode, cold.stdout, cold.stderr)


def test_doctor_reports_the_warm_server(warm_env: dict[str, str], workspace: Path) -> None:
    def layer(env: dict[str, str]) -> dict[str, object]:
        done = subprocess.run([*AGENTSH, "doctor", "--json"], env=env, cwd=workspace, capture_output=True,
                              text=True, timeout=60)
        found = [entry for entry in json.loads(done.stdout)["layers"] if entry["layer"] == "warm server"]
        assert len(found) == 1
        return found[0]

    assert "not running" in str(layer(warm_env)["detail"])
    server = wait_for_server(warm_env, workspace)
    running = layer(warm_env)
    assert running["active"] is True and running["needed"] is False
    assert f"running (PID {server})" in str(running["detail"])
    assert layer(dict(warm_env, AGENTSH_WARM="0"))["active"] is False


def test_an_isolated_caller_gets_an_isolated_server(warm_env: dict[str, str], workspace: Path, home: Path,
                                                    tmp_path: Path) -> None:
    """agentsh's shims run `python -I`, which ignores PYTHONPATH. The server such a caller
    starts must ignore it too, or it would import a module planted there (here `json`,
    which the server imports), outside any line's confinement."""
    planted = tmp_path / "planted"
    planted.mkdir()
    canary = tmp_path / "imported"
    (planted / "json.py").write_text(f"open({str(canary)!r}, 'w').close()\n")
    env = dict(warm_env, PYTHONPATH=str(planted))  # the installed agentsh, as a shim runs it
    argv = [sys.executable, "-I", "-m", "agentsh", "-c", "echo isolated"]
    served = False
    for _ in range(50):
        done = subprocess.run(argv, env=env, cwd=workspace, capture_output=True, text=True, timeout=60)
        assert done.stdout == "isolated\n", done.stderr
        if "warm_caller" in audit_lines(home)[-1]:
            served = True
            break
        time.sleep(0.1)
    assert served
    assert not canary.exists()


def test_a_stopped_server_costs_one_caller_the_timeout_and_no_one_else(warm_env: dict[str, str],
                                                                       workspace: Path, home: Path) -> None:
    server = wait_for_server(warm_env, workspace)
    children = Path(f"/proc/{server}/task/{server}/children").read_text().split()
    stopped = [server, *map(int, children)]  # the server and the worker waiting in accept()
    for pid in stopped:
        os.kill(pid, signal.SIGSTOP)
    try:
        start = time.monotonic()
        first = run(warm_env, "echo first", workspace)
        waited = time.monotonic() - start
        assert first.stdout == "first\n"
        assert "warm_caller" not in audit_lines(home)[-1]
        start = time.monotonic()
        second = run(warm_env, "echo second", workspace)
        assert second.stdout == "second\n"
        assert time.monotonic() - start < waited  # not another timeout: the socket is gone
        assert "warm_caller" not in audit_lines(home)[-1]
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
