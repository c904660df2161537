"""Red-team outcome tests of the interactive shell: what agentsh itself does around the lines
(its line editor, the state carried between lines, the terminal), driven over a real PTY."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pexpect
import pytest

from agentsh.policy import Decision
from tests.conftest import failing_syscalls_runner, run_line, start_shell, write_profile
from tests.test_parse_locale import GBK, needs_gbk, plants_under_bash_not_agentsh


def _end(child: pexpect.spawn) -> str:
    child.sendline("exit")
    child.expect(pexpect.EOF)
    child.close()
    return child.before


@pytest.mark.skipif(not (shutil.which("tic") and shutil.which("infocmp")), reason="needs ncurses' tic and infocmp")
def test_a_terminal_description_in_home_is_not_used_by_agentsh(home: Path, workspace: Path, tmp_path: Path,
                                                                agentsh_env: dict[str, str]) -> None:
    """ncurses looks in ~/.terminfo before the system's directories, at readline's start in
    agentsh itself: a description planted for the agent's own TERM had readline write its
    strings (here its clear-to-end-of-line) to the agent's terminal, unrecorded."""
    source = subprocess.run(["infocmp", "xterm"], capture_output=True, text=True, check=True).stdout
    planted = tmp_path / "xterm.src"
    planted.write_text(source.replace("el=\\E[K,", "el=PLANTED-EL,"))
    assert "PLANTED-EL" in planted.read_text()
    subprocess.run(["tic", "-o", str(home / ".terminfo"), str(planted)], check=True, capture_output=True)
    child = start_shell(["-i"], workspace, dict(agentsh_env, TERM="xterm"))
    child.send("abc")
    child.sendcontrol("u")  # readline clears the line with `el`
    seen = run_line(child, "echo next") + _end(child)
    assert "PLANTED-EL" not in seen


def test_inputrc_the_agent_writes_is_not_read_by_agentsh(home: Path, agentsh_env: dict[str, str]) -> None:
    """readline read ~/.inputrc at agentsh's start, in agentsh itself: a line (workspace = $HOME)
    appended `$include ~/.ssh/id_rsa`, and the next session printed the key's lines in
    readline's errors, unchecked and unrecorded."""
    (home / ".inputrc").write_text("set bell-style none\n")  # an existing file: Landlock lets it be written
    env = dict(agentsh_env)
    env.pop("INPUTRC", None)
    first = start_shell(["-i"], home, env)
    out = run_line(first, r"printf '$include ~/.ss%s/id_rsa\n' h >> ~/.inputrc")
    assert "denied" not in out
    _end(first)
    assert "$include ~/.ssh/id_rsa" in (home / ".inputrc").read_text()  # the write went through
    second = start_shell(["-i"], home, env)
    seen = second.before + run_line(second, "echo next") + _end(second)
    assert "SECRET-KEY-BYTES" not in seen


def test_posix_mode_by_assignment_is_refused(decide: Callable[..., Decision]) -> None:
    """Assigning POSIXLY_CORRECT turns bash's posix mode on (as the refused `set -o posix`), where an
    assignment before a special builtin stays in the shell: `LC_ALL=zh_CN.GBK :` then switched
    the charset bash read the next line in, past the locale check."""
    for line in ("POSIXLY_CORRECT=1", "export POSIXLY_CORRECT=y", "read POSIXLY_CORRECT <<< 1",
                 ": ${POSIXLY_CORRECT:=1}", "POSIXLY_CORRECT=1 ls"):
        assert decide(line).decision == "deny", line


@needs_gbk
def test_posix_mode_cannot_switch_the_charset(workspace: Path,
                                              run_agentsh: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    plants_under_bash_not_agentsh(f"POSIXLY_CORRECT=1\nLC_ALL={GBK} :\necho x €\\> .git/hooks/pre-commit",
                                  workspace, run_agentsh)


def test_the_prompt_is_recorded_when_ctrl_c_or_ctrl_d_ends_it(home: Path, workspace: Path,
                                                              agentsh_env: dict[str, str]) -> None:
    """The agent saw the prompt before it pressed Ctrl-C or Ctrl-D; the recording had only `^C`."""
    child = start_shell(["-i"], workspace, agentsh_env)
    child.sendline("PS1='MARK-$((6*7))> '")
    child.expect("MARK-42> ")
    child.sendintr()
    child.expect("MARK-42> ")
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    [cast] = home.glob(".local/state/agentsh/**/*.cast")
    shown = "".join(json.loads(line)[2] for line in cast.read_text().splitlines()[1:] if json.loads(line)[1] == "o")
    assert "MARK-42> ^C\r\nMARK-42> exit\r\n" in shown, shown


def test_ctrl_c_ends_a_stopped_line_in_guardrail_mode(tmp_path: Path, workspace: Path,
                                                      agentsh_env: dict[str, str]) -> None:
    """`kill -STOP $$` stopped the line's bash; with no exec guard to resume it, the SIGINT of
    Ctrl-C stayed pending and the session hung for good."""
    profile = write_profile(tmp_path, "stopper", "agentsh: 1\nname: stopper\nextends: [default]\n"
                                                 "commands:\n  - {name: k, run: [kill], decision: allow}\n")
    runner = tmp_path / "guardrail.py"
    runner.write_text(failing_syscalls_runner((101, 444, 445, 446), 1))  # no ptrace, no Landlock
    child = pexpect.spawn(sys.executable, [str(runner), "-i", "-p", str(profile)], cwd=str(workspace),
                          env=dict(agentsh_env, AGENTSH_WARM="0"), dimensions=(30, 100), encoding="utf-8", timeout=20)
    prompt = r"agentsh\(stopper\):[^\r\n]*\$ "
    child.expect(prompt)
    child.sendline("kill -STOP $$; sleep 30")
    child.expect("running without it")  # the guardrail warning: the line has started
    deadline = time.monotonic() + 20
    while not _stopped_below(child.pid, b"kill -STOP") and time.monotonic() < deadline:
        time.sleep(0.05)
    child.sendintr()
    child.expect(prompt)
    child.sendline("echo alive")
    child.expect("alive")
    child.close(force=True)


def _stopped_below(pid: int, marker: bytes) -> bool:
    """Is a descendant of pid whose command line holds marker stopped (the line's bash runs below
    a guard process that could not trace; a pre-exec child may be stopped for other reasons)?"""
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            for kid in (task / "children").read_text().split():
                with contextlib.suppress(OSError):
                    state = Path(f"/proc/{kid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                    if state == "T" and marker in Path(f"/proc/{kid}/cmdline").read_bytes():
                        return True
                if _stopped_below(int(kid), marker):
                    return True
    return False


def _gbk_env(agentsh_env: dict[str, str]) -> dict[str, str]:
    """agentsh in a GBK locale: it decodes lines as GBK, as bash then reads them."""
    env = {k: v for k, v in agentsh_env.items() if not k.startswith(("LC_", "LANG", "PYTHONUTF8"))}
    return dict(env, LC_ALL=GBK or "", LANG="C.UTF-8", AGENTSH_WARM="0")


# GBK reads 0x95 0x5C as one character; UTF-8 reads a stray byte and a backslash, which escapes
# the quote after it: what the checker (GBK) saw as one quoted word, bash (UTF-8) runs as three
# commands, the middle one a builtin's redirection (no exec for the guard to stop).
HIDDEN = b"echo \x95\x5c'; echo pwned > .git/hooks/pre-commit; echo \x95\x5c'"


@needs_gbk
def test_a_forged_state_report_cannot_switch_the_next_lines_charset(tmp_path: Path, workspace: Path,
                                                                   agentsh_env: dict[str, str]) -> None:
    """The EXIT trap's report of cwd and passed variables comes back on a pipe the line can write
    to: `printf 'set:LC_ALL=C.UTF-8\\0' >&FD; kill -9 $$` (no trap) handed the next line's bash
    a UTF-8 locale under a GBK agentsh, past the check `export LC_ALL=...` gets."""
    hook = workspace / ".git" / "hooks" / "pre-commit"
    hook.parent.mkdir(parents=True)
    profile = write_profile(tmp_path, "killer", "agentsh: 1\nname: killer\nextends: [default]\n"
                                                "commands:\n  - {name: k, run: [kill], decision: allow}\n")
    child = pexpect.spawn(sys.executable, ["-m", "agentsh", "-i", "-p", str(profile)], cwd=str(workspace),
                          env=_gbk_env(agentsh_env), dimensions=(30, 100), timeout=20)
    prompt = rb"agentsh\(killer\):[^\r\n]*\$ "
    child.expect(prompt)
    child.sendline(b"ls -l /proc/$$/fd")
    child.expect(prompt)
    [fd] = [line.split()[-3] for line in child.before.splitlines() if b"pipe:" in line and line.startswith(b"l-wx")]
    child.sendline(rb"printf 'set:LC_ALL=C.UTF-8\0' >&" + fd + rb"; kill -9 $$")
    child.expect(prompt)
    child.sendline(HIDDEN)
    child.expect(prompt)
    child.close(force=True)
    assert not hook.exists()


@needs_gbk
def test_unset_cannot_switch_the_charset_under_gbk(workspace: Path, agentsh_env: dict[str, str]) -> None:
    hook = workspace / ".git" / "hooks" / "pre-commit"
    hook.parent.mkdir(parents=True)
    result = subprocess.run([sys.executable, "-m", "agentsh", "-c", b"unset LC_ALL\n" + HIDDEN], cwd=workspace,
                            env=_gbk_env(agentsh_env), capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
    assert result.returncode == 126, result
    assert not hook.exists()
