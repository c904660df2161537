"""The exec guard: every exec inside an approved command is checked, for real.

Each escape test runs a line the static check allows (so only the exec-time layer can
stop it) and checks the outcome: a canary file that must not appear.  Each is paired
with the same mechanism doing something allowed, so the test would fail if the guard
refused everything.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import failing_syscalls_runner, write_profile

Run = Callable[..., subprocess.CompletedProcess[str]]
PY_BIN = os.path.dirname(os.path.realpath(sys.executable))

PROFILE = """\
agentsh: 1
name: guarded
extends: [base]
path: [{py_bin}, /usr/local/bin, /usr/bin, /bin]
write: {{allow: ["{{workspace}}", /tmp]}}
commands:
  - {{name: py, run: python3, args: ["-c ..."], decision: allow}}
  - {{name: tools, run: [ls, cat, head, wc, grep, sort, mkdir, basename, sed, gettext, envsubst, uname],
     decision: allow}}
  - {{name: git, run: git, decision: allow}}
  - {{name: git-submodule, run: git, args: ["submodule status"], decision: allow}}
  - {{name: make, run: make, decision: allow}}
  - {{name: only-itself, run: [python3.11, python3], args: ["-I -c ..."], decision: allow, children: none}}
  - {{name: anything-below, run: [python3.11, python3], args: ["-S -c ..."], decision: allow, children: any}}
  - {{name: daemon, run: [python3.11, python3], args: ["-u -c ..."], decision: allow, background: true}}
"""


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    return write_profile(tmp_path, "guarded", PROFILE.format(py_bin=PY_BIN))


def audit_events(home: Path, kind: str) -> list[dict]:
    path = home / ".local" / "state" / "agentsh" / "audit.jsonl"
    if not path.exists():
        return []
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [e for e in events if e.get("kind") == kind or e.get("event") == kind]


def py(code: str, flags: str = "") -> str:
    return f"python3 {flags} -c {shlex_quote(code)}".replace("  ", " ")


def shlex_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


# -- escapes from an allowed interpreter --------------------------------------------------
@pytest.mark.parametrize("code", [
    "import os; os.system('touch canary')",
    "import subprocess; subprocess.run(['touch', 'canary'])",
    "import os; os.execv('/usr/bin/touch', ['touch', 'canary'])",
    "import os; os.execv('/bin/sh', ['sh', '-c', 'touch canary'])",
    "import os, shutil; shutil.copy('/usr/bin/touch', 'mytouch'); os.chmod('mytouch', 0o755);"
    " os.execv('./mytouch', ['ls', 'canary'])",  # a copy named like an allowed program
    "import os; os.symlink('/usr/bin/touch', 'ls'); os.execv('./ls', ['ls', 'canary'])",
    "import os; os.execv('/lib64/ld-linux-x86-64.so.2', ['ld.so', '/usr/bin/touch', 'canary'])",
])
def test_interpreter_escapes_are_stopped(run_agentsh: Run, profile: Path, workspace: Path, home: Path,
                                         code: str) -> None:
    result = run_agentsh("-p", str(profile), "-c", py(code))
    assert not (workspace / "canary").exists(), result.stderr
    assert "denied at exec" in result.stderr
    denied = audit_events(home, "exec_denied")
    assert denied and all(e.get("reason") for e in denied)


def test_allowed_children_run(run_agentsh: Run, profile: Path, workspace: Path) -> None:
    code = ("import subprocess; print(subprocess.run(['ls'], capture_output=True, text=True).stdout.strip());"
            "import os; print(os.system('mkdir made && ls made && echo ok'))")
    result = run_agentsh("-p", str(profile), "-c", py(code))
    assert result.returncode == 0, result.stderr
    assert "README.md" in result.stdout and "ok" in result.stdout
    assert (workspace / "made").is_dir()
    assert "denied" not in result.stderr


def test_shell_string_is_checked_like_a_line(run_agentsh: Run, profile: Path, workspace: Path) -> None:
    # Every command of the string must be allowed: `ls` is, `touch` is not.
    result = run_agentsh("-p", str(profile), "-c", py("import os; os.system('ls >/dev/null; touch canary')"))
    assert not (workspace / "canary").exists()
    assert "touch canary" in result.stderr


# -- children: none / any, background ---------------------------------------------------------
def test_children_none_refuses_every_child(run_agentsh: Run, profile: Path) -> None:
    result = run_agentsh("-p", str(profile), "-c", py("import os; print(os.system('ls'))", "-I"))
    assert "children: none" in result.stderr
    assert "README.md" not in result.stdout


def test_children_any_lets_anything_run(run_agentsh: Run, profile: Path, workspace: Path) -> None:
    result = run_agentsh("-p", str(profile), "-c", py("import os; os.system('touch canary')", "-S"))
    assert result.returncode == 0, result.stderr
    assert (workspace / "canary").exists()  # no rule allows touch: only `children: any` let it run


LATE = ("import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(1.5)\n"
        "        open('late', 'w').close()\n"
        "    os._exit(0)\n")


def test_leftover_processes_end_with_the_line(run_agentsh: Run, profile: Path, workspace: Path,
                                              home: Path) -> None:
    started = time.monotonic()
    result = run_agentsh("-p", str(profile), "-c", py(LATE))
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 10
    time.sleep(2.5)
    assert not (workspace / "late").exists()  # the daemonized grandchild was ended
    assert audit_events(home, "leftovers_ended")


def test_background_true_lets_them_outlive_the_line(run_agentsh: Run, profile: Path, workspace: Path) -> None:
    result = run_agentsh("-p", str(profile), "-c", py(LATE, "-u"))
    assert result.returncode == 0, result.stderr
    deadline = time.monotonic() + 10
    while not (workspace / "late").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (workspace / "late").exists()


def test_background_child_cannot_exec_forbidden_later(run_agentsh: Run, profile: Path, workspace: Path) -> None:
    code = ("import os, time\n"
            "if os.fork() == 0:\n"
            "    time.sleep(1)\n"
            "    os.system('touch canary')\n"
            "    os._exit(0)\n")
    run_agentsh("-p", str(profile), "-c", py(code, "-u"))  # background allowed, exec still checked
    time.sleep(2.5)
    assert not (workspace / "canary").exists()


# -- holes ptrace alone would leave ---------------------------------------------------------
def test_untraced_clone_is_refused(run_agentsh: Run, profile: Path, workspace: Path) -> None:
    code = ("import ctypes, os\n"
            "libc = ctypes.CDLL(None, use_errno=True)\n"
            "CLONE_UNTRACED = 0x00800000\n"
            "pid = libc.syscall(56, CLONE_UNTRACED | 17, 0, 0, 0, 0)\n"  # x86_64 clone(flags|SIGCHLD)
            "if pid == 0:\n"
            "    os.execv('/usr/bin/touch', ['touch', 'canary'])\n"
            "print('clone', pid, ctypes.get_errno())\n"
            "if pid > 0: os.waitpid(pid, 0)\n")
    if os.uname().machine != "x86_64":
        pytest.skip("the raw clone call here is written for x86_64")
    result = run_agentsh("-p", str(profile), "-c", py(code))
    assert not (workspace / "canary").exists()
    assert "clone -1 1" in result.stdout  # EPERM from the seccomp filter


def test_guard_death_kills_the_tree(run_agentsh: Run, profile: Path, workspace: Path) -> None:
    # The guard is bash's parent; if anything kills it, PTRACE_O_EXITKILL ends the tree.
    code = ("import os, time\n"
            "guard = int(open('/proc/%d/stat' % os.getppid()).read().split(')')[1].split()[1])\n"
            "try:\n"
            "    os.kill(guard, 9)\n"
            "except OSError as err:\n"
            "    print('kill refused', err)\n"
            "time.sleep(0.5)\n"
            "os.system('touch canary')\n")
    run_agentsh("-p", str(profile), "-c", py(code))
    time.sleep(0.5)
    assert not (workspace / "canary").exists()


# -- a hostile repository -------------------------------------------------------------------
@pytest.fixture
def hostile_repo(workspace: Path) -> Path:
    repo = workspace / "repo"
    repo.mkdir()
    env = {"HOME": str(workspace), "PATH": "/usr/bin:/bin", "GIT_CONFIG_NOSYSTEM": "1"}

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "a@b.c")
    git("config", "user.name", "a")
    (repo / "f.txt").write_text("x\n")
    git("add", "f.txt")
    git("commit", "-qm", "one")
    canary = workspace / "canary"
    git("config", "core.fsmonitor", f"touch {canary}; false")
    git("config", "alias.st", f"!touch {canary}")
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text(f"#!/bin/sh\ntouch {canary}\n")
    hook.chmod(0o755)
    (repo / "f.txt").write_text("y\n")
    return repo


@pytest.mark.parametrize("line", ["git status", "git commit -am two", "git st"])
def test_hostile_repository_cannot_run_its_commands(run_agentsh: Run, profile: Path, workspace: Path,
                                                    hostile_repo: Path, line: str) -> None:
    result = run_agentsh("-p", str(profile), "-c", line, cwd=hostile_repo)
    assert not (workspace / "canary").exists(), result.stderr
    assert "denied at exec" in result.stderr


# -- legitimate work ----------------------------------------------------------------------------
def test_git_with_its_helpers_runs(run_agentsh: Run, profile: Path, workspace: Path) -> None:
    repo = workspace / "ok"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "config", "user.email", "a@b.c"], cwd=repo, check=True)
    subprocess.run(["git", "config", "user.name", "a"], cwd=repo, check=True)
    # `git submodule` is a shell script in git-core that runs sed, git and more: helpers of git.
    result = run_agentsh("-p", str(profile), "-c",
                         "git commit -q --allow-empty -m one && git log --oneline | wc -l && git submodule status"
                         " && git status --short", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"
    assert "denied" not in result.stderr


def test_make_with_allowed_recipes(run_agentsh: Run, profile: Path, workspace: Path) -> None:
    (workspace / "Makefile").write_text("all:\n\tmkdir -p out\n\tls out > out/list\n\tcat README.md | wc -l\n"
                                        "bad:\n\ttouch canary\n")
    result = run_agentsh("-p", str(profile), "-c", "make -s")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1" and (workspace / "out" / "list").exists()
    result = run_agentsh("-p", str(profile), "-c", "make -s bad")
    assert result.returncode != 0 and not (workspace / "canary").exists()


def test_pipeline_of_allowed_programs(run_agentsh: Run, profile: Path) -> None:
    result = run_agentsh("-p", str(profile), "-c", "ls / | sort | grep -c . | cat")
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) > 3


@pytest.mark.skipif(shutil.which("pytest", path=PY_BIN) is None, reason="pytest is not installed beside python3")
def test_pytest_on_a_small_project(run_agentsh: Run, profile: Path, workspace: Path, tmp_path: Path) -> None:
    (workspace / "test_small.py").write_text("import subprocess\n\ndef test_one():\n    assert 1 + 1 == 2\n\n"
                                             "def test_child():\n    assert subprocess.run(['ls']).returncode == 0\n")
    text = PROFILE.format(py_bin=PY_BIN) + "  - {name: pytest, run: python3, args: ['-m pytest ...'], decision: allow}\n"
    pytest_profile = write_profile(tmp_path, "pytest", text)
    result = run_agentsh("-p", str(pytest_profile), "-c", "python3 -m pytest -q -p no:cacheprovider test_small.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


# -- a kernel without Landlock (a real one: a seccomp filter makes its syscalls fail with ENOSYS,
# as a container runtime that does not know them does) ----------------------------------------------
NO_LANDLOCK = failing_syscalls_runner((444, 445, 446), 38)  # landlock_create_ruleset, add_rule, restrict_self: ENOSYS


def test_without_landlock_warns_once_per_session(agentsh_env: dict[str, str], profile: Path, workspace: Path,
                                                 home: Path, tmp_path: Path) -> None:
    wrapper = tmp_path / "no_landlock.py"
    wrapper.write_text(NO_LANDLOCK)
    env = dict(agentsh_env, AGENTSH_SESSION="nolandlock-1")
    calls = [subprocess.run([sys.executable, str(wrapper), "-p", str(profile), "-c", "ls"], cwd=workspace, env=env,
                            capture_output=True, text=True, timeout=60) for _ in range(2)]
    assert all(c.returncode == 0 and "README.md" in c.stdout for c in calls), calls[0].stderr
    assert "Landlock is not available" in calls[0].stderr
    assert "Landlock" not in calls[1].stderr
    assert audit_events(home, "layer_missing")
    # the exec guard still stands without Landlock
    escape = subprocess.run([sys.executable, str(wrapper), "-p", str(profile), "-c",
                             py("import os; os.system('touch canary')")], cwd=workspace, env=env,
                            capture_output=True, text=True, timeout=60)
    assert "denied at exec" in escape.stderr and not (workspace / "canary").exists()


def test_without_landlock_strict_runs_nothing(agentsh_env: dict[str, str], profile: Path, workspace: Path,
                                              tmp_path: Path) -> None:
    wrapper = tmp_path / "no_landlock.py"
    wrapper.write_text(NO_LANDLOCK)
    strict = write_profile(tmp_path, "strict", f"agentsh: 1\nname: strict\nextends: [{profile}]\nstrict: true\n")
    result = subprocess.run([sys.executable, str(wrapper), "-p", str(strict), "-c", "mkdir made"], cwd=workspace,
                            env=agentsh_env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 126, result.stderr
    assert "strict" in result.stderr and "Landlock" in result.stderr
    assert not (workspace / "made").exists()


def test_a_decision_that_hangs_refuses_the_exec(profile: Path, workspace: Path, home: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug that made deciding hang must not hang the command (or let it run): the guard gives
    each decision a deadline and refuses the exec when it passes."""
    from agentsh.guard import trace
    from agentsh.guard.execcheck import ExecChecker
    from agentsh.guard.spawn import Confinement
    from agentsh.policy import Policy
    from agentsh.profile import Host, load_profile
    from agentsh.run import run_bash

    class HangingChecker(ExecChecker):
        def check(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            time.sleep(60)
            return super().check(*args, **kwargs)

    monkeypatch.setattr(trace, "DECISION_SECONDS", 0.5)  # the guard is a fork of this process
    host = Host(cwd=str(workspace), home=str(home), config_home=str(home / ".config"))
    policy = Policy(load_profile(str(profile), host), host)
    started = time.monotonic()
    result = run_bash("/usr/bin/touch canary; echo status=$?", {"PATH": "/usr/bin:/bin"}, str(workspace),
                      confinement=Confinement(HangingChecker(policy)), sink=lambda data: None)
    assert time.monotonic() - started < 20
    assert not (workspace / "canary").exists()
    assert any("longer than" in r.get("reason", "") for r in result.reports), result.reports


def test_interpreter_cannot_write_outside_roots_or_read_denied_paths(run_agentsh: Run, profile: Path,
                                                                     workspace: Path, home: Path) -> None:
    """What an allowed interpreter does in-process is Landlock's: end to end through agentsh -c."""
    outside = Path("/var/lib/agentsh-test-outside-canary")  # the profile writes only the workspace and /tmp
    code = (f"import os\n"
            f"try:\n    open({str(outside)!r}, 'w').write('x')\nexcept OSError as e:\n    print('write refused', e.errno)\n"
            f"try:\n    print(open({str(home / '.ssh' / 'id_rsa')!r}).read())\nexcept OSError as e:\n"
            f"    print('read refused', e.errno)\n"
            f"open('inside', 'w').write('ok')\n")
    result = run_agentsh("-p", str(profile), "-c", py(code))
    assert result.returncode == 0, result.stderr
    assert "write refused 13" in result.stdout and "read refused 13" in result.stdout
    assert not outside.exists()
    assert "SECRET-KEY-BYTES" not in result.stdout + result.stderr
    assert (workspace / "inside").read_text() == "ok"
