"""Prepare credential injection for one approved line (see broker.py for the mechanism)."""

from __future__ import annotations

import re
from typing import NamedTuple

from ..parse import SimpleCommand, Word
from ..policy import Decision, Policy
from ..policy.decision import flatten
from ..policy.hazards import is_exec_capable
from ..profile import Rule
from .broker import SOCKET_ENV, CredentialBroker
from .store import CredentialError, fetch

_PROC = re.compile(r"/proc\b|\$PPID|\$\$")


class Injection(NamedTuple):
    broker: CredentialBroker
    secrets: tuple[str, ...]  # values, for the redactor only
    variables: tuple[str, ...]  # names, for messages and the audit trail
    bash: list[int]  # the line's bash, once spawned: only its descendants get credentials

    def on_spawn(self, pid: int) -> None:
        self.bash[:] = [pid]

    def pins(self) -> list[tuple[str, str]]:
        return self.broker.pins()

    def env(self) -> dict[str, str]:
        return {SOCKET_ENV: self.broker.socket_path}

    def close(self) -> None:
        self.broker.close()


def credentialed_rules(decision: Decision, policy: Policy) -> list[Rule]:
    by_name = {rule.name: rule for rule in policy.profile.rules}
    rules = []
    for verdict in flatten(decision.verdicts):
        rule = by_name.get(verdict.rule)
        if verdict.decision == "allow" and rule is not None and rule.credentials:
            rules.append(rule)
    return rules


def prepare(decision: Decision, policy: Policy) -> Injection | None:
    """Read the keyring for the rules that allowed this line; None if none needs credentials.

    Raises CredentialError (the line is refused) when a credential is missing, the
    keyring is unavailable, or the line could let another program reach the secret.
    """
    rules = credentialed_rules(decision, policy)
    if not rules:
        return None
    _check_line(decision, rules)
    values_by_rule = {rule.name: fetch(rule.credentials) for rule in {r.name: r for r in rules}.values()}
    remaining = {rule.name: 0 for rule in rules}
    for rule in rules:
        remaining[rule.name] += 1  # one issue per approved command
    names = sorted({v.name for v in flatten(decision.verdicts)
                    if v.rule in remaining and v.decision == "allow" and "/" not in v.name})
    bash: list[int] = [0]
    broker_ref: list[CredentialBroker] = []

    def issue(argv: list[str], cwd: str) -> tuple[str, dict[str, str]]:
        command = SimpleCommand(argv=tuple(Word(a, a) for a in argv), text=" ".join(argv))
        verdict = policy.check_command(command, [cwd])
        if verdict.decision != "allow":
            raise PermissionError(f"{command.text}: {verdict.reason} (re-checked at exec)")
        rule = next((r for r in rules if r.name == verdict.rule), None)
        if rule is None:
            raise PermissionError(f"{command.text}: allowed by rule {verdict.rule}, which has no credentials")
        if remaining[rule.name] <= 0:
            raise PermissionError(f"{command.text}: the credentials of rule {rule.name} were already handed out")
        remaining[rule.name] -= 1
        values = values_by_rule[rule.name]
        env = {c.variable: values[c.variable] if c.kind == "env" else broker_ref[0].file_for(c.variable, values[c.variable])
               for c in rule.credentials}
        return verdict.path, env

    broker = CredentialBroker(names, issue, lambda: bash[0])
    broker_ref.append(broker)
    return Injection(broker, tuple(v for values in values_by_rule.values() for v in values.values()),
                     tuple(sorted({c.variable for r in rules for c in r.credentials})), bash)


def _check_line(decision: Decision, rules: list[Rule]) -> None:
    """A secret is only as private as the least trusted command beside it."""
    if _PROC.search(decision.line):
        raise CredentialError("a line that runs a command with credentials may not refer to /proc, $$ or $PPID")
    credentialed = {r.name for r in rules}
    for verdict in flatten(decision.verdicts):
        if verdict.rule in credentialed or not verdict.program:
            continue
        name = verdict.program.rsplit("/", 1)[-1].removeprefix("builtin:")
        if is_exec_capable(verdict.name, name):
            raise CredentialError(f"{verdict.command}: {name} can start other programs, so it may not run in "
                                  "the same line as a command that receives credentials")
