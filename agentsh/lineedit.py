"""The interactive shell's line editor: readline started so that nothing a line could plant
(an init file, a terminal description) is read by agentsh itself, and the history file."""

from __future__ import annotations

import os

from .session import Session

HISTORY_LENGTH = 2000


SYSTEM_TERMINFO = ("/etc/terminfo", "/lib/terminfo", "/usr/share/terminfo")


def start_readline(session: Session):  # type: ignore[no-untyped-def]
    # readline reads its init file ($INPUTRC, else ~/.inputrc, else /etc/inputrc) at import, in
    # agentsh itself, before any check: a line could write `$include ~/.ssh/id_rsa` into
    # ~/.inputrc (a workspace in $HOME), and the next interactive start printed the key's lines
    # in readline's "no key sequence terminator" errors, unrecorded.  So readline gets no init
    # file: its default (emacs) bindings.  putenv, not os.environ: the C library's environment
    # is what readline reads, and nothing agentsh starts inherits it (commands get a rebuilt one).
    os.putenv("INPUTRC", os.devnull)
    # The same for the terminal's description, which ncurses (at readline's start) looks for in
    # $TERMINFO and ~/.terminfo before the system's: a line could plant one whose strings
    # readline then wrote to the agent's terminal, unrecorded.  So for that start TERMINFO is
    # the system's directory and HOME leads nowhere; HOME is put back at once (tilde expansion).
    os.putenv("TERMINFO", _system_terminfo(session.config.environ.get("TERM", "")))
    home = os.environ.get("HOME")
    os.putenv("HOME", os.devnull)
    try:
        import readline
    except ImportError:
        return None
    finally:
        if home is None:
            os.unsetenv("HOME")
        else:
            os.putenv("HOME", home)
    readline.set_history_length(HISTORY_LENGTH)
    try:
        readline.read_history_file(_history_path(session))
    except OSError:
        pass
    return readline


def _system_terminfo(term: str) -> str:
    """The system directory that holds TERM's description (ncurses' own order), or the last."""
    for directory in SYSTEM_TERMINFO:
        if term and (os.path.exists(os.path.join(directory, term[0], term))
                     or os.path.exists(os.path.join(directory, f"{ord(term[0]):x}", term))):
            return directory
    return SYSTEM_TERMINFO[-1]


def _history_path(session: Session) -> str:
    from .record.asciicast import default_directory

    return os.path.join(session.profile.record_dir or default_directory(session.config.environ), "history")


def save_history(readline, session: Session) -> None:  # type: ignore[no-untyped-def]
    path = _history_path(session)
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)
        readline.write_history_file(path)
    except OSError:
        pass
