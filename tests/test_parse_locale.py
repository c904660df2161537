"""The locale bash reads a line in.  In a multibyte charset such as GBK, Big5 or Shift-JIS the
second byte of a character can be `\\`, so bash switched to one mid-line (`LC_ALL=zh_CN.GBK`,
then a newline) reads `€\\; cmd` as the character `€\\` and then `; cmd`, while the checker,
reading UTF-8, saw an escaped `;` inside one echo: `echo x €\\> .git/hooks/pre-commit` wrote
the hook under `agentsh -c`, in confined mode too (a builtin's redirection, no exec to stop).
The same when agentsh decodes UTF-8 (PYTHONUTF8=1) but hands bash a GBK locale."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from agentsh.policy import Decision
from agentsh.profile import Host, load_profile
from agentsh.run import build_environment


def _gbk_locale() -> str | None:
    try:
        names = subprocess.run(["locale", "-a"], capture_output=True, text=True, timeout=10).stdout.split()
    except OSError:
        return None
    return next((n for n in names if n.lower().endswith((".gbk", ".gb18030", ".big5"))), None)


GBK = _gbk_locale()
needs_gbk = pytest.mark.skipif(GBK is None, reason="no GBK, GB18030 or Big5 locale installed (apt-get install "
                                                   "locales; localedef -i zh_CN -f GBK zh_CN.GBK)")


@pytest.mark.parametrize("line", [
    "LC_ALL=zh_CN.GBK\necho x €\\> .git/hooks/pre-commit",
    "LC_CTYPE=zh_CN.GBK\necho x €\\> .git/hooks/pre-commit",
    "LANG=zh_CN.GBK\necho x €\\> .git/hooks/pre-commit",
    "export LC_ALL=zh_CN.GBK\necho x €\\> .git/hooks/pre-commit",
    "read LC_ALL <<< zh_CN.GBK\necho x €\\> .git/hooks/pre-commit",
    "printf -v LC_CTYPE %s zh_CN.GBK\necho x €\\> .git/hooks/pre-commit",
    "l=zh_CN.GBK; LC_ALL=$l\necho x €\\> .git/hooks/pre-commit",
    "for LANG in zh_CN.GBK; do :; done\necho x €\\> .git/hooks/pre-commit",
])
def test_switching_bash_to_another_charset_is_refused(line: str, decide: Callable[..., Decision]) -> None:
    decision = decide(line)
    assert decision.decision == "deny", decision
    assert any("locale" in v.reason for v in decision.refused), decision.refused


@needs_gbk
def test_the_hidden_redirection_under_bash_and_agentsh(workspace: Path,
                                                       run_agentsh: Callable[..., subprocess.CompletedProcess[str]]
                                                       ) -> None:
    plants_under_bash_not_agentsh(f"LC_ALL={GBK}\necho x €\\> .git/hooks/pre-commit", workspace, run_agentsh)


def plants_under_bash_not_agentsh(line: str, workspace: Path,
                                  run_agentsh: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    """bash run on `line` writes .git/hooks/pre-commit (the case is real); agentsh refuses it."""
    hook = workspace / ".git" / "hooks" / "pre-commit"
    hook.parent.mkdir(parents=True)
    subprocess.run(["/bin/bash", "--noprofile", "--norc", "-c", line], cwd=workspace, capture_output=True,
                   stdin=subprocess.DEVNULL, timeout=30)
    assert hook.exists(), "bash no longer reads it so: the case proves nothing"
    hook.unlink()
    result = run_agentsh("-c", line)
    assert result.returncode == 126, result
    assert not hook.exists()


@needs_gbk
def test_a_gbk_locale_with_utf8_python_is_not_handed_to_bash(
        workspace: Path, agentsh_env: dict[str, str],
        run_agentsh: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    hook = workspace / ".git" / "hooks" / "pre-commit"
    hook.parent.mkdir(parents=True)
    env = dict(agentsh_env, LC_ALL=GBK or "", PYTHONUTF8="1")
    result = run_agentsh("-c", "echo x €\\> .git/hooks/pre-commit", env=env)
    assert not hook.exists(), result
    assert result.returncode == 0, result  # bash read `\>` as the checker did: an escaped `>`
    assert "x €>" in result.stdout


def test_build_environment_drops_a_charset_the_checker_does_not_read(home: Path, workspace: Path) -> None:
    assert sys.getfilesystemencoding() == "utf-8"
    host = Host(cwd=str(workspace), home=str(home), config_home=str(home / ".config"))
    profile = load_profile(None, host)
    env = build_environment(profile, {"LC_ALL": "zh_CN.GBK", "LC_CTYPE": "zh_TW.Big5", "LANG": "ja_JP.SJIS"},
                            str(workspace))
    assert not {"LC_ALL", "LC_CTYPE", "LANG"} & set(env), env
    env = build_environment(profile, {"LC_ALL": "C.UTF-8", "LC_CTYPE": "en_US.utf8", "LANG": "C"}, str(workspace))
    assert (env["LC_ALL"], env["LC_CTYPE"], env["LANG"]) == ("C.UTF-8", "en_US.utf8", "C")


@pytest.mark.parametrize("line", [
    "export LC_ALL=C; sort README.md", "LC_ALL=C.UTF-8; echo hi", "LANG=en_US.UTF-8 sort README.md",
    "LC_ALL=zh_CN.GBK sort README.md",  # the command's environment only: bash's own locale is unchanged
    "export LANG=C.utf8 LC_ALL=",
])
def test_ordinary_locale_lines_still_pass(line: str, decide: Callable[..., Decision]) -> None:
    decision = decide(line)
    assert decision.decision == "allow", decision.refused
