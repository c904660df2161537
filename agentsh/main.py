"""Entry point.  Bash-style invocations (`agentsh -c LINE`, `-lc`, script on stdin) are
parsed here without importing click, because agents pay this start-up on every command;
subcommands (`explain`, `profile check`, ...) go to the click CLI in cli.py."""

from __future__ import annotations

import os
import sys

from .errors import EXIT_DENIED, AgentshError, UsageError

SUBCOMMANDS = frozenset({"explain", "profile", "version", "--help", "--version", "help", "approvals",
                         "approve", "deny", "sessions", "replay", "audit", "secret", "env", "kill",
                         "hook", "mcp", "shim", "launch", "doctor"})
# typing costs ~10 ms to import, paid by every `agentsh -c`: its TYPE_CHECKING is not worth it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .session import Session
    from .warm.worker import WarmLine

MAX_STDIN_SCRIPT = 1 << 20
# How agents' wrappers start (adapters/wrappers.py); only these strings pay for importing it.
WRAPPER_STARTS = ("source ", "if . '", "__CODEX_SNAPSHOT_", '. "$1" && shift')


class ShellArgs:
    """What a bash-style command line asked for."""

    def __init__(self) -> None:
        self.command: str | None = None
        self.args: tuple[str, ...] = ()
        self.profile: str | None = None
        self.login = False
        self.interactive = False
        self.stdin = False
        self.options = ""  # bash options given as flags (-e, -u, -x), set before the line runs
        self.argv0 = "agentsh"  # $0 of a script read with -s
        self.noexec = False  # -n: only check the syntax (SWE-ReX runs `bash -n` before each command)
        self.warm: WarmLine | None = None  # when a warm server's worker runs the line: the agent's client and more


def parse_shell_args(argv: list[str]) -> ShellArgs:
    """Accept the option forms agents use to call a shell: -c, -lc, -c -l, -i -c, -s, --login."""
    out = ShellArgs()
    want_command = False
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if arg in ("-p", "--profile"):
            if i + 1 >= len(argv):
                raise UsageError(f"{arg} needs a profile name or path")
            out.profile = _one_profile(out.profile, argv[i + 1])
            i += 2
            continue
        if arg.startswith("--profile="):
            out.profile = _one_profile(out.profile, arg.split("=", 1)[1])
        elif arg == "--login":
            out.login = True
        elif arg in ("--noprofile", "--norc", "--posix"):
            pass  # agentsh never reads bash start-up files
        elif arg.startswith("--"):
            raise UsageError(f"unknown option {arg}")
        elif arg.startswith("-") and len(arg) > 1:
            for letter in arg[1:]:
                if letter == "c":
                    want_command = True
                elif letter == "l":
                    out.login = True
                elif letter == "i":
                    out.interactive = True
                elif letter == "s":
                    out.stdin = True
                elif letter == "n":
                    out.noexec = True
                elif letter in "eux":
                    if letter not in out.options:
                        out.options += letter
                else:
                    raise UsageError(f"unknown option -{letter}")
        else:
            break
        i += 1
    rest = argv[i:]
    if want_command:
        if not rest:
            raise UsageError("-c: option requires an argument")
        out.command, out.args = rest[0], tuple(rest[1:])
    elif rest and out.stdin:
        out.args = tuple(rest)  # as bash -s: positional parameters $1...
    elif rest:
        raise UsageError("running script files is not supported; use -c 'LINE'")
    return out


def _one_profile(given: str | None, profile: str) -> str:
    """A shim puts its baked-in `-p PROFILE` before the caller's words: a caller's own `-p`
    naming another profile must not replace it (the last one would otherwise win)."""
    if given is not None and given != profile:
        raise UsageError(f"the profile is given twice ({given}, then {profile})")
    return profile


def main(argv: list[str] | None = None, argv0: str | None = None, warm: WarmLine | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    argv0 = sys.argv[0] if argv0 is None else argv0
    if argv[:1] == ["hook"]:  # runs on every agent tool call: answer without loading click
        from .adapters.hooks import main as hook_main

        status = hook_main(argv[1:])
        if status is not None:
            return status
    if argv and argv[0] in SUBCOMMANDS:
        from .cli import run_cli

        return run_cli(argv)
    try:
        args = parse_shell_args(argv)
        # sshd and login(1) start a login shell as "-agentsh".
        args.login = args.login or os.path.basename(argv0).startswith("-")
        args.argv0 = argv0
        args.warm = warm
        return run_shell(args)
    except AgentshError as err:
        sys.stderr.write(f"agentsh: {err}\n")
        return err.exit_code
    except KeyboardInterrupt:
        return 130


def run_shell(args: ShellArgs) -> int:
    from .session import session_from_environ, user_name
    from .sysconfig import profile_for

    if args.noexec and not args.interactive:
        _syntax_check(args)
    profile = profile_for(args.profile, user_name())
    terminal = os.isatty(0) and os.isatty(1)
    if args.command is not None:
        session = session_from_environ(profile, terminal=terminal, title_command="agentsh -c")
        if args.warm is not None:  # audited: which process asked, since this one was forked for it
            session.line_context["warm_caller"] = args.warm.caller
            session.warm = args.warm
        line, positional = args.command, args.args
        if line.startswith(WRAPPER_STARTS) or os.environ.get("CLAUDE_CODE_SHELL_PREFIX"):
            from functools import partial

            from .adapters.wrappers import plumbing_script, unwrap

            unwrapped = unwrap(line, positional, session.config.environ)
            if unwrapped is not None:  # only the model's command is checked; agentsh does the plumbing
                line, positional = unwrapped.line, unwrapped.args
                session.plumbing = partial(plumbing_script, unwrapped)
                session.line_context.update(unwrapped.audit_fields())
        return _run_line(session, line, positional, args)
    if not args.stdin and (args.interactive or os.isatty(0)):
        from .interactive import run_interactive

        return run_interactive(session_from_environ(profile, terminal=True, title_command="agentsh -i"))
    script = sys.stdin.buffer.read(MAX_STDIN_SCRIPT + 1)
    if len(script) > MAX_STDIN_SCRIPT:
        sys.stderr.write("agentsh: denied: the script on standard input is larger than 1 MiB\n")
        return EXIT_DENIED
    session = session_from_environ(profile, title_command="agentsh -s")
    return _run_line(session, script.decode("utf-8", "surrogateescape"), (args.argv0, *args.args), args)


def _syntax_check(args: ShellArgs) -> None:
    """`-n`: bash's own syntax check, which runs nothing (no start-up files, no inherited
    BASH_ENV), with bash's messages and status."""
    argv = ["bash", "--noprofile", "--norc", "-n"]
    if args.command is not None:
        argv += ["-c", args.command, *args.args]
    os.execve("/bin/bash", argv, {"PATH": "/usr/bin:/bin", "LC_ALL": os.environ.get("LC_ALL", "C.UTF-8")})


def _run_line(session: Session, line: str, positional: tuple[str, ...], args: ShellArgs) -> int:
    session.shell_options = args.options
    if not session.owns_session:  # joined an agent's session: link an outer recording if it has one
        from .adapters.launch import link_terminal_recording

        link_terminal_recording(session)
    status = None
    try:
        status = session.run_line(line, positional)
        return status
    finally:
        session.close(status)


def entry() -> None:
    argv = sys.argv[1:]
    if warm_eligible(argv):
        from .warm.client import run_warm

        status = run_warm(argv, sys.argv[0])
        if status is not None:
            sys.exit(status)
    sys.exit(main())


def warm_eligible(argv: list[str]) -> bool:
    """A plain `-c LINE` (the agent's every command) may go to the warm server, and is all a
    worker runs: a request for a subcommand (`approve`, `secret`), `-s` or `-i` is refused."""
    if not argv or argv[0] in SUBCOMMANDS or argv[0] == "hook":
        return False
    try:
        args = parse_shell_args(argv)
    except AgentshError:
        return False  # this process says what is wrong
    return args.command is not None and not args.interactive and not args.noexec
