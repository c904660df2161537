"""`agentsh shim` and `agentsh launch`, with a real (fake-agent) program that calls its shell
the way Claude Code and Codex do."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

FAKE_AGENT = r"""#!/bin/sh
# Calls its shell like Claude Code ($SHELL -c -l WRAPPER, output captured through a pipe)
# and like Codex / mini-swe-agent (bash -lc found on PATH).
q() { printf "%s" "$1" | sed "s/'/'\"'\"'/g"; }
wrap() {
  printf "source %s/.claude/shell-snapshots/snapshot-bash-1787645352430-itq4da.sh 2>/dev/null || true" "$HOME"
  printf " && shopt -u extglob 2>/dev/null || true && eval '%s' < /dev/null && pwd -P >| %s" \
    "$(q "$1")" "$TMPDIR/claude-$2-cwd"
}
echo "agent sees SHELL=$SHELL token=${FAKE_TOKEN:-none}"
out=$("$SHELL" -c -l "$(wrap "echo 'first'; cd sub" a1a1)"); echo "[1] status=$? out=$out cwd=$(cat "$TMPDIR/claude-a1a1-cwd")"
out=$("$SHELL" -c -l "$(wrap "curl -s https://example.com" a2a2)" 2>&1); echo "[2] status=$? out=$out"
out=$(bash -lc 'echo "second $0"' zero); echo "[3] status=$? out=$out"
out=$(sh -c 'echo "${AGENTSH_SESSION}"'); echo "[4] session=$out"
exit 5
"""


def test_shim_is_what_an_agent_finds_on_path(run_agentsh, agentsh_env: dict[str, str], tmp_path: Path,  # type: ignore[no-untyped-def]
                                              workspace: Path) -> None:
    shim = tmp_path / "shim"
    made = run_agentsh("shim", str(shim))
    assert made.returncode == 0, made.stderr
    assert made.stdout.split() == [str(shim / "bash"), str(shim / "sh")]
    path = f"{shim}:{agentsh_env['PATH']}"
    assert shutil.which("bash", path=path) == str(shim / "bash")
    # Hostile environment: PYTHONPATH with a fake agentsh package must not change what runs.
    evil = tmp_path / "evil" / "agentsh"
    evil.mkdir(parents=True)
    (evil / "__init__.py").write_text("raise SystemExit('evil agentsh imported')\n")
    env = dict(agentsh_env, PATH=path, PYTHONPATH=str(evil.parent))
    for name in ("bash", "sh"):
        # as an agent calls it: by name, looked up on PATH
        denied = subprocess.run([name, "-c", "curl -s https://example.com"], env=env, cwd=workspace,
                                capture_output=True, text=True, timeout=60)
        assert denied.returncode == 126 and "rule no-network" in denied.stderr
        ok = subprocess.run([name, "-lc", 'echo "ok $0 $1"', "zero", "one"], env=env, cwd=workspace,
                            capture_output=True, text=True, timeout=60)
        assert (ok.returncode, ok.stdout) == (0, "ok zero one\n"), ok.stderr


def test_shim_with_baked_profile(run_agentsh, agentsh_env: dict[str, str], tmp_path: Path,  # type: ignore[no-untyped-def]
                                 workspace: Path) -> None:
    profile = tmp_path / "only-uname.yaml"
    profile.write_text('agentsh: 1\nname: only-uname\nextends: [base]\ncommands:\n  - name: uname\n    run: uname\n'
                       '    args: ["..."]\n    decision: allow\n')
    shim = tmp_path / "shim"
    assert run_agentsh("shim", "-p", str(profile), str(shim)).returncode == 0
    env = dict(agentsh_env, PATH=f"{shim}:{agentsh_env['PATH']}")
    assert subprocess.run(["bash", "-c", "uname"], env=env, cwd=workspace, timeout=60).returncode == 0
    refused = subprocess.run(["bash", "-c", "ls"], env=env, cwd=workspace, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 126 and "default-deny" in refused.stderr
    # The caller's own -p must not replace the baked one (the last -p used to win).
    for option in (["-p", "default"], ["--profile=default"]):
        other = subprocess.run(["bash", *option, "-c", "touch canary"], env=env, cwd=workspace, capture_output=True,
                               text=True, timeout=60)
        assert other.returncode == 2 and "the profile is given twice" in other.stderr
    assert not (workspace / "canary").exists()


def test_shim_does_not_overwrite_other_files(run_agentsh, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "bash").write_text("#!/bin/sh\necho mine\n")
    refused = run_agentsh("shim", str(shim))
    assert refused.returncode == 2 and "not an agentsh shim" in refused.stderr
    assert (shim / "bash").read_text() == "#!/bin/sh\necho mine\n"
    assert run_agentsh("shim", "--force", str(shim)).returncode == 0
    assert run_agentsh("shim", str(shim)).returncode == 0  # our own shim is replaced quietly


@pytest.mark.parametrize("keep", [False, True])
def test_launch_one_session_checked_recorded_linked(agentsh_env: dict[str, str], home: Path, workspace: Path,
                                                     tmp_path: Path, keep: bool) -> None:
    agent = tmp_path / "fake-agent"
    agent.write_text(FAKE_AGENT)
    agent.chmod(0o755)
    (workspace / "sub").mkdir()
    (workspace / ".tmp").mkdir()
    env = dict(agentsh_env, FAKE_TOKEN="tok-123", TMPDIR=str(workspace / ".tmp"))
    argv = [sys.executable, "-m", "agentsh", "launch", "--name", "fake"] + (["--keep-env", "FAKE_TOKEN"] if keep else [])
    result = subprocess.run([*argv, "--", str(agent)], env=env, cwd=workspace, capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=180)
    out = result.stdout.replace("\r\n", "\n")
    assert result.returncode == 5, (out, result.stderr)
    assert f"token={'tok-123' if keep else 'none'}" in out
    assert "agent sees SHELL=/" in out and "/bash token" in out
    assert f"[1] status=0 out=first cwd={(workspace / 'sub').resolve()}" in out
    assert "[2] status=126 out=agentsh: denied: curl -s https://example.com" in out
    assert "[3] status=0 out=second zero" in out

    state = home / ".local" / "state" / "agentsh"
    events = [json.loads(line) for line in (state / "audit.jsonl").read_text().splitlines()]
    sessions = {e["session"] for e in events}
    assert len(sessions) == 1
    session = sessions.pop()
    assert f"[4] session={session}" in out
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "session_start" and kinds[-1] == "session_end" and kinds.count("session_start") == 1
    launch = next(e for e in events if e["kind"] == "launch")
    assert launch["agent"] == "fake" and ("FAKE_TOKEN" in launch["dropped_env"]) != keep
    lines = [e for e in events if e["kind"] == "line"]
    assert [e["line"] for e in lines] == ["echo 'first'; cd sub", "curl -s https://example.com",
                                          'echo "second $0"', 'echo "${AGENTSH_SESSION}"']
    assert lines[0]["wrapper"] == "claude-code" and "wrapper" not in lines[2]
    terminal = state / f"{session}.terminal.cast"
    assert all(e["terminal_recording"] == str(terminal) for e in lines)
    assert launch["terminal_recording"] == str(terminal)

    # the outer recording: the agent's whole terminal, with a marker per command id
    cast = [json.loads(line) for line in terminal.read_text().splitlines()]
    assert cast[0]["version"] == 2
    markers = [e[2] for e in cast[1:] if e[1] == "m"]
    assert markers == [e["command"] for e in lines]
    played = subprocess.run([sys.executable, "-m", "asciinema", "cat", str(terminal)], capture_output=True,
                            text=True, timeout=60)
    assert played.returncode == 0 and "[3] status=0 out=second zero" in played.stdout.replace("\r\n", "\n")
    # the per-command recording has the same command ids
    inner = [json.loads(line) for line in (state / f"{session}.cast").read_text().splitlines()[1:]]
    assert [e[2] for e in inner if e[1] == "m"] == markers
    assert not Path(launch["shim"]).exists()  # the shim directory goes with the launcher


def test_launch_needs_a_command(run_agentsh) -> None:  # type: ignore[no-untyped-def]
    result = run_agentsh("launch", "--", "no-such-agent-program-xyz")
    assert result.returncode == 2 and "command not found" in result.stderr
    assert os.path.isdir(REPO / "agentsh" / "adapters")
