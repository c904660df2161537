"""Built-in knowledge of how ordinary programs run other programs.

An allow rule that matches `find ...` must not thereby allow `find . -exec sh \\;`.
Each entry here names options (or operands, or environment variables) through
which a program runs code or writes where it was not asked to.  A hazard is
permitted only when the deciding rule names it explicitly (see argmatch's
``names_explicitly``); a wildcard never does.  The source list is GTFOBins plus
the agent-bypass reports in shared/corpus; the tests replay both.
"""

# The models (Hazard, Spec) and the generic readers of hazard_table are in hazard_specs.py.

import fnmatch
import re
from collections.abc import Callable, Mapping
from fnmatch import fnmatchcase

from ..parse import Word
from . import githazards, scripts
from . import hazard_table as table
from .hazard_specs import Hazard, Inspector, Spec, load_table
from .loopvars import LOOP_VALUE

__all__ = ["Hazard", "Inspector", "Spec", "dynamic_ok", "env_hazard", "find_hazards", "is_exec_capable",
           "nothing_to_find", "spec_for"]


# Variables that change what any program (or the loader, or bash) executes.
GLOBAL_ENV = (
    "LD_*", "GCONV_PATH", "BASH_ENV", "ENV", "BASH_FUNC_*", "SHELLOPTS", "BASHOPTS", "PS4",
    "PROMPT_COMMAND", "IFS", "PATH", "CDPATH", "GLOBIGNORE", "PAGER", "MANPAGER", "GIT_*",
    "EDITOR", "VISUAL", "BROWSER", "LESSOPEN", "LESSCLOSE", "LESSKEY*", "PERL5OPT", "PERL5LIB",
    "PERLLIB", "PERL5DB", "PYTHONSTARTUP", "PYTHONPATH", "PYTHONHOME", "PYTHONINSPECT",
    "RUBYOPT", "RUBYLIB", "NODE_OPTIONS", "NODE_PATH", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS", "LUA_INIT*", "PHPRC", "PHP_INI_SCAN_DIR", "SSH_ASKPASS", "SUDO_ASKPASS",
    "GIT_SSH*", "TAR_OPTIONS", "MAKEFLAGS", "MFLAGS", "SHELL", "TERMINFO", "HOSTALIASES",
    "RSYNC_RSH", "RSYNC_CONNECT_PROG", "SYSTEMD_PAGER", "SYSTEMD_EDITOR", "KUBE_EDITOR",
    # a kubeconfig names an exec credential plugin that kubectl (helm, ...) runs
    "KUBECONFIG",
    "AWKPATH", "AWKLIBPATH", "ZDOTDIR", "INPUTRC", "XDG_CONFIG_HOME", "HOME", "TMPDIR",
    "PROMPT_*", "PS1", "PS2", "PS0", "PWD", "OLDPWD",
    # its members are the directory stack's: `read -a DIRSTACK < f; popd` changed to a
    # directory read from f, where `popd` goes only to ones the line was in otherwise
    "DIRSTACK",
    # bash turns posix mode on when it is assigned (`set -o posix`, which is refused), and then an
    # assignment before a special builtin stays: `LC_ALL=zh_CN.GBK :` switched the charset.
    "POSIXLY_CORRECT",
)

_SHELL_OPTS = {"-c": "runs the given string as shell commands", "-i": "starts an interactive shell",
               "-s": "reads commands from standard input", "--init-file": "runs a startup file",
               "--rcfile": "runs a startup file"}
# Operands that name the program's own standard input: `python3 /dev/stdin <<EOF` is `python3 -`.
STDIN_NAMES = ("-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0", "/proc/thread-self/fd/0")
_SHELL = Spec(options=_SHELL_OPTS, bare="a shell with no script reads commands from standard input",
              stdin_operands=STDIN_NAMES, stop_at_operand=True, takes_value=("-o", "+o", "-O", "+O"))


def _interpreter(*inline: str, bare: str = "reads a program from standard input",
                 extra: dict[str, str] | None = None, takes_value: tuple[str, ...] = (),
                 terminators: tuple[str, ...] = ()) -> Spec:
    options = {opt: "runs code given on the command line" for opt in inline}
    options.update(extra or {})
    return Spec(options=options, bare=bare, stdin_operands=STDIN_NAMES, takes_value=takes_value,
                stop_at_operand=True, terminators=terminators)


_FIND = Spec(options={
    "-fprint": "writes to a file", "-fprint0": "writes to a file", "-fprintf": "writes to a file",
    "-fls": "writes to a file",
})
# find's -exec family is not in the table: the engine checks the command each one runs as
# a command of its own (like xargs), and -delete makes the start points write targets.
FIND_EXEC = ("-exec", "-execdir", "-ok", "-okdir")  # also spelled out in rules.find_exec_spans

_TAR_OPTIONS = {
    "--checkpoint-action": "runs a command at checkpoints", "--to-command": "pipes files to a command",
    "-I": "runs a compression program", "--use-compress-program": "runs a compression program",
    "--rsh-command": "runs a remote shell", "--rmt-command": "runs a remote tape program",
    "--info-script": "runs a script at volume changes", "-F": "runs a script at volume changes",
    "--new-volume-script": "runs a script at volume changes",
    # A name list may also hold `-C DIR` lines, which move where tar -x extracts to.
    "-T": table.NAMES, "--files-from": table.NAMES,
}


def _tar_old_style(args: tuple[Word, ...]) -> list[Hazard]:
    """tar's dashless first word is a cluster of short options (`tar cIf CMD out.tar x` runs
    CMD, as `-cIf` would), which the generic reading takes for an operand."""
    first = args[0].value if args else None
    if not first or first[0] == "-" or not first.isalpha():
        return []
    return [Hazard(0, "-" + letter, f"-{letter} {_TAR_OPTIONS['-' + letter]}")
            for letter in dict.fromkeys(first) if "-" + letter in _TAR_OPTIONS]


# `--file` is an option of its own, and tar refuses `--fil` as ambiguous: neither is --files-from.
_TAR = Spec(options=_TAR_OPTIONS, operands=_tar_old_style, env=("TAR_OPTIONS",),
            exact=frozenset({"--file", "--fil"}))

_SPECS: dict[str, Spec] = {
    "find": _FIND,
    # cmake's options do not cluster: `-DCMAKE_BUILD_TYPE=Release` and `-S/src/Proj` are -D's and
    # -S's values, not -P or -C (the hazard table's), which refused ordinary configures
    "cmake": Spec(takes_value=("-D", "-U", "-G", "-S", "-B", "-T", "-A", "-j", "-t")),
    "tar": _TAR,
    "sed": Spec(options={"-f": "reads a sed script from a file", "--file": "reads a sed script from a file"},
                operands=scripts.sed_hazards, quick=scripts.sed_may_find),
    "awk": Spec(options={"-f": "reads an awk program from a file", "--file": "reads an awk program from a file",
                         "-E": "reads an awk program from a file", "--exec": "reads an awk program from a file",
                         "-l": "loads an extension", "--load": "loads an extension",
                         "-i": "includes an awk source file", "--include": "includes an awk source file"},
                operands=scripts.awk_hazards, env=("AWKPATH", "AWKLIBPATH")),
    # git's global options and subcommands need their own reading (`git log -p` is not
    # `git -p log`), done in githazards.git_hazards.
    "git": Spec(operands=githazards.git_hazards, dynamic=githazards.git_dynamic_ok, env=("GIT_*", "PAGER", "EDITOR", "VISUAL")),
    # --process-slot-var=NAME sets NAME in each command it runs, and xargs finds the command
    # with it: `--process-slot-var=PATH cat` ran ./0/cat; the variable checks never see NAME.
    "xargs": Spec(options={"--process-slot-var": "sets an environment variable (PATH, LD_PRELOAD ...) in the "
                                                 "commands it runs, past the variable checks"}),
    # kubectl runs the `exec` credential plugin its kubeconfig names: a kubeconfig the line
    # chooses (the profile may pass the user's own) is configuration that runs programs.
    "kubectl": Spec(options={"--kubeconfig": "reads a kubeconfig, whose exec credential plugin runs programs"},
                    env=("KUBECONFIG",)),
    # jq reads modules and JSON data files that `import`/`include` name inside its program.
    "jq": Spec(options={"-f": "reads a jq program from a file, whose imports the read roots cannot check",
                        "--from-file": "reads a jq program from a file, whose imports the read roots cannot check"},
               operands=scripts.jq_hazards, dynamic=lambda _args, _index: True),
    "env": Spec(options={"-S": "splits a string into a command line", "--split-string": "splits a string into a command line"}),
    "make": Spec(options={"--eval": "evaluates makefile text", "-E": "evaluates makefile text"},
                 operands=scripts.make_hazards, env=("MAKEFLAGS", "MFLAGS", "SHELL")),
    "rsync": Spec(options={"-e": "runs a remote shell program", "--rsh": "runs a remote shell program",
                           "--rsync-path": "runs a program on the remote side"}),
    "ssh": Spec(options={"-o": "options such as ProxyCommand and LocalCommand run programs",
                         "-F": "a config file can run programs"}),
    "scp": Spec(options={"-S": "runs a program instead of ssh", "-o": "ssh options can run programs",
                         "-F": "a config file can run programs"}),
    "sftp": Spec(options={"-S": "runs a program instead of ssh", "-o": "ssh options can run programs",
                          "-D": "runs a local sftp server program", "-F": "a config file can run programs"}),
    "zip": Spec(options={"-TT": "runs a program to test the archive", "--unzip-command": "runs a program to test the archive"}),
    "man": Spec(options={"-P": "runs a pager", "--pager": "runs a pager", "-H": "runs a browser",
                         "--html": "runs a browser"}, env=("MANPAGER", "PAGER")),
    "less": Spec(options={"-k": "loads a key file", "--lesskey-file": "loads a key file"},
                 env=("LESSOPEN", "LESSCLOSE", "LESSKEY*")),
    "vim": Spec(options={"-c": "runs an editor command", "--cmd": "runs an editor command",
                         "-S": "sources a script", "-u": "uses a startup script"},
                bare="an interactive editor can run shell commands"),
    "bash": _SHELL, "sh": _SHELL, "dash": _SHELL, "zsh": _SHELL, "ksh": _SHELL, "ash": _SHELL,
    "fish": _SHELL, "tcsh": _SHELL, "csh": _SHELL, "mksh": _SHELL, "rbash": _SHELL,
    "python": _interpreter("-c", extra={"-i": "starts an interactive interpreter"},
                           takes_value=("-W", "-X", "--check-hash-based-pycs"),
                           terminators=("-m", "--version", "-V", "-VV", "-h", "--help")),
    "perl": _interpreter("-e", "-E", extra={"-M": "loads a module given on the command line",
                                            "-d": "runs the debugger"}),
    "ruby": _interpreter("-e"),
    "node": _interpreter("-e", "--eval", "-p", "--print", "-r", "--require", "--import", "--loader",
                         "--experimental-loader",
                         extra={"-i": "starts a REPL", "--interactive": "starts a REPL",
                                **{opt: "opens a debugger port that runs code sent to it"
                                   for opt in ("--inspect", "--inspect-brk", "--inspect-wait")}},
                         terminators=("--version", "-v", "-h", "--help", "--test")),
    "php": _interpreter("-r", "-B", "-R", "-E", "-F", extra={"-a": "starts an interactive shell"}),
    "lua": _interpreter("-e", "-l"),
    "R": _interpreter("-e", "--file"),
    "Rscript": _interpreter("-e"),
    "tclsh": _interpreter(),
    "wish": _interpreter(),
    "gdb": _interpreter("-ex", "--ex", "-eval-command", "--eval-command", "-x", "--command",
                        "-iex", "-ix", "--init-command", "--init-eval-command",
                        bare="the debugger's prompt can run shell commands"),
    "jshell": _interpreter(),
    "jrunscript": _interpreter("-e", "-f"),
    "busybox": Spec(options={}, bare="busybox runs any applet, including a shell",
                    operands=lambda args: [Hazard(0, args[0].shown(), "busybox runs its applets, including sh")]
                    if args else []),
}

def nothing_to_find(specs: list[Spec], args: tuple[Word, ...]) -> bool:
    """Can a quick look tell that no spec finds a hazard, nor minds a dynamic word, here?"""
    return all(spec.quick is not None and not spec.quick(args) for spec in specs)


for _name in table.SHELLS:
    _SPECS.setdefault(_name, _SHELL)
for _name, _inline in table.INTERPRETERS.items():
    _SPECS.setdefault(_name, _interpreter(*_inline))
load_table(_SPECS)
_ALIASES = {
    "gawk": "awk", "mawk": "awk", "nawk": "awk", "busybox-awk": "awk",
    "vi": "vim", "view": "vim", "vimdiff": "vim", "rvim": "vim", "nvim": "vim", "ex": "vim",
    "nodejs": "node", "gsed": "sed", "gtar": "tar", "bsdtar": "tar", "gmake": "make",
    "more": "less", "pg": "less", "most": "less", "rscript": "Rscript", "sudoedit": "vim",
}
_VERSION_SUFFIX = re.compile(r"[-.]?[0-9][0-9.]*$")


_NORMALISED: dict[str, str] = {}


def normalise(name: str) -> str:
    found = _NORMALISED.get(name)
    if found is None:
        base = _VERSION_SUFFIX.sub("", name) or name
        found = _ALIASES.get(base, base)
        if len(_NORMALISED) < 4096:  # a pure function of the name; bounded
            _NORMALISED[name] = found
    return found


def spec_for(*names: str) -> list[Spec]:
    found: list[Spec] = []
    for name in names:
        # The exact name first: `c99`, `m4` and `sqlite3` are not versions of `c`, `m`, `sqlite`.
        spec = _SPECS.get(name) or _SPECS.get(normalise(name))
        if spec is not None and spec not in found:
            found.append(spec)
    return found


def is_exec_capable(*names: str) -> bool:
    return bool(spec_for(*names))


def find_hazards(names: tuple[str, ...], args: tuple[Word, ...], specs: list[Spec] | None = None) -> list[Hazard]:
    """Hazards in one invocation; ``names`` are the typed and the resolved basenames.

    ``specs``, if given, is ``spec_for(*names)`` (callers that have it already).
    """
    hazards: list[Hazard] = []
    for spec in spec_for(*names) if specs is None else specs:
        # Only these three read how the words split into options and operands: git (an
        # empty table, its own reader) skips the split (~1.5 µs a command).
        if spec.options or spec.bare or spec.stop_at_operand:
            options, operands, terminated = _split(spec, args)
            if spec.options:  # an empty table matches nothing (git's options are read by git_hazards)
                for i in options:
                    hazards.extend(_option_hazards(spec, i, args[i].value or ""))
            if spec.bare and not operands and not terminated:
                hazards.append(Hazard(-1, "", spec.bare))
            if spec.stop_at_operand and operands and args[operands[0]].value in spec.stdin_operands:
                hazards.append(Hazard(operands[0], "-", "reads a program from standard input"))
        if spec.operands is not None:
            hazards.extend(spec.operands(args))
        for inspect in spec.inspectors:
            hazards.extend(inspect(args))
    return hazards


_OPERAND_STARTS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._")


def dynamic_ok(names: tuple[str, ...], args: tuple[Word, ...], index: int) -> bool:
    """May the dynamic word at `index` be anything without letting the program run another?

    True when it can no longer be an option of the program: after `--`, after an
    interpreter's script or `-m MODULE` (it belongs to the script), the value of a
    literal `--option=` (checked as that option), or where a program-specific reader
    says so (git).
    """
    word = args[index]
    if any(w.value == "--" for w in args[:index]):
        return True
    if word.prefix.startswith("-") and "=" in word.prefix:
        static = Word(word.prefix, word.prefix)
        patched = args[:index] + (static,) + args[index + 1:]
        return not any(h.index == index for h in find_hazards(names, patched))
    for spec in spec_for(*names):
        if spec.stop_at_operand:
            _options, operands, terminated = _split(spec, args[:index])
            if operands or terminated:
                return True
            # `for f in tests/*.py; do python3 "$f"; done`: a loop value that starts with a
            # letter, digit, `.` or `_` (loopvars.py) is no option; where no option's value is
            # due, it is the script.
            if word.why_dynamic == LOOP_VALUE and word.prefix[:1] and word.prefix[:1] in _OPERAND_STARTS and \
                    index in _split(spec, args[:index] + (Word(word.prefix, word.prefix),))[1]:
                return True
        if spec.dynamic is not None and spec.dynamic(args, index):
            return True
    return False


_global_env_match: Callable[[str], re.Match[str] | None] | None = None


def env_hazard(name: str, program_names: tuple[str, ...] = ()) -> bool:
    global _global_env_match
    if _global_env_match is None:
        # fnmatchcase(name, glob) is re.compile(fnmatch.translate(glob)).match(name); one
        # alternation of the same translations answers for all of GLOBAL_ENV in one match
        # (~0.5 µs) instead of ~65 fnmatchcase calls (~17 µs for a name that matches none).
        # Compiled on first use, not at import (start-up).
        _global_env_match = re.compile("|".join(fnmatch.translate(glob) for glob in GLOBAL_ENV)).match
    if _global_env_match(name) is not None:
        return True
    return any(fnmatchcase(name, glob) for spec in spec_for(*program_names) for glob in spec.env)


def _option_hazards(spec: Spec, index: int, value: str) -> list[Hazard]:
    # A `--` word can only be a `--` option, and any other word only one that is not: the
    # others are never worth a call (tar's table has eight long options, a cluster meets three).
    double = value[:2] == "--"
    if not double:
        # A one-dash word names a one-letter option only if it holds its letter, and another
        # one-dash option (`-exec`) only by its name: most words (`-n`, `-la`) hold neither.
        _, letters, others = _one_dash(spec.options)
        if letters.isdisjoint(value[1:]) and value.split("=", 1)[0] not in others:
            return []
    return [Hazard(index, option, f"{option} {reason}")
            for option, reason in spec.options.items()
            if (option[:2] == "--") is double and _option_matches(option, value, spec.takes_value, spec.exact)]


# Per options table (by identity, the table kept so its id stays its own): the letters of
# its one-letter options and its other one-dash options, which _option_matches tests a
# word without `--` against.
_ONE_DASH: dict[int, tuple[Mapping[str, str], frozenset[str], frozenset[str]]] = {}


def _one_dash(options: Mapping[str, str]) -> tuple[Mapping[str, str], frozenset[str], frozenset[str]]:
    found = _ONE_DASH.get(id(options))
    if found is None or found[0] is not options:
        single = [option for option in options if option[:2] != "--"]
        found = _ONE_DASH[id(options)] = (options, frozenset(o[1] for o in single if len(o) == 2),
                                          frozenset(o for o in single if len(o) != 2))
    return found


# Long options that exist under exactly this name and are also prefixes of a hazardous one:
# getopt_long takes an exact match over any abbreviation, so `--checkpoint=1` is not
# `--checkpoint-action`.
EXACT_LONG_OPTIONS = frozenset({"--checkpoint"})


def _option_matches(option: str, arg: str, takes_value: tuple[str, ...] = (),
                    exact: frozenset[str] = frozenset()) -> bool:
    name = arg.split("=", 1)[0]
    if option.startswith("--"):
        # getopt_long accepts any unambiguous prefix: --to-com means --to-command.
        return name == option or (len(name) >= 4 and option.startswith(name) and name not in EXACT_LONG_OPTIONS
                                  and name not in exact)
    if len(option) == 2 and not arg.startswith("--"):
        # A cluster of short flags (`-xvf`), flags ending in one with its value attached
        # (`-cvIcmd`, `-cvI'sh -c x'`), or one flag with its value (`-Icmd`).  The letters
        # up to one the spec knows takes a value are options (`python3 -Werror::...`: the
        # rest is -W's); where the spec does not say, the letter anywhere counts (fail closed).
        for letter in arg[1:]:
            if letter == option[1]:
                return True
            if "-" + letter in takes_value:
                return False
        return False
    return name == option


def _split(spec: Spec, args: tuple[Word, ...]) -> tuple[list[int], list[int], bool]:
    """Indexes of the arguments read as our options, and of the operands.

    Dynamic words are treated as possible options: their value is unknown.
    """
    options: list[int] = []
    operands: list[int] = []
    skip = False
    for i, word in enumerate(args):
        if skip:
            skip = False
            continue
        value = word.value
        if value == "--":
            operands.extend(range(i + 1, len(args)))
            break
        if value is None and spec.stop_at_operand:
            # An interpreter's script named at run time: an operand; the engine refuses
            # the dynamic word itself unless it is safe where it stands.
            operands.extend(range(i, len(args)))
            break
        if value is None or (value.startswith(("-", "+")) and value not in ("-", "+")):
            options.append(i)
            if value in spec.terminators:
                return options, operands, True
            skip = value in spec.takes_value
            continue
        operands.append(i)
        if spec.stop_at_operand:
            operands.extend(range(i + 1, len(args)))
            break
    return options, operands, False
