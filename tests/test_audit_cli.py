"""`agentsh audit verify|show|search`, search filters, and forwarding to a real syslog socket as RFC 5424."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from agentsh.audit.key import load_key
from agentsh.audit.log import AuditError, open_audit_log
from agentsh.audit.query import search
from tests.conftest import REPO

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def audit_log(home: Path) -> Path:
    """A log in the default place, signed with the default key file of this HOME."""
    environ = {"HOME": str(home)}
    key, _ = load_key(environ, use_keyring=False)
    path = home / ".local" / "state" / "agentsh" / "audit.jsonl"
    identity = {"user": "dev", "uid": 1000, "agent": "claude-code", "host": "h"}
    with open_audit_log(str(path), key) as log:
        log.write("session_start", session="s1", identity=identity)
        log.write("decision", session="s1", line="ls", decision="allow", rule="tools", identity=identity)
        log.write("decision", session="s1", line="rm -rf /", decision="deny", rule="", identity=identity)
        log.write("session_start", session="s2", identity=dict(identity, user="ops", agent="codex"))
        log.write("decision", session="s2", line="git push", decision="allow", rule="git", identity=identity,
                  credentials=["GITHUB_TOKEN"])
        log.write("command_end", session="s2", exit=0, duration_ms=3.5)
    return path


@pytest.fixture
def cli_env(agentsh_env: dict[str, str]) -> dict[str, str]:
    # No keyring backend: the CLI finds the key file (and never waits on a desktop keyring).
    return dict(agentsh_env, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")


def test_verify_clean_log(run_agentsh: Run, audit_log: Path, cli_env: dict[str, str]) -> None:
    result = run_agentsh("audit", "verify", env=cli_env)
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout and "6 events" in result.stdout
    result = run_agentsh("audit", "verify", str(audit_log), "--json", "--no-keyring", env=cli_env)
    assert json.loads(result.stdout) == {"file": str(audit_log), "ok": True, "events": 6, "first_bad": None,
                                         "reason": ""}


def test_verify_broken_log_exit_1_with_seq_and_reason(run_agentsh: Run, audit_log: Path, cli_env: dict[str, str]) -> None:
    content = audit_log.read_bytes().splitlines(keepends=True)
    content[2] = content[2].replace(b'"decision":"deny"', b'"decision":"allow"')
    audit_log.write_bytes(b"".join(content))
    result = run_agentsh("audit", "verify", str(audit_log), env=cli_env)
    assert result.returncode == 1
    assert "seq 3" in result.stdout and "edited" in result.stdout


@pytest.mark.parametrize("head", [None, b""])
def test_verify_says_when_the_head_is_missing_or_empty(head: bytes | None, run_agentsh: Run, audit_log: Path,
                                                      cli_env: dict[str, str]) -> None:
    """A refused write can leave an empty head; verify said 'the head file records more'."""
    head_file = audit_log.with_name(audit_log.name + ".head")
    if head is None:
        head_file.unlink()
    else:
        head_file.write_bytes(head)
    result = run_agentsh("audit", "verify", str(audit_log), env=cli_env)
    assert result.returncode == 1
    assert "truncated" in result.stdout and "missing or empty" in result.stdout, result.stdout


def test_verify_with_another_key_file(run_agentsh: Run, audit_log: Path, cli_env: dict[str, str], tmp_path: Path) -> None:
    other = tmp_path / "other.key"
    other.write_text("cd" * 32)
    other.chmod(0o600)
    result = run_agentsh("audit", "verify", str(audit_log), "--key-file", str(other), env=cli_env)
    assert result.returncode == 1
    assert "seq 1" in result.stdout and "wrong key" in result.stdout


def test_verify_usage_errors_exit_2(run_agentsh: Run, audit_log: Path, cli_env: dict[str, str], tmp_path: Path) -> None:
    assert run_agentsh("audit", "verify", str(tmp_path / "none.jsonl"), env=cli_env).returncode == 2
    assert run_agentsh("audit", "verify", "--key-file", str(tmp_path / "none.key"), env=cli_env).returncode == 2
    assert run_agentsh("audit", "verify", "--bogus", env=cli_env).returncode == 2
    no_key = dict(cli_env, HOME=str(tmp_path))
    result = run_agentsh("audit", "verify", str(audit_log), env=no_key)
    assert result.returncode == 2 and "no audit key" in result.stderr


def test_show_and_search(run_agentsh: Run, audit_log: Path, cli_env: dict[str, str]) -> None:
    result = run_agentsh("audit", "show", env=cli_env)
    assert result.returncode == 0
    assert len(result.stdout.splitlines()) == 6 and "rm -rf /" in result.stdout
    result = run_agentsh("audit", "search", "--decision", "deny", "--json", env=cli_env)
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["seq"] for e in events] == [3]
    result = run_agentsh("audit", "search", str(audit_log), "--session", "s2", "--kind", "decision", "--kind",
                         "command_end", "--json", env=cli_env)
    assert [json.loads(line)["seq"] for line in result.stdout.splitlines()] == [5, 6]
    result = run_agentsh("audit", "show", "--user", "codex", "--json", env=cli_env)
    assert [json.loads(line)["seq"] for line in result.stdout.splitlines()] == [4]
    result = run_agentsh("audit", "show", "--last", "2", "--json", env=cli_env)
    assert [json.loads(line)["seq"] for line in result.stdout.splitlines()] == [5, 6]
    assert run_agentsh("audit", "search", env=cli_env).returncode == 2  # a search needs a filter
    assert run_agentsh("audit", "search", "--since", "yesterday-ish", env=cli_env).returncode == 2


def test_show_escapes_terminal_control_characters(run_agentsh: Run, home: Path, cli_env: dict[str, str]) -> None:
    key, _ = load_key({"HOME": str(home)}, use_keyring=False)
    path = home / "esc.jsonl"
    with open_audit_log(str(path), key) as log:
        log.write("line", line="printf '\x1b]0;owned\x07'")
    result = run_agentsh("audit", "show", str(path), env=cli_env)
    assert "\x1b" not in result.stdout and "\\u001b" in result.stdout


def test_search_filters(audit_log: Path) -> None:
    path = str(audit_log)
    assert [e["seq"] for e in search(path, rule="tools")] == [2]
    assert [e["seq"] for e in search(path, user="ops")] == [4]
    assert [e["seq"] for e in search(path, session="s1", decision="allow")] == [2]
    assert [e["seq"] for e in search(path, since="1h")] == [1, 2, 3, 4, 5, 6]
    assert list(search(path, until="1h")) == []
    times = [e["time"] for e in search(path)]
    assert [e["seq"] for e in search(path, since=times[2], until=times[4])] == [3, 4]
    assert [e["seq"] for e in search(path, since="2000-01-01", until="2999-01-01T00:00Z", kind="session_start")] == [1, 4]
    with pytest.raises(ValueError):
        list(search(path, since="soon"))


# --- forwarding to syslog -------------------------------------------------------------------------------------

RFC5424 = re.compile(r"<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<pid>\S+) (?P<msgid>\S+) "
                     r"(?P<sd>-|(?:\[[^\]]*\])+) (?P<msg>.*)\Z", re.S)


def parse_5424(datagram: bytes) -> dict[str, str]:
    match = RFC5424.match(datagram.decode("utf-8"))
    assert match, datagram
    return match.groupdict()


def test_forwarding_to_a_udp_syslog_server(tmp_path: Path) -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(5)
    try:
        with open_audit_log(str(tmp_path / "audit.jsonl"), bytes(32), syslog=True,
                            syslog_address=server.getsockname()) as log:
            event = log.write("decision", session="s1", line="rm -rf /", decision="deny", rule="")
            allowed = log.write("line", session="s1", line="ls")
        first, second = parse_5424(server.recv(65536)), parse_5424(server.recv(65536))
    finally:
        server.close()
    assert first["pri"] == str(10 * 8 + 4)  # authpriv.warning for a denial
    assert second["pri"] == str(10 * 8 + 6)  # authpriv.info
    assert (first["app"], first["pid"], first["msgid"]) == ("agentsh", str(os.getpid()), "decision")
    assert first["ts"] == event["time"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", first["ts"])
    assert first["sd"] == '[agentsh@32473 seq="1"]'
    assert json.loads(first["msg"]) == event
    assert json.loads(second["msg"]) == allowed


def test_forwarding_to_a_unix_datagram_socket_and_surviving_its_loss(tmp_path: Path) -> None:
    address = str(tmp_path / "log.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(address)
    server.settimeout(5)
    log = open_audit_log(str(tmp_path / "audit.jsonl"), bytes(32), syslog=True, syslog_address=address)
    try:
        event = log.write("session_start", session="s9")
        got = parse_5424(server.recv(65536))
        assert got["pri"] == str(10 * 8 + 5) and got["msgid"] == "session_start"  # authpriv.notice
        assert json.loads(got["msg"]) == event
        server.close()
        os.unlink(address)
        # Syslog gone: the event is still in the file (the record), and the failure is reported, not raised.
        log.write("session_end", session="s9")
        assert log.forward_error
    finally:
        log.close()


def test_syslog_not_there_is_reported_not_fatal(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    # Like openlog(3): the file is the record, so a missing syslog socket does not stop agentsh;
    # the caller sees forward_error and can warn the admin.
    path = tmp_path / "audit.jsonl"
    with open_audit_log(str(path), bytes(32), syslog=True, syslog_address=str(tmp_path / "none")) as log:
        assert "cannot reach syslog" in log.forward_error
        log.write("line", line="ls")
        assert "cannot forward audit event to syslog" in log.forward_error
    assert len(path.read_bytes().splitlines()) == 1
    assert capfd.readouterr().err == ""  # no logging traceback in the agent's stderr
    with pytest.raises(AuditError, match="syslog"):
        open_audit_log(str(path), bytes(32), syslog=True, syslog_address=("no-such-host.invalid", 514))


def test_logging_and_keyring_are_not_imported_unless_asked(tmp_path: Path) -> None:
    code = (f"import sys; sys.path.insert(0, {str(REPO)!r})\n"
            "from agentsh.audit.log import open_audit_log\n"
            f"open_audit_log({str(tmp_path / 'a.jsonl')!r}, bytes(32)).write('line', line='ls')\n"
            "print(sorted(m for m in ('logging', 'keyring', 'socket', 'datetime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
