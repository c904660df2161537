"""Human-readable renderings of decisions and profile hazard warnings."""

from __future__ import annotations

from .policy import Decision, Verdict
from .policy.hazards import env_hazard, is_exec_capable, normalise, spec_for
from .policy.resolve import rule_keys
from .policy.wrappers import WRAPPERS
from .profile import Profile

INTERPRETERS = frozenset({"python", "perl", "ruby", "node", "php", "lua", "bash", "sh", "dash",
                          "zsh", "ksh", "tclsh", "R", "Rscript", "gdb", "busybox"})


def render_decision(decision: Decision, profile: Profile) -> str:
    out = [
        f"profile:  {profile.name} ({profile.source})",
        f"sha256:   {profile.sha256}",
        f"decision: {decision.decision}",
    ]
    for i, verdict in enumerate(decision.verdicts, 1):
        out.extend(_verdict_lines(verdict, f"{i}.", "  "))
    return "\n".join(out) + "\n"


def _verdict_lines(verdict: Verdict, label: str, indent: str) -> list[str]:
    rule = verdict.rule or "built-in check"
    lines = [f"{indent}{label} {verdict.command}",
             f"{indent}   {verdict.decision.upper()} by {rule}: {verdict.reason}"]
    if verdict.program:
        lines.append(f"{indent}   program: {verdict.program}")
    if verdict.hint and verdict.decision != "allow":
        lines.append(f"{indent}   hint: {verdict.hint}")
    for inner in verdict.wrapped:
        lines.extend(_verdict_lines(inner, "runs", indent + "   "))
    return lines


def profile_warnings(profile: Profile) -> list[str]:
    """Rules an admin should look at twice."""
    warnings = []
    for rule in profile.rules:
        where = f"{rule.origin}: rule {rule.name}"
        if not any(rule_keys(name, profile.path) for name in rule.run):
            warnings.append(f"{where}: none of {', '.join(rule.run)} is found on the profile's path; "
                            "the rule matches nothing")
        if rule.decision != "allow":
            continue
        names = [r.rsplit("/", 1)[-1] for r in rule.run]
        wide = rule.args is None or any("..." in p.elements or "*" in p.elements for p in rule.args)
        for name in names:
            if name in WRAPPERS:
                continue  # the program a wrapper runs is checked as a command of its own
            if normalise(name) in INTERPRETERS and wide:
                warnings.append(f"{where}: allows the interpreter {name} with open arguments; a script "
                                "file can do anything the user can (only exec-time checks contain it)")
            elif is_exec_capable(name) and wide:
                # not every listed program runs others (`wc --files0-from` reads a list of names):
                # say what its first listed hazard does rather than the worst any could
                example = next(((o, r) for spec in spec_for(name) for o, r in spec.options.items()), None)
                what = f"`{example[0]}` {example[1]}" if example else "some operands are read as code or more options"
                warnings.append(f"{where}: allows {name} with open arguments, and agentsh's built-in hazard "
                                f"list has entries for it ({what}): they are refused unless a rule names "
                                "them, but review the rule")
    for name in sorted(profile.env_pass):
        if env_hazard(name) and name not in ("HOME",):
            warnings.append(f"{profile.source}: env.pass passes {name}, which can change what programs run")
    return warnings
