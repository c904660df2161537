"""agentsh under programs that drive one persistent shell over a PTY and read exit codes
and the working directory from the prompt: the real SWE-ReX runtime (SWE-agent's), and
pexpect harnesses in the SWE-agent and OpenHands styles (their PS1 / PROMPT_COMMAND)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pytest

from agentsh.prompt import PromptContext, decode, expand_simple, needs_shell, shell_word, visible
from tests.conftest import write_profile
from tests.test_interactive import _running

PROFILE = """\
agentsh: 1
name: harness
extends: [base]
write: {{allow: ["{{workspace}}", "/tmp"]}}
record: {{dir: "{record}"}}
path: [/usr/bin, /bin]
commands:
  - name: tools
    run: [ls, cat, sleep, stty, mkdir, which, pwd]
    decision: allow
"""


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    return write_profile(tmp_path, "harness", PROFILE.format(record=tmp_path / "recordings"))


@pytest.fixture
def shim(tmp_path: Path, profile: Path, run_agentsh: Callable[..., subprocess.CompletedProcess[str]]) -> Path:
    """`agentsh shim DIR -p PROFILE`: a directory whose `bash` is agentsh with the test
    profile, to put first on PATH (it starts Python by absolute path, so a `python3` on
    PATH that is itself a `#!/usr/bin/env bash` script, as pyenv's is, cannot loop back)."""
    directory = tmp_path / "shim"
    made = run_agentsh("shim", "-p", str(profile), str(directory))
    assert made.returncode == 0, made.stderr
    return directory


# -- the real SWE-ReX runtime ---------------------------------------------------------------

@pytest.fixture
def swerex_env(monkeypatch: pytest.MonkeyPatch, shim: Path, workspace: Path,
               agentsh_env: dict[str, str]) -> Iterator[None]:
    """SWE-ReX's BashSession runs `/usr/bin/env bash` (and `bash -n` to check each command)
    with our environment: the shim first on PATH makes that agentsh."""
    for name in list(os.environ):
        if name.startswith(("AGENTSH_", "XDG_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", agentsh_env["HOME"])
    monkeypatch.setenv("PYTHONPATH", agentsh_env["PYTHONPATH"])
    monkeypatch.setenv("PATH", f"{shim}:{os.environ['PATH']}")
    monkeypatch.chdir(workspace)
    yield


def _swerex_session(actions: list[object]) -> list[object]:
    """Start SWE-ReX's LocalRuntime bash session, run the actions, return what each gave
    (its observation, or the exception it raised)."""
    from swerex.runtime.abstract import CreateBashSessionRequest
    from swerex.runtime.local import LocalRuntime

    async def go() -> list[object]:
        runtime = LocalRuntime()
        await runtime.create_session(CreateBashSessionRequest(startup_timeout=30))
        results: list[object] = []
        try:
            for action in actions:
                try:
                    results.append(await runtime.run_in_session(action))  # type: ignore[arg-type]
                except Exception as err:
                    results.append(err)
        finally:
            await runtime.close()
        return results

    return asyncio.run(go())


def test_swerex_runtime_through_agentsh(swerex_env: None, workspace: Path, tmp_path: Path) -> None:
    from swerex.runtime.abstract import BashAction

    canary = tmp_path / "canary"
    commands = ["echo hello", "ls /nonexistent", "mkdir -p sub && cd sub", "pwd",
                f"curl -s http://127.0.0.1:9/ ; touch {canary}", "echo $?",
                "cat <<EOF\nline one\nline two\nEOF", "sleep 0.1; false"]
    results = _swerex_session([BashAction(command=c, check="silent", timeout=30) for c in commands])
    seen = [(r.exit_code, r.output) for r in results]  # type: ignore[attr-defined]
    assert seen[0] == (0, "hello\n")
    assert seen[1][0] == 2 and "No such file or directory" in seen[1][1]
    assert seen[2] == (0, "")
    assert seen[3] == (0, f"{workspace}/sub\n")  # cd persists from action to action
    assert seen[4][0] == 126 and "agentsh: denied: curl" in seen[4][1]
    assert not canary.exists()  # nothing of a refused line runs
    assert seen[5] == (0, "0\n")  # as in bash: SWE-ReX's own `echo ...$?...` ran in between
    assert seen[6] == (0, "line one\nline two\n")  # a heredoc sent in one go, lines read after PS2
    assert seen[7] == (1, "")


def test_swerex_interrupt_and_interactive_command(swerex_env: None) -> None:
    from swerex.exceptions import CommandTimeoutError
    from swerex.runtime.abstract import BashAction, BashInterruptAction

    results = _swerex_session([
        BashAction(command="sleep 30.5", timeout=2),
        BashInterruptAction(),
        BashAction(command="echo after", check="silent"),
        BashAction(command="read -p 'name: ' x; echo \"hi $x\"", is_interactive_command=True, expect=["name: "]),
        # answering ends with SWE-ReX's own `stty -echo; echo UNIQUE...` sent to the shell
        BashAction(command="bob", is_interactive_quit=True),
        BashAction(command="echo end", check="silent"),
    ])
    assert isinstance(results[0], CommandTimeoutError)
    assert results[1].expect_string == "SHELLPS1PREFIX"  # type: ignore[attr-defined]
    assert not _running("sleep\x0030.5\x00")  # Ctrl-C reached the command
    assert results[2].output == "after\n" and results[2].exit_code == 0  # type: ignore[attr-defined]
    # SWE-ReX's PTY has echo off: the answer typed to `read` is not echoed, as under bash
    assert results[4].output == "hi bob\n"  # type: ignore[attr-defined]
    assert results[5].output == "end\n"  # type: ignore[attr-defined]


# -- pexpect harnesses ------------------------------------------------------------------------

@pytest.fixture
def shell(shim: Path, workspace: Path, agentsh_env: dict[str, str]) -> Iterator[pexpect.spawn]:
    """agentsh started the way these harnesses start bash: a PTY with echo off."""
    child = pexpect.spawn(str(shim / "bash"), cwd=str(workspace), env=agentsh_env, encoding="utf-8",
                          echo=False, timeout=30, dimensions=(30, 200))
    child.expect(r"agentsh\(harness\):[^\r\n]*\$ ")
    yield child
    child.close(force=True)


SWE_PS1 = r"<<rc=$? cwd=\w>> "
SWE_PROMPT = re.compile(r"<<rc=(\d+) cwd=([^>]*)>> ")


def _swe(child: pexpect.spawn, line: str) -> tuple[str, int, str]:
    """Send a command, read (output, exit code, cwd) from the PS1 that follows."""
    child.sendline(line)
    child.expect(SWE_PROMPT)
    return child.before.replace("\r\n", "\n"), int(child.match.group(1)), child.match.group(2)


def test_swe_agent_style_ps1_exit_codes_and_cwd(shell: pexpect.spawn, workspace: Path, home: Path,
                                                tmp_path: Path) -> None:
    shell.sendline(f"export PS1='{SWE_PS1}'; export PS2=''")
    shell.expect(SWE_PROMPT)
    assert shell.match.group(1) == "0"
    assert _swe(shell, "echo hi") == ("hi\n", 0, str(workspace))  # echo off: the line is not echoed
    assert _swe(shell, "false")[1] == 1
    assert _swe(shell, "")[1] == 1  # an empty line keeps $?
    assert _swe(shell, "ls /nonexistent")[1] == 2
    assert _swe(shell, "echo $?")[0] == "2\n"
    _swe(shell, "mkdir -p a/b && cd a/b")
    assert _swe(shell, "pwd") == (f"{workspace}/a/b\n", 0, f"{workspace}/a/b")
    canary = tmp_path / "canary"
    out, status, cwd = _swe(shell, f"curl -s http://127.0.0.1:9/; touch {canary}")
    assert status == 126 and "agentsh: denied: curl" in out and cwd == f"{workspace}/a/b"
    assert not canary.exists()
    assert _swe(shell, "cd ~/.ssh")[1] == 126  # refused: the cwd stays
    assert _swe(shell, "echo still")[2] == f"{workspace}/a/b"
    # tilde in \w, as bash shows it
    _swe(shell, f"cd {home}")
    assert _swe(shell, "true")[2] == "~"


def test_ctrl_c_ps2_and_ps0(shell: pexpect.spawn) -> None:
    shell.sendline(f"export PS1='{SWE_PS1}'; export PS2='more> '")
    shell.expect(SWE_PROMPT)
    shell.sendline("sleep 30.75")
    deadline = time.monotonic() + 20
    while not _running("sleep\x0030.75\x00") and time.monotonic() < deadline:
        time.sleep(0.05)
    shell.sendintr()
    shell.expect(SWE_PROMPT)
    assert shell.match.group(1) == "130" and not _running("sleep\x0030.75\x00")
    # an unfinished line gets PS2 and waits for the rest, as bash does
    shell.sendline("echo 'first")
    shell.expect_exact("more> ")
    shell.sendline("second' &&")
    shell.expect_exact("more> ")
    shell.sendline("echo joined \\")
    shell.expect_exact("more> ")
    shell.sendline("up")
    shell.expect(SWE_PROMPT)
    assert shell.before.replace("\r\n", "\n") == "first\nsecond\njoined up\n"
    shell.sendline("echo 'never")  # Ctrl-D at PS2 drops the unfinished command (status 2), not the shell
    shell.expect_exact("more> ")
    shell.sendeof()
    shell.expect(SWE_PROMPT)
    assert shell.match.group(1) == "2" and "unexpected end of file" in shell.before
    shell.sendline("export PS0='[ps0]'")
    shell.expect(SWE_PROMPT)
    assert _swe(shell, "echo x")[0] == "[ps0]x\n"


def test_echo_follows_the_terminal_and_stty(shell: pexpect.spawn) -> None:
    shell.sendline("export PS1='P> '")
    shell.expect_exact("P> ")
    shell.setecho(True)
    shell.sendline("echo one")
    shell.expect_exact("P> ")
    assert "echo one" in shell.before  # echo on: readline shows the line
    shell.sendline("stty -echo")  # run as a command, it turns the shell's echo off, as in bash
    shell.expect_exact("P> ")
    shell.sendline("echo two")
    shell.expect_exact("P> ")
    assert shell.before.replace("\r\n", "\n") == "two\n"
    shell.sendline("stty -a")  # and a command's terminal starts with the shell's modes
    shell.expect_exact("P> ")
    assert re.search(r"(^|\s)-echo(\s|$)", shell.before)


OPENHANDS_PS1 = ('\\n###PS1JSON###\\n{\\"exit_code\\": \\"$?\\", \\"username\\": \\"\\u\\", '
                 '\\"working_dir\\": \\"$(pwd)\\", \\"py\\": \\"$(which python3 2>/dev/null || echo \\"\\")\\"}'
                 '\\n###PS1END###\\n')
OPENHANDS_BLOCK = re.compile(r"###PS1JSON###\r?\n(.*?)\r?\n###PS1END###", re.S)


def test_openhands_style_prompt_command(shell: pexpect.spawn, workspace: Path, profile: Path,
                                        agentsh_env: dict[str, str]) -> None:
    shell.sendline(f"export PROMPT_COMMAND='export PS1=\"{OPENHANDS_PS1}\"'; export PS2=\"\"")
    shell.expect(OPENHANDS_BLOCK)

    def run(line: str) -> tuple[str, dict[str, str]]:
        shell.sendline(line)
        shell.expect(OPENHANDS_BLOCK)
        return shell.before.replace("\r\n", "\n"), json.loads(shell.match.group(1))

    out, meta = run("echo hello")
    assert out.strip() == "hello" and meta["exit_code"] == "0" and meta["working_dir"] == str(workspace)
    assert meta["py"] == "/usr/bin/python3" and meta["username"]
    out, meta = run("mkdir -p d && cd d && false")
    assert meta["exit_code"] == "1" and meta["working_dir"] == f"{workspace}/d"
    out, meta = run("curl -s http://127.0.0.1:9/")
    assert meta["exit_code"] == "126" and "agentsh: denied: curl" in out
    # PROMPT_COMMAND's `$(pwd)` and `$(which ...)` ran as checked lines, audited as such
    audit = _audit_lines(agentsh_env)
    origins = [e.get("origin") for e in audit if e["kind"] == "line"]
    assert "PROMPT_COMMAND" in origins


def _audit_lines(env: dict[str, str]) -> list[dict[str, object]]:
    home = Path(env["HOME"])
    events = []
    for path in home.glob(".local/state/agentsh/audit*.jsonl"):
        events += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    assert events, "no audit trail found"
    return events


def test_code_in_prompts_is_checked(shell: pexpect.spawn, workspace: Path, tmp_path: Path,
                                    agentsh_env: dict[str, str]) -> None:
    canary = tmp_path / "ps1-canary"
    # an allowed substitution in PS1 runs (as a checked line)...
    shell.sendline("export PS1='[$(pwd)] '")
    shell.expect_exact(f"[{workspace}] ")
    shell.sendline(r"export PS1='\[\e[1m\]$(pwd)\[\e[0m\]> '")  # colours around a substitution
    shell.expect_exact(f"\x1b[1m{workspace}\x1b[0m> ")
    # ...a refused one does not: the prompt is shown unexpanded, and the refusal said once
    shell.sendline(f"export PS1='[$(curl -s http://127.0.0.1:9/; touch {canary})] '")
    shell.expect(r"PS1 is shown unexpanded.*?agentsh: denied: curl.*?\[\$\(curl")
    shell.sendline("true")
    shell.expect_exact("[$(curl")
    assert "denied" not in shell.before
    shell.sendline(f"export PS1='P> ' PROMPT_COMMAND='touch {canary}; curl -s http://127.0.0.1:9/'")
    shell.expect(r"PROMPT_COMMAND is not run.*?agentsh: denied: curl.*?P> ")
    shell.sendline("echo ok")
    shell.expect_exact("P> ")
    assert shell.before.replace("\r\n", "\n") == "ok\n"
    assert not canary.exists()
    # a value computed when it is set: the substitution is checked like the rest of a line
    shell.sendline(f'export PS1="$(curl -s http://127.0.0.1:9/; touch {canary})> "')
    shell.expect_exact("P> ")
    assert "agentsh: denied: curl" in shell.before and not canary.exists()
    shell.sendline('export PS1="{$(pwd)}"; PS1+=" > "')
    shell.expect_exact(f"{{{workspace}}} > ")
    shell.sendline("cd /")
    shell.expect_exact(f"{{{workspace}}} > ")  # computed once, when it was set
    shell.sendline("export PS1='P> '")
    shell.expect_exact("P> ")
    # a line that mixes prompt variables with other commands is checked as a whole (refused)
    shell.sendline("export PS1='x> '; echo mixed")
    shell.expect_exact("P> ")
    assert "setting PS1" in shell.before and "mixed\n" not in shell.before.replace("\r\n", "\n")
    typed = [e for e in _audit_lines(agentsh_env) if e["kind"] == "line" and e.get("typed")]
    assert [e["typed"] for e in typed][:1] == [f'export PS1="$(curl -s http://127.0.0.1:9/; touch {canary})> "']


# -- prompt expansion against bash's own -------------------------------------------------------

PROMPTS = [r"\u@\h:\w\$ ", r"[\W] \$? $? ", r'"q" \"r\" x\\y \$HOME $HOME ${HOME} ',
           r"\[\e[1;32m\]\u\[\e[0m\] ", r"\101\102 \a\e", r"$ a$ \n2nd", r"\H \s-\v ", r"\d|\t|\A|\D{%Y}",
           '###PS1JSON###\n{\\"exit_code\\": \\"$?\\", \\"working_dir\\": \\"\\w\\"}\n###PS1END###\n',
           r"\w \W", r"$UNSET_NAME-${UNSET_NAME}-$ end"]


@pytest.mark.parametrize("ps1", PROMPTS)
@pytest.mark.parametrize("cwd", ["home", "sub", "root"])
def test_prompt_expansion_matches_bash(ps1: str, cwd: str, tmp_path: Path) -> None:
    import pwd
    import socket

    home = tmp_path / "h$(x)"  # a directory name that must stay text
    directory = {"home": home, "sub": home / "a b", "root": Path("/")}[cwd]
    directory.mkdir(parents=True, exist_ok=True)
    ctx = PromptContext(user=pwd.getpwuid(os.getuid()).pw_name, host=socket.gethostname(), cwd=str(directory),
                        home=str(home), euid=os.geteuid(), status=3, shell="bash",
                        variables={"HOME": str(home)})
    now = time.time()
    ours = expand_simple(decode(ps1, ctx, now=now), ctx)
    theirs = subprocess.run(["/bin/bash", "--norc", "--noprofile", "-c", '(exit 3); printf %s "${P@P}"'],
                            env={"P": ps1, "HOME": str(home), "PATH": "/usr/bin:/bin"}, cwd=directory,
                            capture_output=True, text=True, check=True).stdout
    if int(time.time()) != int(now):  # \t crossed a second boundary
        pytest.skip("clock moved on")
    assert visible(ours) == visible(theirs)


def test_prompts_that_run_code_become_one_checked_word() -> None:
    ctx = PromptContext(user="u", host="h", cwd="/w", home="/home/u", euid=1000, status=0)
    decoded = decode(r'"a" $(echo "b c") `x` \w $((1+2)) ${X:-d}', ctx)
    assert needs_shell(decoded)
    word = shell_word(decoded)
    assert word == r'"\"a\" $(echo "b c") `x` /w $((1+2)) ${X:-d}"'
    run = subprocess.run(["/bin/bash", "-c", f"x() {{ :; }}; printf %s {word}"], capture_output=True, text=True)
    assert run.stdout == '"a" b c  /w 3 d'
    assert not needs_shell(decode(r"$? \$ ${HOME} \u", ctx))
    # colours and readline markers leave the quotes as $'\xNN': a checked line holds no raw control bytes
    coloured = r"\[\e[32m\]$(echo \"$HOME\")\[\e[0m\] \u "
    word = shell_word(decode(coloured, ctx))
    assert not re.search("[\x00-\x08\x0b-\x1f]", word)
    ours = subprocess.run(["/bin/bash", "-c", f"printf %s {word}"], capture_output=True, text=True,
                          env={"HOME": "/home/u"}).stdout
    theirs = subprocess.run(["/bin/bash", "-c", 'printf %s "${P@P}"'], capture_output=True, text=True,
                            env={"HOME": "/home/u", "P": coloured.replace("\\u", "u")}).stdout
    assert ours.startswith("\x01\x1b[32m\x02")  # readline's markers for invisible text (bash -c has none)
    assert visible(ours) == visible(theirs) == '\x1b[32m"/home/u"\x1b[0m u '


def test_syntax_check_runs_nothing(run_agentsh: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path) -> None:
    canary = tmp_path / "n-canary"
    assert run_agentsh("-n", "-c", f"touch {canary}").returncode == 0
    bad = run_agentsh("-n", input="echo 'open\n")
    assert bad.returncode == 2 and "unexpected EOF" in bad.stderr
    assert run_agentsh("-n", input=f"cat <<EOF\nx\nEOF\ntouch {canary}\n").returncode == 0
    assert not canary.exists()


@pytest.mark.parametrize(("line", "expected"), [
    ("export PS1='x> ' ; export PS2='' ; export PS0=''", [("PS1", "=", "x> "), ("PS2", "=", ""), ("PS0", "=", "")]),
    ('export PS1="$(pwd) > "', [("PS1", "=", None)]),
    ("PS1+=' >'; unset PROMPT_COMMAND; declare -x PS2", [("PS1", "+=", " >"), ("PROMPT_COMMAND", "unset", None),
                                                       ("PS2", "export", None)]),
    ("export PS1=x; ls", None),  # anything else in the line: checked as a whole
    ("export PS1=x > /tmp/f", None),
    ("export PS1=x HOME=/", None),
    ("export -n PS1", None),
    ("echo $(export PS1=x)", None),
])
def test_prompt_statements(line: str, expected: list[tuple[str, str, str | None]] | None) -> None:
    from agentsh.shellinput import prompt_statements

    found = prompt_statements(line)
    assert (None if found is None else [(s.name, s.op, s.value) for s in found]) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("echo a", None), ("echo 'a", "newline"), ("echo a &&", "newline"), ("if true; then", "newline"),
    ("cat <<EOF\nx", "newline"), ("cat <<EOF\nx\nEOF", None), ("echo a \\", "join"), ("echo 'a\\", "newline"),
    ("echo )", None),  # wrong, not unfinished: it goes on to be refused
])
def test_continuation(text: str, expected: str | None) -> None:
    from agentsh.shellinput import continuation

    assert continuation(text) == expected
