"""Tamper-evident audit trail: an HMAC-chained JSONL log, its key, verification and search.

Nothing heavy is imported here: agentsh opens the log on every agent command, so
`keyring` and `logging` are imported only by the calls that need them.
"""

from __future__ import annotations

from .log import KINDS, AuditError, AuditLog, default_path, open_audit_log

__all__ = ["KINDS", "AuditError", "AuditLog", "default_path", "open_audit_log"]
