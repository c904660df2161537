"""Landlock on the real kernel: a forked child restricts itself with a plan made from a real
profile, then tries things; the outcome (files, bytes, connections) is checked, not messages."""

from __future__ import annotations

import ctypes
import json
import os
import socket
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentsh.guard import landlock, ruleset
from agentsh.profile import Host, Profile, load_profile
from tests.conftest import REPO, write_profile

pytestmark = pytest.mark.skipif(landlock.abi_version() < 1, reason="needs a kernel with Landlock")
SECRET = b"SECRET-KEY-BYTES"
# A block device to try raw reads from (the disk holds every file's bytes).
DISK = next((f"/dev/{name}" for name in sorted(os.listdir("/dev"))
             if name.startswith(("vd", "sd", "nvme", "xvd", "loop")) and not name.startswith("loop-")), "")


def in_child(plan: landlock.LandlockPlan, action: Callable[[], Any], abi: int | None = None,
             stdio: tuple[int, int, int] | None = None, built: ruleset.Ruleset | None = None) -> Any:
    """Run `action` in a forked child after restrict_self(plan) (or enforce(built), a
    ruleset built in this process); return what it returned."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            if stdio is not None:
                os.setsid()
                for target, fd in enumerate(stdio):
                    os.dup2(fd, target)
                import fcntl
                import termios
                fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            if built is not None:
                ruleset.enforce(built)
            else:
                ruleset.restrict_self(plan, abi)
            result = {"ok": action()}
        except BaseException as err:  # reported to the parent
            result = {"error": f"{type(err).__name__}: {err}"}
        os.write(write_end, json.dumps(result).encode())
        os._exit(0)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    result = json.loads(b"".join(chunks))
    assert "error" not in result, result["error"]
    return result["ok"]


def attempt(func: Callable[[], Any]) -> Any:
    """func's result, or the errno name of the OSError it raised."""
    try:
        return func()
    except OSError as err:
        return f"errno {err.errno}"


def write_file(path: Path | str, data: str = "x") -> Callable[[], Any]:
    def go() -> int:
        with open(path, "w") as handle:
            return handle.write(data)
    return go


def read_file(path: Path | str) -> Callable[[], Any]:
    return lambda: open(path, "rb").read().decode(errors="replace")


@pytest.fixture
def tree(tmp_path: Path, home: Path, workspace: Path) -> dict[str, Path]:
    (workspace / "protected").mkdir()
    (workspace / "protected" / "keep.txt").write_text("keep\n")
    (workspace / "src").mkdir()
    (workspace / "secret").mkdir()
    (workspace / "secret" / "token").write_bytes(SECRET + b"\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "readable.txt").write_text("public\n")
    return {"home": home, "workspace": workspace, "outside": tmp_path / "outside"}


def profile_from(tmp_path: Path, home: Path, workspace: Path, body: str, read_allow: str = "") -> Profile:
    host = Host(cwd=str(workspace), home=str(home), config_home=str(home / ".config"))
    text = ("agentsh: 1\nname: t\nextends: [base]\nworkspace: ['.']\n"
            "write:\n  allow: ['{workspace}']\n  deny: ['{workspace}/protected']\n"
            "read:\n  deny: ['{workspace}/secret']\n" + (f"  allow: {read_allow}\n" if read_allow else "") + body)
    return load_profile(str(write_profile(tmp_path, "t", text)), host)


@pytest.fixture
def plan(tmp_path: Path, tree: dict[str, Path]) -> landlock.LandlockPlan:
    return landlock.plan_for(profile_from(tmp_path, tree["home"], tree["workspace"], ""))


def test_writes_outside_the_write_roots_fail(plan: landlock.LandlockPlan, tree: dict[str, Path]) -> None:
    canary = tree["outside"] / "canary"
    inside = tree["workspace"] / "src" / "made.txt"
    results = in_child(plan, lambda: [attempt(write_file(canary)), attempt(write_file(inside, "made")),
                                      attempt(lambda: os.mkdir(tree["outside"] / "dir")),
                                      attempt(lambda: os.symlink("/etc", tree["outside"] / "link")),
                                      attempt(lambda: os.unlink(tree["outside"] / "readable.txt"))])
    assert results == ["errno 13", 4, "errno 13", "errno 13", "errno 13"]
    assert not canary.exists() and not (tree["outside"] / "dir").exists()
    assert not (tree["outside"] / "link").is_symlink() and (tree["outside"] / "readable.txt").exists()
    assert inside.read_text() == "made"


def test_denied_reads_fail_and_others_work(plan: landlock.LandlockPlan, tree: dict[str, Path]) -> None:
    def action() -> list[Any]:
        cat = subprocess.run(["cat", str(tree["home"] / ".ssh" / "id_rsa"), str(tree["workspace"] / "secret" / "token")],
                             capture_output=True)
        return [attempt(read_file(tree["home"] / ".ssh" / "id_rsa")),
                attempt(read_file(tree["workspace"] / "secret" / "token")),
                cat.stdout.decode(errors="replace"), cat.returncode,
                attempt(read_file(tree["outside"] / "readable.txt")),
                attempt(read_file(tree["workspace"] / "README.md")),
                attempt(lambda: sorted(os.listdir(tree["workspace"]))),
                attempt(lambda: open("/etc/passwd").read(5))]
    results = in_child(plan, action)
    assert results[0] == results[1] == "errno 13"
    assert SECRET.decode() not in json.dumps(results)
    assert results[3] == 1
    assert results[4:] == ["public\n", "hello\n", ["README.md", "protected", "secret", "src"], "root:"]


def confined_outcomes(plan: landlock.LandlockPlan, tree: dict[str, Path], built: ruleset.Ruleset | None) -> Any:
    canary = tree["outside"] / "canary"
    return in_child(plan, lambda: [attempt(write_file(canary)), attempt(read_file(tree["home"] / ".ssh" / "id_rsa")),
                                   attempt(read_file(tree["workspace"] / "secret" / "token")),
                                   attempt(write_file(tree["workspace"] / "src" / "ok", "ok")),
                                   attempt(read_file(tree["outside"] / "readable.txt"))], built=built)


def test_a_ruleset_built_ahead_confines_as_one_built_in_the_child(plan: landlock.LandlockPlan,
                                                                   tree: dict[str, Path]) -> None:
    """What a warm worker does while it waits (prebuild) and when its line comes (take_prebuilt)."""
    fresh = confined_outcomes(plan, tree, None)
    prebuilt = ruleset.prebuild(plan)
    built = ruleset.take_prebuilt(prebuilt, plan)
    assert built is not None
    try:
        ahead = confined_outcomes(plan, tree, built)
    finally:
        os.close(built.fd)
    assert ahead == fresh == ["errno 13", "errno 13", "errno 13", 2, "public\n"]
    assert not (tree["outside"] / "canary").exists()


def test_a_ruleset_built_ahead_is_dropped_once_its_plan_or_a_file_changed(tmp_path: Path,
                                                                         tree: dict[str, Path]) -> None:
    profile = profile_from(tmp_path, tree["home"], tree["workspace"], "")
    plan = landlock.plan_for(profile)
    src = tree["workspace"] / "src"
    assert str(src) in dict(plan.rules)  # the workspace is split (it holds `secret`): src has its own rule

    def dropped(prebuilt: ruleset.Prebuilt, listed: bool, **options: Any) -> bool:
        """Whether take_prebuilt refuses it against a plan made now (with or without what
        that plan's directory listing saw)."""
        inodes: dict[str, tuple[int, int]] = {}
        now = landlock.plan_for(profile, inodes=inodes if listed else None, **options)
        taken = ruleset.take_prebuilt(prebuilt, now, inodes if listed else None)
        if taken is not None:
            os.close(taken.fd)
            return False
        with pytest.raises(OSError):
            os.fstat(prebuilt.ruleset.fd)  # closed by take_prebuilt
        return True

    for listed in (True, False):
        assert not dropped(ruleset.prebuild(plan), listed)
        assert dropped(ruleset.prebuild(plan), listed, exact_write_deny=True)  # another plan
        before = ruleset.prebuild(plan)
        src.rmdir()
        src.mkdir()  # the same path, another directory (inode): its rule would be for the old one
        assert dropped(before, listed)
    before, same_plan = ruleset.prebuild(plan), ruleset.prebuild(plan)
    src.rmdir()
    src.symlink_to(tree["outside"])  # swapped for a link since it was built
    assert dropped(before, True)  # the plan made now has no rule there
    assert ruleset.take_prebuilt(same_plan, plan) is None  # and if it had: lstat sees the link
    # a fresh build (what the line then does) grants nothing through the link
    assert in_child(plan, lambda: attempt(write_file(src / "through-link"))) == "errno 13"
    assert not (tree["outside"] / "through-link").exists()


def test_plans_travel_as_json_and_anything_else_is_refused(plan: landlock.LandlockPlan) -> None:
    data = ruleset.plan_to_json(plan)
    assert ruleset.plan_from_json(data) == plan
    for bad in (b"", b"[]", b"{}", b"not json", data[:-1], data.replace(b"[[", b"[[[", 1),
                b'[[["/", "x"]], null, null, true, true, []]'):
        assert ruleset.plan_from_json(bad) is None


def test_exact_write_deny_splits_the_write_root(tmp_path: Path, tree: dict[str, Path]) -> None:
    profile = profile_from(tmp_path, tree["home"], tree["workspace"], "")
    loose = landlock.plan_for(profile)
    assert any("protected" in why for why in loose.unenforced)
    exact = landlock.plan_for(profile, exact_write_deny=True)
    assert exact.unenforced == ()
    target = tree["workspace"] / "protected" / "keep.txt"
    assert in_child(exact, lambda: [attempt(write_file(target, "changed")),
                                    attempt(write_file(tree["workspace"] / "src" / "ok", "ok"))]) == ["errno 13", 2]
    assert target.read_text() == "keep\n"
    # Without it, the static check alone stops writes there; Landlock lets them through.
    assert in_child(loose, lambda: attempt(write_file(target, "changed"))) == 7


def test_new_entries_in_a_split_directory_are_not_usable(plan: landlock.LandlockPlan, tree: dict[str, Path]) -> None:
    # The workspace is split (it holds the denied `secret`): a new top-level entry cannot be
    # made there, while its existing subdirectories work as before.  The cost the docs name.
    top = tree["workspace"] / "new-top.txt"
    results = in_child(plan, lambda: [attempt(write_file(top)),
                                      attempt(write_file(tree["workspace"] / "src" / "new.txt"))])
    assert results == ["errno 13", 1]
    assert not top.exists()


def test_devices_and_stdio(plan: landlock.LandlockPlan, tree: dict[str, Path]) -> None:
    def action() -> list[Any]:
        return [attempt(write_file("/dev/null")), attempt(lambda: len(open("/dev/zero", "rb").read(4))),
                attempt(lambda: len(open("/dev/urandom", "rb").read(4))), attempt(write_file("/dev/full")),
                attempt(lambda: os.listdir("/dev") and "listed"),
                attempt(lambda: open(DISK, "rb").read(1)) if DISK else "errno 13",
                attempt(write_file("/dev/stdout", "")),
                subprocess.run(["bash", "-c", "echo hi > /dev/null && echo via-dev-stdout >/dev/stdout"]).returncode]
    # stdout is a regular file here: the command may re-open it as /dev/stdout.
    out = tree["outside"] / "stdout.log"
    with open(out, "w") as log:
        null = os.open("/dev/null", os.O_RDONLY)
        results = _with_stdout(plan, action, log.fileno(), null)
        os.close(null)
    assert results[:3] == [1, 4, 4]
    assert results[3] == "errno 28"  # ENOSPC: /dev/full opened, the write itself fails
    assert results[4] == "listed" and results[5] == "errno 13"
    assert results[6] == 0 and results[7] == 0
    assert out.read_text() == "via-dev-stdout\n"


def _with_stdout(plan: landlock.LandlockPlan, action: Callable[[], Any], stdout: int, stdin: int) -> Any:
    saved = os.dup(1), os.dup(0)
    try:
        os.dup2(stdout, 1)
        os.dup2(stdin, 0)
        return in_child(plan, action)
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 0)
        os.close(saved[0])
        os.close(saved[1])


def test_own_terminal_stays_usable(plan: landlock.LandlockPlan) -> None:
    master, slave = os.openpty()
    name = os.ttyname(slave)

    def action() -> list[Any]:
        import termios
        with open("/dev/tty", "w") as tty:
            termios.tcgetattr(tty.fileno())
            tty.write("via-tty ")
        with open(name, "w") as own:
            own.write("via-pts ")
        return [attempt(lambda: open("/dev/ptmx", "rb+", buffering=0) and "new pty")]
    try:
        assert in_child(plan, action, stdio=(slave, slave, slave)) == ["errno 13"]
        os.close(slave)
        assert b"via-tty via-pts" in _drain(master)
    finally:
        os.close(master)


def _drain(fd: int) -> bytes:
    import select
    data = b""
    while select.select([fd], [], [], 0.5)[0]:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return data


def test_programs_run_and_a_python_child_inherits_everything(plan: landlock.LandlockPlan, tree: dict[str, Path]) -> None:
    canary = tree["outside"] / "from-python"
    script = (f"import os, json\n"
              f"out = {{}}\n"
              f"try:\n    open({str(canary)!r}, 'w')\n    out['write'] = 'written'\nexcept OSError as e:\n"
              f"    out['write'] = e.errno\n"
              f"try:\n    out['read'] = open({str(tree['home'] / '.ssh' / 'id_rsa')!r}).read()\n"
              f"except OSError as e:\n    out['read'] = e.errno\n"
              f"out['nnp'] = [l for l in open('/proc/self/status') if l.startswith('NoNewPrivs')][0].split()[1]\n"
              f"try:\n    out['parent_mem'] = len(open('/proc/{os.getpid()}/mem', 'rb').read(1))\n"
              f"except OSError as e:\n    out['parent_mem'] = e.errno\n"
              f"print(json.dumps(out))\n")

    def action() -> list[Any]:
        child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                               env={"PYTHONPATH": str(REPO)})
        git = subprocess.run(["git", "--version"], capture_output=True, text=True)
        return [json.loads(child.stdout), git.returncode, subprocess.run(["true"]).returncode]
    inherited, git_status, true_status = in_child(plan, action)
    assert inherited == {"write": 13, "read": 13, "nnp": "1", "parent_mem": 13}
    assert not canary.exists()
    assert git_status == 0 and true_status == 0


def test_a_nested_ruleset_cannot_widen_access(plan: landlock.LandlockPlan, tree: dict[str, Path]) -> None:
    canary = tree["outside"] / "widened"
    everything = landlock.LandlockPlan(rules=(("/", landlock.handled_fs(landlock.abi_version())),),
                                       connect_ports=None, bind_ports=None)

    def action() -> Any:
        ruleset.restrict_self(everything)  # allowed (stacking), but only narrows
        return attempt(write_file(canary))
    assert in_child(plan, action) == "errno 13"
    assert not canary.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="capabilities matter only for root; CI runs as root")
def test_root_loses_the_capabilities_that_bypass_rules(plan: landlock.LandlockPlan, tree: dict[str, Path]) -> None:
    node = tree["workspace"] / "src" / "disk"
    script = ("import json, os, socket\nout = {}\n"
              "out['bnd'] = [l.split()[1] for l in open('/proc/self/status') if l.startswith('CapBnd')][0]\n"
              f"try:\n    os.mknod({str(node)!r}, 0o600 | 0o060000, os.makedev(8, 0))\n    out['mknod'] = 0\n"
              "except OSError as e:\n    out['mknod'] = e.errno\n"
              "try:\n    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)\n    out['raw'] = 0\n"
              "except OSError as e:\n    out['raw'] = e.errno\n"
              "import time\n"  # the clock set to what it reads: a change of microseconds where it is allowed
              "try:\n    time.clock_settime(time.CLOCK_REALTIME, time.clock_gettime(time.CLOCK_REALTIME))\n"
              "    out['clock'] = 0\n"
              "except OSError as e:\n    out['clock'] = e.errno\n"
              "print(json.dumps(out))\n")
    out = in_child(plan, lambda: json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True,
                                                           text=True).stdout))
    bounding = int(out["bnd"], 16)
    assert not any(bounding & (1 << cap) for cap in landlock.DROPPED_CAPABILITIES)
    assert bounding & (1 << 0)  # CAP_CHOWN stays: ordinary root work in the write roots
    assert out["mknod"] == 13 and out["raw"] == 1  # Landlock refuses MAKE_BLOCK before the capability check
    assert out["clock"] == 1  # EPERM: no CAP_SYS_TIME (`date -s` as root)
    # With every right granted, only the dropped CAP_MKNOD stops the device node.
    everything = plan._replace(rules=(("/", landlock.handled_fs(landlock.abi_version())),))
    out = in_child(everything, lambda: json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True,
                                                                 text=True).stdout))
    assert out["mknod"] == 1 and out["raw"] == 1
    assert not node.exists()


@pytest.fixture
def listeners() -> Iterator[tuple[int, int]]:
    servers = []
    for _ in range(2):
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        servers.append(server)
    yield servers[0].getsockname()[1], servers[1].getsockname()[1]
    for server in servers:
        server.close()


def connect(port: int) -> Callable[[], Any]:
    def go() -> str:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            return "connected"
    return go


def bind_any() -> Any:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return "bound"


@pytest.mark.skipif(landlock.abi_version() < 4, reason="TCP rules need Landlock ABI 4")
def test_tcp_connect_only_to_allowed_ports(tmp_path: Path, tree: dict[str, Path], listeners: tuple[int, int]) -> None:
    allowed, other = listeners
    profile = profile_from(tmp_path, tree["home"], tree["workspace"], f"network: {{connect: [{allowed}]}}\n")
    plan = landlock.plan_for(profile)
    results = in_child(plan, lambda: [attempt(connect(allowed)), attempt(connect(other)), attempt(bind_any),
                                      attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(
                                          b"x", ("127.0.0.1", other)))])
    # UDP is not restricted by Landlock: the datagram goes out (documented limit).
    assert results == ["connected", "errno 13", "errno 13", 1]


@pytest.mark.skipif(landlock.abi_version() < 4, reason="TCP rules need Landlock ABI 4")
def test_network_any_is_not_restricted(tmp_path: Path, tree: dict[str, Path], listeners: tuple[int, int]) -> None:
    profile = profile_from(tmp_path, tree["home"], tree["workspace"], "network: {connect: any, bind: any}\n")
    plan = landlock.plan_for(profile)
    assert in_child(plan, lambda: [attempt(connect(listeners[1])), attempt(bind_any)]) == ["connected", "bound"]


def test_older_abi_downgrades_masks(plan: landlock.LandlockPlan, tree: dict[str, Path],
                                    listeners: tuple[int, int]) -> None:
    # A real ABI-1 ruleset on this kernel (the kernel keeps every older ABI): the masks
    # lose REFER, TRUNCATE and IOCTL_DEV instead of being refused, and TCP is not handled.
    canary = tree["outside"] / "abi1"
    results = in_child(plan, lambda: [attempt(write_file(canary)), attempt(connect(listeners[1])),
                                      attempt(write_file(tree["workspace"] / "src" / "abi1", "1"))], abi=1)
    assert results == ["errno 13", "connected", 1]
    assert not canary.exists()


def test_plan_shape(plan: landlock.LandlockPlan, tree: dict[str, Path]) -> None:
    rules = dict(plan.rules)
    home, workspace = str(tree["home"]), str(tree["workspace"])
    # Denied roots and /dev get no rule; nothing above a denied root reads files.
    assert not any(landlock.within(path, f"{home}/.ssh") or path == "/dev" for path in rules)
    assert rules["/"] == landlock.READ_DIR and not rules.get(workspace, 0) & landlock.READ_FILE
    assert rules[f"{workspace}/src"] & landlock.WRITE_FILE and rules[f"{workspace}/src"] & landlock.READ_FILE
    assert not any(mask & (landlock.MAKE_CHAR | landlock.MAKE_BLOCK) for mask in rules.values())
    assert rules["/dev/null"] & landlock.WRITE_FILE and "/dev/sda" not in rules


# -- Landlock missing: simulated by a seccomp filter, as a container runtime would ------
def refuse_syscall(number: int, errno_value: int) -> None:
    """Make syscall `number` fail with errno_value in this process and what it execs (no
    real kernel without Landlock is at hand; a container's seccomp profile does exactly this)."""
    program = b"".join(struct.pack("HBBI", *insn) for insn in [
        (0x20, 0, 0, 0),  # ld seccomp_data.nr
        (0x15, 0, 1, number),  # jeq number
        (0x06, 0, 0, 0x00050000 | errno_value),  # ret ERRNO
        (0x06, 0, 0, 0x7FFF0000),  # ret ALLOW
    ])
    buffer = ctypes.create_string_buffer(program)

    class Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    fprog = Fprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    lib = ctypes.CDLL(None, use_errno=True)
    assert lib.prctl(38, 1, 0, 0, 0) == 0
    assert lib.prctl(22, 2, ctypes.c_void_p(ctypes.addressof(fprog)), 0, 0) == 0


@pytest.mark.parametrize(("errno_value", "words"), [(38, "ENOSYS"), (95, "lsm="), (1, "seccomp")])
def test_missing_landlock_is_reported_and_restrict_refuses(plan: landlock.LandlockPlan, errno_value: int,
                                                            words: str) -> None:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        refuse_syscall(landlock.SYS_LANDLOCK_CREATE_RULESET, errno_value)
        info = landlock.status()
        try:
            ruleset.restrict_self(plan)
            refused = ""
        except OSError as err:
            refused = str(err)
        os.write(write_end, json.dumps([info.abi, info.reason, refused]).encode())
        os._exit(0)
    os.close(write_end)
    abi, reason, refused = json.loads(os.read(read_end, 65536))
    os.close(read_end)
    os.waitpid(pid, 0)
    assert abi == 0 and words in reason
    assert "Landlock unavailable" in refused and words in refused


def test_ordinary_work_runs_confined(tmp_path: Path, home: Path, workspace: Path) -> None:
    # The default profile's write section without /tmp (tmp_path is under /tmp): git with
    # its lock files under the .git/hooks and .git/config denies, pytest, make, a pipeline.
    host = Host(cwd=str(workspace), home=str(home), config_home=str(home / ".config"))
    text = ("agentsh: 1\nname: work\nextends: [base]\nworkspace: ['.']\n"
            "write:\n  allow: ['{workspace}']\n  deny: ['{workspace}/.git/hooks', '{workspace}/.git/config']\n")
    (workspace / "test_small.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
    (workspace / "Makefile").write_text("all:\n\techo built > out.txt\n\tcat out.txt | wc -l\n")
    subprocess.run(["git", "init", "-q"], cwd=workspace, check=True)
    plan = landlock.plan_for(load_profile(str(write_profile(tmp_path, "work", text)), host))
    script = ("set -e; git add -A; git -c user.name=a -c user.email=a@b commit -qm one; git status --short;"
              "echo more >> README.md; git add README.md; git -c user.name=a -c user.email=a@b commit -qm two;"
              "git log --oneline | wc -l; python3 -m pytest -q -p no:cacheprovider test_small.py | tail -1;"
              f"make -s; ls | grep -c txt; echo x > {tmp_path}/escaped || echo refused")

    def action() -> Any:
        os.chdir(workspace)
        done = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                              env={"PATH": os.environ["PATH"], "HOME": str(home)})
        return [done.returncode, done.stdout, done.stderr]
    status, out, err = in_child(plan, action)
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0] == "2" and "1 passed" in lines[1]
    assert lines[2:] == ["1", "1", "refused"]
    assert (workspace / "out.txt").read_text() == "built\n"
    assert not (tmp_path / "escaped").exists()


@pytest.mark.skipif(not os.path.exists("/usr/bin/python3"), reason="needs the system python3")
def test_read_allow_confines_reads_and_programs_still_start(tmp_path: Path, tree: dict[str, Path]) -> None:
    profile = profile_from(tmp_path, tree["home"], tree["workspace"], "", read_allow="['{workspace}']")
    helper = tmp_path / "helper-dir"
    helper.mkdir()
    (helper / "note").write_text("for the command\n")
    plan = landlock.plan_for(profile, extra_read=[str(helper)])

    def action() -> list[Any]:
        py = subprocess.run(["/usr/bin/python3", "-c", "print(open('README.md').read().strip())"],
                            capture_output=True, text=True, cwd=tree["workspace"])
        return [attempt(read_file(tree["outside"] / "readable.txt")), attempt(read_file(helper / "note")),
                subprocess.run(["bash", "-c", "echo ok"], capture_output=True, text=True).stdout, py.stdout,
                attempt(read_file(tree["workspace"] / "secret" / "token"))]
    assert in_child(plan, action) == ["errno 13", "for the command\n", "ok\n", "hello\n", "errno 13"]
