"""The interactive shell: a prompt with line editing and history; each line is checked
exactly as `agentsh -c` checks it and, if allowed, runs on a PTY."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import termios
import tty
from collections.abc import Iterator

from .errors import EXIT_DENIED
from .parse import parse_line
from .session import Session

HISTORY_LENGTH = 2000


class SessionEnded(Exception):
    pass


def prompt(session: Session) -> str:
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


def run_interactive(session: Session) -> int:
    readline = _readline(session)
    last = 0
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
            text = prompt(session)
            try:
                at_prompt = True
                line = input(text)
            except EOFError:
                sys.stdout.write("exit\n")
                session.record(f"{text}exit\n".encode(), crlf=True)
                return last
            except KeyboardInterrupt:
                sys.stdout.write("^C\n")
                session.record(f"{text}^C\n".encode(), crlf=True)
                continue
            finally:
                at_prompt = False
            session.follow_resize()  # the window may have changed while the prompt waited
            session.record(f"{text}{line}\n".encode("utf-8", "surrogateescape"), crlf=True)
            session.record_input(line.encode("utf-8", "surrogateescape") + b"\r")
            if not line.strip():
                continue
            notice = session.refresh()
            if notice:
                session.say(notice)
            status = exit_status(line, last)
            if status is not None:
                return status
            with _raw_terminal():
                # Keystrokes typed from now on (Ctrl-C included) wait as bytes for the
                # command's terminal instead of signalling agentsh.
                last = session.run_line(line, echo=False)
            if session.killed:
                raise SessionEnded
            if last == EXIT_DENIED:
                continue
    except SessionEnded:
        session.say("agentsh: this session was ended by an operator\n")
        last = 143
        return last
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)
        if readline is not None:
            _save_history(readline, session)
        session.close(last)


@contextlib.contextmanager
def _raw_terminal() -> Iterator[None]:
    if not os.isatty(0):
        yield
        return
    saved = termios.tcgetattr(0)
    tty.setraw(0)
    try:
        yield
    finally:
        termios.tcsetattr(0, termios.TCSADRAIN, saved)


def _readline(session: Session):  # type: ignore[no-untyped-def]
    try:
        import readline
    except ImportError:
        return None
    readline.set_history_length(HISTORY_LENGTH)
    try:
        readline.read_history_file(_history_path(session))
    except OSError:
        pass
    return readline


def _history_path(session: Session) -> str:
    from .record.asciicast import default_directory

    return os.path.join(session.profile.record_dir or default_directory(session.config.environ), "history")


def _save_history(readline, session: Session) -> None:  # type: ignore[no-untyped-def]
    path = _history_path(session)
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)
        readline.write_history_file(path)
    except OSError:
        pass
