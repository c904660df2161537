"""Agents' shell wrappers: exact ones are taken apart (only the model's command is checked,
recorded, audited and run; agentsh writes the cwd file itself; the snapshot never runs);
anything else, however close, is checked as ordinary shell."""

from __future__ import annotations

import json
import random
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from agentsh.adapters.wrappers import Unwrapped, unwrap
from agentsh.main import WRAPPER_STARTS

SNAP_NAME = "snapshot-bash-1787645352430-itq4da.sh"
THREAD = "0199a2b3-1111-2222-3333-444455556666"
UNALIAS = " && { \\builtin unalias -- 'unsetenv'; \\builtin unset -f -- 'unsetenv'; } >/dev/null 2>&1 || true"


def squote(text: str) -> str:
    return text.replace("'", "'\"'\"'")


def claude(command: str, home: str, cwd_file: str, null: bool = True, unalias: bool = False,
           prefixed: bool = False) -> str:
    extglob = ("{ shopt -u extglob || setopt NO_EXTENDED_GLOB; } >/dev/null 2>&1 || true" if prefixed
               else "shopt -u extglob 2>/dev/null || true")
    return (f"source {home}/.claude/shell-snapshots/{SNAP_NAME} 2>/dev/null || true && {extglob}"
            + (UNALIAS if unalias else "")
            + f" && eval '{squote(command)}'" + (" < /dev/null" if null else "") + f" && pwd -P >| {cwd_file}")


def shell_quote_double(text: str) -> str:
    """What the npm shell-quote package makes of a string holding ' (Claude Code's prefix form)."""
    return '"' + re.sub(r'(["\\$`!])', r"\\\1", text) + '"'


def codex(command: str, home: str, args: tuple[str, ...] = (), overrides: bool = False) -> str:
    source = f"if . '{home}/.codex/shell_snapshots/{THREAD}.1764390000123456789.sh' >/dev/null 2>&1; then :; fi"
    run = f"exec '/bin/bash' -c '{squote(command)}'" + "".join(f" '{squote(a)}'" for a in args)
    if not overrides:
        return f"{source}\n\n{run}"
    captures = "\n".join(f'__CODEX_SNAPSHOT_PROXY_OVERRIDE_SET_{i}="${{{k}+x}}"\n__CODEX_SNAPSHOT_PROXY_OVERRIDE_{i}="${{{k}-}}"'
                         for i, k in enumerate(("HTTPS_PROXY", "HTTP_PROXY")))
    restores = "\n".join(f'if [ -n "${{__CODEX_SNAPSHOT_PROXY_OVERRIDE_SET_{i}}}" ]; then export {k}='
                         f'"${{__CODEX_SNAPSHOT_PROXY_OVERRIDE_{i}}}"; fi' for i, k in enumerate(("HTTPS_PROXY", "HTTP_PROXY")))
    return f"{captures}\n\n{source}\n\n{restores}\n\n{run}"


ENV = {"HOME": "/home/u", "TMPDIR": "/tmp"}
MODEL = "cd src && grep -rn 'it'\"'\"'s' . | head -3 # done"


# -- recognition, pure ---------------------------------------------------------------------

@pytest.mark.parametrize("unalias", [False, True])
@pytest.mark.parametrize("null", [False, True])
def test_claude_wrapper_gives_back_the_exact_command(null: bool, unalias: bool) -> None:
    found = unwrap(claude(MODEL, "/home/u", "/tmp/claude-93e6-cwd", null, unalias), (), ENV)
    assert found is not None
    assert (found.agent, found.line, found.stdin_null, found.cwd_file) == ("claude-code", MODEL, null,
                                                                           "/tmp/claude-93e6-cwd")


def test_claude_wrapper_with_shell_prefix() -> None:
    wrapper = claude(MODEL + " $HOME `x` \"q\" !", "/home/u", "/tmp/claude-1a2b-cwd", prefixed=True)
    env = dict(ENV, CLAUDE_CODE_SHELL_PREFIX="/opt/log/prefix.sh")
    found = unwrap("/opt/log/prefix.sh " + shell_quote_double(wrapper), (), env)
    assert found is not None and found.prefix == "/opt/log/prefix.sh"
    # what bash would hand the prefix program: `\!` keeps its backslash inside double quotes
    assert found.line == MODEL + " $HOME `x` \"q\" \\!"
    assert unwrap("/opt/other.sh " + shell_quote_double(wrapper), (), env) is None
    assert unwrap("/opt/log/prefix.sh " + shell_quote_double(wrapper)[:-1] + '$(id)"', (), env) is None


@pytest.mark.parametrize("overrides", [False, True])
def test_codex_snapshot_wrapper(overrides: bool) -> None:
    found = unwrap(codex(MODEL, "/home/u", ("a0", "it's"), overrides), (), ENV)
    assert found is not None and (found.agent, found.line, found.args) == ("codex", MODEL, ("a0", "it's"))
    assert found.cwd_file == "" and not found.stdin_null


def test_codex_argv_wrapper() -> None:
    snap = f"/home/u/.codex/shell_snapshots/{THREAD}.sh"
    found = unwrap('. "$1" && shift && exec "$@"', (snap, "/bin/bash", "-lc", MODEL), ENV)
    assert found is not None and found.line == MODEL and found.snapshot == snap
    assert unwrap('. "$1" && shift && exec "$@"', ("/tmp/evil.sh", "/bin/bash", "-lc", MODEL), ENV) is None


def test_every_wrapper_starts_the_way_main_looks_for() -> None:
    for text in (claude(MODEL, "/home/u", "/tmp/claude-93e6-cwd"), codex(MODEL, "/home/u"),
                 codex(MODEL, "/home/u", overrides=True), '. "$1" && shift && exec "$@"'):
        assert text.startswith(WRAPPER_STARTS)


NEAR_MISSES = [
    lambda w: w + " ",
    lambda w: " " + w,
    lambda w: w + "; touch /tmp/x",
    lambda w: w + "\ntouch /tmp/x",
    lambda w: w.replace("/home/u/.claude", "/tmp/.claude"),
    lambda w: w.replace("/home/u/.claude", "/home/u/.claude/../evil"),
    lambda w: w.replace(SNAP_NAME, "snapshot-zsh-1-a.sh"),
    lambda w: w.replace(SNAP_NAME, "snapshot-bash-1-a.sh; touch x"),
    lambda w: w.replace("/tmp/claude-93e6-cwd", "/home/u/.bashrc"),
    lambda w: w.replace("/tmp/claude-93e6-cwd", "/tmp/claude-93e6-cwd2"),
    lambda w: w.replace("/tmp/claude-93e6-cwd", "/tmp/../etc/claude-93e6-cwd"),
    lambda w: w.replace("'\"'\"'", "'\\''", 1),
    lambda w: w.replace("eval '", "eval  '"),
    lambda w: w.replace("|| true && eval", "|| true && touch /tmp/x && eval"),
    lambda w: w.replace("shopt -u extglob", "shopt -s extglob"),
    lambda w: w.replace(" < /dev/null", " < /etc/passwd"),
    lambda w: w.replace("pwd -P >|", "pwd -P >"),
    lambda w: w.replace("source ", "source  "),
    lambda w: w.replace("2>/dev/null || true", "2>/dev/null || touch /tmp/x", 1),
]


@pytest.mark.parametrize("mutate", NEAR_MISSES, ids=range(len(NEAR_MISSES)))
def test_claude_near_misses_are_not_wrappers(mutate: Callable[[str], str]) -> None:
    wrapper = claude(MODEL, "/home/u", "/tmp/claude-93e6-cwd")
    assert unwrap(wrapper, (), ENV) is not None
    assert unwrap(mutate(wrapper), (), ENV) is None


def _plumbing_positions(wrapper: str, command: str) -> list[int]:
    start = wrapper.index("'" + squote(command) + "'") + 1
    end = start + len(squote(command))
    return [i for i in range(len(wrapper)) if not start <= i <= end]  # inserting at `end` edits the command


def _render_claude(found: Unwrapped, unalias: bool) -> str:
    return (f"source {found.snapshot} 2>/dev/null || true && shopt -u extglob 2>/dev/null || true"
            + (UNALIAS if unalias else "") + f" && eval '{squote(found.line)}'"
            + (" < /dev/null" if found.stdin_null else "") + f" && pwd -P >| {found.cwd_file}")


@pytest.mark.parametrize("agent", ["claude", "codex"])
def test_random_edits_to_the_plumbing_are_never_trusted(agent: str) -> None:
    """Delete, insert or replace one character anywhere outside the model's command: the result
    is either not a wrapper or, for edits that only change a parameter (a digit of the snapshot
    name, the cwd file's hex), exactly a well-formed wrapper around the same command."""
    wrapper = (claude(MODEL, "/home/u", "/tmp/claude-93e6-cwd", unalias=True) if agent == "claude"
               else codex(MODEL, "/home/u", ("zero",), overrides=True))
    rng = random.Random(7)
    positions = _plumbing_positions(wrapper, MODEL)
    accepted = 0
    for _ in range(1500):
        i = rng.choice(positions)
        char = rng.choice("a'\";&|$ \n0-/x{}()`\\")
        mutated = rng.choice([wrapper[:i] + wrapper[i + 1:], wrapper[:i] + char + wrapper[i:],
                              wrapper[:i] + char + wrapper[i + 1:]])
        found = unwrap(mutated, (), ENV)
        if found is None or mutated == wrapper:
            continue
        accepted += 1
        assert found.line == MODEL, repr(mutated)
        if agent == "claude":
            assert mutated in (_render_claude(found, False), _render_claude(found, True)), repr(mutated)
        else:
            assert len(found.args) == 1 and found.snapshot in mutated, repr(mutated)  # args are data
    assert accepted < 150  # nearly every edit is refused


# -- through agentsh -c ----------------------------------------------------------------------

def _audit(home: Path) -> list[dict]:  # type: ignore[type-arg]
    path = home / ".local" / "state" / "agentsh" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def snapshot(home: Path, tmp_path: Path) -> Path:
    """A real snapshot file at Claude Code's place; if it ever ran it would leave a canary."""
    path = home / ".claude" / "shell-snapshots" / SNAP_NAME
    path.parent.mkdir(parents=True)
    path.write_text(f"touch {tmp_path}/snapshot-ran\nexport FROM_SNAPSHOT=yes\n")
    return path


@pytest.fixture
def tmpdir_env(agentsh_env: dict[str, str], workspace: Path) -> dict[str, str]:
    """Claude Code's temp directory ($TMPDIR) inside the workspace, a write root of the default profile."""
    (workspace / ".tmp").mkdir()
    return dict(agentsh_env, TMPDIR=str(workspace / ".tmp"))


def test_claude_call_runs_only_the_model_command_and_writes_cwd(run_agentsh, home: Path, workspace: Path,
                                                                 snapshot: Path, tmp_path: Path,
                                                                 tmpdir_env: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    (workspace / "sub dir").mkdir()
    cwd_file = f"{workspace}/.tmp/claude-5eed-cwd"
    model = "cd 'sub dir' && echo \"in $(basename \"$PWD\")\" && cat; echo \"${FROM_SNAPSHOT:-clean}\""
    result = run_agentsh("-c", "-l", claude(model, str(home), cwd_file), input="must not be read\n", env=tmpdir_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "in sub dir\nclean\n"  # stdin was /dev/null; the snapshot never ran
    assert not (tmp_path / "snapshot-ran").exists()
    assert Path(cwd_file).read_text() == str((workspace / "sub dir").resolve()) + "\n"
    # the same wrapper under real bash writes the same file
    Path(cwd_file).unlink()
    snapshot.unlink()
    subprocess.run(["/bin/bash", "-c", claude(model, str(home), cwd_file)], cwd=workspace, check=True,
                   capture_output=True)
    assert Path(cwd_file).read_text() == str((workspace / "sub dir").resolve()) + "\n"
    Path(cwd_file).unlink()
    events = [e for e in _audit(home) if e.get("kind") in ("line", "decision")]
    assert events and all(e["line"] == model for e in events)
    assert events[0]["wrapper"] == "claude-code" and events[0]["snapshot_skipped"] == str(snapshot)
    cast = next((home / ".local" / "state" / "agentsh").glob("*.cast")).read_text()
    assert "source" not in cast and "in sub dir" in cast


def test_claude_heredoc_form_keeps_stdin(run_agentsh, home: Path, workspace: Path,
                                        tmpdir_env: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    cwd_file = f"{workspace}/.tmp/claude-beef01-cwd"
    model = "cat <<'EOF'\nfrom heredoc 'q'\nEOF\nwc -l"
    result = run_agentsh("-c", claude(model, str(home), cwd_file, null=False), input="a\nb\n", env=tmpdir_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["from heredoc 'q'", "2"]
    assert Path(cwd_file).read_text() == str(workspace.resolve()) + "\n"


def test_unwritable_cwd_file_keeps_the_command_status(run_agentsh, home: Path, workspace: Path,
                                                      tmpdir_env: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    cwd_file = f"{workspace}/.tmp/claude-beef02-cwd"
    Path(cwd_file).mkdir()  # a directory where the file should go: pwd cannot write it
    result = run_agentsh("-c", claude("echo ok", str(home), cwd_file), env=tmpdir_env)
    assert (result.returncode, result.stdout, result.stderr) == (0, "ok\n", "")


def test_denied_inner_command_is_refused_and_no_cwd_written(run_agentsh, home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cwd_file = "/tmp/claude-dead02-cwd"
    Path(cwd_file).unlink(missing_ok=True)
    canary = tmp_path / "canary"
    result = run_agentsh("-c", "-l", claude(f"touch {canary}; curl -s https://example.com", str(home), cwd_file))
    assert result.returncode == 126
    assert "denied: curl -s https://example.com" in result.stderr and "source" not in result.stderr
    assert not canary.exists() and not Path(cwd_file).exists()


def test_failing_command_writes_no_cwd_as_in_the_wrapper(run_agentsh, home: Path, workspace: Path,
                                                        tmpdir_env: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    cwd_file = f"{workspace}/.tmp/claude-dead03-cwd"
    result = run_agentsh("-c", claude("cd /tmp && false", str(home), cwd_file), env=tmpdir_env)
    assert result.returncode == 1 and not Path(cwd_file).exists()


@pytest.mark.parametrize("index", range(len(NEAR_MISSES)))
def test_near_miss_is_checked_as_ordinary_shell(index: int, run_agentsh, home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    canary = tmp_path / "canary"
    exact = claude(f"touch {canary} # it's", "/home/u", "/tmp/claude-93e6-cwd")
    wrapper = NEAR_MISSES[index](exact).replace("/home/u", str(home))
    assert wrapper != exact.replace("/home/u", str(home))
    result = run_agentsh("-c", wrapper)
    assert result.returncode == 126, (wrapper, result.stderr)
    assert not canary.exists()
    assert "source" in result.stderr or "eval" in result.stderr or "denied" in result.stderr


def test_codex_call_runs_the_inner_command_with_its_arguments(run_agentsh, home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    snap = home / ".codex" / "shell_snapshots" / f"{THREAD}.1764390000123456789.sh"
    snap.parent.mkdir(parents=True)
    snap.write_text(f"touch {tmp_path}/snapshot-ran\n")
    model = 'printf "%s|" "$0" "$1"; echo "${HTTPS_PROXY-unset}"'
    result = run_agentsh("-c", codex(model, str(home), ("zero", "it's"), overrides=True))
    assert (result.returncode, result.stdout) == (0, "zero|it's|unset\n"), result.stderr
    assert not (tmp_path / "snapshot-ran").exists()
    lines = [e for e in _audit(home) if e.get("kind") == "line"]
    assert lines[-1]["line"] == model and lines[-1]["wrapper"] == "codex"


def test_codex_tampered_restore_block_is_refused(run_agentsh, home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    canary = tmp_path / "canary"
    wrapper = codex("true", str(home), overrides=True).replace("; fi\n", f"; fi; touch {canary}\n", 1)
    result = run_agentsh("-c", wrapper)
    assert result.returncode == 126 and not canary.exists()


def test_prefix_form_through_agentsh(run_agentsh, agentsh_env: dict[str, str], home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    prefix = str(tmp_path / "prefix.sh")
    Path(prefix).write_text(f"#!/bin/sh\ntouch {tmp_path}/prefix-ran\n")
    Path(prefix).chmod(0o755)
    env = dict(agentsh_env, CLAUDE_CODE_SHELL_PREFIX=prefix)
    wrapper = claude('echo "$((6 * 7))"', str(home), "/tmp/claude-c0ffee-cwd", prefixed=True)
    Path("/tmp/claude-c0ffee-cwd").unlink(missing_ok=True)
    result = run_agentsh("-c", f"{prefix} {shell_quote_double(wrapper)}", env=env)
    assert (result.returncode, result.stdout) == (0, "42\n"), result.stderr
    assert not (tmp_path / "prefix-ran").exists()
    line = [e for e in _audit(home) if e.get("kind") == "line"][-1]
    assert line["line"] == 'echo "$((6 * 7))"' and line["shell_prefix_skipped"] == prefix
    Path("/tmp/claude-c0ffee-cwd").unlink(missing_ok=True)
