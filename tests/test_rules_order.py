"""Rules.verdict tries a program's rules strictest first and stops at the first that decides.
It must decide exactly as collecting every matching rule and taking the strictest did (the
code before, kept below as the reference): same decision, reason, rule and hint, on
generated commands against the benchmark's 500-rule profile and the shipped profiles."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest

from agentsh.parse import Assignment, Word
from agentsh.policy import Policy
from agentsh.policy.argmatch import could_match, match_compiled
from agentsh.policy.decision import DEFAULT_RULE, Verdict
from agentsh.policy.resolve import ResolveError, resolve_command
from agentsh.policy.rules import ABSENT, HINT_DEFAULT, HINT_LITERAL
from agentsh.profile import STRICTNESS, Host, Rule, load_profile

REPO = Path(__file__).resolve().parent.parent


def reference_rules(policy: Policy, program, name: str, args: tuple[Word, ...], assignments: tuple,
                    found_tuple: tuple[str, int, str, str, str]) -> Verdict:
    """The collecting way, over the rules in profile order (bare names only)."""
    command, line, identity, path, typed = found_tuple
    found = dict(command=command, line=line, program=identity, path=path, name=typed)
    head = (args[0].value if args else ABSENT, args[1].value if len(args) > 1 else ABSENT)
    candidates = [(rule, patterns) for rule in policy.rules._plain.get(name, [])
                  for patterns in (policy.rules._fitting(rule, head),) if patterns is None or patterns]
    matched: list[tuple[Rule, tuple[str, ...] | None]] = []  # None: a deny or ask rule a dynamic word could match
    for rule, patterns in candidates:
        if patterns is None:
            matched.append((rule, ("...",) * len(args)))
            continue
        for pattern, compiled_pattern in patterns:
            elements = match_compiled(compiled_pattern, pattern.elements, args)
            if elements is not None:
                matched.append((rule, elements))
                break
        else:
            if rule.decision != "allow" and any(w.value is None for w in args) and \
                    any(could_match(c, args) for _, c in patterns):
                matched.append((rule, None))
    if not matched:
        shown = program.basename if program.is_builtin else program.identity
        return Verdict(decision="deny", reason=f"no rule allows {shown} with these arguments",
                       rule=DEFAULT_RULE, hint=HINT_DEFAULT, **found)
    strictest_rule, strictest_elements = max(matched, key=lambda m: STRICTNESS[m[0].decision])
    if strictest_elements is None:
        dynamic = next(w for w in args if w.value is None)
        verb = "denies" if strictest_rule.decision == "deny" else "sends for approval"
        return Verdict(decision="deny", reason=f"{dynamic.text} is only known at run time, and could make this a "
                       f"command rule {strictest_rule.name} {verb}", rule=strictest_rule.name, hint=HINT_LITERAL,
                       **found)
    if strictest_rule.decision == "ask":
        problem = policy.rules.problem(program, name, args, assignments, strictest_rule, strictest_elements)
        if problem:
            return Verdict(decision="deny", reason=problem, rule=strictest_rule.name,
                           hint="a rule must name this option or variable explicitly to allow it", **found)
    if strictest_rule.decision != "allow":
        reason = strictest_rule.message or ("needs approval" if strictest_rule.decision == "ask" else "denied by rule")
        return Verdict(decision=strictest_rule.decision, reason=reason, rule=strictest_rule.name, **found)
    first_problem = first_rule = ""
    for rule, elements in matched:
        problem = policy.rules.problem(program, name, args, assignments, rule, elements)
        if not problem:
            return Verdict(decision="allow", reason="allowed", rule=rule.name, **found)
        if not first_problem:
            first_problem, first_rule = problem, rule.name
    return Verdict(decision="deny", reason=first_problem, rule=first_rule,
                   hint="a rule must name this option or variable explicitly to allow it", **found)


def _bench_profile(tmp_path: Path) -> Path:
    spec = importlib.util.spec_from_file_location("bench_decide", REPO / "bench" / "bench_decide.py")
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    path = tmp_path / "bench.yaml"
    path.write_text(bench.generate_profile())
    return path


VOCABULARY = ["status", "diff", "log", "push", "commit", "-m", "pytest", "pip", "install", "run", "test", "build",
              "--force", "-f", "--exec=x", "-c", "--color=auto", "--json", "-n", "5", "-rf", "/", "/x", "*.py",
              "src/a.py", "--no-verify", "--upload-pack=x", "--privileged", "-e", "s/a/b/", "-i", "--output=o",
              "-o", "--dry-run", "-p", "--hard", "origin/main", "-q", "--", "-v", "x.md", "--include=*.py"]
DYNAMIC = Word("$x", None, "expansion")


@pytest.mark.parametrize("which", ["bench", "default", "developer", "reviewer", "kubectl-readonly"])
def test_strictest_first_decides_as_collecting_every_match(which: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    host = Host(cwd=str(tmp_path), home=str(home), config_home=str(home / ".config"))
    source = {"bench": lambda: str(_bench_profile(tmp_path)), "default": lambda: None}.get(
        which, lambda: str(REPO / "profiles" / f"{which}.yaml"))()
    policy = Policy(load_profile(source, host), host)
    rng = random.Random(which)
    names = sorted(policy.rules._plain)
    compared = decided = 0
    for _ in range(6000):
        name = rng.choice(names)
        try:
            program = resolve_command(name, policy.profile.path, host.cwd)
        except ResolveError:
            continue
        args = tuple(DYNAMIC if rng.random() < 0.04 else Word(w, w)
                     for w in (rng.choice(VOCABULARY) for _ in range(rng.randint(0, 5))))
        assignments = (Assignment("PAGER", Word("less", "less")),) if rng.random() < 0.05 else ()
        found = (name, 1, program.identity, program.path, name)
        expected = reference_rules(policy, program, name, args, assignments, found)
        assert policy.rules.verdict(program, name, args, assignments, found) == expected, (name, args)
        compared += 1
        decided += expected.rule != DEFAULT_RULE
    assert compared > 3000 and decided > 500  # the commands reached real rules, not only the default
