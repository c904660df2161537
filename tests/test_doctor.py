"""`agentsh doctor` on this host, and with layers taken away the way real hosts lose them: a
seccomp filter that refuses the Landlock or ptrace syscalls (as container runtimes do), a
tracer above agentsh (strace -f), an unwritable recording directory, no keyring backend."""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentsh.guard import landlock
from tests.conftest import write_profile
from tests.test_landlock import refuse_syscall

PTRACE_SYSCALL = {"x86_64": 101, "aarch64": 117}.get(platform.machine(), 0)
ENOSYS, EPERM = 38, 1


def doctor(agentsh_env: dict[str, str], cwd: Path, *args: str, prefix: tuple[str, ...] = (),
           preexec: Callable[[], None] | None = None,
           env: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str]:
    proc = subprocess.run([*prefix, sys.executable, "-m", "agentsh", "doctor", "--json", *args],
                          capture_output=True, text=True, cwd=cwd, env={**agentsh_env, **(env or {})},
                          preexec_fn=preexec, timeout=120)
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def layers(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {layer["layer"]: layer for layer in report["layers"]}


def profile(tmp_path: Path, body: str, name: str = "p") -> str:
    return str(write_profile(tmp_path, name, f"agentsh: 1\nname: {name}\nextends: [default]\n{body}"))


@pytest.mark.skipif(landlock.abi_version() < 4, reason="this host's kernel has every layer")
def test_this_host_has_every_layer(run_agentsh: Callable[..., Any]) -> None:
    proc = run_agentsh("doctor")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for line in ("ok       static check", "ok       exec guard", "ok       landlock      ABI",
                 "ok       network", "ok       no_new_privs", "ok       audit trail",
                 "result: ok"):
        assert line in proc.stdout
    report = json.loads(run_agentsh("doctor", "--json").stdout)
    assert report["ok"] is True and report["would_refuse"] is False
    assert all(layer["active"] for layer in report["layers"] if layer["needed"])


def test_landlock_refused_by_seccomp(agentsh_env: dict[str, str], workspace: Path, tmp_path: Path) -> None:
    def no_landlock() -> None:
        refuse_syscall(landlock.SYS_LANDLOCK_CREATE_RULESET, ENOSYS)
    status, report, _ = doctor(agentsh_env, workspace, preexec=no_landlock)
    found = layers(report)
    assert status == 1 and report["ok"] is False
    assert found["landlock"]["active"] is False and "ENOSYS" in found["landlock"]["detail"]
    assert found["network"]["active"] is False and found["network"]["needed"] is True
    assert report["would_refuse"] is False  # the default profile is not strict
    strict = profile(tmp_path, "strict: true\n", "strict")
    status, report, _ = doctor(agentsh_env, workspace, "-p", strict, preexec=no_landlock)
    assert status == 1 and report["strict"] is True and report["would_refuse"] is True


def test_network_any_does_not_need_tcp_rules(agentsh_env: dict[str, str], workspace: Path, tmp_path: Path) -> None:
    spec = profile(tmp_path, "network: {connect: any, bind: any}\n")
    _, report, _ = doctor(agentsh_env, workspace, "-p", spec,
                          preexec=lambda: refuse_syscall(landlock.SYS_LANDLOCK_CREATE_RULESET, ENOSYS))
    assert layers(report)["network"]["needed"] is False
    assert "connect any, bind any" in layers(report)["network"]["detail"]


@pytest.mark.skipif(not PTRACE_SYSCALL, reason="ptrace syscall number unknown for this architecture")
def test_ptrace_refused_by_seccomp(agentsh_env: dict[str, str], workspace: Path) -> None:
    status, report, _ = doctor(agentsh_env, workspace, preexec=lambda: refuse_syscall(PTRACE_SYSCALL, EPERM))
    guard = layers(report)["exec guard"]
    assert status == 1 and guard["active"] is False
    assert "PTRACE_TRACEME failed: Operation not permitted" in guard["detail"]


def test_traced_agentsh_is_reported(agentsh_env: dict[str, str], workspace: Path) -> None:
    strace = shutil.which("strace")
    assert strace, "strace is installed by .ci/run"
    status, report, _ = doctor(agentsh_env, workspace, prefix=(strace, "-f", "-o", "/dev/null"))
    guard = layers(report)["exec guard"]
    assert status == 1 and guard["active"] is False
    assert "agentsh itself is traced by pid" in guard["detail"]


def test_recording_directory(agentsh_env: dict[str, str], workspace: Path, tmp_path: Path) -> None:
    (tmp_path / "plain-file").write_text("")
    required = profile(tmp_path, f"record: {{dir: '{tmp_path}/plain-file/rec'}}\n", "required")
    status, report, _ = doctor(agentsh_env, workspace, "-p", required)
    recording = layers(report)["recording"]
    assert status == 1 and recording["active"] is False and "is not a directory" in recording["detail"]
    optional = profile(tmp_path, f"record: {{dir: '{tmp_path}/plain-file/rec', required: false}}\n", "optional")
    status, report, _ = doctor(agentsh_env, workspace, "-p", optional)
    assert layers(report)["recording"]["needed"] is False
    assert report["ok"] is all(layer["active"] for layer in report["layers"] if layer["needed"])
    creatable = profile(tmp_path, f"record: {{dir: '{tmp_path}/new/rec'}}\n", "creatable")
    _, report, _ = doctor(agentsh_env, workspace, "-p", creatable)
    assert layers(report)["recording"]["active"] is True
    assert not (tmp_path / "new").exists()  # checked, not created


def test_keyring_needed_only_for_credentials(agentsh_env: dict[str, str], workspace: Path, tmp_path: Path) -> None:
    no_backend = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    _, report, _ = doctor(agentsh_env, workspace, env=no_backend)
    keyring = layers(report)["keyring"]
    assert keyring["active"] is False and keyring["needed"] is False
    spec = profile(tmp_path, "commands:\n  - name: deploy\n    run: 'true'\n    decision: allow\n"
                   "    credentials: {TOKEN: {keyring: svc, user: u}}\n", "creds")
    status, report, _ = doctor(agentsh_env, workspace, "-p", spec, env=no_backend)
    keyring = layers(report)["keyring"]
    assert status == 1 and keyring["needed"] is True and "deploy" in keyring["detail"]
    assert "no keyring backend" in keyring["detail"]


def test_bad_profile_is_a_usage_error(run_agentsh: Callable[..., Any]) -> None:
    proc = run_agentsh("doctor", "-p", "no-such-profile")
    assert proc.returncode == 2 and "no-such-profile" in proc.stderr


def test_syslog_forwarding_is_reported(agentsh_env: dict[str, str], workspace: Path, tmp_path: Path) -> None:
    """`audit.syslog: true` without a syslog socket: forwarding failed silently (the event was
    kept only in AuditLog.forward_error); doctor and the session now say so."""
    import os

    spec = profile(tmp_path, "audit: {syslog: true}\n", "syslog")
    _, report, _ = doctor(agentsh_env, workspace, "-p", spec)
    forwarding = layers(report)["syslog forwarding"]
    assert forwarding["needed"] is False
    assert forwarding["active"] is os.path.exists("/dev/log"), forwarding
    ran = subprocess.run([sys.executable, "-m", "agentsh", "-p", spec, "-c", "true"], capture_output=True,
                         text=True, cwd=workspace, env=agentsh_env, timeout=120)
    assert ran.returncode == 0, ran.stderr
    said = "audit events are not forwarded to syslog" in ran.stderr
    assert said is not os.path.exists("/dev/log"), ran.stderr
    assert ran.stderr.count("not forwarded") <= 1
    _, report, _ = doctor(agentsh_env, workspace)
    assert "syslog forwarding" not in layers(report)
