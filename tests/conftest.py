"""Shared fixtures: run agentsh from this source tree, with a throwaway HOME."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agentsh.policy import Decision, Policy  # noqa: E402
from agentsh.profile import Host, load_profile  # noqa: E402


def _warm_server_pids() -> set[int]:
    from agentsh.warm.wire import live_server

    return {pid for lock in Path("/tmp").glob("agentsh-*/warm-*.lock") if (pid := live_server(str(lock)))}


@pytest.fixture(scope="session", autouse=True)
def stop_warm_servers_started_by_the_tests() -> Iterator[None]:
    """`agentsh -c` in the tests starts warm servers under /tmp/agentsh-UID (they would idle
    10 minutes after the run); the ones that were there before the run are left alone."""
    before = _warm_server_pids()
    yield
    for pid in _warm_server_pids() - before:
        try:
            os.kill(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    (path / ".ssh").mkdir(parents=True)
    (path / ".ssh" / "id_rsa").write_text("SECRET-KEY-BYTES\n")
    return path


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    (path / "README.md").write_text("hello\n")
    return path


@pytest.fixture
def agentsh_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTSH_", "XDG_"))}
    env["HOME"] = str(home)
    env["PYTHONPATH"] = str(REPO)
    return env


@pytest.fixture
def run_agentsh(agentsh_env: dict[str, str], workspace: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(*args: str, input: str | None = None, cwd: Path | None = None,
            env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "agentsh", *args], input=input, capture_output=True,
                              text=True, cwd=cwd or workspace, env=env or agentsh_env, timeout=timeout)
    return run


@pytest.fixture
def decide(home: Path, workspace: Path) -> Callable[..., Decision]:
    """decide(line, profile=None) with the given profile spec, HOME and cwd = workspace."""
    cache: dict[str | None, Policy] = {}

    def run(line: str, profile: str | None = None) -> Decision:
        if profile not in cache:
            host = Host(cwd=str(workspace), home=str(home), config_home=str(home / ".config"))
            cache[profile] = Policy(load_profile(profile, host), host)
        return cache[profile].decide(line)
    return run


def peer_pidfd_supported() -> bool:
    from agentsh.warm.wire import peer_pidfd_supported as supported

    return supported()


def failing_syscalls_runner(numbers: tuple[int, ...], errno: int) -> str:
    """A Python script that makes these system calls fail with errno (a seccomp filter, which
    also sets no_new_privs) and then runs `python3 -m agentsh` with its own arguments."""
    return f"""\
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
insns = [(0x20, 0, 0, 0)]  # A = seccomp_data.nr
for nr in {numbers!r}:
    insns += [(0x15, 0, 1, nr), (0x06, 0, 0, 0x00050000 | {errno})]  # == nr: ERRNO({errno})
insns.append((0x06, 0, 0, 0x7FFF0000))  # allow
prog = b"".join(struct.pack("HBBI", *i) for i in insns)
buf = ctypes.create_string_buffer(prog)
class Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
fprog = Fprog(len(insns), ctypes.cast(buf, ctypes.c_void_p))
assert libc.prctl(38, 1, 0, 0, 0) == 0
assert libc.prctl(22, 2, ctypes.c_void_p(ctypes.addressof(fprog)), 0, 0) == 0, ctypes.get_errno()
os.execv(sys.executable, [sys.executable, "-m", "agentsh", *sys.argv[1:]])
"""


def write_profile(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(text)
    return path


# A profile whose workspace holds a denied read root, as the red-team tests use it.
SECRETS_DENIED = 'agentsh: 1\nname: rt\nextends: [default]\nread:\n  deny: ["{workspace}/secrets"]\n'


def policy_in(cwd: Path, home: Path, scratch: Path, text: str = SECRETS_DENIED) -> Policy:
    """The Policy of profile `text` (written to scratch/rt.yaml) for a workspace at cwd."""
    host = Host(cwd=str(cwd), home=str(home), config_home=str(home / ".config"))
    return Policy(load_profile(str(write_profile(scratch, "rt", text)), host), host)


def guardrail_in(cwd: Path, env: dict[str, str], scratch: Path,
                 text: str = SECRETS_DENIED) -> Callable[[str], subprocess.CompletedProcess[str]]:
    """run_guardrail(line) in cwd with profile `text` (written to scratch/rt.yaml)."""
    profile = write_profile(scratch, "rt", text)
    return lambda line: run_guardrail(line, cwd, env, scratch, profile)


# Any profile's prompt: `agentsh(NAME):CWD$ `.
SHELL_PROMPT = r"agentsh\([^)\r\n]*\):[^\r\n]*\$ "


def start_shell(args: list[str], cwd: Path, env: dict[str, str]) -> pexpect.spawn:
    """`agentsh ARGS` (e.g. `-i -p PROFILE`) driven over a 30x100 PTY, at its first prompt."""
    child = pexpect.spawn(sys.executable, ["-m", "agentsh", *args], cwd=str(cwd), env=env,
                          dimensions=(30, 100), encoding="utf-8", timeout=20)
    child.expect(SHELL_PROMPT)
    return child


def run_line(child: pexpect.spawn, line: str) -> str:
    """Type a line at the prompt; what the session showed until the next prompt."""
    child.sendline(line)
    child.expect(SHELL_PROMPT)
    return child.before.replace("\r\n", "\n")


@pytest.fixture
def work_profile() -> str:
    """The profile text of `guardrail` and `policy`; a module overrides it (and `work`)."""
    return SECRETS_DENIED


@pytest.fixture
def guardrail(work: Path, tmp_path: Path, agentsh_env: dict[str, str],
              work_profile: str) -> Callable[[str], subprocess.CompletedProcess[str]]:
    """agentsh -c LINE in guardrail mode, in the module's `work` directory under `work_profile`."""
    return guardrail_in(work, agentsh_env, tmp_path, work_profile)


@pytest.fixture
def policy(work: Path, home: Path, tmp_path: Path, work_profile: str) -> Policy:
    """The Policy of `work_profile` for the module's `work` directory."""
    return policy_in(work, home, tmp_path, work_profile)


def run_guardrail(line: str, cwd: Path, env: dict[str, str], scratch: Path,
                  profile: Path | None = None, positional: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """`agentsh [-p PROFILE] -c LINE [ARG0 ARG...]` with ptrace and Landlock refused (guardrail
    mode: only the static check stands between the line and what it reads or writes)."""
    runner = scratch / "guardrail.py"
    if not runner.exists():
        runner.write_text(failing_syscalls_runner((101, 444, 445, 446), 1))
    args = [sys.executable, str(runner), *(["-p", str(profile)] if profile else []), "-c", line, *positional]
    return subprocess.run(args, cwd=cwd, env=dict(env, AGENTSH_WARM="0"), capture_output=True, text=True,
                          timeout=60)
