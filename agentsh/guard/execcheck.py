"""Decide one exec seen inside an approved command's process tree.

The guard stops every process at the moment its new program is loaded and asks
`ExecChecker.check` with what the kernel says runs: the file (/proc/PID/exe, by
device and inode), the argv, and the working directory.  The answer reuses the
policy engine, so an exec is allowed exactly when the same command typed by the
agent would be:

- a program is named as the profile's path finds it (argv[0]'s name, else the
  file's own name) and its argv is decided as the line `NAME ARG...`;
- a shell run as `sh -c STRING` (how make recipes, git aliases, `os.system` and npm
  scripts run commands) is decided by STRING, parsed like any agent line;
- a `#!` script is decided as the script, not as its interpreter;
- what an allowed program may run is its rule's `children:`: `check` (the above,
  plus the program's own helpers such as /usr/lib/git-core/*), `none` (only its own
  helpers), `any` (no checks below it).
"""

from __future__ import annotations

import os
import shlex
import stat
from collections.abc import Iterable
from typing import Any, NamedTuple

from ..policy import Policy
from ..policy.compilers import kind
from ..policy.resolve import lookup
from ..profile.model import Rule

SHELLS = frozenset({"bash", "sh", "dash", "ash", "zsh", "ksh", "mksh"})
# Shell options that do not change what `-c STRING` runs.
HARMLESS_SHELL_FLAGS = frozenset("eux")
HARMLESS_SHELL_OPTIONS = frozenset({"errexit", "nounset", "xtrace", "pipefail"})
HARMLESS_LONG_OPTIONS = frozenset({"--noprofile", "--norc", "--posix"})

# Private helper programs a program runs as part of itself; they are allowed with it.
HELPER_DIRS: dict[str, tuple[str, ...]] = {
    "git": ("/usr/lib/git-core/", "/usr/libexec/git-core/"),
    "gcc": ("/usr/lib/gcc/", "/usr/libexec/gcc/"),
    "cc": ("/usr/lib/gcc/", "/usr/libexec/gcc/"),
    "g++": ("/usr/lib/gcc/", "/usr/libexec/gcc/"),
    "c++": ("/usr/lib/gcc/", "/usr/libexec/gcc/"),
    "ssh": ("/usr/lib/openssh/",),
    "scp": ("/usr/lib/openssh/",),
    "man": ("/usr/lib/man-db/", "/usr/libexec/man-db/"),
}

MAX_ARGV_BYTES = 256 * 1024  # beyond this an exec is refused rather than parsed

# gcc's link-time optimisation: the LTO plugin that collect2 hands ld runs gcc's lto-wrapper
# (`ld -plugin .../liblto_plugin.so -plugin-opt=.../lto-wrapper`), so under ld, whose rule
# decided it, the one program of gcc's that may run is lto-wrapper, by that name in gcc's own
# directories (ld's hazards already refuse a plugin or a lto-wrapper from anywhere else).
LTO_WRAPPER = "lto-wrapper"
_GCC_DIRS = HELPER_DIRS["gcc"]
_LTO_LINKERS = frozenset({"ld", "ld.bfd", "ld.gold"})


class Lineage(NamedTuple):
    """What the process tree below an allowed exec may do."""

    rule: str  # the rule that allowed the program ("" for the line's own bash)
    program: str  # that program's name, for its helpers
    children: str = "check"
    background: bool = False


LINE = Lineage(rule="", program="bash")  # the bash agentsh started for the approved line


class ExecVerdict(NamedTuple):
    allowed: bool
    reason: str
    rule: str
    lineage: Lineage  # for the new program when allowed
    shown: str  # the command as checked, for messages and the audit trail


class ExecChecker:
    def __init__(self, policy: Policy, credential_links: Iterable[tuple[str, str]] = (),
                 approved_rules: Iterable[str] = (), pins: Iterable[tuple[str, str]] = (),
                 secrets: Iterable[str] = ()) -> None:
        self.policy = policy
        # The line's credentials: an exec's argv may carry one (the credentialed program passes
        # it on), and the refusal message and audit event show that argv.
        self.secrets = tuple(secrets)
        self._redactor: Any = None
        # The files the static check resolved the line's names to (bash runs them by `hash -p`):
        # they stay the right files for those names even if the path changed since.
        self.pins: dict[str, str] = dict(pins)
        # `ask` rules a person approved for this line: their commands may exec as approved.
        self.approved_rules = frozenset(approved_rules)
        self.path = tuple(policy.profile.path)
        self.rules: dict[str, Rule] = {rule.name: rule for rule in policy.profile.rules}
        # The credential exec helper's links (path -> program name), made by agentsh for this line.
        self.links: dict[str, str] = {os.path.normpath(link): name for name, link in credential_links}

    def mask(self, text: str) -> str:
        """text with every form of the line's credentials masked (see agentsh/redact.py)."""
        if not self.secrets:
            return text
        if self._redactor is None:  # built in the guard, on the first exec that needs it
            from ..redact import Redactor

            self._redactor = Redactor([s.encode() for s in self.secrets])
        data = text.encode("utf-8", "surrogateescape")
        return (self._redactor.feed(data) + self._redactor.flush()).decode("utf-8", "surrogateescape")

    def check(self, exe: str, key: tuple[int, int], argv: list[str], cwd: str, lineage: Lineage) -> ExecVerdict:
        """Decide the exec on its real argv; show it with credentials masked.

        Masking comes before quoting and truncation: `shlex.join` splits a secret holding a
        quote, and the 500-character cut could leave the start of one, and neither would
        match a form any more."""
        shown = shlex.join(argv)[:500]
        if lineage.program == LTO_WRAPPER and argv and kind(os.path.basename(argv[0])) == "driver":
            # lto-wrapper runs gcc as `gcc @TMPFILE` (a response file it has just written):
            # decide the words gcc will read from it, as if they were typed (one that cannot
            # be read stays `@FILE`, which gcc's hazards refuse).  Only for a compiler driver,
            # which reads them so: to make, `@FILE` is a target, not these words.
            argv = expand_response_files(argv, cwd)
        verdict = self._check(exe, key, argv, cwd, lineage, shown)
        if not self.secrets:
            return verdict
        masked = [self.mask(arg) for arg in argv]
        if masked == argv:
            return verdict
        # The reason may quote a piece of the argv (a base name, a path): say none of it.
        reason = verdict.reason if verdict.allowed else "refused (the reason is withheld: its arguments hold a credential)"
        return verdict._replace(shown=shlex.join(masked)[:500], reason=reason)

    def _check(self, exe: str, key: tuple[int, int], argv: list[str], cwd: str, lineage: Lineage,
               shown: str) -> ExecVerdict:
        if lineage.children == "any":
            return ExecVerdict(True, f"rule {lineage.rule} allows any child program", lineage.rule, lineage, shown)
        if sum(len(a) for a in argv) > MAX_ARGV_BYTES:
            return self._deny("the argument list is too long to check", "", lineage, shown)
        script = script_invocation(exe, argv, cwd, self.path)
        helper_dirs = HELPER_DIRS.get(lineage.program, ())
        where = script[0] if script else exe
        # (a script path with `..` is kept as written, and is no helper wherever it starts)
        if ".." not in where.split("/") and any(where.startswith(d) for d in helper_dirs):
            if script is None and _is_lto_wrapper(exe):
                # (gcc runs it itself when ld has no plugin) its programs are checked as
                # lto-wrapper's, whose response files are read
                return ExecVerdict(True, f"a helper of {lineage.program}", lineage.rule,
                                   lineage._replace(program=LTO_WRAPPER), shown)
            return ExecVerdict(True, f"a helper of {lineage.program}", lineage.rule, lineage, shown)
        if lineage.program in _LTO_LINKERS and script is None and _is_lto_wrapper(exe):
            return ExecVerdict(True, f"gcc's {LTO_WRAPPER}, run by the linker's LTO plugin", lineage.rule,
                               lineage._replace(program=LTO_WRAPPER), shown)
        if lineage.children == "none":
            return self._deny(f"rule {lineage.rule} lets {lineage.program} run no other program (children: none)",
                              lineage.rule, lineage, shown)
        if script is not None:
            return self._script(script[0], script[1], cwd, lineage, shown)
        if os.path.basename(exe) in SHELLS and self._is_shell(exe, key, argv[0] if argv else ""):
            shell_string = _shell_command_string(argv)
            if shell_string is not None:
                return self._line(shell_string, cwd, lineage, shown)
        name = self._name_on_path(exe, key, argv[0] if argv else "")
        if name is None:
            run_as = os.path.basename(argv[0]) if argv else ""
            return self._deny(f"{exe} was run as '{run_as}', which is not the name the profile's path finds "
                              "it under", "", lineage, shown)
        return self._line(shlex.join([name, *argv[1:]]), cwd, lineage, shown, program=name)

    def _script(self, script: str, argv: list[str], cwd: str, lineage: Lineage, shown: str) -> ExecVerdict:
        link_name = self.links.get(script)
        if link_name is not None:  # the credential helper, linked under the program's name
            return self._line(shlex.join([link_name, *argv[1:]]), cwd, lineage, shown, program=link_name)
        # The script must be the very file on the profile's path, not a link or copy elsewhere:
        # a file in a writable directory could be swapped between this check and its reading.
        name = os.path.basename(script)
        hit = lookup(name, self.path)
        if self.pins.get(name) != script and (hit is None or os.path.normpath(hit[0]) != script):
            return self._deny(f"the script {script} is not the '{name}' on the profile's path", "", lineage, shown)
        return self._line(shlex.join([name, *argv[1:]]), cwd, lineage, shown, program=name)

    def _is_shell(self, exe: str, key: tuple[int, int], argv0: str) -> bool:
        """Is the file that runs a real shell, not any program copied under a shell's name?
        (`./sh -c echo` with perl copied to ./sh ran perl on the file `echo`: the shell string
        was decided, and perl ran.)  It must be the file the profile's path, or the system's
        own /usr/bin and /bin, finds under its own name or argv[0]'s."""
        if self._name_on_path(exe, key, argv0) is not None:
            return True
        name = os.path.basename(exe)
        return any(_key(os.path.join(d, name)) == key for d in (*self.path, "/usr/bin", "/bin"))

    def _name_on_path(self, exe: str, key: tuple[int, int], argv0: str) -> str | None:
        """argv[0]'s name, if the profile's path finds exactly this file under it.

        Only argv[0]: multi-call programs pick what they do from it (busybox applets, `git`
        run as `git-config` runs `git config`), so the name it was run by is what is decided,
        never the file's own name."""
        name = os.path.basename(argv0)
        if name and not name.startswith("-"):
            hit = lookup(name, self.path)
            if hit is not None and (hit[1].st_dev, hit[1].st_ino) == key:
                return name
            if name in self.pins and _key(self.pins[name]) == key:
                return name
        for rule in self.policy.profile.rules:  # rules may name a program by absolute path
            for run in rule.run:
                if run.startswith("/"):
                    try:
                        info = os.stat(run)
                    except OSError:
                        continue
                    if (info.st_dev, info.st_ino) == key:
                        return run
        return None

    def _line(self, line: str, cwd: str, lineage: Lineage, shown: str, program: str = "") -> ExecVerdict:
        decision = self.policy.decide(line, cwd, at_exec=True)
        if decision.decision == "ask" and all(v.rule in self.approved_rules for v in decision.refused):
            decision = decision._replace(decision="allow")
        if decision.decision != "allow":
            deciding = decision.deciding
            reason = deciding.reason if deciding else decision.decision
            if decision.decision == "ask":
                reason += " (an exec inside a running command cannot wait for approval)"
            return self._deny(reason, deciding.rule if deciding else "", lineage, shown)
        if not program:  # a shell string: the shell is plumbing, its programs are checked as they run
            return ExecVerdict(True, "shell string allowed", lineage.rule, lineage, shown)
        verdict = decision.verdicts[0]
        rule = self.rules.get(verdict.rule)
        if rule is None:  # a builtin-only rule or a built-in check allowed it
            child = Lineage(rule=verdict.rule, program=os.path.basename(program))
        else:
            child = Lineage(rule=rule.name, program=os.path.basename(program), children=rule.children,
                            background=rule.background)
        return ExecVerdict(True, "allowed", verdict.rule, child, shown)

    @staticmethod
    def _deny(reason: str, rule: str, lineage: Lineage, shown: str) -> ExecVerdict:
        return ExecVerdict(False, reason, rule, lineage, shown)


def _shell_command_string(argv: list[str]) -> str | None:
    """STRING of `sh [-eux...] [-o OPT] -c STRING [NAME ARG...]`; None for any other shell use."""
    i = 1
    while i < len(argv):
        arg = argv[i]
        letters = set(arg[1:])
        if arg.startswith("-") and "c" in letters and letters <= HARMLESS_SHELL_FLAGS | {"c"}:
            # The shell takes the first word that is no option as STRING: in `bash -c - STRING`
            # or `bash -c -e STRING` the word after -c is not what runs.
            string = argv[i + 1] if i + 1 < len(argv) else None
            return None if string is None or string[:1] in ("-", "+") else string
        if arg in ("-o", "+o") and i + 1 < len(argv) and argv[i + 1] in HARMLESS_SHELL_OPTIONS:
            i += 2
            continue
        if arg in HARMLESS_LONG_OPTIONS or (arg[:1] in "-+" and len(arg) > 1 and letters <= HARMLESS_SHELL_FLAGS):
            i += 1
            continue
        return None
    return None


def script_invocation(exe: str, argv: list[str], cwd: str, path: tuple[str, ...]) -> tuple[str, list[str]] | None:
    """For a `#!` script the kernel runs `INTERPRETER [OPTARG] SCRIPT ARG...` (and a
    `#!/usr/bin/env NAME` script is then run again as `NAME SCRIPT ARG...`): return
    (script path, [SCRIPT, ARG...]) when argv has exactly one of those shapes and the
    script names the interpreter that is running."""
    for at in (1, 2):
        if len(argv) <= at or argv[at].startswith("-"):
            continue
        joined = os.path.join(cwd, argv[at])
        # A path with `..` is kept as written: after a symbolic link the interpreter's open
        # goes up from the link's target, not where normpath would put it, so such a path is
        # never taken for the script on the profile's path (the file is still read as written).
        script = joined if ".." in joined.split("/") else os.path.normpath(joined)
        if script.startswith(("/dev/", "/proc/")):
            continue  # /dev/fd/N names the tracee's descriptor, not ours: decided as the interpreter's argument
        first = _first_line(script)
        if first is None:
            continue
        if not first.startswith(b"#!"):
            continue
        words = first[2:].decode("utf-8", "replace").split(None, 1)
        if not words:
            continue
        interpreter = words[0]
        optional = [words[1].strip()] if len(words) > 1 and words[1].strip() else []
        shapes = [(1 + len(optional), interpreter)]
        if os.path.basename(interpreter) == "env" and len(optional) == 1 and " " not in optional[0]:
            shapes.append((1, optional[0]))
        for expected_at, program in shapes:
            if at == expected_at and argv[1:at] == optional[:at - 1] and _same_file(program, exe, path):
                return script, [script, *argv[at + 1:]]
    return None


def _is_lto_wrapper(exe: str) -> bool:
    """Is exe gcc's own lto-wrapper (`/usr/lib/gcc/TRIPLE/VERSION/lto-wrapper`), not a file of
    that name anywhere else?  exe is the kernel's /proc/PID/exe: no link, no `..`."""
    return (os.path.basename(exe) == LTO_WRAPPER and exe.startswith(_GCC_DIRS)
            and ".." not in exe.split("/") and exe.count("/") == 6)


def expand_response_files(argv: list[str], cwd: str) -> list[str]:
    """argv with each `@FILE` replaced by the words in FILE, split as gcc (libiberty's
    buildargv) splits them: at white space, with '...', "..." and backslash quoting.

    Not recursive: a word read from a file that starts with @ is kept, and refused as a
    response file.  A FILE that is not a readable regular file of at most MAX_ARGV_BYTES is
    kept as `@FILE` too (gcc would take it as an argument of its own)."""
    expanded: list[str] = []
    for at, arg in enumerate(argv):
        words = _response_file(os.path.join(cwd, arg[1:])) if at and len(arg) > 1 and arg[0] == "@" else None
        expanded.extend([arg] if words is None else words)
    return expanded


def _response_file(path: str) -> list[str] | None:
    if path.startswith(("/proc/", "/dev/fd/", "/dev/std")):  # the guard's own descriptors, not the tracee's
        return None
    data = _read_regular(path, MAX_ARGV_BYTES + 1)
    if data is None or len(data) > MAX_ARGV_BYTES:
        return None
    return _split_response(data.decode("utf-8", "surrogateescape"))


_BUILDARGV_SPACE = frozenset(" \t\n\r\f\v")  # C's isspace, not Python's wider str.isspace


def _split_response(text: str) -> list[str]:
    """libiberty's buildargv: a backslash quotes the next character everywhere, quotes group."""
    words: list[str] = []
    word: list[str] = []
    started = False  # a word began (quotes make an empty word)
    quote = ""
    escaped = False
    for char in text:
        if escaped:
            word.append(char)
            escaped = False
        elif char == "\\":
            escaped = started = True
        elif quote:
            if char == quote:
                quote = ""
            else:
                word.append(char)
        elif char in _BUILDARGV_SPACE:
            if started:
                words.append("".join(word))
                word, started = [], False
        elif char in "'\"":
            quote, started = char, True
        else:
            word.append(char)
            started = True
    if started:
        words.append("".join(word))
    return words


def _first_line(path: str) -> bytes | None:
    """The first line of a regular file, without ever blocking (a FIFO named as a script)."""
    data = _read_regular(path, 256)
    return None if data is None else data.split(b"\n", 1)[0]


def _read_regular(path: str, size: int) -> bytes | None:
    """Up to size bytes of a regular file, without ever blocking on anything else."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, size)
    except OSError:
        return None
    finally:
        os.close(fd)


def _key(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino)


def _same_file(program: str, exe: str, path: tuple[str, ...]) -> bool:
    """Is `program` (a path, or a name looked up on `path`) the file `exe`?"""
    if "/" in program:
        wanted = _key(program)
    else:
        hit = lookup(program, path)
        wanted = (hit[1].st_dev, hit[1].st_ino) if hit is not None else None
    return wanted is not None and wanted == _key(exe)
