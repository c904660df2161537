"""The interactive shell, driven over a real PTY the way agent harnesses drive a shell."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from tests.conftest import run_line, start_shell, write_profile

PROFILE = """\
agentsh: 1
name: itest
extends: [base]
write: {{allow: ["{{workspace}}", "/tmp"]}}
env: {{pass: [GOOD_VAR]}}
record: {{dir: "{record}"}}
path: ["{bindir}", /usr/bin, /bin]
commands:
  - name: tools
    run: [ls, cat, sleep, stty, tput, python3, "yes"]
    decision: allow
"""
PROMPT = r"agentsh\(itest\):[^\r\n]*\$ "


@pytest.fixture
def record_dir(tmp_path: Path) -> Path:
    return tmp_path / "recordings"


@pytest.fixture
def shell(tmp_path: Path, workspace: Path, agentsh_env: dict[str, str], record_dir: Path) -> Iterator[pexpect.spawn]:
    profile = write_profile(tmp_path, "itest", PROFILE.format(record=record_dir, bindir=Path(sys.executable).parent))
    child = start_shell(["-i", "-p", str(profile)], workspace, agentsh_env)
    yield child
    child.close(force=True)


def test_allowed_and_denied_lines(shell: pexpect.spawn) -> None:
    assert "hello" in run_line(shell, "echo hello")
    out = run_line(shell, "curl http://127.0.0.1/")
    assert "agentsh: denied: curl http://127.0.0.1/:" in out
    assert "hi" in run_line(shell, "echo hi")  # a denial does not end the session


def test_cd_and_exports_persist_nothing_else_leaks(shell: pexpect.spawn, workspace: Path) -> None:
    (workspace / "sub").mkdir()
    run_line(shell, "cd sub")
    assert f"{workspace}/sub" in run_line(shell, "pwd")
    run_line(shell, "export GOOD_VAR=kept")
    assert "[kept]" in run_line(shell, 'echo "[$GOOD_VAR]"')
    run_line(shell, "plain=1; set -o noglob")
    out = run_line(shell, 'echo "[$plain]" "$-"')
    assert "[]" in out and "f" not in out.split("]")[-1]
    assert "denied" in run_line(shell, "cd ~/.ssh")
    assert f"{workspace}/sub" in run_line(shell, "pwd")


def test_ctrl_c_interrupts_the_command_not_the_shell(shell: pexpect.spawn) -> None:
    shell.sendline("sleep 30.25")
    # Interrupt once sleep runs: bash itself lets a SIGINT that lands between two of its
    # commands go by, with or without agentsh.
    deadline = time.monotonic() + 20
    while not _running("sleep\x0030.25\x00") and time.monotonic() < deadline:
        time.sleep(0.05)
    shell.sendintr()
    shell.expect(PROMPT, timeout=10)
    assert "still here" in run_line(shell, "echo still here")


def test_ctrl_c_reaches_a_command_that_never_stops_printing(shell: pexpect.spawn) -> None:
    # ^C typed while the output never pauses (test_stream.py checks the relay's side of this
    # with a relay slower than the command).
    shell.sendline("yes flood")
    shell.expect("flood\r\nflood", timeout=20, searchwindowsize=4096)
    time.sleep(0.5)  # let the PTY fill: the relay now always finds output waiting
    shell.sendintr()
    shell.expect(PROMPT, timeout=30, searchwindowsize=4096)
    assert "still here" in run_line(shell, "echo still here")


def _running(cmdline: str) -> bool:
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes() == cmdline.encode():
                return True
        except OSError:
            continue
    return False


def test_window_size_is_passed_and_followed(shell: pexpect.spawn) -> None:
    assert "30 100" in run_line(shell, "stty size")
    shell.setwinsize(40, 120)
    assert "40 120" in run_line(shell, "stty size")
    # Resize only once the command runs: a resize while the line is still being edited makes
    # the prompt redraw itself, which the PROMPT expectation below would take for the end.
    shell.sendline("echo started; sleep 1; stty size")
    shell.expect("\nstarted")
    shell.setwinsize(33, 90)  # while the command runs
    shell.expect(PROMPT)
    assert "33 90" in shell.before


def test_full_screen_program(shell: pexpect.spawn, workspace: Path) -> None:
    (workspace / "screen.py").write_text(
        "import curses\n"
        "def main(s):\n"
        "    s.addstr(5, 10, 'FULL SCREEN OK')\n"
        "    s.refresh()\n"
        "    s.getch()\n"
        "curses.wrapper(main)\n"
        "print('left screen')\n")
    shell.sendline("python3 screen.py")
    shell.expect("FULL SCREEN OK")
    shell.send("q")
    shell.expect("left screen")
    shell.expect(PROMPT)


def test_exit_and_ctrl_d_end_the_session(shell: pexpect.spawn) -> None:
    shell.sendline("exit 3")
    shell.expect(pexpect.EOF)
    shell.close()
    assert shell.exitstatus == 3


def test_ctrl_d(shell: pexpect.spawn) -> None:
    shell.sendeof()
    shell.expect(pexpect.EOF)
    shell.close()
    assert shell.exitstatus == 0


def test_session_is_recorded(shell: pexpect.spawn, record_dir: Path) -> None:
    run_line(shell, "echo recorded-output")
    run_line(shell, "curl http://127.0.0.1/")
    shell.setwinsize(25, 81)
    run_line(shell, "stty size")
    shell.sendline("exit")
    shell.expect(pexpect.EOF)
    [cast] = record_dir.glob("*.cast")
    assert cast.stat().st_mode & 0o777 == 0o600
    lines = cast.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["version"] == 2 and isinstance(header["timestamp"], int)
    assert header["title"].startswith("agentsh itest ")
    events = [json.loads(line) for line in lines[1:]]
    text = "".join(e[2] for e in events if e[1] == "o")
    assert "agentsh(itest):" in text and "echo recorded-output" in text and "recorded-output\r\n" in text
    assert "agentsh: denied: curl" in text
    assert sum(1 for e in events if e[1] == "m") == 3
    assert ["r", "81x25"] in [e[1:] for e in events]
    times = [e[0] for e in events]
    assert times == sorted(times)


def test_profile_edit_applies_at_the_next_line(shell: pexpect.spawn, tmp_path: Path) -> None:
    profile = tmp_path / "itest.yaml"
    assert "README.md" in run_line(shell, "ls")
    # An editor-style save: write a new file, rename it over the old one.
    edited = tmp_path / "itest.yaml.new"
    edited.write_text(profile.read_text().replace("run: [ls, cat,", "run: [cat,"))
    edited.rename(profile)
    time.sleep(0.5)
    out = run_line(shell, "ls")
    assert "reloaded" in out and "agentsh: denied: ls" in out
    assert "hi" in run_line(shell, "echo hi")


def test_broken_edit_keeps_last_good_and_deletion_fails_closed(shell: pexpect.spawn, tmp_path: Path) -> None:
    profile = tmp_path / "itest.yaml"
    good = profile.read_text()
    profile.write_text(good + "bogus_key: 1\n")
    time.sleep(0.5)
    out = run_line(shell, "ls")
    assert "edit was rejected" in out and "unknown key 'bogus_key'" in out and "README.md" in out
    profile.unlink()
    time.sleep(0.5)
    out = run_line(shell, "echo gone")
    assert "was deleted; every command is refused" in out and "\ngone" not in out
    profile.write_text(good)
    time.sleep(0.5)
    assert "back" in run_line(shell, "echo back")


def test_a_long_session_keeps_no_zombie_per_line(shell: pexpect.spawn) -> None:
    """Each line's exec guard closes the line's output before its own exit is over, so the
    line ends sooner; the session reaps that guard at a later line or at its end. A long
    interactive session must not keep one zombie per line."""
    zombies = []
    for _ in range(8):
        assert "ok" in run_line(shell, "echo ok")
        states = []
        for task in Path(f"/proc/{shell.pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                try:
                    states.append(Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0])
                except FileNotFoundError:
                    pass  # reaped meanwhile
        zombies.append(states.count("Z"))
    assert max(zombies) <= 1, zombies  # at most the last line's guard, still exiting
