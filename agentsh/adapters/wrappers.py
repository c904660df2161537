"""Recognise the plumbing agents wrap around the model's command, exactly, and take it apart.

Claude Code runs `SHELL -c [-l] WRAPPER` per command, where WRAPPER is

    source CONFIG/shell-snapshots/snapshot-bash-<ms>-<rand>.sh 2>/dev/null || true
    && shopt -u extglob 2>/dev/null || true
    [&& { \\builtin unalias -- 'unsetenv'; \\builtin unset -f -- 'unsetenv'; } >/dev/null 2>&1 || true]
    && eval '<MODEL CMD>' [< /dev/null] && pwd -P >| TMP/claude-<hex>-cwd

(one line; a `'` in the command is spelled `'"'"'`; heredocs omit `< /dev/null`).  With
CLAUDE_CODE_SHELL_PREFIX set, it runs `PREFIX "WRAPPER"` instead (shell-quote's double
quoting, since the wrapper holds `'`), and the extglob step becomes
`{ shopt -u extglob || setopt NO_EXTENDED_GLOB; } >/dev/null 2>&1 || true`.

Codex CLI runs `SHELL -lc CMD`; when it has a shell snapshot it rewrites that to
`SHELL -c SCRIPT` with SCRIPT

    [captures of proxy/override variables]\\n\\n
    if . 'CODEX_HOME/shell_snapshots/<thread>[.<nonce>].sh' >/dev/null 2>&1; then :; fi\\n\\n
    [restores of those variables]\\n\\n
    exec 'SHELL' -c '<CMD>' ['ARG' ...]

and older versions ran `SHELL -c '. "$1" && shift && exec "$@"' SNAPSHOT SHELL -lc CMD`.

A string that matches one of these exactly is taken apart: only the model's command is
checked, recorded and audited, and agentsh does the harmless plumbing itself (the cwd
file; `< /dev/null`).  The snapshot script is never run: it holds the user's login-shell
functions, aliases, options and exports, which would both be unchecked code and undo
the environment the profile re-cuts.  The capture/restore blocks around Codex's snapshot
only put variables back as they were before the snapshot, so without the snapshot they
do nothing, and are dropped too (each line must still match its exact form).  Anything
else, including a near miss, is not a wrapper: it is checked as ordinary shell, where
`source`/`.`/`eval` are refused.

Cheap on purpose: `agentsh -c` imports this only for strings that start like a wrapper
(main.WRAPPER_STARTS) or when CLAUDE_CODE_SHELL_PREFIX is set,
and the patterns compile on first use.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from functools import cache
from typing import NamedTuple

CODEX_ARGV_SCRIPT = '. "$1" && shift && exec "$@"'

_SAFE_PATH = r"/[A-Za-z0-9_./+@-]+"  # an unquoted absolute path with nothing for the shell to expand
_QUOTED_BODY = r"(?:[^']++|'\"'\"')*+"  # inside single quotes, a ' spelled '"'"'
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


class Unwrapped(NamedTuple):
    agent: str  # "claude-code" or "codex"
    line: str  # the model's command: what is checked, recorded and run
    args: tuple[str, ...] = ()  # $0, $1, ... for the line
    stdin_null: bool = False  # the wrapper gave the command `< /dev/null`
    cwd_file: str = ""  # where the wrapper writes `pwd -P` after success ("" if it does not)
    snapshot: str = ""  # the snapshot script that was not run
    prefix: str = ""  # CLAUDE_CODE_SHELL_PREFIX, which agentsh does not run

    def audit_fields(self) -> dict[str, str]:
        fields = {"wrapper": self.agent, "snapshot_skipped": self.snapshot}
        if self.prefix:
            fields["shell_prefix_skipped"] = self.prefix
        return fields


def unwrap(command: str, args: tuple[str, ...], environ: Mapping[str, str]) -> Unwrapped | None:
    """The model's command and the plumbing, if `command` (with its $0... `args`) is exactly
    one of the known wrappers for this environment; None otherwise."""
    if "\0" in command:
        return None
    if command.startswith("source ") and not args:
        return _claude(command, environ, "")
    if command.startswith(("if . '", "__CODEX_SNAPSHOT_")) and not args:
        return _codex_script(command, environ)
    if command == CODEX_ARGV_SCRIPT:
        return _codex_argv(args, environ)
    prefix = environ.get("CLAUDE_CODE_SHELL_PREFIX", "")
    if prefix and not args:
        inner = _strip_prefix(command, prefix)
        if inner is not None:
            return _claude(inner, environ, prefix)
    return None


def plumbing_script(unwrapped: Unwrapped, line: str) -> str:
    """What bash runs in place of the checked line: the line itself, evaluated as the agent's
    wrapper would (same parse, `< /dev/null` if it asked), then agentsh's own cwd report."""
    if not unwrapped.cwd_file and not unwrapped.stdin_null:
        return line
    script = "eval " + shlex.quote(line) + (" < /dev/null" if unwrapped.stdin_null else "")
    if unwrapped.cwd_file:
        # `builtin`: the line cannot have redefined it (functions named like builtins are refused).
        # A cwd file that cannot be written (a profile whose write roots leave out the temp
        # directory) costs the agent its cwd tracking, not the command's status.
        script += " && { builtin pwd -P >| " + shlex.quote(unwrapped.cwd_file) + " || :; } 2>/dev/null"
    return script


# -- Claude Code -------------------------------------------------------------------------

@cache
def _claude_pattern(with_prefix: bool) -> re.Pattern[str]:
    extglob = (r"\{ shopt -u extglob \|\| setopt NO_EXTENDED_GLOB; \} >/dev/null 2>&1 \|\| true" if with_prefix
               else r"shopt -u extglob 2>/dev/null \|\| true")
    unalias = r"(?: && \{ \\builtin unalias -- 'unsetenv'; \\builtin unset -f -- 'unsetenv'; \} >/dev/null 2>&1 \|\| true)?"
    return re.compile(
        r"source (?P<snapshot>~?" + _SAFE_PATH + r") 2>/dev/null \|\| true && " + extglob + unalias
        + r" && eval '(?P<line>" + _QUOTED_BODY + r")'(?P<null> < /dev/null)? && pwd -P >\| (?P<cwd>" + _SAFE_PATH + r")",
        re.DOTALL)


def _claude(wrapper: str, environ: Mapping[str, str], prefix: str) -> Unwrapped | None:
    found = _claude_pattern(bool(prefix)).fullmatch(wrapper)
    if found is None:
        return None
    snapshot, cwd_file = found["snapshot"], found["cwd"]
    if not _claude_snapshot_ok(snapshot, environ) or not _claude_cwd_file_ok(cwd_file, environ):
        return None
    line = found["line"].replace("'\"'\"'", "'")
    return Unwrapped("claude-code", line, (), bool(found["null"]), cwd_file, snapshot, prefix)


def _claude_snapshot_ok(path: str, environ: Mapping[str, str]) -> bool:
    """CONFIG/shell-snapshots/snapshot-bash-<ms>-<rand>.sh, CONFIG being CLAUDE_CONFIG_DIR or ~/.claude."""
    directory, _, name = path.rpartition("/")
    if not re.fullmatch(r"snapshot-bash-[0-9]{1,16}-[a-z0-9]{1,16}\.sh", name):
        return False
    home = environ.get("HOME", "").rstrip("/")
    configs = {"~/.claude"}
    if home:
        configs.add(home + "/.claude")
    if environ.get("CLAUDE_CONFIG_DIR", "").startswith("/"):
        configs.add(environ["CLAUDE_CONFIG_DIR"].rstrip("/"))
    return any(directory == config + "/shell-snapshots" for config in configs)


def _claude_cwd_file_ok(path: str, environ: Mapping[str, str]) -> bool:
    """TMP/claude-<hex>-cwd, TMP being /tmp, $TMPDIR or $CLAUDE_CODE_TMPDIR, no `..` anywhere."""
    directory, _, name = path.rpartition("/")
    if not re.fullmatch(r"claude-[0-9a-f]{4,32}-cwd", name) or {".", ".."} & set(path.split("/")):
        return False
    allowed = {"/tmp"}
    for variable in ("TMPDIR", "CLAUDE_CODE_TMPDIR"):
        value = environ.get(variable, "").rstrip("/")
        if value.startswith("/"):
            allowed.add(value)
    return directory in allowed


def _strip_prefix(command: str, prefix: str) -> str | None:
    """WRAPPER from `PREFIX "WRAPPER"` as Claude Code formats it, if the prefix is a plain
    path (with flags after ` -`) that needs no quoting; the wrapper must be one
    double-quoted word with nothing in it for the shell to expand."""
    if not re.fullmatch(r"/[A-Za-z0-9_./+@-]+(?: -[A-Za-z0-9_./=@ -]*)?", prefix):
        return None
    head = prefix + ' "'
    if not command.startswith(head) or not command.endswith('"') or len(command) < len(head) + 1:
        return None
    body = command[len(head):-1]
    out = []
    i = 0
    while i < len(body):
        char = body[i]
        if char in '"$`':
            return None  # unescaped: not one literal word
        if char == "\\" and i + 1 < len(body):
            following = body[i + 1]
            if following in '"$`\\':
                out.append(following)
                i += 2
                continue
            if following == "\n":
                return None
        out.append(char)  # bash keeps any other backslash (`\!` stays `\!`)
        i += 1
    return "".join(out)


# -- Codex CLI ---------------------------------------------------------------------------

@cache
def _codex_patterns() -> dict[str, re.Pattern[str]]:
    var = r"__CODEX_SNAPSHOT_(?:PROXY_)?OVERRIDE"
    return {
        "source": re.compile(r"if \. '(" + _SAFE_PATH + r")' >/dev/null 2>&1; then :; fi"),
        "exec": re.compile(r"exec '[A-Za-z0-9_./+@-]+' -c '(?P<line>" + _QUOTED_BODY + r")'(?P<args>(?: '"
                           + _QUOTED_BODY + r"')*+)", re.DOTALL),
        "arg": re.compile(r" '(" + _QUOTED_BODY + r")'", re.DOTALL),
        "capture": re.compile(
            "|".join((var + r"_SET_[0-9]+=\"\$\{" + _NAME + r"\+x\}\"",
                      var + r"_[0-9]+=\"\$\{" + _NAME + r"-\}\"",
                      r"__CODEX_SNAPSHOT_PROXY_ENV_SET=\"\$\{" + _NAME + r"\+x\}\""))),
        "restore": re.compile(
            "|".join((r"if \[ -n \"\$\{" + var + r"_SET_[0-9]+\}\" \]; then export " + _NAME + r"=\"\$\{" + var
                      + r"_[0-9]+\}\";(?: else unset " + _NAME + r";)? fi",
                      r"if \[ -n \"\$__CODEX_SNAPSHOT_PROXY_ENV_SET\" \] \|\| \[ -n \"\$\{" + _NAME
                      + r"\+x\}\" \]; then",
                      r"fi"))),
    }


def _codex_script(script: str, environ: Mapping[str, str]) -> Unwrapped | None:
    patterns = _codex_patterns()
    if script.startswith("if . '"):
        parts = script.split("\n\n", 1)
        if len(parts) != 2:
            return None
        source, exec_line = parts
    else:
        parts = script.split("\n\n", 3)
        if len(parts) != 4:
            return None
        captures, source, restores, exec_line = parts
        if not all(patterns["capture"].fullmatch(x) for x in captures.split("\n")):
            return None
        if not all(patterns["restore"].fullmatch(x) for x in restores.split("\n")):
            return None
    found = patterns["source"].fullmatch(source)
    if found is None or not _codex_snapshot_ok(found[1], environ):
        return None
    run = patterns["exec"].fullmatch(exec_line)
    if run is None:
        return None
    args = tuple(a.replace("'\"'\"'", "'") for a in patterns["arg"].findall(run["args"]))
    return Unwrapped("codex", run["line"].replace("'\"'\"'", "'"), args, snapshot=found[1])


def _codex_argv(args: tuple[str, ...], environ: Mapping[str, str]) -> Unwrapped | None:
    """`SHELL -c '. "$1" && shift && exec "$@"' SNAPSHOT SHELL -lc CMD [ARG...]`."""
    if len(args) < 4 or args[2] not in ("-c", "-lc") or not re.fullmatch(r"/?[A-Za-z0-9_./+@-]+", args[1]):
        return None
    if not _codex_snapshot_ok(args[0], environ):
        return None
    return Unwrapped("codex", args[3], tuple(args[4:]), snapshot=args[0])


def _codex_snapshot_ok(path: str, environ: Mapping[str, str]) -> bool:
    """CODEX_HOME/shell_snapshots/<thread uuid>[.<nonce>].sh, CODEX_HOME defaulting to ~/.codex."""
    directory, _, name = path.rpartition("/")
    if not re.fullmatch(_UUID + r"(?:\.[0-9]{1,24})?\.sh", name):
        return False
    home = environ.get("CODEX_HOME", "") or os.path.join(environ.get("HOME", ""), ".codex")
    return home.startswith("/") and directory == home.rstrip("/") + "/shell_snapshots"
