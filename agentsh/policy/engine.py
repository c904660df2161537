"""The policy engine: parsed commands and a profile in, a Decision out.

Pure apart from resolving paths on disk.  Every simple command anywhere in the
line gets a Verdict; the line runs only if every verdict is `allow`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from ..errors import AgentshError
from ..parse import ParsedLine, SimpleCommand, Word, parse_line
from ..profile import Host, Profile
from . import (
    chdirs,
    checksums,
    exports,
    links,
    madelinks,
    patches,
    pathspecs,
    removals,
    suffixes,
    tardirs,
    tempfiles,
)
from .builtins import builtin_problem, shell_variable_problem
from .decision import Decision, Verdict, flatten, strictest
from .directories import (
    cd_operands,
    cd_targets,
    follow_cd,
    follow_loops,
    moved_directories,
    oldpwd_inherited,
    own_directory,
    pushd_problem,
    real_dir,
)
from .githazards import git_directories
from .handed import handed_paths
from .loopvars import cd_rounds, known_starts, loop_rounds
from .moves import transfer
from .paths import PathChecker
from .realpaths import resolve
from .resolve import Program, ResolveError, resolve_command
from .rules import Rules, find_exec_spans, hazards_module, judged
from .wrappers import WRAPPERS, unwrap
from .writes import find_follows_links, find_start_points, git_writes_nothing, never_writes, write_targets

MAX_WRAP_DEPTH = 8
INTERNAL_ERROR_RULE = "internal-error"


class Policy:
    """Decides lines for one profile on one host."""

    def __init__(self, profile: Profile, host: Host) -> None:
        self.profile = profile
        self.host = host
        self.paths = PathChecker(profile, host.home, host.config_home)
        self.rules = Rules(profile)
    # -- lines -----------------------------------------------------------------
    def decide(self, line: str, cwd: str | None = None, *, at_exec: bool = False,
               args: tuple[str, ...] = (), environment: Mapping[str, str] | None = None) -> Decision:
        """`at_exec`: the line is an exec inside a running command, whose stdin was set up by
        a line or program checked before (so what it reads there is not looked for).
        `args`: what bash will make the line's $0, $1 ... (`agentsh -c LINE ARG0 ARG...`);
        `environment`: the variables the line starts with, whose values are known."""
        try:
            return self.decide_parsed(parse_line(line, self.host.home), cwd, at_exec=at_exec, args=args,
                                      environment=environment)
        except AgentshError:
            raise
        except Exception as err:  # a bug of the checker: the line is refused, never run unchecked
            reason = (f"agentsh could not check this line ({type(err).__name__}: {err}); nothing of it runs. "
                      "This is a bug in agentsh: please report it with the line")
            verdict = Verdict(command=line[:80], decision="deny", reason=reason, rule=INTERNAL_ERROR_RULE)
            return Decision(line, "deny", (verdict,), self.profile.source, self.profile.sha256)

    def decide_parsed(self, parsed: ParsedLine, cwd: str | None = None, *, at_exec: bool = False,
                      args: tuple[str, ...] = (), environment: Mapping[str, str] | None = None) -> Decision:
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
        walked = self._walk(parsed, cwds, cd_real, at_exec)
        if follow_loops(parsed, walked, cwds, self.host.home, cd_real):
            # a loop's cd led to more directories: walk the line again from them all
            walked[:len(parsed.commands)] = self._walk(parsed, cwds, cd_real, at_exec)
        if "export" in parsed.source:
            self._named_exports(parsed, walked, cwds)
        verdicts += walked
        verdicts += handed_paths(parsed, cwds, cd_real, self.paths, self.host.home, args, environment or {})
        temps = tempfiles.temp_names(parsed, self.profile) if parsed.redirects else {}
        for redirect in parsed.redirects:
            if redirect.target is None:
                continue
            problem = _socket_problem(redirect.target, self.profile)
            if problem:
                verdicts.append(Verdict(command=redirect.text, decision="deny", reason=problem, rule="network"))
                continue
            problem = ""
            # `> "$tmp"` after `tmp=$(mktemp)`: the new file, or "" (tempfiles.py)
            for target in tempfiles.redirect_targets(temps, redirect) if temps else (redirect.target,):
                if redirect.writes:
                    problem = self.paths.check_write_word(target, cwds, cd_real)
                elif redirect.op == "<":
                    problem = self.paths.check_read_word(target, cwds, cd_real)
                if problem:
                    break
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

    def _named_exports(self, parsed: ParsedLine, walked: list[Verdict], cwds: list[str]) -> None:
        """`export PYTHONPATH=src && python3 -m pytest`: allowed when every program of the line
        is allowed by a rule naming the variable (exports.py); walked is changed in place."""
        for i, (command, verdict) in enumerate(zip(parsed.commands, walked, strict=False)):
            if verdict.decision == "deny" and verdict.program == "builtin:export" and verdict.rule == "shell-builtin" \
                    and exports.export_allowed(command, walked, self.profile, self.paths, cwds):
                walked[i] = verdict._replace(decision="allow", rule="export-for-named-rules", hint="",
                                             reason="every program of the line is allowed by a rule that names "
                                                    "the variable, and its value is in the workspace")

    def _walk(self, parsed: ParsedLine, cwds: list[str], cd_real: dict[str, str], at_exec: bool) -> list[Verdict]:
        """Each command's verdict, from every directory the line may be in by then (`cwds`
        grows with each `cd`)."""
        verdicts = []
        for command in parsed.commands:
            verdict = self.check_command(command, cwds, cd_real, None if at_exec else parsed)
            if verdict.makes_link and verdict.decision != "deny":
                problem = links.order_problem(parsed, command)
                if problem:
                    verdict = links.refuse(verdict, problem)
            verdicts.append(verdict)
            for one in loop_rounds(parsed, command):
                follow_cd(one, verdict, cwds, self.host.home, cd_real)
        return verdicts

    # -- commands --------------------------------------------------------------
    def check_command(self, command: SimpleCommand, cwds: list[str],
                      cd_real: dict[str, str] | None = None, parsed: ParsedLine | None = None) -> Verdict:
        """`parsed`: the line `command` is part of, for what it reads on stdin (patches.py);
        None when that was checked before (an exec the guard decides)."""
        base = dict(command=command.text, line=command.line)
        if not command.argv:
            for assignment in command.assignments:
                problem = shell_variable_problem(assignment.name, self.profile, assignment.value)
                if problem:
                    return Verdict(decision="deny", reason=problem, rule="environment", **base)
            return Verdict(decision="allow", reason="shell variable assignment", **base)
        if parsed is not None and parsed.assigned:
            rounds = cd_rounds(parsed, command) if command.argv[0].value in ("cd", "pushd") else []
            if rounds:  # `for d in src tests; do (cd "$d" && ls); done`: each directory it enters
                verdicts = [self.check_command(one, cwds, cd_real, None) for one in rounds]
                return next((v for v in verdicts if v.decision != "allow"), verdicts[0])
            command = known_starts(parsed, command)  # `for f in tests/*.py; do python3 "$f"; done`
        if parsed is not None and "$" in command.text:
            rounds = tempfiles.command_rounds(tempfiles.temp_names(parsed, self.profile), command)
            if rounds:  # `tmp=$(mktemp) && ... && rm "$tmp"`: the new file, or ""
                verdicts = [self.check_command(one, cwds, cd_real, parsed) for one in rounds]
                return next((v for v in verdicts if v.decision != "allow"), verdicts[0])
        return self._invocation(command.argv[0], command.argv[1:], command.assignments, base, cwds, 0, cd_real,
                                None if parsed is None else (parsed, command))

    def _invocation(self, name_word: Word, args: tuple[Word, ...], assignments: tuple, base: dict,
                    cwds: list[str], depth: int, cd_real: dict[str, str] | None = None,
                    origin: tuple[ParsedLine, SimpleCommand] | None = None) -> Verdict:
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
                return judged(found, "deny", problem, "shell-builtin")
        verdict = self.rules.verdict(program, name, args, assignments, found)
        moves: list[Word] = []
        trees: list[Word] = []
        if program.basename == "git" and args and (args[0].value or "-")[:1] == "-" and verdict.decision != "deny":
            # `git -C DIR add x`, also after other global options (`git -P -C DIR`): git's paths
            # are relative to DIR (each -C to the one before), which must be readable itself.
            # (tar's -C: tardirs.py.)
            moves, trees = git_directories(args)
        elif program.basename in chdirs.PROGRAMS and not program.is_builtin and verdict.decision != "deny":
            moves = chdirs.directories(program.basename, args)  # `make -C DIR`, `ruby -C DIR`
        if moves or trees:
            cwds, problem = moved_directories(self.paths, program.basename, moves, trees, cwds, cd_real)
            if problem:
                return judged(found, "deny", problem, "read-write-roots")
        if verdict.decision != "deny":
            problem = self._path_problem(program, args, cwds, cd_real)
            if problem:
                verdict = judged(found, "deny", problem, "read-write-roots")
        if program.basename not in _LINKS_PATCHES_WRAPPERS:
            return verdict  # (ls, head, grep ...) none of the checks below names it: one test, not five
        if program.basename in madelinks.MAKERS and not program.is_builtin and not (
                program.basename == "git" and args and args[0].value in madelinks.GIT_READS_ONLY):
            verdict = madelinks.check(verdict, program.basename, args, cwds, self.paths)
        # patch, and git when it may be `git apply` or `git am` (`git -C d apply`: options first).
        if verdict.decision != "deny" and (program.basename == "patch" or (program.basename == "git" and args and (
                args[0].value in ("apply", "am") or (args[0].value or "-").startswith("-")))):
            problem, hint, makes_link = patches.check(program.basename, args, cwds, self.paths, origin, cd_real)
            if problem:
                verdict = verdict._replace(decision="deny", reason=problem, rule="read-write-roots", hint=hint)
            elif makes_link and not verdict.makes_link:
                verdict = verdict._replace(makes_link=True)
        if program.basename == "find" and not program.is_builtin:
            spans = find_exec_spans(args)
            inner = [self._invocation(args[start + 1], _exec_args(args, start, end, spans), (),
                                      dict(base, command=" ".join(w.shown() for w in args[start + 1:end])),
                                      cwds, depth + 1, cd_real, origin)
                     for start, end in spans if start + 1 < end]
            if inner:
                return verdict._replace(wrapped=tuple(madelinks.once(v, "find") for v in inner))
        wrapped = unwrap(program.basename, args) if program.basename in WRAPPERS else None
        if wrapped is None:
            return verdict
        if wrapped.problem:
            inner = judged(found, "deny", wrapped.problem, "wrapper")
        elif not wrapped.inner:
            return verdict
        elif depth >= MAX_WRAP_DEPTH:
            inner = judged(found, "deny", "wrappers nested too deeply", "wrapper")
        elif wrapped.chdir is not None and wrapped.chdir.value is None:
            inner = judged(found, "deny", f"{program.basename} runs it in {wrapped.chdir.text}, a "
                            "directory only known at run time", "wrapper")
        else:
            inner_base = dict(base, command=" ".join(w.shown() for w in wrapped.inner))
            # `env -C DIR cmd`: cmd's relative paths are relative to DIR, from wherever the line is.
            inner_cwds = cwds if wrapped.chdir is None else \
                list(dict.fromkeys(real_dir(own_directory(os.path.join(cwd, wrapped.chdir.value or ""), cwd), cd_real)
                                   for cwd in cwds))
            inner = madelinks.once(self._invocation(wrapped.inner[0], wrapped.inner[1:], wrapped.assignments,
                                           inner_base, inner_cwds, depth + 1, cd_real, origin), program.basename)
        return Verdict(command=verdict.command, decision=verdict.decision, reason=verdict.reason,
                       rule=verdict.rule, program=verdict.program, path=verdict.path, name=verdict.name,
                       hint=verdict.hint, line=verdict.line, wrapped=(inner,), makes_link=inner.makes_link)

    def _path_problem(self, program: Program, args: tuple[Word, ...], cwds: list[str],
                      cd_real: dict[str, str] | None = None) -> str:
        if program.basename in ("cd", "pushd") and program.is_builtin:
            problem = pushd_problem(args) if program.basename == "pushd" else ""
            if problem:
                return problem
            operands = cd_operands(args)
            # `cd -` goes back to $OLDPWD: one of the directories the line was in, each already
            # checked (cd_targets adds none), unless the profile lets it come from outside.
            if operands and (operands[0].value is None or (operands[0].value == "-" and (
                    program.basename == "pushd" or oldpwd_inherited(self.profile)))):
                return "cd needs a literal directory so the read roots can be checked"
            for target in cd_targets(args, cwds, self.host.home, cd_real):
                problem = self.paths.read_problem(target)
                if problem:
                    return problem
            return ""
        for word in args:
            problem = self.paths.check_read_word(word, cwds, cd_real)
            if problem:
                return problem
        # as typed and as resolved: gcc is x86_64-linux-gnu-gcc-12 once its links are followed
        typed = program.name.rpartition("/")[2]
        if program.basename not in _NAMED_OR_MOVED and never_writes(program.basename) and (
                typed == program.basename or never_writes(typed)):
            return ""  # (ls, head, grep ...) none of the checks below has anything to read for it
        if typed == "git" and program.basename == "git" and git_writes_nothing(args) and \
                pathspecs.names_nothing(args):
            return ""  # git's usual words: below, only its write targets and pathspecs concern it
        if program.basename in ("sed", "gsed"):
            for word in hazards_module().scripts.sed_reads(args):  # `sed 'r FILE'`: a file named in the script
                problem = self.paths.check_read_word(word, cwds, cd_real)
                if problem:
                    return problem
        for name in (program.basename,) if typed == program.basename else (typed, program.basename):
            for word in write_targets(name, args):
                problem = self.paths.check_write_word(word, cwds, cd_real)
                if problem:
                    return problem
        for check in _NAMED_ELSEWHERE.get(program.basename, ()):
            problem = check(program.basename, args, cwds, self.paths, cd_real)
            if problem:
                return problem
        moved = transfer(program.basename, args)
        if moved is None:
            return ""
        sources, destination, recursive, contents = moved
        if program.basename == "mv":
            for word in sources:  # a moved directory takes what is below it along
                if word.value == "":
                    continue  # names no file (`mv "" x` fails), not the working directory
                for cwd in cwds:  # (a dynamic source is refused above, as a write target)
                    problem = self.paths.move_problem(resolve(word.value or "", cwd)) or \
                        self._moved_into(word, destination, cwd)
                    if problem:
                        return problem
        elif recursive and destination is not None:
            for cwd in cwds:
                problem = self.paths.copy_problem(sources, destination, contents, cwd)
                if problem:
                    return problem
        return ""

    def _moved_into(self, source: Word, destination: Word | None, cwd: str) -> str:
        """Where `mv SOURCE DIR` puts SOURCE when DIR is a directory then (the line may make
        or empty it first): DIR/NAME, which must be no denied root nor hold one.  `find . -name
        '*.sample' -delete; ... mv g/hooks .git/` put a planted hooks directory in place of the
        emptied one: the check saw only `.git/` written."""
        if destination is None or destination.value is None or source.value is None:
            return ""  # (a dynamic destination is refused as a write target)
        name = os.path.basename(resolve(source.value, cwd))
        landed = os.path.join(resolve(destination.value, cwd), name)
        problem = self.paths.write_problem(landed)
        if problem:
            return f"moves {source.text} into {destination.text}: {problem}"
        held = self.paths.held_roots(landed)
        return f"moves {source.text} to {landed}, which holds the denied root {held[0]}" if held else ""

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


# Checks of the files a program names elsewhere than in its operands, by program (one lookup
# a command): tar's -C (tardirs), a checksum list (checksums), a name glued from an option's
# value (suffixes).  A patch's names need the line's stdin: _invocation asks patches.py.
_NameCheck = Callable[[str, tuple[Word, ...], list[str], PathChecker, "dict[str, str] | None"], str]


def _named_elsewhere() -> dict[str, tuple[_NameCheck, ...]]:
    checks: dict[str, tuple[_NameCheck, ...]] = {}
    for names, check in ((("tar",), tardirs.read_problem), (checksums.PROGRAMS, checksums.problem),
                         (suffixes.PROGRAMS, suffixes.problem), (pathspecs.PROGRAMS, pathspecs.problem),
                         (("rm",), removals.rm_problem), (("find",), removals.find_problem),
                         (("cmake",), removals.cmake_problem),
                         (("tar", "zip"), removals.archive_removal_problem)):
        for name in names:
            checks[name] = (*checks.get(name, ()), check)
    return checks


_NAMED_ELSEWHERE = _named_elsewhere()
# The programs the last checks of _path_problem (sed's scripts, _NAMED_ELSEWHERE, mv and cp)
# and of _invocation (links made, patches, find -exec, wrappers) name: any other program
# skips them with one set test (writes.never_writes covers write_targets).  A check added
# there for another program must add its name here (tests/test_decide_fastpath.py).
_NAMED_OR_MOVED = frozenset({"sed", "gsed", "mv", "cp", *_NAMED_ELSEWHERE})
_LINKS_PATCHES_WRAPPERS = frozenset({*madelinks.MAKERS, "patch", "git", "find", *WRAPPERS})


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


# Programs whose `{}` operand find -exec may name as the find start points: what they do to a
# name (unlink it, or a tree below it without following links) stays below where find found it.
_BELOW_START = frozenset({"rm", "rmdir"})


def _exec_args(args: tuple[Word, ...], start: int, end: int, spans: list[tuple[int, int]]) -> tuple[Word, ...]:
    """The words of find's `-exec` command at args[start]: `{}` is replaced by find with each
    file name, a value known only at run time.  For `-exec rm ... {}` (not -execdir, -ok) in a
    find that follows no links, a lone `{}` is a path below a start point through real
    directories only, so rm is checked as writing the start points themselves (as `-delete`
    is): `find . -name __pycache__ -exec rm -rf {} +`."""
    words = args[start + 2:end]
    # `rmdir -p {}` also removes each empty parent of a name, up past an absolute start point
    below = args[start].value == "-exec" and args[start + 1].value in _BELOW_START \
        and not find_follows_links(args, spans) \
        and not (args[start + 1].value == "rmdir" and any(_rmdir_parents(w) for w in words))
    out: list[Word] = []
    for w in words:
        if w.value == "{}" and below:
            # marked: removals.find_problem judges what the find removes below them
            out += [p._replace(why_dynamic=removals.FIND_START) if p.value is not None else p
                    for p in find_start_points(args)]
        elif "{}" in (w.value or ""):
            out.append(Word(w.text, None, "file name from find"))
        else:
            out.append(w)
    return tuple(out)


def _rmdir_parents(word: Word) -> bool:
    """Is this word of rmdir's `-p` (`--parents`, or a short cluster holding p), or unknown?"""
    value = word.value
    if value is None:
        return True
    if value.startswith("--"):
        return len(value) > 3 and "--parents".startswith(value)
    return value.startswith("-") and "p" in value
