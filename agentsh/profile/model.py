"""The profile as the policy engine sees it: validated, merged, paths resolved."""

# No `from __future__ import annotations`: typing.NamedTuple compiles every string
# annotation at import (~4 ms over agentsh -c's models); tests/test_startup_imports.py.

from typing import NamedTuple

DECISIONS = ("allow", "ask", "deny")
# Higher is stricter; the strictest matching rule decides.
STRICTNESS = {"allow": 0, "ask": 1, "deny": 2}

ANY_REST = "..."


class ArgPattern(NamedTuple):
    """One `args:` entry: a glob per argv element, `...` for any number of elements."""

    text: str
    elements: tuple[str, ...]


class Credential(NamedTuple):
    variable: str  # the environment variable the command receives
    service: str  # keyring service
    user: str  # keyring user name
    kind: str = "env"  # "env": the value itself; "file": a 0600 file's path


class Rule(NamedTuple):
    name: str
    run: tuple[str, ...]  # program names or absolute paths, as written in the profile
    args: tuple[ArgPattern, ...] | None  # None: any arguments
    decision: str
    message: str = ""
    env: frozenset[str] = frozenset()  # variables the line may set for this command
    origin: str = ""  # file:line where the rule was written
    credentials: tuple[Credential, ...] = ()  # injected into the command this rule allows
    children: str = "check"  # what the command may exec: "check" (each exec allowed by a rule), "none", "any"
    background: bool = False  # may its processes outlive the line (else they are killed when it ends)


class ProfileTests(NamedTuple):
    allow: tuple[str, ...] = ()
    ask: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()


class Profile(NamedTuple):
    name: str
    source: str  # the file the profile was loaded from, or "<embedded:NAME>"
    files: tuple[str, ...]  # every file merged into it, extends first
    sha256: str  # of the effective (merged) content
    workspace: tuple[str, ...]
    read_allow: tuple[str, ...]  # empty: everything not denied is readable
    read_deny: tuple[str, ...]
    write_allow: tuple[str, ...]
    write_deny: tuple[str, ...]
    path: tuple[str, ...]
    env_pass: frozenset[str]
    env_set: tuple[tuple[str, str], ...]
    rules: tuple[Rule, ...]
    tests: ProfileTests = ProfileTests()
    description: str = ""
    record_dir: str = ""  # "" means the XDG state directory
    record_required: bool = True  # refuse to run commands that cannot be recorded
    record_input: bool = False  # also record what the agent types ("i" events)
    paths: tuple[str, ...] = ()  # the real paths of `files`, for watching them
    approval_timeout: float = 300.0  # seconds an `ask` waits for a person; then it is denied
    audit_file: str = ""  # "" means the XDG state directory's audit.jsonl
    audit_syslog: bool = False  # also send every event to syslog (RFC 5424)
    audit_keyring: bool = False  # keep the audit HMAC key in the OS keyring (costs start-up time)
    # TCP ports commands may connect to / bind (Landlock); None means not restricted.
    network_connect: tuple[int, ...] | None = ()
    network_bind: tuple[int, ...] | None = ()
    strict: bool = False  # refuse to run commands when an exec-time layer is unavailable
