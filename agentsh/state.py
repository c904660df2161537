"""Carry `cd` and exports of passed variables from one interactive line to the next.

Each line runs in a fresh bash, so nothing else (shell variables, options, traps)
leaks between lines.  An EXIT trap, set by agentsh before the line, reports the
final directory and the passed variables on an inherited pipe.  The line itself
cannot set traps (`trap` is refused), but its builtins could write to the pipe, so
the session re-checks whatever comes back (read roots for the directory, the
profile's env rules for variables, the locale check for LC_ALL/LC_CTYPE/LANG) before using
it: a line that writes a report and then dies by `kill -9 $$` (no trap) forges it whole.
"""

from __future__ import annotations

import fcntl
import os
import re
import shlex

from .profile import Profile

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_STATE = 1 << 20


class StateChannel:
    def __init__(self, profile: Profile, extra: tuple[str, ...] = ()) -> None:
        # extra: shell variables a frontend asked to see (the interactive shell's prompt evaluation)
        self.names = sorted({n for n in (*profile.env_pass, *extra) if _NAME.fullmatch(n)})
        self.read_fd = -1
        self.write_fd = -1

    def __enter__(self) -> StateChannel:
        self.read_fd, self.write_fd = os.pipe()
        os.set_inheritable(self.write_fd, True)  # bash's EXIT trap writes to it
        flags = fcntl.fcntl(self.read_fd, fcntl.F_GETFL)
        fcntl.fcntl(self.read_fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        return self

    def __exit__(self, *_exc: object) -> None:
        for fd in (self.read_fd, self.write_fd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.read_fd = self.write_fd = -1

    @property
    def fds(self) -> tuple[int, ...]:
        return (self.write_fd,)

    def wrap(self, script: str) -> str:
        """Prefix the script with the reporting trap, on its first line."""
        fd = self.write_fd
        report = ['builtin printf "cwd=%s\\0" "$PWD"']
        for name in self.names:
            report.append(f'if [ "${{{name}+set}}" = set ]; then builtin printf "set:{name}=%s\\0" "${name}"; '
                          f'else builtin printf "unset:{name}\\0"; fi')
        body = "{ " + "; ".join(report) + f"; }} >&{fd} 2>/dev/null"
        return f"trap {shlex.quote(body)} EXIT;" + script

    def collect(self) -> tuple[str | None, dict[str, str | None]]:
        """What the trap reported: (cwd or None, {name: value or None for unset})."""
        os.close(self.write_fd)
        self.write_fd = -1
        chunks = []
        size = 0
        while size < MAX_STATE:
            try:
                data = os.read(self.read_fd, 65536)
            except BlockingIOError:
                break  # a background process still holds the pipe; take what is there
            if not data:
                break
            chunks.append(data)
            size += len(data)
        cwd: str | None = None
        exports: dict[str, str | None] = {}
        for item in b"".join(chunks).decode("utf-8", "surrogateescape").split("\0"):
            if item.startswith("cwd="):
                cwd = item[4:]
            elif item.startswith("set:") and "=" in item:
                name, _, value = item[4:].partition("=")
                if name in self.names:
                    exports[name] = value
            elif item.startswith("unset:") and item[6:] in self.names:
                exports[item[6:]] = None
        return cwd, exports
