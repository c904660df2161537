"""Red-team probes of how a credential reaches exactly one process: the broker's directory
(its `as: file` files, helper and socket) against the other commands of the line, a killed
agentsh and the next line (keyrings.alt's file backend as the real keyring)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, failing_syscalls_runner
from tests.test_credentials_leaks import agentsh, keyring_setup

SECRET = "Fq7-file'Secret/bytes+99"
PROFILE = """\
agentsh: 1
name: broker
extends: [base]
path: ["{bin}", /usr/bin, /bin]
record: {{dir: "{record}"}}
commands:
  - name: tools
    run: [cat, ls, head, rev, tr, cp, sleep, grep]
    decision: allow
  - name: deploy
    run: [use-file, hold-file]
    decision: allow
    credentials:
      TOKEN_FILE: {{keyring: agentsh-test, user: probe-file, as: file}}
"""
PROGRAMS = {
    "use-file": 'echo ready; sleep 1',  # holds its file a while after saying so
    "hold-file": 'echo "$TOKEN_FILE"; exec sleep 5',  # says where, then holds it until killed
}


@pytest.fixture
def setup(tmp_path: Path, agentsh_env: dict[str, str]) -> tuple[Path, dict[str, str]]:
    profile, _record, env = keyring_setup(tmp_path, agentsh_env, PROFILE, PROGRAMS, "probe-file", SECRET)
    return profile, env


@pytest.mark.parametrize("reader", [
    # the directories before (/tmp/agentsh-cred-XXXX/) and now (/tmp/agentsh-cred-UID/held-...)
    "cat /tmp/agentsh-cred*/TOKEN_FILE-* /tmp/agentsh-cred*/*/TOKEN_FILE-*",
    "cd /tmp && cat agentsh-cred*/TOKEN_FILE-* agentsh-cred*/*/TOKEN_FILE-*",
])
def test_another_command_of_the_line_cannot_read_a_file_credential(
        setup: tuple[Path, dict[str, str]], reader: str) -> None:
    # Before, the `as: file` file sat in a 0600 file of a 0700 directory in /tmp: modes do
    # not stop the same user, and `| rev` undid the masking.
    profile, env = setup
    result = agentsh(["-p", str(profile), "-c", f"use-file | {{ head -n1 >/dev/null; {reader} | rev; }}"], env)
    text = result.stdout + result.stderr
    for form in (SECRET, SECRET[::-1], "Secret/bytes"):
        assert form not in text, (form, result.stderr)
    assert result.returncode == 126 and "denied root" in result.stderr, result.stderr


@pytest.mark.parametrize("reader", [
    "grep -rsa Secret {runtime} | rev",
    "grep -sa --directories=recurse Secret {runtime} | rev",
    "cd {runtime} && grep -Rsa Secret | rev",
])
def test_a_recursive_reader_beside_a_file_credential_is_refused(
        setup: tuple[Path, dict[str, str]], tmp_path: Path, reader: str) -> None:
    """Before, a recursive reader of a directory above the credentials directory (here the
    runtime directory that holds it; `grep -r TOKEN /` reached /proc/PID/environ too) read
    the `as: file` credential beside the program, in confined mode too: no path into the
    denied directory is written in the line."""
    profile, env = setup
    runtime = Path(tempfile.mkdtemp(prefix="rt-"))  # short: the socket path must fit
    try:
        result = agentsh(["-p", str(profile), "-c", "use-file | { head -n1 >/dev/null; "
                          + reader.format(runtime=runtime) + "; }"], dict(env, XDG_RUNTIME_DIR=str(runtime)))
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
    text = result.stdout + result.stderr
    for form in (SECRET, SECRET[::-1], "Secret/bytes"[::-1]):
        assert form not in text, (form, result.stderr)
    assert result.returncode == 126 and "reads the files below a directory" in result.stderr, result.stderr


@pytest.mark.parametrize(("line", "reader"), [
    ("cp -a /tmp d", "cp"), ("cp --recur /tmp d", "cp"), ("timeout 5 grep -r x /", "grep"), ("rgrep x /", "rgrep"),
    ('grep "$o" x /', "grep"), ("diff -ru / /x", "diff"), ("/usr/bin/egrep -sRi x /", "egrep"),
    ("grep x f", None), ("grep -v -- -r", None), ('grep x"$o" f', None), ("cp a b", None), ("diff a b", None),
])
def test_which_commands_read_recursively(line: str, reader: str | None) -> None:
    from agentsh.credentials.inject import _recursive_reader
    from agentsh.parse import parse_line

    assert {_recursive_reader(c) for c in parse_line(line, "/home/u").commands} - {None} == ({reader} if reader else set())


def test_a_killed_agentsh_leaves_no_file_credential_behind(setup: tuple[Path, dict[str, str]]) -> None:
    # Before, SIGKILL of agentsh (which the agent can send) left the file on disk, for the
    # next line (with no credentials, so nothing denied its directory) to read.
    profile, env = setup
    env = dict(env, AGENTSH_WARM="0")  # in this process, not in a warm worker that outlives the client
    proc = subprocess.Popen([sys.executable, "-m", "agentsh", "-p", str(profile), "-c", "hold-file"], env=env,
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        assert proc.stdout is not None
        path = Path(proc.stdout.readline().strip())
        assert path.name.startswith("TOKEN_FILE-") and path.exists(), path
        proc.kill()
        proc.wait(timeout=10)
        deadline = time.monotonic() + 20  # a bound, not a timing assertion: the removal is asynchronous
        while path.parent.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not path.exists() and not path.parent.exists()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=10)  # the orphaned program ends by itself (sleep 5)


def test_a_planted_credentials_directory_is_refused(setup: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    # The credentials root has a fixed name (so it can be denied before a line runs): one
    # that is a link, or open to others, is not used, and nothing is handed out.
    profile, env = setup
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    with tempfile.TemporaryDirectory(prefix="rt-") as runtime:  # short: the socket path must fit
        (Path(runtime) / "agentsh-cred").symlink_to(elsewhere)
        result = agentsh(["-p", str(profile), "-c", "use-file"], dict(env, XDG_RUNTIME_DIR=runtime))
    assert result.returncode == 126 and "not a private directory" in result.stderr, result.stderr
    assert "ready" not in result.stdout and not any(elsewhere.iterdir())


def test_a_silent_connection_does_not_hold_the_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The broker answers one connection at a time: a same-user process that connected and
    sent nothing held it, and the credentialed program's own request waited for ever."""
    import socket

    from agentsh.credentials import broker as broker_module

    monkeypatch.setattr(broker_module, "REQUEST_TIMEOUT", 0.5)
    broker = broker_module.CredentialBroker(["probe"], lambda argv, cwd: ("/bin/true", {}), lambda: 1)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as silent, \
                socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as second:
            silent.connect(broker.socket_path)
            second.settimeout(20)  # a bound for the test, not a timing assertion
            second.connect(broker.socket_path)
            second.sendall(b'{"argv": ["probe"], "cwd": "/"}\n')
            second.shutdown(socket.SHUT_WR)
            reply = second.recv(65536)  # before the fix: no reply, TimeoutError after 20 s
            assert b"error" in reply  # this test process is no exec helper: refused, but answered
            assert b"no request within" in silent.recv(65536)
    finally:
        broker.close()


# Run inside new user and PID namespaces, where this script's processes are the only ones
# taking PIDs, so it can hand a PID on: it makes the PID of a caller that connected to the
# broker and exited the next one the kernel gives out (ns_last_pid), to the line's real
# exec helper (forked by bash: `; :` keeps bash from exec'ing it in its own place).
# Argv: profile, reply file.
RECYCLER = r'''
import glob, json, os, socket, subprocess, sys, time
profile, reply_path = sys.argv[1], sys.argv[2]
os.mkfifo("go")
line = subprocess.Popen([sys.executable, "guardrail.py", "-p", profile, "-c", "read x < go; show-token; :"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
from agentsh.credentials.broker import credentials_root
pattern = os.path.join(credentials_root(), "held-*", "broker.sock")  # its runtime dir is its own
for _ in range(400):
    found = glob.glob(pattern)
    if found:
        break
    time.sleep(0.05)
else:
    line.kill()
    sys.exit("no broker socket: " + line.communicate()[1].decode(errors="replace"))
def bash_started():
    for entry in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(entry, "rb") as cmd:
                if cmd.read().startswith(b"/bin/bash"):
                    return True
        except OSError:
            pass
    return False
for _ in range(400):  # bash waits on the fifo: no more forks until it is written
    if bash_started():
        break
    time.sleep(0.05)
ready_r, ready_w = os.pipe()
go_r, go_w = os.pipe()
caller = os.fork()
if caller == 0:  # connects, leaves the connection to a child of its own, and exits
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(found[0])
    if os.fork() == 0:
        os.read(go_r, 1)
        sock.sendall(json.dumps({"argv": ["show-token"], "cwd": "/"}).encode() + b"\n")
        sock.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
        with open(reply_path, "wb") as out:
            out.write(reply)
        os._exit(0)
    os.write(ready_w, b"x")
    os._exit(0)
os.read(ready_r, 1)
os.waitpid(caller, 0)  # reaped: its PID is free
with open("/proc/sys/kernel/ns_last_pid", "w") as last:
    last.write(str(caller - 1))
with open("go", "w") as fifo:  # bash reads it and forks show-token: PID `caller`
    fifo.write("\n")
for _ in range(400):  # until the helper runs under that PID
    try:
        with open(f"/proc/{caller}/cmdline", "rb") as cmd:
            if b"-IS" in cmd.read():
                break
    except OSError:
        pass
    time.sleep(0.01)
else:
    listing = []
    for entry in sorted(glob.glob("/proc/[0-9]*/cmdline")):
        try:
            with open(entry, "rb") as cmd:
                listing.append(entry.split("/")[2] + " " + cmd.read().replace(b"\0", b" ").decode(errors="replace")[:120])
        except OSError:
            pass
    sys.exit(f"the helper did not get the recycled PID {caller}: " + "; ".join(listing))
os.write(go_w, b"x")
out, err = line.communicate(timeout=60)
for _ in range(200):
    if os.path.exists(reply_path):
        break
    time.sleep(0.05)
print("line:", line.returncode, out.decode(errors="replace"), err.decode(errors="replace"))
'''


def test_a_caller_that_left_its_pid_to_the_helper_gets_nothing(tmp_path: Path, agentsh_env: dict[str, str]) -> None:
    """The broker read /proc by the caller's PID.  A same-user process outside the line
    connected, handed the connection to its child and exited; its PID went to the line's
    real exec helper, which then vouched for it (helper command line, descends from this
    line's bash), and the child got the credential.  Now the caller's pidfd, taken at
    connect(), shows it is gone."""
    probe = subprocess.run(["unshare", "-Urpf", "--mount-proc", "sh", "-c", "echo 50 > /proc/sys/kernel/ns_last_pid"],
                           capture_output=True)
    if probe.returncode:
        pytest.skip(f"needs user and PID namespaces with ns_last_pid: {probe.stderr.decode().strip()}")
    programs = {"show-token": 'echo "token=$MY_TOKEN"'}
    profile_text = PROFILE.replace("run: [use-file, hold-file]", "run: [show-token]").replace(
        "TOKEN_FILE: {{keyring: agentsh-test, user: probe-file, as: file}}",
        "MY_TOKEN: {{keyring: agentsh-test, user: probe-file}}")
    profile, _record, env = keyring_setup(tmp_path, agentsh_env, profile_text, programs, "probe-file", SECRET)
    runtime = Path(tempfile.mkdtemp(prefix="rt-"))  # short: the broker's socket path must fit sun_path
    work = tmp_path / "work"
    work.mkdir()
    (work / "recycle.py").write_text(RECYCLER)
    # guardrail mode: no exec guard, whose tracer would take PIDs of its own
    (work / "guardrail.py").write_text(failing_syscalls_runner((101, 444, 445, 446), 1))
    reply = tmp_path / "reply"
    env = dict(env, AGENTSH_WARM="0", XDG_RUNTIME_DIR=str(runtime), PYTHONPATH=str(REPO))
    done = subprocess.run(["unshare", "-Urpf", "--mount-proc", sys.executable, "recycle.py", str(profile), str(reply)],
                          cwd=work, env=env, capture_output=True, text=True, timeout=120)
    shutil.rmtree(runtime, ignore_errors=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert reply.exists(), done.stdout
    answer = reply.read_text()
    assert SECRET not in answer and "outside this command line" in answer, answer
    assert "token=" in done.stdout, done.stdout  # the real helper was still served (masked in the output)


@pytest.mark.xfail(strict=True, reason="known open gap: lines that run at the same time (docs/security-model.md)")
def test_a_concurrent_line_cannot_read_a_file_credential(setup: tuple[Path, dict[str, str]],
                                                         tmp_path: Path) -> None:
    """The credentials directory is denied to the line that runs the credentialed command
    only: a second line, running meanwhile with no credentials, reads the file."""
    profile, env = setup
    env = dict(env, AGENTSH_WARM="0")
    runner = tmp_path / "guardrail.py"
    runner.write_text(failing_syscalls_runner((101, 444, 445, 446), 1))
    holder = subprocess.Popen([sys.executable, str(runner), "-p", str(profile), "-c", "hold-file"], env=env,
                              cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip()  # its file exists now
        reader = subprocess.run([sys.executable, str(runner), "-p", str(profile), "-c",
                                 "cat /tmp/agentsh-cred*/*/TOKEN_FILE-* | rev"], env=env, cwd=REPO,
                                capture_output=True, text=True, timeout=60)
    finally:
        holder.kill()  # agentsh; its watcher removes the directory
        holder.communicate(timeout=30)
    assert SECRET[::-1] not in reader.stdout + reader.stderr


def test_the_helper_asks_only_its_own_broker(tmp_path: Path, agentsh_env: dict[str, str]) -> None:
    """The helper found the broker's socket in AGENTSH_CREDENTIALS, an exported variable of
    bash that a plain assignment in the line changes (`AGENTSH_CREDENTIALS=...; cmd` is
    allowed): pointed at a socket another process serves, the helper ran the program that
    process named, with the credentialed command's arguments (guardrail mode: /bin/sh
    running `-c 'echo PWNED > canary'`).  Its own broker's socket is now written in it."""
    import socket
    import threading

    programs = {"show-token": 'echo "token=$MY_TOKEN"'}
    profile_text = PROFILE.replace("run: [use-file, hold-file]", "run: [show-token]").replace(
        "TOKEN_FILE: {{keyring: agentsh-test, user: probe-file, as: file}}",
        "MY_TOKEN: {{keyring: agentsh-test, user: probe-file}}")
    profile, _record, env = keyring_setup(tmp_path, agentsh_env, profile_text, programs, "probe-file", SECRET)
    evil = Path(tempfile.mkdtemp(prefix="ev-")) / "s"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(evil))
    server.listen(4)
    server.settimeout(30)

    def serve() -> None:
        with contextlib.suppress(OSError), server.accept()[0] as conn:
            conn.recv(65536)
            conn.sendall(b'{"path": "/bin/sh", "env": {}}')

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    runner = tmp_path / "guardrail.py"
    runner.write_text(failing_syscalls_runner((101, 444, 445, 446), 1))
    work = tmp_path / "work"
    work.mkdir()
    try:
        result = subprocess.run([sys.executable, str(runner), "-p", str(profile), "-c",
                                 f"AGENTSH_CREDENTIALS={evil}; show-token -c 'echo PWNED > canary'"],
                                env=dict(env, AGENTSH_WARM="0"), cwd=work, capture_output=True, text=True, timeout=60)
    finally:
        server.close()
        shutil.rmtree(evil.parent, ignore_errors=True)
    assert not (work / "canary").exists(), result.stderr
    assert "token=***" in result.stdout, result.stdout + result.stderr
