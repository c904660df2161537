"""What the policy engine returns: plain data, ready for the runner, explain and audit."""

# No `from __future__ import annotations`: typing.NamedTuple compiles every string
# annotation at import (~4 ms over agentsh -c's models); tests/test_startup_imports.py.

from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from ..profile import STRICTNESS

DEFAULT_RULE = "default-deny"


class Verdict(NamedTuple):
    """The decision for one simple command (or one problem in the line)."""

    command: str  # the command as written
    decision: str  # allow | ask | deny
    reason: str
    rule: str = ""  # the deciding rule's name; "" for checks built into agentsh
    program: str = ""  # resolved program: real path or "builtin:NAME"
    path: str = ""  # where bash will find the program (pinned with `hash -p`)
    name: str = ""  # the command name as typed
    hint: str = ""
    line: int = 1
    wrapped: "tuple[Verdict, ...]" = ()  # programs run by a wrapper (env, timeout, xargs...)
    makes_link: bool = False  # it (or a program it runs) makes a symbolic link: see policy/links.py

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "command": self.command, "decision": self.decision, "reason": self.reason,
            "rule": self.rule, "program": self.program, "line": self.line,
        }
        if self.hint:
            out["hint"] = self.hint
        if self.wrapped:
            out["wrapped"] = [w.to_dict() for w in self.wrapped]
        return out


class Decision(NamedTuple):
    line: str
    decision: str
    verdicts: tuple[Verdict, ...]
    profile: str = ""
    profile_sha256: str = ""
    pins: tuple[tuple[str, str], ...] = ()  # (name, path) for `hash -p`
    approver: dict[str, Any] | None = None  # who approved or denied an `ask`

    @property
    def allowed(self) -> bool:
        return self.decision == "allow"

    @property
    def deciding(self) -> Verdict | None:
        """The first verdict as strict as the whole decision (what a denial names)."""
        return next((v for v in flatten(self.verdicts) if v.decision == self.decision), None)

    @property
    def refused(self) -> list[Verdict]:
        """Every verdict, wrapped ones included, that is not `allow`."""
        return [v for v in flatten(self.verdicts) if v.decision != "allow"]

    def to_dict(self) -> dict[str, Any]:
        deciding = self.deciding
        return {
            "line": self.line,
            "decision": self.decision,
            "rule": deciding.rule if deciding else "",
            "reason": deciding.reason if deciding else "",
            "profile": self.profile,
            "profile_sha256": self.profile_sha256,
            "commands": [v.to_dict() for v in self.verdicts],
        }


def flatten(verdicts: Iterable[Verdict]) -> Iterator[Verdict]:
    for verdict in verdicts:
        yield verdict
        yield from flatten(verdict.wrapped)


def strictest(decisions: list[str]) -> str:
    return max(decisions, key=STRICTNESS.__getitem__) if decisions else "allow"
