"""The policy engine: parsed commands and a profile in, a Decision out.

Pure apart from resolving paths on disk.  Every simple command anywhere in the
line gets a Verdict; the line runs only if every verdict is `allow`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from types import ModuleType

from ..errors import AgentshError
from ..parse import ParsedLine, SimpleCommand, Word, parse_line
from ..profile import STRICTNESS, ArgPattern, Host, Profile, Rule
from . import checksums, links, madelinks, patches, suffixes, tardirs
from .argmatch import Compiled, compiled, match_compiled, names_explicitly
from .builtins import builtin_problem, shell_variable_problem, variable_problem
from .decision import DEFAULT_RULE, Decision, Verdict, flatten, strictest
from .paths import PathChecker
from .realpaths import real_path, resolve
from .resolve import Program, ResolveError, resolve_command, rule_keys
from .wrappers import WRAPPERS, unwrap
from .writes import transfer, write_targets

MAX_WRAP_DEPTH = 8
# A rule's patterns worth trying for one argv head (None: the rule takes any arguments).
Fitting = tuple[tuple[ArgPattern, Compiled], ...] | None
HINT_DEFAULT = "ask the profile's admin for a rule, or see `agentsh explain` for what is allowed"
HINT_NAME_IT = "a rule must name this option or variable explicitly to allow it"
INTERNAL_ERROR_RULE = "internal-error"
Found = tuple[str, int, str, str, str]  # (command, line, program, path, name) of a resolved command


class Policy:
    """Decides lines for one profile on one host."""

    def __init__(self, profile: Profile, host: Host) -> None:
        self.profile = profile
        self.host = host
        self.paths = PathChecker(profile, host.home)
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

    # -- lines -----------------------------------------------------------------
    def decide(self, line: str, cwd: str | None = None) -> Decision:
        try:
            return self.decide_parsed(parse_line(line, self.host.home), cwd)
        except AgentshError:
            raise
        except Exception as err:  # a bug of the checker: the line is refused, never run unchecked
            reason = (f"agentsh could not check this line ({type(err).__name__}: {err}); nothing of it runs. "
                      "This is a bug in agentsh: please report it with the line")
            verdict = Verdict(command=line[:80], decision="deny", reason=reason, rule=INTERNAL_ERROR_RULE)
            return Decision(line, "deny", (verdict,), self.profile.source, self.profile.sha256)

    def decide_parsed(self, parsed: ParsedLine, cwd: str | None = None) -> Decision:
        verdicts: list[Verdict] = [
            Verdict(command=p.text, decision="deny", reason=p.reason, line=p.line,
                    hint="rewrite the line without this construct")
            for p in parsed.problems
        ] if parsed.problems else []
        for name, text, line in parsed.assigned:
            problem = shell_variable_problem(name, self.profile)
            if problem:
                verdicts.append(Verdict(command=text, decision="deny", reason=problem, rule="environment",
                                        line=line))
        # Every path check resolves cwd/relative itself, so cwd need not be canonical here.
        cwds = [cwd or self.host.cwd]
        # Real paths for this line only: of `cd` targets (a `cd DIR` is followed to the very
        # directory its read check saw, without resolving it a second time), and of the
        # directories the line's relative paths are resolved from (realpaths.resolve).
        cd_real: dict[str, str] = {}
        for command in parsed.commands:
            verdict = self.check_command(command, cwds, cd_real)
            if verdict.makes_link and verdict.decision != "deny":
                problem = links.order_problem(parsed, command)
                if problem:
                    verdict = links.refuse(verdict, problem)
            verdicts.append(verdict)
            self._follow_cd(command, verdict, cwds, cd_real)
        for redirect in parsed.redirects:
            if redirect.target is None:
                continue
            problem = _socket_problem(redirect.target, self.profile)
            if problem:
                verdicts.append(Verdict(command=redirect.text, decision="deny", reason=problem, rule="network"))
                continue
            if redirect.writes:
                problem = self.paths.check_write_word(redirect.target, cwds, cd_real)
            elif redirect.op in ("<", "<<<"):
                problem = self.paths.check_read_word(redirect.target, cwds, cd_real) if redirect.op == "<" else ""
            else:
                problem = ""
            if problem:
                verdicts.append(Verdict(command=redirect.text, decision="deny", reason=problem,
                                        rule="write-roots" if redirect.writes else "read-roots"))
        # Most lines have no wrapper (env, xargs ...): no nested verdicts to walk.
        every: list[Verdict] = verdicts
        for v in verdicts:
            if v.wrapped:
                every = list(flatten(verdicts))
                break
        # One plain loop for the decisions and the pins (comprehensions are calls of their own).
        decisions: set[str] = set()
        pinned: set[tuple[str, str]] = set()
        for v in every:
            decisions.add(v.decision)
            if v.path and v.decision in ("allow", "ask") and "/" not in v.name:
                pinned.add((v.name, v.path))
        decision = "allow" if decisions == {"allow"} else strictest(list(decisions))
        return Decision(parsed.source, decision, tuple(verdicts), self.profile.source, self.profile.sha256,
                        tuple(sorted(pinned)))

    def _follow_cd(self, command: SimpleCommand, verdict: Verdict, cwds: list[str],
                   cd_real: dict[str, str] | None = None) -> None:
        """After `cd DIR`, relative paths in later commands may be relative to DIR."""
        if verdict.program not in ("builtin:cd", "builtin:pushd") or verdict.decision == "deny":
            return
        for target in self._cd_targets(command.argv[1:], cwds, cd_real):
            if target not in cwds:
                cwds.append(target)

    def _cd_targets(self, args: tuple[Word, ...], cwds: Iterable[str],
                    cd_real: dict[str, str] | None = None) -> list[str]:
        """The directories `cd ARGS` may change to; `cd_real` (one line's) remembers each
        path's real path from the command's read check to its _follow_cd."""
        operands = [w for w in args if not (w.value or "").startswith("-") or w.value == "-"]
        if not operands:
            paths = [self.host.home]
        else:
            value = operands[0].value
            if value is None or value == "-":
                return []
            paths = [os.path.join(cwd, value) for cwd in cwds]
            if ".." in value.split("/"):
                # bash's cd takes `..` off the path as written before it follows links (cd -L,
                # the default): `cd link/../..` from ~/proj is ~, not the grandparent of link's
                # target.  `cd -P`, and bash when that path fails, go the kernel's way.  Both.
                paths += [os.path.normpath(path) for path in paths]
        return list(dict.fromkeys(self._real_dir(path, cd_real) for path in paths))

    @staticmethod
    def _real_dir(path: str, cd_real: dict[str, str] | None) -> str:
        """real_path(path), once per line (`cd_real`, None for a command checked alone)."""
        if cd_real is None:
            return real_path(path)
        if path not in cd_real:
            cd_real[path] = real_path(path)
        return cd_real[path]

    # -- commands --------------------------------------------------------------
    def check_command(self, command: SimpleCommand, cwds: list[str],
                      cd_real: dict[str, str] | None = None) -> Verdict:
        base = dict(command=command.text, line=command.line)
        if not command.argv:
            for assignment in command.assignments:
                problem = shell_variable_problem(assignment.name, self.profile)
                if problem:
                    return Verdict(decision="deny", reason=problem, rule="environment", **base)
            return Verdict(decision="allow", reason="shell variable assignment", **base)
        return self._invocation(command.argv[0], command.argv[1:], command.assignments, base, cwds, 0, cd_real)

    def _invocation(self, name_word: Word, args: tuple[Word, ...], assignments: tuple,
                    base: dict, cwds: list[str], depth: int, cd_real: dict[str, str] | None = None) -> Verdict:
        if name_word.value is None:
            return Verdict(decision="deny", reason=f"the command name {name_word.text} is only known at "
                           f"run time ({name_word.why_dynamic})", hint="write the program name literally",
                           **base)
        name = name_word.value
        try:
            if "/" not in name:
                program = resolve_command(name, self.profile.path, cwds[0])  # no directory involved
            else:
                # A relative path such as `./git` must name the pinned file from every
                # directory the line may have cd'd to by then.
                programs = {resolve_command(name, self.profile.path, cwd) for cwd in
                            (cwds if not name.startswith("/") else cwds[:1])}
                if len(programs) != 1:
                    raise ResolveError(f"'{name}' names different files depending on the directory")
                program = programs.pop()
        except ResolveError as err:
            return Verdict(decision="deny", reason=str(err), name=name, **base)
        found = (base["command"], base["line"], program.identity, program.path, name)
        if program.is_builtin:
            problem = builtin_problem(program.basename, args, self.profile)
            if problem:
                return _judged(found, "deny", problem, "shell-builtin")
        verdict = self._rules(program, name, args, assignments, found)
        if verdict.decision != "deny":
            problem = self._path_problem(program, args, cwds, cd_real)
            if problem:
                verdict = _judged(found, "deny", problem, "read-write-roots")
        if program.basename in madelinks.MAKERS and not program.is_builtin:
            verdict = madelinks.check(verdict, program.basename, args, cwds, self.paths)
        if program.basename == "find" and not program.is_builtin:
            inner = [self._invocation(args[start + 1], _exec_args(args[start + 2:end]), (),
                                      dict(base, command=" ".join(w.shown() for w in args[start + 1:end])),
                                      cwds, depth + 1, cd_real)
                     for start, end in find_exec_spans(args) if start + 1 < end]
            if inner:
                return verdict._replace(wrapped=tuple(madelinks.once(v, "find") for v in inner))
        wrapped = unwrap(program.basename, args) if program.basename in WRAPPERS else None
        if wrapped is None:
            return verdict
        if wrapped.problem:
            inner = _judged(found, "deny", wrapped.problem, "wrapper")
        elif not wrapped.inner:
            return verdict
        elif depth >= MAX_WRAP_DEPTH:
            inner = _judged(found, "deny", "wrappers nested too deeply", "wrapper")
        elif wrapped.chdir is not None and wrapped.chdir.value is None:
            inner = _judged(found, "deny", f"{program.basename} runs it in {wrapped.chdir.text}, a "
                            "directory only known at run time", "wrapper")
        else:
            inner_base = dict(base, command=" ".join(w.shown() for w in wrapped.inner))
            # `env -C DIR cmd`: cmd's relative paths are relative to DIR, from wherever the line is.
            inner_cwds = cwds if wrapped.chdir is None else \
                list(dict.fromkeys(self._real_dir(os.path.join(cwd, wrapped.chdir.value or ""), cd_real)
                                   for cwd in cwds))
            inner = madelinks.once(self._invocation(wrapped.inner[0], wrapped.inner[1:], wrapped.assignments,
                                           inner_base, inner_cwds, depth + 1, cd_real), program.basename)
        return Verdict(command=verdict.command, decision=verdict.decision, reason=verdict.reason,
                       rule=verdict.rule, program=verdict.program, path=verdict.path, name=verdict.name,
                       hint=verdict.hint, line=verdict.line, wrapped=(inner,), makes_link=inner.makes_link)

    def _rules(self, program: Program, name: str, args: tuple[Word, ...], assignments: tuple,
               found: Found) -> Verdict:
        head = (args[0].value if args else None, args[1].value if len(args) > 1 else None)
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
        for rule, patterns in candidates:
            if patterns is None:
                elements: tuple[str, ...] | None = ("...",) * len(args)
            else:
                for pattern, compiled_pattern in patterns:
                    elements = match_compiled(compiled_pattern, pattern.elements, args)
                    if elements is not None:
                        break
                else:
                    continue
            decision = rule.decision
            if decision == "allow":
                problem = self._rule_problem(program, name, args, assignments, rule, elements)
                if not problem:
                    return _judged(found, "allow", "allowed", rule.name)
                if not first_problem:
                    first_problem, first_rule = problem, rule.name
                continue
            if decision == "ask":
                # A person approves what the line shows; an option that makes the program run
                # something else, or a refused variable, is refused before anyone is asked.
                problem = self._rule_problem(program, name, args, assignments, rule, elements)
                if problem:
                    return _judged(found, "deny", problem, rule.name, HINT_NAME_IT)
            reason = rule.message or ("needs approval" if decision == "ask" else "denied by rule")
            return _judged(found, decision, reason, rule.name)
        if first_problem:
            return _judged(found, "deny", first_problem, first_rule, HINT_NAME_IT)
        shown = program.basename if program.is_builtin else program.identity
        return _judged(found, "deny", f"no rule allows {shown} with these arguments", DEFAULT_RULE, HINT_DEFAULT)

    def _candidates(self, name: str, head: tuple[str | None, str | None]) -> list[tuple[Rule, Fitting]]:
        """The rules for a bare program name that can match argv[1:3] == head, each with the
        patterns worth trying (None: the rule takes any arguments).

        Memoised per (name, head): with hundreds of rules for one program (git, python3),
        most start with literal words (`status`, `-m pytest`), so only a few are worth trying.
        """
        memo = self._candidate_memo.setdefault(name, {})
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

    def _rule_problem(self, program: Program, name: str, args: tuple[Word, ...],
                      assignments: tuple, rule: Rule, elements: tuple[str, ...]) -> str:
        names = (name if "/" not in name else os.path.basename(name), program.basename)
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
        hazards = _hazards()
        specs = hazards.spec_for(*names)
        if not specs or hazards.nothing_to_find(specs, args):
            return ""  # no hazard table names it (ls, head, grep ...): not exec-capable, no hazards
        for hazard in hazards.find_hazards(names, args, specs):
            if hazard.index < 0:
                return hazard.reason
            if not names_explicitly(elements[hazard.index], hazard.option):
                return f"{args[hazard.index].shown()}: {hazard.reason}"
        for i, (word, element) in enumerate(zip(args, elements, strict=True)):
            if word.value is None and element == "..." and not hazards.dynamic_ok(names, args, i) \
                    and not self._in_find_exec(program, args, i):
                return (f"{word.text} is only known at run time and {program.basename} can run "
                        "other programs (put it after --, or write it literally)")
        return ""

    @staticmethod
    def _in_find_exec(program: Program, args: tuple[Word, ...], index: int) -> bool:
        """Words of a `find -exec CMD ... ;` are checked as CMD's own arguments."""
        return program.basename == "find" and any(start < index <= end for start, end in find_exec_spans(args))

    def _path_problem(self, program: Program, args: tuple[Word, ...], cwds: list[str],
                      cd_real: dict[str, str] | None = None) -> str:
        if program.basename in ("cd", "pushd") and program.is_builtin:
            operands = [w for w in args if not (w.value or "").startswith("-") or w.value == "-"]
            if operands and (operands[0].value is None or operands[0].value == "-"):
                return "cd needs a literal directory so the read roots can be checked"
            for target in self._cd_targets(args, cwds, cd_real):
                problem = self.paths.read_problem(target)
                if problem:
                    return problem
            return ""
        for word in args:
            problem = self.paths.check_read_word(word, cwds, cd_real)
            if problem:
                return problem
        if program.basename in ("sed", "gsed"):
            for word in _hazards().scripts.sed_reads(args):  # `sed 'r FILE'`: a file named in the script
                problem = self.paths.check_read_word(word, cwds, cd_real)
                if problem:
                    return problem
        for check in _NAMED_ELSEWHERE.get(program.basename, ()):
            problem = check(program.basename, args, cwds, self.paths, cd_real)
            if problem:
                return problem
        for word in write_targets(program.basename, args):
            problem = self.paths.check_write_word(word, cwds, cd_real)
            if problem:
                return problem
        moved = transfer(program.basename, args)
        if moved is None:
            return ""
        sources, destination, recursive, contents = moved
        if program.basename == "mv":
            for word in sources:  # a moved directory takes what is below it along
                for cwd in cwds:  # (a dynamic source is refused above, as a write target)
                    problem = self.paths.move_problem(resolve(word.value or "", cwd))
                    if problem:
                        return problem
        elif recursive and destination is not None:
            for cwd in cwds:
                problem = self.paths.copy_problem(sources, destination, contents, cwd)
                if problem:
                    return problem
        return ""

    # -- self-tests --------------------------------------------------------------
    def self_test(self) -> list[str]:
        """Run the profile's `tests:`; return one message per example that failed."""
        failures = []
        tests = self.profile.tests
        for expected, examples in (("allow", tests.allow), ("ask", tests.ask), ("deny", tests.deny)):
            for line, lineno in examples:
                decision = self.decide(line)
                if decision.decision != expected:
                    deciding = decision.deciding
                    why = f"{deciding.reason} (rule {deciding.rule or 'built-in'})" if deciding else ""
                    failures.append(f"{self.profile.source}:{lineno}: tests.{expected}: {line!r} was "
                                    f"{decision.decision}, not {expected}: {why}")
        return failures


def _hazards() -> ModuleType:
    """agentsh.policy.hazards, imported on first use (a statement-level import in a hot
    function costs a microsecond at every call)."""
    global _HAZARDS
    if _HAZARDS is None:
        from . import hazards

        _HAZARDS = hazards
    return _HAZARDS


_HAZARDS: ModuleType | None = None
# Checks of the files a program names elsewhere than in its operands, by program (one lookup
# for every command): tar's -C (tardirs), a checksum list (checksums), a patch (patches), a
# name glued from an option's value (suffixes).
_NameCheck = Callable[[str, tuple[Word, ...], list[str], PathChecker, "dict[str, str] | None"], str]


def _named_elsewhere() -> dict[str, tuple[_NameCheck, ...]]:
    checks: dict[str, tuple[_NameCheck, ...]] = {}
    for names, check in ((("tar",), tardirs.read_problem), (checksums.PROGRAMS, checksums.problem),
                         (("patch", "git"), patches.problem), (suffixes.PROGRAMS, suffixes.problem)):
        for name in names:
            checks[name] = (*checks.get(name, ()), check)
    return checks


_NAMED_ELSEWHERE = _named_elsewhere()


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


def _socket_problem(target: Word, profile: Profile) -> str:
    """bash itself opens a socket, not a file, for a redirection to /dev/tcp/HOST/PORT or
    /dev/udp/HOST/PORT: a connection no program of the line makes.  TCP is allowed to the
    profile's `network.connect` ports; UDP only with `connect: any` (Landlock has no UDP)."""
    text = target.value if target.value is not None else target.text
    if "/dev/tcp/" not in text and "/dev/udp/" not in text:
        return ""
    if profile.network_connect is None:
        return ""  # `connect: any`
    proto, _, rest = text.partition("/dev/")[2].partition("/")
    port = rest.rpartition("/")[2]
    if target.value is not None and proto == "tcp" and port.isdigit() and int(port) in profile.network_connect:
        return ""
    return (f"{target.text}: bash opens a {proto.upper()} connection for this name, which the profile's "
            "network.connect does not allow")


def _exec_args(words: tuple[Word, ...]) -> tuple[Word, ...]:
    """`{}` is replaced by find with each file name: a value known only at run time."""
    return tuple(Word(w.text, None, "file name from find") if "{}" in (w.value or "") else w for w in words)


def _judged(found: Found, decision: str, reason: str, rule: str, hint: str = "") -> Verdict:
    """A resolved command's Verdict (positional: a keyword call with **found costs twice as much)."""
    command, line, program, path, name = found
    return Verdict(command, decision, reason, rule, program, path, name, hint, line)


def _strictest_first(candidates: list[tuple[Rule, Fitting]]) -> list[tuple[Rule, Fitting]]:
    """deny rules, then ask, then allow, each kind in profile order (sorted is stable)."""
    return sorted(candidates, key=lambda candidate: -STRICTNESS[candidate[0].decision])


def _fits(prefix: tuple[str, ...], head: tuple[str | None, str | None]) -> bool:
    return head[:len(prefix)] == prefix  # tuples compare in C
