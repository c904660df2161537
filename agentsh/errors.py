"""Exceptions shared by the pipeline stages, and the exit codes they map to."""

from __future__ import annotations

EXIT_USAGE = 2  # bad invocation or bad configuration (bash uses 2 for usage errors)
EXIT_DENIED = 126  # the line was refused; bash uses 126 for "cannot execute"


class AgentshError(Exception):
    exit_code = EXIT_USAGE


class ConfigError(AgentshError):
    """A profile or config file is wrong; names the file, line and key."""

    def __init__(self, message: str, file: str = "", line: int | None = None, key: str = "") -> None:
        self.file = file
        self.line = line
        self.key = key
        self.detail = message
        where = file or "<profile>"
        if line is not None:
            where += f":{line}"
        if key:
            where += f": {key}"
        super().__init__(f"{where}: {message}")


class UsageError(AgentshError):
    pass
