"""Which rule of the profile decides a program run with these arguments.

The profile's rules are indexed once by the names in their `run:` entries; for each command
the rules for its name are tried strictest first (deny, then ask, then allow, each kind in
profile order), and the first that decides wins.  An allow rule holds only if none of the
program's hazards (an option that runs another program, a refused variable, a word only
known at run time where an option could be) is left unnamed by the pattern that matched.
"""

from __future__ import annotations

import os
from types import ModuleType

from ..parse import Word
from ..profile import STRICTNESS, ArgPattern, Profile, Rule
from .argmatch import Compiled, compiled, could_match, match_compiled, names_explicitly
from .builtins import variable_problem
from .decision import DEFAULT_RULE, Verdict
from .resolve import Program, rule_keys

# A rule's patterns worth trying for one argv head (None: the rule takes any arguments).
Fitting = tuple[tuple[ArgPattern, Compiled], ...] | None
HINT_DEFAULT = "ask the profile's admin for a rule, or see `agentsh explain` for what is allowed"
HINT_NAME_IT = "a rule must name this option or variable explicitly to allow it"
HINT_LITERAL = "write the word literally"
ABSENT = "\0"  # argv[1] or argv[2] that is not there (no argument holds a NUL)
Found = tuple[str, int, str, str, str]  # (command, line, program, path, name) of a resolved command


class Rules:
    """The profile's rules, indexed for deciding one command at a time."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        # Rules by the basename of each `run:` entry: a rule covers a command only when it
        # is invoked under that name (resolve.py), so only those entries need resolving, and
        # they are resolved at each decision, never from a stale earlier lookup.
        self._by_name: dict[str, list[tuple[Rule, str]]] = {}
        self._plain: dict[str, list[Rule]] = {}  # rules whose run entry is that bare name
        self._by_path: set[str] = set()  # basenames some rule names by an absolute path
        self._candidate_memo: dict[str, dict[tuple[str | None, str | None], list[tuple[Rule, Fitting]]]] = {}
        # Each rule's patterns with up to two leading literal elements (most start with a
        # subcommand or a flag): a pattern whose literals differ from argv[1:3] cannot match.
        self._patterns: dict[str, list[tuple[tuple[str, ...], ArgPattern, Compiled]]] = {}
        # (typed name, resolved basename, builtin) -> no hazard table names the program (or it is
        # a builtin): `problem` then has nothing to find without assignments (ls, head, grep).
        self._no_hazards: dict[tuple[str, str, bool], bool] = {}
        for rule in profile.rules:
            for name in rule.run:
                self._by_name.setdefault(os.path.basename(name), []).append((rule, name))
                if "/" in name:
                    self._by_path.add(os.path.basename(name))
                elif rule not in self._plain.setdefault(name, []):
                    self._plain[name].append(rule)
            # A pattern repeated in one rule matches exactly when its first copy does, and
            # the first match decides: later copies are never worth trying.
            self._patterns[rule.name] = [(compiled(p)[1][:2], p, compiled(p)) for p in dict.fromkeys(rule.args or ())]

    def verdict(self, program: Program, name: str, args: tuple[Word, ...], assignments: tuple,
                found: Found) -> Verdict:
        """The verdict of the strictest rule that decides this command (the default deny if none)."""
        head = (args[0].value if args else ABSENT, args[1].value if len(args) > 1 else ABSENT)
        if "/" not in name and name not in self._by_path:
            candidates = self._candidates(name, head)  # the common case: no stat, no scan
        else:
            keys: dict[str, list] = {}

            def covers(run_name: str) -> bool:
                if run_name == name and "/" not in name:
                    return True  # looked up on the same path just now: the same file
                if run_name not in keys:
                    keys[run_name] = rule_keys(run_name, self.profile.path)
                return program.key in keys[run_name]

            rules = dict.fromkeys(rule for rule, run_name in self._by_name.get(os.path.basename(name), ())
                                  if covers(run_name))
            candidates = _strictest_first([(rule, self._fitting(rule, head)) for rule in rules])
        # Candidates come strictest first (deny, then ask, then allow, each in profile order),
        # so the first rule that matches decides the class: a deny or an ask rule decides at
        # once, and the allow rules are tried only until one holds (the strictest wins, and
        # among equals the first in the profile, as if every match were collected first).
        first_problem = ""
        first_rule = ""
        dynamic: Word | bool | None = False  # a word only known at run time; False: not looked for yet
        for rule, patterns in candidates:
            if patterns is None:
                elements: tuple[str, ...] | None = ("...",) * len(args)
            else:
                for pattern, compiled_pattern in patterns:
                    elements = match_compiled(compiled_pattern, pattern.elements, args)
                    if elements is not None:
                        break
                else:
                    if rule.decision != "allow" and dynamic is False:
                        dynamic = None
                        for word in args:  # (a loop: a generator costs more than most lines' words)
                            if word.value is None:
                                dynamic = word
                                break
                    if rule.decision != "allow" and isinstance(dynamic, Word):
                        for _, compiled_pattern in patterns:
                            if could_match(compiled_pattern, args):
                                # `kubectl get $r` against a rule denying `get secret*`: refused,
                                # as the word could be what the admin denied
                                verb = "denies" if rule.decision == "deny" else "sends for approval"
                                return judged(found, "deny", f"{dynamic.text} is only known at run time, and "
                                              f"could make this a command rule {rule.name} {verb}", rule.name,
                                              HINT_LITERAL)
                    continue
            decision = rule.decision
            if decision == "allow":
                if not assignments:
                    key = (name, program.basename, program.is_builtin)
                    quiet = self._no_hazards.get(key)
                    if quiet is None:
                        quiet = self._quiet(program, name)
                        if len(self._no_hazards) < 4096:
                            self._no_hazards[key] = quiet
                    if quiet:
                        return judged(found, "allow", "allowed", rule.name)
                problem = self.problem(program, name, args, assignments, rule, elements)
                if not problem:
                    return judged(found, "allow", "allowed", rule.name)
                if not first_problem:
                    first_problem, first_rule = problem, rule.name
                continue
            if decision == "ask":
                # A person approves what the line shows; an option that makes the program run
                # something else, or a refused variable, is refused before anyone is asked.
                problem = self.problem(program, name, args, assignments, rule, elements)
                if problem:
                    return judged(found, "deny", problem, rule.name, HINT_NAME_IT)
            reason = rule.message or ("needs approval" if decision == "ask" else "denied by rule")
            return judged(found, decision, reason, rule.name)
        if first_problem:
            return judged(found, "deny", first_problem, first_rule, HINT_NAME_IT)
        shown = program.basename if program.is_builtin else program.identity
        return judged(found, "deny", f"no rule allows {shown} with these arguments", DEFAULT_RULE, HINT_DEFAULT)

    def _candidates(self, name: str, head: tuple[str | None, str | None]) -> list[tuple[Rule, Fitting]]:
        """The rules for a bare program name that can match argv[1:3] == head, each with the
        patterns worth trying (None: the rule takes any arguments).

        Memoised per (name, head): with hundreds of rules for one program (git, python3),
        most start with literal words (`status`, `-m pytest`), so only a few are worth trying.
        """
        memo = self._candidate_memo.get(name)
        if memo is None:  # (setdefault would build an empty dict at every call)
            memo = self._candidate_memo[name] = {}
        found = memo.get(head)
        if found is None:
            if len(memo) > 256:
                memo.clear()
            found = memo[head] = _strictest_first([(rule, patterns) for rule in self._plain.get(name, [])
                                                   for patterns in (self._fitting(rule, head),)
                                                   if patterns is None or patterns])
        return found

    def _fitting(self, rule: Rule, head: tuple[str | None, str | None]) -> Fitting:
        if rule.args is None:
            return None
        return tuple((pattern, compiled_pattern) for prefix, pattern, compiled_pattern in self._patterns[rule.name]
                     if _fits(prefix, head))

    @staticmethod
    def _quiet(program: Program, name: str) -> bool:
        """Does `problem` answer '' for this program whatever its words, given no assignments?
        It does for a builtin and for a program no hazard table names (the first returns of
        `problem`, which this reads the same way): a function of the names alone."""
        if program.is_builtin:
            return True  # (and the hazard tables stay unimported, as in `problem`)
        typed = name if "/" not in name else os.path.basename(name)
        return not hazards_module().spec_for(typed, program.basename)

    def problem(self, program: Program, name: str, args: tuple[Word, ...],
                      assignments: tuple, rule: Rule, elements: tuple[str, ...]) -> str:
        typed = name if "/" not in name else os.path.basename(name)
        names = (typed, program.basename)
        for assignment in assignments:
            if assignment.name == "IFS" and program.identity == "builtin:read":
                continue  # `IFS= read -r line`: only read's own word splitting changes
            problem = variable_problem(assignment.name, self.profile, rule.env)
            if problem:
                return problem
        if program.is_builtin:
            # The hazard tables name no bash builtin (tests/test_policy.py checks it), so a line
            # of builtins (`true`, `cd`, `echo`) never imports them: ~2.5 ms of start-up.
            return ""
        hazards = hazards_module()
        specs = hazards.spec_for(typed) if typed == program.basename else hazards.spec_for(*names)
        if not specs or (specs[0].quick is not None and hazards.nothing_to_find(specs, args)):
            return ""  # no hazard table names it (ls, head, grep ...): not exec-capable, no hazards
        for hazard in hazards.find_hazards(names, args, specs):
            if hazard.index < 0:
                return hazard.reason
            if not names_explicitly(elements[hazard.index], hazard.option):
                return f"{args[hazard.index].shown()}: {hazard.reason}"
        if len(elements) != len(args):
            raise ValueError("a pattern's elements do not match the arguments one for one")
        for i, word in enumerate(args):  # most words are static: no pair to unpack for them
            if word.value is None and elements[i] == "..." and not hazards.dynamic_ok(names, args, i) \
                    and not self._in_find_exec(program, args, i):
                return (f"{word.text} is only known at run time and {program.basename} can run "
                        "other programs (put it after --, or write it literally)")
        return ""

    @staticmethod
    def _in_find_exec(program: Program, args: tuple[Word, ...], index: int) -> bool:
        """Words of a `find -exec CMD ... ;` are checked as CMD's own arguments."""
        return program.basename == "find" and any(start < index <= end for start, end in find_exec_spans(args))


def hazards_module() -> ModuleType:
    """agentsh.policy.hazards, imported on first use (a statement-level import in a hot
    function costs a microsecond at every call)."""
    global _HAZARDS
    if _HAZARDS is None:
        from . import hazards

        _HAZARDS = hazards
    return _HAZARDS


_HAZARDS: ModuleType | None = None


def find_exec_spans(args: tuple[Word, ...]) -> list[tuple[int, int]]:
    """(index of -exec, index of its terminating `;` or `+`, or len(args)) for each -exec."""
    spans = []
    i = 0
    while i < len(args):
        if args[i].value in ("-exec", "-execdir", "-ok", "-okdir"):  # hazards.FIND_EXEC
            end = next((j for j in range(i + 1, len(args)) if args[j].value in (";", "+")), len(args))
            spans.append((i, end))
            i = end
        i += 1
    return spans


def judged(found: Found, decision: str, reason: str, rule: str, hint: str = "") -> Verdict:
    """A resolved command's Verdict (positional: a keyword call with **found costs twice as much)."""
    command, line, program, path, name = found
    return Verdict(command, decision, reason, rule, program, path, name, hint, line)


def _strictest_first(candidates: list[tuple[Rule, Fitting]]) -> list[tuple[Rule, Fitting]]:
    """deny rules, then ask, then allow, each kind in profile order (sorted is stable)."""
    return sorted(candidates, key=lambda candidate: -STRICTNESS[candidate[0].decision])


def _fits(prefix: tuple[str, ...], head: tuple[str | None, str | None]) -> bool:
    # tuples compare in C; a word only known at run time (None, not ABSENT) could be, or split
    # into, any of them
    return head[:len(prefix)] == prefix or None in head[:len(prefix)]
