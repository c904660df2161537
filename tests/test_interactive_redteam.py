"""Red-team outcome tests of the interactive shell: what agentsh itself does around the lines
(its line editor, the state carried between lines, the terminal), driven over a real PTY."""

from __future__ import annotations

import sys
from pathlib import Path

import pexpect

PROMPT = r"agentsh\(default\):[^\r\n]*\$ "


def _start(home: Path, cwd: Path, env: dict[str, str]) -> pexpect.spawn:
    child = pexpect.spawn(sys.executable, ["-m", "agentsh", "-i"], cwd=str(cwd), env=env,
                          dimensions=(30, 100), encoding="utf-8", timeout=20)
    child.expect(PROMPT)
    return child


def _run(child: pexpect.spawn, line: str) -> str:
    child.sendline(line)
    child.expect(PROMPT)
    return child.before.replace("\r\n", "\n")


def _end(child: pexpect.spawn) -> str:
    child.sendline("exit")
    child.expect(pexpect.EOF)
    child.close()
    return child.before


def test_inputrc_the_agent_writes_is_not_read_by_agentsh(home: Path, agentsh_env: dict[str, str]) -> None:
    """readline read ~/.inputrc at agentsh's start, in agentsh itself: a line (workspace = $HOME)
    appended `$include ~/.ssh/id_rsa`, and the next session printed the key's lines in
    readline's errors, unchecked and unrecorded."""
    (home / ".inputrc").write_text("set bell-style none\n")  # an existing file: Landlock lets it be written
    env = dict(agentsh_env)
    env.pop("INPUTRC", None)
    first = _start(home, home, env)
    out = _run(first, r"printf '$include ~/.ss%s/id_rsa\n' h >> ~/.inputrc")
    assert "denied" not in out
    _end(first)
    assert "$include ~/.ssh/id_rsa" in (home / ".inputrc").read_text()  # the write went through
    second = _start(home, home, env)
    seen = second.before + _run(second, "echo next") + _end(second)
    assert "SECRET-KEY-BYTES" not in seen
