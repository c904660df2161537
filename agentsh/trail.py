"""The session's side of the audit trail: who is acting, and events built from decisions.

The log itself (HMAC chain, locking, verification) is agentsh.audit.  Writing fails
closed: if the trail cannot be written, the command does not run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, TextIO

from .policy import Decision
from .policy.decision import flatten
from .profile import Profile


def identity(environ: Mapping[str, str], user: str) -> dict[str, Any]:
    return {"user": user, "uid": os.getuid(), "agent": environ.get("AGENTSH_AGENT", ""),
            "host": os.uname().nodename}


def decision_fields(decision: Decision, profile: Profile) -> dict[str, Any]:
    deciding = decision.deciding
    return {
        "line": decision.line,
        "decision": decision.decision,
        "rule": deciding.rule if deciding else "",
        "reason": deciding.reason if deciding else "",
        "commands": [{"command": v.command, "program": v.program, "decision": v.decision, "rule": v.rule}
                     for v in flatten(decision.verdicts)],
        "profile": profile.source,
        "profile_sha256": profile.sha256,
        "approver": decision.approver,
    }


class Trail:
    """Opened on first use; every write raises AuditError when it cannot be recorded."""

    def __init__(self, environ: Mapping[str, str], profile: Profile, session: str, who: dict[str, Any],
                 warnings: TextIO | None = None) -> None:
        self.environ = environ
        self.profile = profile
        self.session = session
        self.who = who
        self._log: Any = None
        self._warnings = warnings  # where a failing syslog forward is said, once

    def write(self, kind: str, **fields: Any) -> None:
        if self._log is None:
            from .audit.key import load_key
            from .audit.log import default_path, open_audit_log

            key, _ = load_key(self.environ, use_keyring=self.profile.audit_keyring)
            self._log = open_audit_log(self.profile.audit_file or default_path(self.environ), key,
                                       syslog=self.profile.audit_syslog)
        self._log.write(kind, session=self.session, identity=self.who, user=self.who["user"], **fields)
        if self._log.forward_error and self._warnings is not None:
            # best effort, and the file is the record, but an admin relying on a copy off the
            # host must hear that there is none
            self._warnings.write(f"agentsh: warning: audit events are not forwarded to syslog "
                                 f"({self._log.forward_error}); the log file still has them\n")
            self._warnings = None

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
