"""The interactive shell: a prompt with line editing and history; each line is checked
exactly as `agentsh -c` checks it and, if allowed, runs on a PTY.

It behaves as interactive bash does for programs that drive a shell over a PTY (SWE-ReX,
OpenHands, pexpect scripts): PS1/PS2/PS0 and PROMPT_COMMAND, `$?` carried from line to
line, PS2 continuation of unfinished lines, no echo when the terminal's echo is off, and
Ctrl-C for the running command.  Prompt variables are the shell's own state, never
environment: a line that only sets them is done by agentsh itself, and whatever in them
would run code (PROMPT_COMMAND, `$(...)` in a prompt) is checked and run like a line
(docs/pty-harnesses.md).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import termios
from typing import Any

from .errors import EXIT_DENIED
from .lineedit import save_history, start_readline
from .parse import parse_line
from .prompt import PromptContext, ansi_c_quote, decode, expand_simple, needs_shell, shell_word, visible
from .session import Session, denial_message
from .shellinput import Statement, continuation, prompt_statements
from .terminal import echoing, raw_terminal, terminal_modes

DEFAULT_PS2 = "> "


class SessionEnded(Exception):
    pass


class Unfinished(Exception):
    """Ctrl-D (end of input) at PS2: the unfinished command is dropped, as bash does."""


def prompt(session: Session) -> str:
    """agentsh's own prompt, used while the agent has not set PS1."""
    home = session.host.home.rstrip("/")
    cwd = session.cwd
    if home and (cwd == home or cwd.startswith(home + "/")):
        cwd = "~" + cwd[len(home):]
    return f"agentsh({session.profile.name}):{cwd}$ "


def exit_status(line: str, last: int) -> int | None:
    """The status to end the session with, if the line is `exit [N]` or `logout`."""
    parsed = parse_line(line)
    if not parsed.ok or len(parsed.commands) != 1 or parsed.redirects:
        return None
    argv = [w.value for w in parsed.commands[0].argv]
    if argv[:1] not in (["exit"], ["logout"]) or None in argv or len(argv) > 2:
        return None
    if len(argv) == 1:
        return last
    value = argv[1] or ""
    return int(value) & 0xFF if value.isdigit() else None


class InteractiveShell:
    def __init__(self, session: Session) -> None:
        self.session = session
        # Prompt variables in agentsh's own environment are not taken: a PROMPT_COMMAND there
        # is code nobody typed, and bash as installed replaces an inherited PS1 in its rc file
        # (harnesses such as SWE-ReX count on that: they export their PS1 after start-up).
        self.variables: dict[str, str] = {}
        self.status = 0  # $?
        self.count = 1  # \#
        self.noticed: set[str] = set()  # refusals of prompt code already said once
        session.plumbing = self._plumbing

    # -- prompts ----------------------------------------------------------------------
    def _plumbing(self, line: str) -> str:
        """Each line's bash gets the prompt variables (as shell variables) and `$?`."""
        prefix = "".join(f"{name}={ansi_c_quote(value)};" for name, value in sorted(self.variables.items()))
        if self.status:
            prefix += f"(exit {self.status});"
        return prefix + line

    def context(self) -> PromptContext:
        import socket

        from .run import build_environment

        session = self.session
        variables = build_environment(session.profile, session.config.environ, session.cwd)
        variables.update({k: v for k, v in session.exports.items() if v is not None})
        variables.update(self.variables)
        try:
            terminal = os.ttyname(0)
        except OSError:
            terminal = ""
        return PromptContext(user=session.user, host=socket.gethostname(), cwd=session.cwd, home=session.host.home,
                             euid=os.geteuid(), status=self.status, command_number=self.count,
                             history_number=self.count, tty=terminal, pid=os.getpid(), variables=variables)

    def expand(self, name: str) -> str | None:
        """The prompt variable as bash would print it; None if it is unset."""
        value = self.variables.get(name)
        if value is None:
            return None
        ctx = self.context()
        decoded = decode(value, ctx)
        if not needs_shell(decoded):
            return expand_simple(decoded, ctx)
        values = self.evaluate([shell_word(decoded)], origin=name)
        return values[0] if values is not None else expand_simple(decoded, ctx)

    def evaluate(self, words: list[str], origin: str, typed_line: str | None = None) -> list[str] | None:
        """Bash's values of words that run code, by one line checked and run like any other
        (audited and recorded, with the line the agent typed if it typed one); None if the
        profile refuses it."""
        session = self.session
        names = tuple(f"__agentsh_value{i}" for i in range(len(words)))
        line = ";".join(f"{name}={word}" for name, word in zip(names, words, strict=True))
        if typed_line is None:
            decision = session.decide(line)
            if not decision.allowed:
                if line not in self.noticed:  # a prompt is printed often: say it once
                    self.noticed.add(line)
                    session.say(f"agentsh: {origin} is shown unexpanded; what it runs is refused:\n"
                                + denial_message(decision))
                return None
        session.report_names, session.reported = names, {}
        session.line_context = {"origin": origin} if typed_line is None else {"origin": origin, "typed": typed_line}
        try:
            self.run_checked(line)
            if not session.reported:
                return None  # refused (run_line said why): nothing ran, so nothing reported
            return [session.reported.get(name) or "" for name in names]
        finally:
            session.report_names, session.line_context = (), {}

    def apply(self, statements: list[Statement], origin: str, typed_line: str | None = None) -> int:
        """Make the changes of a prompt-setting line; its status."""
        dynamic = [s for s in statements if s.op in ("=", "+=") and s.value is None]
        if dynamic:
            values = self.evaluate([s.source for s in dynamic], origin, typed_line)
            if values is None:
                return EXIT_DENIED
            for statement, value in zip(dynamic, values, strict=True):
                statement.value = value
        for statement in statements:
            if statement.op == "unset":
                self.variables.pop(statement.name, None)
            elif statement.op == "=":
                self.variables[statement.name] = statement.value or ""
            elif statement.op == "+=":
                self.variables[statement.name] = self.variables.get(statement.name, "") + (statement.value or "")
        return 0

    def prompt_command(self) -> None:
        """Run PROMPT_COMMAND before the prompt, checked; `$?` stays the last line's."""
        command = self.variables.get("PROMPT_COMMAND", "")
        if not command.strip():
            return
        statements = prompt_statements(command, self.session.host.home)
        if statements is not None:
            self.apply(statements, "PROMPT_COMMAND")
            return
        decision = self.session.decide(command)
        if not decision.allowed:
            if command not in self.noticed:
                self.noticed.add(command)
                self.session.say("agentsh: PROMPT_COMMAND is not run; the profile refuses it:\n"
                                 + denial_message(decision))
            return
        self.session.line_context = {"origin": "PROMPT_COMMAND"}
        try:
            self.run_checked(command)
        finally:
            self.session.line_context = {}

    # -- lines ------------------------------------------------------------------------
    def run_checked(self, line: str) -> int:
        """Run a line on a PTY that starts with this terminal's modes, as bash's commands share
        its terminal; modes the command leaves (`stty -echo`) are kept if it exits normally."""
        session = self.session
        modes = terminal_modes()
        left: list[list[Any]] = []
        session.pty_modes, session.on_pty_modes = modes, left.append
        try:
            with raw_terminal():
                # Keystrokes typed from now on (Ctrl-C included) wait as bytes for the
                # command's terminal instead of signalling agentsh.
                status = session.run_line(line, echo=False)
        finally:
            session.pty_modes, session.on_pty_modes = None, None
        if modes is not None and left and left[-1][:4] + left[-1][6:] != modes[:4] + modes[6:] and status < 128:
            # keep our own line speeds; take the flags and control characters
            with contextlib.suppress(termios.error):
                termios.tcsetattr(0, termios.TCSADRAIN, left[-1][:4] + modes[4:6] + left[-1][6:])
        return status

    def read(self, ps1: str) -> str:
        """One command: a line, and more lines after PS2 while it is unfinished."""
        line = self._input(ps1)
        while True:
            more = continuation(line)
            if more is None:
                return line
            ps2 = self.expand("PS2")
            try:
                following = self._input(DEFAULT_PS2 if ps2 is None else ps2)
            except EOFError:
                raise Unfinished from None
            line = line[:-1] + following if more == "join" else line + "\n" + following

    def _input(self, text: str) -> str:
        try:
            line = input(text)
        except (EOFError, KeyboardInterrupt):
            # the prompt was on the agent's screen all the same (then `exit` or `^C` follows)
            self.session.recording.output(visible(text).encode("utf-8", "surrogateescape"), crlf=True)
            raise
        echo_on = echoing()
        shown = visible(text) + (line + "\n" if echo_on else "")
        self.session.recording.output(shown.encode("utf-8", "surrogateescape"), crlf=True)
        self.session.recording.input(line.encode("utf-8", "surrogateescape") + b"\r")
        return line

    def do(self, line: str) -> int:
        """Run one command typed at the prompt; its status becomes `$?`."""
        statements = prompt_statements(line, self.session.host.home)
        if statements is not None:
            if any(s.value is None and s.op in ("=", "+=") for s in statements):
                return self.apply(statements, "prompt variables", typed_line=line)
            return self._audited_prompt_line(line, statements)
        return self.run_checked(line)

    def _audited_prompt_line(self, line: str, statements: list[Statement]) -> int:
        """A line that sets prompt variables to plain text: agentsh does it; the audit trail says so."""
        from .audit.log import AuditError

        session = self.session
        try:
            session.trail.write("line", command=session.next_command_id(), line=line, cwd=session.cwd,
                                done_by="agentsh", sets=sorted({s.name for s in statements}))
        except AuditError as err:
            session.say(f"agentsh: denied: cannot write the audit trail: {err}\n")
            return EXIT_DENIED
        return self.apply(statements, "prompt variables")


def run_interactive(session: Session) -> int:
    readline = start_readline(session)
    shell = InteractiveShell(session)
    at_prompt = False

    def interrupt(_signum: int, _frame: object) -> None:
        # Like bash: Ctrl-C at the prompt discards the line; between commands it is ignored
        # (while a command runs, the PTY runner forwards it to the command).
        if at_prompt:
            raise KeyboardInterrupt

    def terminate(_signum: int, _frame: object) -> None:
        raise SessionEnded  # `agentsh kill` (or any SIGTERM) at the prompt ends the session

    previous = signal.signal(signal.SIGINT, interrupt)
    previous_term = signal.signal(signal.SIGTERM, terminate)
    session.watch_profile()
    session.begin()
    try:
        while True:
            shell.prompt_command()
            ps1 = shell.expand("PS1")
            text = prompt(session) if ps1 is None else ps1
            try:
                at_prompt = True
                line = shell.read(text)
            except EOFError:
                sys.stdout.write("exit\n")
                session.recording.output(b"exit\n", crlf=True)
                return shell.status
            except Unfinished:
                session.say("agentsh: syntax error: unexpected end of file\n")
                shell.status = 2
                continue
            except KeyboardInterrupt:
                sys.stdout.write("^C\n")
                session.recording.output(b"^C\n", crlf=True)
                shell.status = 130
                continue
            finally:
                at_prompt = False
            session.recording.follow_resize()  # the window may have changed while the prompt waited
            if not line.strip():
                continue  # bash keeps $? over an empty line
            notice = session.refresh()
            if notice:
                session.say(notice)
            status = exit_status(line, shell.status)
            if status is not None:
                return status
            ps0 = shell.expand("PS0")
            if ps0:
                sys.stdout.write(visible(ps0))
                sys.stdout.flush()
                session.recording.output(visible(ps0).encode("utf-8", "surrogateescape"), crlf=True)
            shell.status = shell.do(line)
            shell.count += 1
            if session.killed:
                raise SessionEnded
    except SessionEnded:
        session.say("agentsh: this session was ended by an operator\n")
        shell.status = 143
        return shell.status
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)
        if readline is not None:
            save_history(readline, session)
        session.close(shell.status)
