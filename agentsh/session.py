"""Session: one profile view and one call, `run_line`, used by every frontend."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import NamedTuple, TextIO

from .errors import EXIT_DENIED, ConfigError
from .policy import Decision, Policy
from .profile import Host, Profile


class SessionConfig(NamedTuple):
    profile: str | None  # -p value: a path or a name; None for the embedded default
    environ: Mapping[str, str]
    cwd: str


def load_policy(spec: str | None, host: Host) -> Policy:
    """Load a profile, from the per-user cache when it is still valid and trustworthy;
    otherwise from YAML, refusing it if its own `tests:` fail."""
    from .profile import cache
    from .profile.load import build_profile, effective_sha256, find_profile, load_sources

    path = find_profile(spec, host)
    if host.cache_dir:
        hit = cache.read(host.cache_dir, path, host)
        if hit is not None:
            return Policy(build_profile(hit.merged, hit.files, host, hit.sha256), host)
    merged, files = load_sources(path)
    profile = build_profile(merged, files, host, effective_sha256(merged))
    policy = Policy(profile, host)
    failures = policy.self_test()
    if failures:
        raise ConfigError("profile self-test failed:\n  " + "\n  ".join(failures), file=profile.source)
    if host.cache_dir:
        cache.write(host.cache_dir, path, host, merged, files, profile.sha256)
    return policy


class Session:
    def __init__(self, config: SessionConfig, stderr: TextIO | None = None) -> None:
        self.config = config
        self.host = Host.from_environ(config.environ, config.cwd)
        self.policy = load_policy(config.profile, self.host)
        self.stderr = stderr or sys.stderr

    @property
    def profile(self) -> Profile:
        return self.policy.profile

    def decide(self, line: str) -> Decision:
        return self.policy.decide(line, self.config.cwd)

    def run_line(self, line: str, args: tuple[str, ...] = ()) -> int:
        """Check the line; run it if every command is allowed; return its exit status."""
        from .run import bash_script, build_environment, run_bash

        decision = self.decide(line)
        if not decision.allowed:
            self.stderr.write(denial_message(decision))
            self.stderr.flush()
            return EXIT_DENIED
        env = build_environment(self.profile, self.config.environ, self.config.cwd)
        return run_bash(bash_script(decision), env, self.config.cwd, args).status


def denial_message(decision: Decision, limit: int = 5) -> str:
    """`agentsh: denied: <command>: <reason> (rule <name>)` for each refused part, then a hint."""
    lines = []
    hints = []
    for verdict in decision.refused:
        rule = f" (rule {verdict.rule})" if verdict.rule else ""
        reason = verdict.reason
        if verdict.decision == "ask" and reason != "needs approval":
            reason = f"needs approval: {reason}"
        lines.append(f"agentsh: denied: {_short(verdict.command)}: {reason}{rule}\n")
        if verdict.hint and verdict.hint not in hints:
            hints.append(verdict.hint)
    shown = lines[:limit]
    if len(lines) > limit:
        shown.append(f"agentsh: ... and {len(lines) - limit} more\n")
    return "".join(shown) + "".join(f"agentsh: hint: {h}\n" for h in hints[:2])


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 80 else text[:77] + "..."


def session_from_environ(profile: str | None) -> Session:
    return Session(SessionConfig(profile=profile, environ=dict(os.environ), cwd=_cwd()))


def _cwd() -> str:
    try:
        return os.getcwd()
    except FileNotFoundError:
        raise ConfigError("the current directory no longer exists") from None
