"""`agentsh mcp`: an MCP server on stdio with one tool, `run_command`.

The server process is one agentsh session: it opens the session's recording, writes
session_start and session_end, and is listed by `agentsh sessions --live`.  Each call
runs the line through `agentsh -c` in a child process joined to that session (through
AGENTSH_SESSION), so it is parsed, decided, approved, run, recorded and audited by the
very code path an agent's shell uses, and appends to the same recording.

A child rather than Session.run_line in this process, because: the server's own stdin
and stdout carry the MCP protocol (a command must not inherit them); the runner
forwards signals, which Python allows only on the main thread while calls arrive on
worker threads; and a timed-out call must be killable without killing the server.

The `mcp` package is imported only here (pip install 'agentsh[mcp]').
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

from ..errors import EXIT_DENIED, AgentshError

TOOL_NAME = "run_command"
MAX_OUTPUT = 1 << 20  # bytes of each stream returned to the client; the recording has the rest
MAX_STDIN = 16 << 20
KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL for a timed-out command
EXIT_TIMEOUT = 124  # what timeout(1) returns, familiar to agents
# Runs agentsh's own entry point in the child, from the same source as this server, named
# "agentsh" (not "-c", which would look like a login shell).
CHILD_PROGRAM = ("import sys; sys.path.insert(0, {root!r}); from agentsh.main import main; "
                 "sys.exit(main(sys.argv[1:], 'agentsh'))")

INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "command": {"type": "string", "description": "A bash command line, as for `bash -c`."},
        "cwd": {"type": "string", "description": "Working directory (default: the server's); "
                                                 "must be readable under the profile."},
        "timeout_ms": {"type": "integer", "minimum": 1,
                       "description": "Kill the command's process group after this many milliseconds."},
        "stdin": {"type": "string", "description": "Text given to the command on standard input "
                                                   "(default: none, end of file)."},
    },
    "required": ["command"],
    "additionalProperties": False,
}
OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "exit_code": {"type": "integer"},
        "stdout": {"type": "string"},
        "stderr": {"type": "string"},
        "timed_out": {"type": "boolean"},
    },
    "required": ["exit_code", "stdout", "stderr", "timed_out"],
}
DESCRIPTION = ("Run a bash command line under agentsh. The whole line is checked against the admin's "
               "profile before anything runs; a refused line runs nothing and returns exit code 126 "
               "with the reason on stderr. Every call is recorded and audited.")


class CommandResult(NamedTuple):
    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool = False

    def as_dict(self) -> dict[str, Any]:
        return self._asdict()

    def as_text(self) -> str:
        parts = [f"exit code: {self.exit_code}"]
        for name, text in (("stdout", self.stdout), ("stderr", self.stderr)):
            if text:
                parts.append(f"--- {name} ---\n{text.rstrip(chr(10))}")
        return "\n".join(parts)


class CommandServer:
    """One agentsh session serving run_command calls."""

    def __init__(self, profile_spec: str | None, environ: Mapping[str, str] | None = None) -> None:
        from ..session import session_from_environ, user_name
        from ..sysconfig import profile_for

        self.requested = profile_spec
        self.session = session_from_environ(profile_for(profile_spec, user_name()), title_command="agentsh mcp")
        self.environ = dict(self.session.config.environ if environ is None else environ)
        self._lock = threading.Lock()  # the session's trail is shared by the calls' threads

    def start(self) -> None:
        """Open the recording and write session_start (raises AuditError if it cannot)."""
        problem = self.session.recording.problem()
        if problem:
            raise AgentshError(problem)
        self.session.begin()

    def close(self) -> None:
        self.session.close(0)

    def child_argv(self, command: str) -> list[str]:
        from ..warm.wire import interpreter_flags

        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        # `python -c` puts its working directory, the call's cwd, first on sys.path: a json.py a
        # line left there would run in this child before any check. -P (or this server's -I)
        # leaves it out.
        argv = [sys.executable, *interpreter_flags(), "-c", CHILD_PROGRAM.format(root=root)]
        spec = self.requested
        if spec is not None:
            if "/" in spec or spec.endswith((".yaml", ".yml")):  # a path: the child runs elsewhere
                spec = os.path.join(self.session.config.cwd, os.path.expanduser(spec))
            argv += ["-p", spec]
        return [*argv, "-c", command]

    def child_environ(self) -> dict[str, str]:
        env = dict(self.environ)
        env["AGENTSH_SESSION"] = self.session.session_id
        return env

    def refuse(self, command: str, cwd: str, reason: str) -> CommandResult:
        """A call refused before `agentsh -c` runs: audited here, nothing runs."""
        from ..audit.log import AuditError

        text = f"agentsh: denied: {reason}\n"
        try:
            with self._lock:
                self.session.trail.write("decision", via="mcp", line=command, cwd=cwd, decision="deny", rule="",
                                         reason=reason, profile=self.session.profile.source,
                                         profile_sha256=self.session.profile.sha256)
        except AuditError as err:
            text += f"agentsh: cannot write the audit trail: {err}\n"
        return CommandResult(EXIT_DENIED, "", text)

    def run(self, command: str, cwd: str | None = None, timeout_ms: int | None = None,
            stdin: str | None = None) -> CommandResult:
        from .hooks import cwd_problem

        with self._lock:
            self.session.next_command_id()  # counts every call for session_end; agentsh -c names the command
        where = os.path.normpath(os.path.join(self.session.config.cwd, os.path.expanduser(cwd or ".")))
        problem = cwd_problem(where, self.session.policy)
        if problem:
            return self.refuse(command, where, problem)
        data = (stdin or "").encode("utf-8", "surrogateescape")
        if len(data) > MAX_STDIN:
            return self.refuse(command, where, f"stdin is larger than {MAX_STDIN >> 20} MiB")
        proc = subprocess.Popen(self.child_argv(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=where, env=self.child_environ(),
                                start_new_session=True)
        deadline = time.monotonic() + timeout_ms / 1000 if timeout_ms else None
        out, err, timed_out = relay(proc, data, deadline)
        status = proc.wait()
        status = 128 - status if status < 0 else status
        stderr = err.decode("utf-8", "replace")
        if timed_out:
            status = EXIT_TIMEOUT
            stderr += f"agentsh: timed out after {timeout_ms} ms; the command's process group was killed\n"
            self._audit_timeout(command, where, timeout_ms)
        return CommandResult(status, out.decode("utf-8", "replace"), stderr, timed_out)

    def _audit_timeout(self, command: str, cwd: str, timeout_ms: int | None) -> None:
        from ..audit.log import AuditError

        try:
            with self._lock:
                self.session.trail.write("error", via="mcp", what="timeout", line=command, cwd=cwd,
                                         timeout_ms=timeout_ms)
        except AuditError:
            pass  # the command is already over; agentsh -c audited its end


class _Capture:
    """At most MAX_OUTPUT bytes of one stream, and how many more were dropped."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        room = MAX_OUTPUT - len(self.data)
        self.data += chunk[:room]
        self.dropped += max(0, len(chunk) - room)

    def result(self) -> bytes:
        note = f"\n[agentsh: {self.dropped} more bytes not shown; the recording has them]\n" if self.dropped else ""
        return bytes(self.data) + note.encode()


def relay(proc: subprocess.Popen[bytes], stdin: bytes, deadline: float | None) -> tuple[bytes, bytes, bool]:
    """Feed stdin, collect stdout and stderr, wait for the end; stop the command at the deadline.

    After the deadline the command's process group gets SIGTERM and KILL_GRACE seconds to
    end (output is still read meanwhile, so agentsh -c can finish and audit the command's
    end), then SIGKILL.
    """
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    threading.Thread(target=_feed, args=(proc.stdin, stdin), daemon=True).start()
    captures = {proc.stdout.fileno(): _Capture(), proc.stderr.fileno(): _Capture()}
    order = list(captures)
    timed_out = False
    groups: set[int] = set()  # the command's process groups, remembered once bash is gone
    with selectors.DefaultSelector() as selector:
        for fd in captures:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            ready = selector.select(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if not ready and deadline is not None and time.monotonic() >= deadline:
                if timed_out:
                    break  # the grace is over and something still holds the pipes open
                timed_out, deadline = True, time.monotonic() + KILL_GRACE
                signal_command(proc, signal.SIGTERM, groups)
                continue
            for key, _ in ready:
                chunk = os.read(key.fd, 65536)
                if chunk:
                    captures[key.fd].add(chunk)
                else:
                    selector.unregister(key.fd)
    proc.stdout.close()
    proc.stderr.close()
    try:
        proc.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        if not timed_out:  # the command closed its output but kept running past the deadline
            timed_out = True
            signal_command(proc, signal.SIGTERM, groups)
            try:
                proc.wait(KILL_GRACE)
            except subprocess.TimeoutExpired:
                pass
    if timed_out or proc.poll() is None:  # whatever is left of the command, background jobs too
        signal_command(proc, signal.SIGKILL, groups)
        try:
            proc.wait(KILL_GRACE)  # agentsh -c sees its command killed and audits command_end
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return captures[order[0]].result(), captures[order[1]].result(), timed_out


def _feed(pipe: Any, data: bytes) -> None:
    try:
        if data:
            pipe.write(data)
    except (BrokenPipeError, ValueError):
        pass  # the command does not read its input: as with a shell pipe
    finally:
        try:
            pipe.close()
        except (BrokenPipeError, ValueError):
            pass


def signal_command(proc: subprocess.Popen[bytes], sig: int, groups: set[int]) -> None:
    """Signal the command's process groups (bash leads one, a child of the `agentsh -c`
    process; `groups` keeps those seen before); with no command running yet (say, waiting
    for approval), agentsh itself."""
    groups.update(command_groups(proc.pid))
    for pid in groups:
        try:
            os.killpg(pid, sig)
        except OSError:
            pass
    if not groups:
        try:
            os.killpg(proc.pid, sig)  # agentsh's own group (start_new_session)
        except OSError:
            pass


def command_groups(pid: int) -> list[int]:
    """Process groups led by the children of `pid` (agentsh runs each command's bash as one)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
            children = [int(word) for word in handle.read().split()]
    except (OSError, ValueError):
        return []
    groups = []
    for child in children:
        try:
            if os.getpgid(child) == child:
                groups.append(child)
        except OSError:
            continue
    return groups


def call_arguments(arguments: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check the call's arguments against INPUT_SCHEMA (clients do not always)."""
    args = dict(arguments or {})
    unknown = set(args) - set(INPUT_SCHEMA["properties"])
    if unknown:
        raise ValueError(f"unknown argument(s): {', '.join(sorted(unknown))}")
    if not isinstance(args.get("command"), str):
        raise ValueError("command must be a string")
    for name in ("cwd", "stdin"):
        if args.get(name) is not None and not isinstance(args[name], str):
            raise ValueError(f"{name} must be a string")
    for name in ("command", "cwd"):  # no argv or path can hold one: refused here, not a traceback later
        if "\0" in (args.get(name) or ""):
            raise ValueError(f"{name} must not contain a NUL character")
    timeout = args.get("timeout_ms")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1):
        raise ValueError("timeout_ms must be a positive integer")
    return args


def serve(profile_spec: str | None) -> int:
    """Serve MCP on stdin/stdout until the client closes it."""
    try:
        import anyio
        import mcp_types as types
        from mcp.server import Server
        from mcp.server.stdio import stdio_server
    except ImportError:
        sys.stderr.write("agentsh mcp: needs the mcp package: pip install 'agentsh[mcp]'\n")
        return 2
    from .. import __version__
    from ..audit.log import AuditError

    os.environ.setdefault("AGENTSH_AGENT", "mcp")  # the audit trail's identity.agent, here and in the calls
    server = CommandServer(profile_spec)
    try:
        server.start()
    except AuditError as err:
        sys.stderr.write(f"agentsh mcp: cannot write the audit trail: {err}\n")
        server.close()
        return EXIT_DENIED

    async def list_tools(_ctx: Any, _params: Any) -> Any:
        return types.ListToolsResult(tools=[types.Tool(name=TOOL_NAME, description=DESCRIPTION,
                                                       input_schema=INPUT_SCHEMA, output_schema=OUTPUT_SCHEMA)])

    async def call_tool(_ctx: Any, params: Any) -> Any:
        if params.name != TOOL_NAME:
            return types.CallToolResult(content=[types.TextContent(type="text", text=f"unknown tool {params.name}")],
                                        is_error=True)
        try:
            args = call_arguments(params.arguments)
        except ValueError as err:
            return types.CallToolResult(content=[types.TextContent(type="text", text=f"agentsh: {err}")],
                                        is_error=True)
        result = await anyio.to_thread.run_sync(lambda: server.run(**args))
        return types.CallToolResult(content=[types.TextContent(type="text", text=result.as_text())],
                                    structured_content=result.as_dict(),
                                    is_error=result.exit_code == EXIT_DENIED or result.timed_out)

    app = Server("agentsh", version=__version__, instructions=DESCRIPTION,
                 on_list_tools=list_tools, on_call_tool=call_tool)

    async def main() -> None:
        async with stdio_server() as (read_stream, write_stream):
            await app.run(read_stream, write_stream, app.create_initialization_options())

    def terminated(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # `agentsh kill SESSION`: end cleanly, with session_end

    signal.signal(signal.SIGTERM, terminated)
    try:
        anyio.run(main)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0
