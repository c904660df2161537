"""`agentsh mcp` driven by the `mcp` package's own stdio client: the server is spawned as
an MCP host would spawn it, and every call must be checked, recorded and audited like
`agentsh -c`."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import mcp.client.stdio as mcp_client  # the test extra installs mcp: a missing package fails, never skips
import pytest
from mcp import Client

IGNORES_TERM = """\
import os, signal, subprocess, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen(["sleep", "60"])
open("pids", "w").write(f"{os.getpid()} {child.pid}")
print("started", flush=True)
time.sleep(60)
"""


def run_session(env: dict[str, str], cwd: Path, calls: list[dict[str, Any]], *options: str) -> tuple[Any, list[Any]]:
    """Start `python -m agentsh mcp`, list its tools, make the calls in order; (tools, results)."""
    params = mcp_client.StdioServerParameters(command=sys.executable, args=["-m", "agentsh", "mcp", *options],
                                              env=env, cwd=str(cwd))

    async def main() -> tuple[Any, list[Any]]:
        async with Client(params) as client:
            tools = await client.list_tools()
            return tools, [await client.call_tool("run_command", args) for args in calls]

    return anyio.run(main)


def audit_events(home: Path) -> list[dict[str, Any]]:
    path = home / ".local" / "state" / "agentsh" / "audit.jsonl"
    return [json.loads(line[:line.rindex(',"mac":')] + "}") for line in path.read_text().splitlines()]


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie no one reaped yet
    except FileNotFoundError:
        return True


def test_run_command_checked_recorded_and_audited(agentsh_env: dict[str, str], workspace: Path, home: Path,
                                                  tmp_path: Path) -> None:
    (workspace / "sub").mkdir()
    (workspace / "ignores_term.py").write_text(IGNORES_TERM)
    calls = [
        {"command": "echo out-$((6*7)); echo err-text >&2; exit 3"},
        {"command": "touch canary && curl -s https://example.com"},
        {"command": "cat > copied.txt; wc -c copied.txt", "stdin": "typed into stdin\n"},
        {"command": "cat"},  # no stdin given: end of file at once, never the server's own stdin
        {"command": "pwd", "cwd": "sub"},
        {"command": "ls", "cwd": str(home / ".ssh")},
        {"command": "python3 ignores_term.py", "timeout_ms": 1500},
        {"command": "ls", "shell": "zsh"},
        {"command": "yes | head -c 3000000"},
    ]
    started = time.monotonic()
    tools, results = run_session(agentsh_env, workspace, calls)
    elapsed = time.monotonic() - started

    [tool] = tools.tools
    assert tool.name == "run_command" and tool.input_schema["required"] == ["command"]
    assert set(tool.input_schema["properties"]) == {"command", "cwd", "timeout_ms", "stdin"}
    out = [r.structured_content for r in results[:7]]

    assert out[0] == {"exit_code": 3, "stdout": "out-42\n", "stderr": "err-text\n", "timed_out": False}
    assert not results[0].is_error and "exit code: 3" in results[0].content[0].text

    assert out[1]["exit_code"] == 126 and results[1].is_error and out[1]["stdout"] == ""
    assert "curl -s https://example.com: the default profile has no network access (rule no-network)" in out[1]["stderr"]
    assert not (workspace / "canary").exists()  # a refused line runs nothing, not even its allowed part

    assert out[2]["exit_code"] == 0 and out[2]["stdout"] == "17 copied.txt\n"
    assert (workspace / "copied.txt").read_text() == "typed into stdin\n"
    assert out[3] == {"exit_code": 0, "stdout": "", "stderr": "", "timed_out": False}
    assert out[4]["stdout"] == f"{workspace / 'sub'}\n"

    assert out[5]["exit_code"] == 126 and "working directory is not readable" in out[5]["stderr"]

    assert out[6]["timed_out"] and out[6]["exit_code"] == 124 and results[6].is_error
    assert out[6]["stdout"] == "started\n" and "timed out after 1500 ms" in out[6]["stderr"]
    python_pid, sleep_pid = map(int, (workspace / "pids").read_text().split())
    assert gone(python_pid) and gone(sleep_pid)  # SIGTERM ignored: SIGKILL took the whole group
    assert elapsed < 30  # not the 60 s the command wanted

    assert results[7].is_error and "unknown argument(s): shell" in results[7].content[0].text
    big = results[8].structured_content["stdout"]
    assert big.startswith("y\ny\n") and len(big) < 1_100_000  # at most 1 MiB per stream, then a note
    assert big.endswith(f"[agentsh: {3_000_000 - (1 << 20)} more bytes not shown; the recording has them]\n")

    events = audit_events(home)
    session = events[0]["session"]
    assert events[0]["kind"] == "session_start" and events[0]["command"] == "agentsh mcp"
    assert events[-1]["kind"] == "session_end" and events[-1]["commands"] == 8
    assert {e["session"] for e in events} == {session}
    lines = [e["line"] for e in events if e["kind"] == "line"]
    assert lines == [c["command"] for c in calls[:5]] + ["python3 ignores_term.py", calls[8]["command"]]  # not the bad cwd
    decisions = [(e["line"], e["decision"]) for e in events if e["kind"] == "decision"]
    assert ("touch canary && curl -s https://example.com", "deny") in decisions
    assert ("ls", "deny") in decisions and all(e["identity"]["agent"] == "mcp" for e in events)
    assert [e["status"] for e in events if e["kind"] == "command_end"] == [3, 0, 0, 0, 137, 0]
    assert any(e["kind"] == "error" and e["what"] == "timeout" for e in events)

    [recording] = (home / ".local" / "state" / "agentsh").glob("*.cast")
    assert recording.name == f"{session}.cast"
    cast = recording.read_text()
    assert json.loads(cast.splitlines()[0])["command"] == "agentsh mcp"
    for text in ("out-42", "err-text", "17 copied.txt", "no network access", "started"):
        assert text in cast


def test_profile_path_relative_to_the_server(agentsh_env: dict[str, str], workspace: Path, home: Path) -> None:
    (workspace / "sub").mkdir()
    (workspace / "only-date.yaml").write_text(
        "agentsh: 1\nname: only-date\nextends: [base]\ncommands: [{name: date, run: date, decision: allow}]\n")
    _, results = run_session(agentsh_env, workspace, [{"command": "date +%Y", "cwd": "sub"},
                                                      {"command": "ls", "cwd": "sub"}], "-p", "only-date.yaml")
    assert results[0].structured_content["exit_code"] == 0
    assert results[1].structured_content["exit_code"] == 126
    assert {e["profile"] for e in audit_events(home) if e["kind"] == "decision"} == {str(workspace / "only-date.yaml")}
    assert os.path.isdir(workspace / "sub")


def test_agentsh_kill_ends_the_server_with_session_end(agentsh_env: dict[str, str], workspace: Path,
                                                       home: Path, run_agentsh) -> None:  # type: ignore[no-untyped-def]
    params = mcp_client.StdioServerParameters(command=sys.executable, args=["-m", "agentsh", "mcp"],
                                              env=agentsh_env, cwd=str(workspace))

    async def main() -> str:
        async with Client(params) as client:
            await client.call_tool("run_command", {"command": "true"})
            [live] = json.loads(run_agentsh("sessions", "--live", "--json").stdout)
            assert run_agentsh("kill", live["session"]).returncode == 0
            with pytest.raises(Exception, match="Connection closed"):
                await client.call_tool("run_command", {"command": "touch after-kill"})
            return str(live["session"])

    session = anyio.run(main)
    assert not (workspace / "after-kill").exists()
    kinds = [e["kind"] for e in audit_events(home) if e["session"] == session]
    assert sorted(kinds[-2:]) == ["kill", "session_end"]  # `kill` audits after signalling: either may be first


def test_modules_in_the_workspace_never_load_into_the_calls_agentsh(agentsh_env: dict[str, str], workspace: Path,
                                                                     home: Path) -> None:
    """A call writes json.py (and the like) into its working directory, as any allowed line may; the
    next call's `agentsh -c` is a Python process started there, which must not import it: that code
    would run before any check, outside the exec guard and Landlock."""
    plant = "; ".join(f"printf 'open(\"CANARY-{name}\", \"w\")\\n' > {name}.py"
                      for name in ("json", "shlex", "yaml", "select", "termios", "ctypes", "fnmatch"))
    nul = [{"command": "echo a\0; touch CANARY-nul"}, {"command": "touch CANARY-nul-cwd", "cwd": "sub\0"}]
    _, results = run_session(agentsh_env, workspace, [{"command": plant}, {"command": "echo checked"}, *nul])
    assert results[0].structured_content["exit_code"] == 0 and (workspace / "json.py").exists()
    assert results[1].structured_content["stdout"] == "checked\n"
    assert not list(workspace.glob("CANARY-*"))
    for result in results[2:]:  # a NUL no argv or path can hold: an error result, not a handler's traceback
        assert result.is_error and "must not contain a NUL character" in result.content[0].text
