"""Prepare credential injection for one approved line (see broker.py for the mechanism)."""

from __future__ import annotations

import re
import resource
from typing import NamedTuple

from ..parse import SimpleCommand, Word, parse_line
from ..policy import Decision, Policy
from ..policy.decision import flatten
from ..policy.hazards import is_exec_capable
from ..profile import Rule
from .broker import LEFTOVER_ENV, CredentialBroker, credentials_root
from .store import CredentialError, fetch

_PROC = re.compile(r"/proc\b|\$PPID|\$\$")
# Programs that read other processes' environments from /proc themselves (`ps e`, top's `E`).
_READS = frozenset({"<", "<>"})  # redirections that open a file for reading
_PROCESS_READERS = frozenset({"ps", "top", "htop", "btop", "atop", "procs", "pidstat", "pgrep", "pkill", "lsof"})
# Programs (none of them able to start others, which are refused anyway) that read every
# file below a directory: always (None), or with one of these short option letters or long
# options.  `grep -rsa MY_TOKEN /` read the credentialed process's /proc/PID/environ and
# `cp -r /tmp d` its `as: file` file, with no path into either written in the line, in
# confined mode too (Landlock cannot deny /proc or that directory to the line: the
# credentialed program needs them).
_GREP = ("rRd", ("--recursive", "--dereference-recursive", "--directories"))
_RECURSIVE: dict[str, tuple[str, tuple[str, ...]] | None] = {
    "grep": _GREP, "egrep": _GREP, "fgrep": _GREP, "ugrep": _GREP, "rgrep": None,
    "ag": None, "ack": None, "ack-grep": None, "pt": None, "sift": None, "ucg": None, "rga": None,
    "7z": None, "7za": None, "7zr": None,
    "cp": ("rRa", ("--recursive", "--archive")), "diff": ("r", ("--recursive",)),
}


class Injection(NamedTuple):
    broker: CredentialBroker
    policy: Policy  # the line's profile with /proc denied: the exec guard decides this line's execs by it
    secrets: tuple[str, ...]  # values, for the redactor only
    variables: tuple[str, ...]  # names, for messages and the audit trail
    bash: list[int]  # the line's bash, once spawned: only its descendants get credentials

    def on_spawn(self, pid: int) -> None:
        self.bash[:] = [pid]

    def pins(self) -> list[tuple[str, str]]:
        return self.broker.pins()

    def env(self) -> dict[str, str]:
        return {}  # nothing: the helper has its broker's socket written in it

    def close(self) -> int:
        """Stop the broker; how many processes still holding the line's credentials it ended."""
        self.broker.close()
        return self.broker.ended


def granted(decision: Decision) -> tuple[str, ...]:
    """The verdicts that let a command of this line run: `allow`, and `ask` once a person
    approved the line (before, an approved `ask` rule's program ran without its credentials)."""
    return ("allow", "ask") if decision.decision == "allow" and decision.approver is not None else ("allow",)


def credentialed_rules(decision: Decision, policy: Policy) -> list[Rule]:
    by_name = {rule.name: rule for rule in policy.profile.rules}
    rules = []
    for verdict in flatten(decision.verdicts):
        rule = by_name.get(verdict.rule)
        if verdict.decision in granted(decision) and rule is not None and rule.credentials:
            rules.append(rule)
    return rules


def without_proc(policy: Policy, *also: str) -> Policy:
    """The policy with /proc (and `also`) denied, for a line that runs a credentialed command.

    Every other command of the line runs beside the credentialed process, whose
    /proc/PID/environ holds the secret; the read check follows globs, `cd`, `..` and
    symlinks (`cd / && cat proc/*/environ`, `/dev/fd/../..`), which the text of the line
    alone does not show."""
    profile = policy.profile
    return Policy(profile._replace(read_deny=(*profile.read_deny, "/proc", *also)), policy.host)


def prepare(decision: Decision, policy: Policy, cwd: str | None = None) -> Injection | None:
    """Read the keyring for the rules that allowed this line; None if none needs credentials.

    Raises CredentialError (the line is refused) when a credential is missing, the
    keyring is unavailable, or the line could let another program reach the secret.
    """
    rules = credentialed_rules(decision, policy)
    if not rules:
        return None
    guarded = without_proc(policy)
    # The line's text is also checked with the broker's directories denied: they hold the
    # `as: file` files (`cat /tmp/agentsh-cred*/*/TOKEN_FILE-*` read one beside the program),
    # the helper and the socket (a replaced helper would get the credentials; a denied read
    # root is not written either).  Not at exec: the credentialed program's own children
    # (a script's `cat "$TOKEN_FILE"`) read its file, and the guard does not know whose
    # child an exec is.
    _check_line(decision, rules, without_proc(policy, credentials_root()), cwd)
    # No core dump from here on, of agentsh (which now holds the secrets) or of anything the
    # line starts (they inherit it; a hard limit of 0 cannot be raised again without
    # privilege): with a soft limit above 0, a credentialed program that crashed (or got
    # Ctrl-backslash) wrote its environment to `core` in the working directory, for a later
    # line to read.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    values_by_rule = {rule.name: fetch(rule.credentials) for rule in {r.name: r for r in rules}.values()}
    remaining = {rule.name: 0 for rule in rules}
    for rule in rules:
        remaining[rule.name] += 1  # one issue per approved command
    names = sorted({v.name for v in flatten(decision.verdicts)
                    if v.rule in remaining and v.decision in granted(decision) and "/" not in v.name})
    bash: list[int] = [0]
    broker_ref: list[CredentialBroker] = []

    def issue(argv: list[str], cwd: str) -> tuple[str, dict[str, str]]:
        command = SimpleCommand(argv=tuple(Word(a, a) for a in argv), text=" ".join(argv))
        verdict = policy.check_command(command, [cwd])
        # (an `ask` verdict only for a rule approved in this line: `rules` holds no other)
        if verdict.decision not in granted(decision):
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
        if not rule.background:  # ended with the line (CredentialBroker.close)
            env[LEFTOVER_ENV] = broker_ref[0].marker
        return verdict.path, env

    try:
        broker = CredentialBroker(names, issue, lambda: bash[0])
    except OSError as err:  # no private directory for it: nothing is handed out
        raise CredentialError(f"cannot start the credential broker: {err}") from None
    broker_ref.append(broker)
    return Injection(broker, guarded, tuple(v for values in values_by_rule.values() for v in values.values()),
                     tuple(sorted({c.variable for r in rules for c in r.credentials})), bash)


def _check_line(decision: Decision, rules: list[Rule], guarded: Policy, cwd: str | None) -> None:
    """A secret is only as private as the least trusted command beside it."""
    if _PROC.search(decision.line):
        raise CredentialError("a line that runs a command with credentials may not refer to /proc, $$ or $PPID")
    # The line again with /proc denied: the line was allowed (or approved), so any refusal
    # now is a read of /proc however the path is written.
    for verdict in flatten(guarded.decide(decision.line, cwd).verdicts):
        if verdict.decision == "deny":
            raise CredentialError(f"{verdict.command}: {verdict.reason}; a line that runs a command with "
                                  "credentials may not read /proc or agentsh's credentials directory")
    # bash opens a redirection's file itself, with no exec for the guard to check: one only
    # known at run time (`x=pro; read -d '' v < "/${x}c/$!/environ"`) could be /proc.
    parsed = parse_line(decision.line, guarded.host.home)
    for redirect in parsed.redirects:
        if redirect.op in _READS and redirect.target is not None and redirect.target.value is None:
            raise CredentialError(f"{redirect.text}: a line that runs a command with credentials may not read "
                                  "a file only known at run time")
    credentialed = {r.name for r in rules}
    programs = {v.name for v in flatten(decision.verdicts) if v.rule in credentialed}
    for command in parsed.commands:
        reader = None if command.name is not None and command.name.value in programs else _recursive_reader(command)
        if reader:
            raise CredentialError(f"{command.text}: {reader} reads the files below a directory, so it may not run "
                                  "in the same line as a command that receives credentials")
    for verdict in flatten(decision.verdicts):
        if verdict.rule in credentialed or not verdict.program:
            continue
        name = verdict.program.rsplit("/", 1)[-1].removeprefix("builtin:")
        if is_exec_capable(verdict.name, name):
            raise CredentialError(f"{verdict.command}: {name} can start other programs, so it may not run in "
                                  "the same line as a command that receives credentials")
        if name in _PROCESS_READERS or verdict.name in _PROCESS_READERS:
            raise CredentialError(f"{verdict.command}: {name} reads other processes' environments, so it may "
                                  "not run in the same line as a command that receives credentials")


def _recursive_reader(command: SimpleCommand) -> str | None:
    """The name of a program of _RECURSIVE that this command runs reading recursively (a
    word anywhere in it, so that a wrapper's `timeout 5 grep -r` is seen too), or None."""
    for at, word in enumerate(command.argv):
        name = (word.value or "").rsplit("/", 1)[-1]
        if name not in _RECURSIVE:
            continue
        options = _RECURSIVE[name]
        if options is None:
            return name
        letters, longs = options
        for arg in command.argv[at + 1:]:
            value = arg.value
            if value is None:
                if not arg.prefix or arg.prefix.startswith("-"):
                    return name  # it could be one of the options
                continue
            if value == "--":
                break
            given = value.split("=", 1)[0]
            if given.startswith("--") and len(given) > 2 and any(long.startswith(given) for long in longs):
                return name
            if given.startswith("-") and not given.startswith("--") and set(given[1:]) & set(letters):
                return name  # (an option's argument in the cluster too: refused rather than parsed)
    return None
