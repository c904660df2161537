"""Forwarding audit events to syslog/journald (`audit.syslog: true`): each event's JSON line,
MAC included, as the MSG of an RFC 5424 message, so a copy leaves the host's user accounts
as it is written.  The file stays the record; a failed send is reported, not fatal."""

from __future__ import annotations

import os
from typing import ClassVar

from .log import AuditError


class SyslogForwarder:
    """Sends each event to syslog/journald as an RFC 5424 message whose MSG is the event's JSON line."""

    SEVERITY: ClassVar[dict[str, str]] = {
        "error": "ERROR", "session_start": "NOTICE", "session_end": "NOTICE", "reload": "NOTICE"}

    def __init__(self, address: str | tuple[str, int]) -> None:
        import logging.handlers  # only when forwarding is on: logging costs start-up time
        import socket

        class Handler(logging.handlers.SysLogHandler):
            failure = ""

            def handleError(self, record: logging.LogRecord) -> None:
                # Never print a traceback into the agent's stderr; remember it for the caller.
                import sys

                self.failure = f"{type(sys.exc_info()[1]).__name__}: {sys.exc_info()[1]}"

        self._logging = logging
        self.address = address
        try:
            self.handler = Handler(address=address, facility=logging.handlers.SysLogHandler.LOG_AUTHPRIV)
        except OSError as err:  # UDP: the host name does not resolve
            raise AuditError(f"cannot forward audit events to syslog at {address}: {err.strerror or err}") from None
        self.handler.append_nul = False  # RFC 5424 frames end at the datagram's end, not at a NUL
        self.handler.priority_map = {**self.handler.priority_map, "NOTICE": "notice"}
        name = socket.gethostname()[:255]
        # RFC 5424 HOSTNAME: printable US-ASCII without spaces, "-" when unknown
        self.hostname = name if name and name.isascii() and name.isprintable() and " " not in name else "-"
        self.pid = str(os.getpid())

    def send(self, event: dict[str, object], line: bytes) -> str:
        kind = str(event.get("kind", "-"))
        level = self.SEVERITY.get(kind, "INFO")
        if kind == "decision" and event.get("decision") == "deny":
            level = "WARNING"
        # SysLogHandler adds "<PRI>"; the rest of the RFC 5424 header is ours:
        # VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG
        message = (f"1 {event.get('time', '-')} {self.hostname} agentsh {self.pid} {_msgid(kind)} "
                   f"[agentsh@32473 seq=\"{event.get('seq')}\"] {line.decode('utf-8').rstrip()}")
        record = self._logging.makeLogRecord({"msg": message, "levelname": level, "levelno": 20})
        self.handler.failure = ""
        self.handler.emit(record)
        if self.handler.failure:
            return f"cannot forward audit event to syslog at {self.address}: {self.handler.failure}"
        return ""

    def close(self) -> None:
        self.handler.close()


def _msgid(kind: str) -> str:
    # MSGID is 1-32 printable US-ASCII characters without spaces.
    return kind[:32] or "-"
