"""Find the program a wrapper runs: `env A=1 nice -n5 timeout 3 git status` runs git.

Each wrapper is described by its options, so the first operand after them is
known to be the wrapped program.  An option we do not know makes the wrapped
program unknowable, and that is refused rather than guessed.
"""

# No `from __future__ import annotations`: typing.NamedTuple compiles every string
# annotation at import (~4 ms over agentsh -c's models); tests/test_startup_imports.py.

from typing import NamedTuple

from ..parse import Assignment, Word


class WrapperSpec(NamedTuple):
    flags: frozenset[str] = frozenset()  # options without a value
    valued: frozenset[str] = frozenset()  # options that take a value (`-n 5`, `-n5`, `--x=5`)
    positionals: int = 0  # operands before the program (`timeout DURATION`, `flock FILE`)
    assignments: bool = False  # NAME=VALUE operands set the environment (`env`)
    refuse: dict[str, str] | None = None  # options that make the wrapper run a shell string
    stdin_args: bool = False  # appends arguments read from stdin (`xargs`)
    numeric_flags: bool = False  # `nice -5`
    default_shell: bool = False  # given no program, it starts a shell (`unshare`, `nsenter`)
    long_values: bool = False  # every `--name=value` is one of its own options (`valgrind`)
    skip_words: frozenset[str] = frozenset()  # an optional first operand (`setarch x86_64`)
    chdir: frozenset[str] = frozenset()  # options naming the directory the program runs in (`env -C DIR`)


def _spec(flags: str = "", valued: str = "", **kw: object) -> WrapperSpec:
    return WrapperSpec(flags=frozenset(flags.split()), valued=frozenset(valued.split()), **kw)  # type: ignore[arg-type]


WRAPPERS: dict[str, WrapperSpec] = {
    "env": _spec("-i --ignore-environment -0 --null -v --debug -", "-u --unset -C --chdir",
                 assignments=True, chdir=frozenset({"-C", "--chdir"}), refuse={"-S": "splits a string into a command line",
                                           "--split-string": "splits a string into a command line"}),
    "nice": _spec("", "-n --adjustment", numeric_flags=True),
    "nohup": _spec(),
    "timeout": _spec("--preserve-status --foreground -v --verbose", "-s --signal -k --kill-after",
                     positionals=1),
    "stdbuf": _spec("", "-i -o -e --input --output --error"),
    "time": _spec("-p -v --verbose -a --append -q --quiet --portability", "-f --format -o --output"),
    "xargs": _spec("-0 --null -r --no-run-if-empty -t --verbose -x --exit -o --open-tty "
                   "-p --interactive", "-a --arg-file -d --delimiter -E -I -L -n --max-args "
                   "-P --max-procs -s --max-chars --process-slot-var --replace --max-lines",
                   stdin_args=True, refuse={"-i": "uses an optional attached replace string",
                                            "-l": "uses an optional attached line count",
                                            "-e": "uses an optional attached end string"}),
    "flock": _spec("-s --shared -x --exclusive -e -n --nonblock --no-fork -u --unlock -o "
                   "--close -F --verbose", "-w --timeout -E --conflict-exit-code",
                   positionals=1, refuse={"-c": "runs a shell string", "--command": "runs a shell string"}),
    "taskset": _spec("-a --all-tasks -c --cpu-list", "", positionals=1,
                     refuse={"-p": "changes another process", "--pid": "changes another process"}),
    "setsid": _spec("-c --ctty -f --fork -w --wait"),
    "ionice": _spec("-t --ignore", "-c --class -n --classdata",
                    refuse={"-p": "changes another process", "-P": "changes another process",
                            "-u": "changes another process"}),
    "chrt": _spec("-a --all-tasks -b --batch -d --deadline -f --fifo -i --idle -o --other "
                  "-r --rr -R --reset-on-fork -v --verbose", "-T --sched-runtime -P --sched-period "
                  "-D --sched-deadline", positionals=1,
                  refuse={"-p": "changes another process", "--pid": "changes another process"}),
    "sudo": _spec("-A --askpass -b --background -E --preserve-env -H --set-home -k --reset-timestamp "
                  "-n --non-interactive -P --preserve-groups -S --stdin", "-u --user -g --group "
                  "-C --close-from -D --chdir -h --host -p --prompt -r --role -t --type -T "
                  "--command-timeout -U --other-user", chdir=frozenset({"-D", "--chdir"}),
                  refuse={"-s": "starts a shell", "--shell": "starts a shell", "-i": "starts a login shell",
                          "--login": "starts a login shell", "-e": "edits files", "--edit": "edits files"}),
    "doas": _spec("-n -s", "-u -C", refuse={"-s": "starts a shell"}),
    # Launchers: like the wrappers above, they run their operand as a command in this root,
    # so the program they run is resolved and checked against the rules in the same way.
    "aa-exec": _spec("-i --immediate -v --verbose -d --debug", "-p --profile -n --namespace"),
    "aoss": _spec(),
    "choom": _spec("", "-n --adjust", refuse={"-p": "changes another process", "--pid": "changes another process"}),
    "cpulimit": _spec("-f --foreground -z --lazy -i --include-children -q --quiet -v --verbose -k --kill "
                      "-r --restore", "-l --limit -s --signal",
                      refuse={"-p": "limits another process", "--pid": "limits another process",
                              "-e": "limits another program", "--exe": "limits another program"}),
    "distcc": _spec("--show-hosts --show-principal -j --scan-avail"),
    "grc": _spec("-e --stderr -s --stdout --pty", "-c --config --colour"),
    "logsave": _spec("-a -v", "", positionals=1),
    "ltrace": _spec("-b --no-signals -c -C --demangle -f -i -r -S -t -tt -ttt -T -L --no-plt -h --help "
                    "-V --version", "-a --align -A -D --debug -e -F --config -l --library -n --indent "
                    "-o --output -s -u -w --where -x",
                    refuse={"-p": "attaches to another process"}),
    "msgfilter": _spec("-E --escape --no-escape --force-po --indent --keep-header --no-location --no-wrap "
                       "-s --sort-output -P --properties-input --stringtable-input",
                       "-i --input -D --directory -o --output-file -w --width --color --style"),
    "multitime": _spec("-q", "-n -s -i -o -f"),
    "nsenter": _spec("-i --ipc -u --uts -n --net -p --pid -C --cgroup -U --user -T --time -F --no-fork "
                     "--preserve-credentials -Z --follow-context", "-t --target -S --setuid -G --setgid",
                     default_shell=True,
                     refuse={opt: "enters another mount namespace or root, where the program cannot be pinned"
                             for opt in ("-m", "--mount", "-a", "--all", "-r", "--root", "-w", "--wd")}),
    "pkexec": _spec("--disable-internal-agent --keep-cwd", "-u --user", default_shell=True),
    "rlwrap": _spec("-A --ansi-colour-aware -c --complete-filenames -i --case-insensitive -n --no-warnings "
                    "-N --no-children -r --remember -R --renice -W --polling -a --always-readline",
                    "-b --break-chars -C --command-name -D --history-no-dupes -f --file -g --forget-matching "
                    "-H --history-filename -l --logfile -O --only-cook -p --prompt-colour -P --pre-given "
                    "-q --quote-characters -s --histsize -S --substitute-prompt -w --wait-before-prompt",
                    refuse={"-z": "runs a filter program", "--filter": "runs a filter program"}),
    "setarch": _spec("-3 --3gb -B --32bit -F --fdpic-funcptrs -I --short-inode -L --addr-compat-layout "
                     "-R --addr-no-randomize -S --whole-seconds -T --sticky-timeouts -X --read-implies-exec "
                     "-Z --mmap-page-zero -v --verbose --uname-2.6", default_shell=True,
                     skip_words=frozenset("i386 i486 i586 i686 x86_64 linux32 linux64 aarch64 arm64 armv7l "
                                          "armv8l ppc ppc64 ppc64le s390 s390x riscv64".split())),
    "setlock": _spec("-n -N -x -X", positionals=1),
    "softlimit": _spec("", "-a -c -d -f -l -m -o -p -r -s -t"),
    "sshpass": _spec("-e -v -h -V", "-p -f -d -P"),
    "ssh-agent": _spec("-c -s -D -d", "-a -E -t -P -O"),
    "strace": _spec("-c -C -d -D -DD -f -ff -F -h -i -k -n -q -qq -r -t -tt -ttt -T -v -V -w -x -xx -y -yy "
                    "-z -Z --summary-only --summary --follow-forks --output-separately --quiet --no-abbrev "
                    "--verbose --decode-fds --syscall-times --relative-timestamps --absolute-timestamps",
                    "-a -b -e -I -o -O -P -s -S -U -X --trace --signal --status --string-limit --output "
                    "--trace-path --summary-sort-by --columns",
                    refuse={"-p": "attaches to another process", "--attach": "attaches to another process",
                            "-E": "sets the traced program's environment", "--env": "sets the traced program's "
                            "environment", "-u": "runs the program as another user",
                            "--user": "runs the program as another user"}),
    "torify": _spec(),
    "torsocks": _spec("-q --quiet -d --debug -i --isolate", "-u --user -p --pass -a --address -P --port",
                      refuse={"--shell": "starts a shell"}),
    "unshare": _spec("-i --ipc -m --mount -n --net -p --pid -u --uts -U --user -C --cgroup -T --time -f "
                     "--fork -r --map-root-user -c --map-current-user --kill-child --mount-proc --keep-caps "
                     "--map-auto", "--propagation --setgroups --map-user --map-group --map-users --map-groups "
                     "-S --setuid -G --setgid -w --wd", default_shell=True, chdir=frozenset({"-w", "--wd"}),
                     refuse={"-R": "changes the root directory, where the program cannot be pinned",
                             "--root": "changes the root directory, where the program cannot be pinned"}),
    "valgrind": _spec("-q --quiet -v --verbose", long_values=True),
    "firejail": _spec("--quiet --noprofile --private --seccomp --nonewprivs --noroot --private-tmp "
                      "--private-dev --nosound --no3d --nodbus", long_values=True, default_shell=True,
                      refuse={"--shell": "chooses the shell it starts", "--join": "joins another sandbox",
                              "--chroot": "changes the root directory, where the program cannot be pinned",
                              "--appimage": "runs an AppImage"}),
}
# The dynamic loader runs its operand as a program (`/lib64/ld-linux-x86-64.so.2 /bin/sh`).
_LOADER = _spec("--list --verify --inhibit-cache --list-tunables --list-diagnostics", "--argv0",
                refuse={opt: "loads other libraries into the program"
                        for opt in ("--library-path", "--preload", "--audit", "--inhibit-rpath")})
WRAPPERS.update({name: _LOADER for name in ("ld.so", "ld-linux.so.2", "ld-linux-x86-64.so.2",
                                            "ld-linux-aarch64.so.1", "ld-musl-x86_64.so.1")})


class Unwrapped(NamedTuple):
    wrapper_args: tuple[Word, ...]  # the wrapper's own arguments
    inner: tuple[Word, ...]  # the wrapped program's argv ((): the wrapper runs nothing)
    assignments: tuple[Assignment, ...]  # environment the wrapper sets for it
    problem: str = ""  # why the wrapped program cannot be known
    chdir: Word | None = None  # the directory the wrapper runs it in, if it says one


def unwrap(name: str, args: tuple[Word, ...]) -> Unwrapped | None:
    """Split a wrapper's argv; None when ``name`` is not a wrapper."""
    spec = WRAPPERS.get(name)
    if spec is None:
        return None
    assignments: list[Assignment] = []
    positionals = spec.positionals
    skip_words = spec.skip_words
    replace = ""
    chdir: Word | None = None
    i = 0
    while i < len(args):
        word = args[i]
        value = word.value
        if value is None:
            return Unwrapped(args[:i + 1], (), (), f"dynamic argument {word.text} to {name}: "
                             "the program it runs cannot be known")
        if value == "--":
            i += 1
            break
        if value.startswith("-") and (value != "-" or "-" in spec.flags):
            problem = _refused(spec, value)
            if problem:
                return Unwrapped(args[:i + 1], (), (), f"{name} {value.split('=')[0]} {problem}")
            consumed = _option(spec, value)
            if consumed is None:
                return Unwrapped(args[:i + 1], (), (), f"unknown option {value} for {name}")
            if spec.chdir:
                found = _chdir(spec, value, args[i + 1] if consumed and i + 1 < len(args) else None, word)
                if isinstance(found, str):
                    return Unwrapped(args[:i + 1], (), (), f"{name} {value}: {found}")
                chdir = found or chdir
            if spec.stdin_args and (value.split("=", 1)[0] in ("-I", "--replace") or value.startswith("-I")):
                replace = (args[i + 1].value if consumed and i + 1 < len(args) else
                           value.partition("=")[2] or value[2:]) or "{}"
            i += 1 + consumed
            continue
        if spec.assignments and "=" in value and _is_name(value.split("=", 1)[0]):
            key, _, val = value.partition("=")
            assignments.append(Assignment(key, Word(word.text, val)))
            i += 1
            continue
        if positionals:
            positionals -= 1
            i += 1
            continue
        if value in skip_words:
            skip_words = frozenset()  # only the first operand may be the optional word
            i += 1
            continue
        break
    inner = args[i:]
    if not inner and spec.default_shell:
        return Unwrapped(args, (), tuple(assignments), f"{name} with no program starts a shell")
    if spec.stdin_args and inner:
        # xargs fills in arguments read from stdin: unknown values, so dynamic words.
        if replace:
            inner = inner[:1] + tuple(Word(w.text, None, "replaced by xargs") if replace in (w.value or "")
                                      else w for w in inner[1:])
        else:
            inner = inner + (Word("<arguments from stdin>", None, "arguments read by xargs"),)
    return Unwrapped(args[:i], inner, tuple(assignments), chdir=chdir)


def _chdir(spec: WrapperSpec, value: str, following: Word | None, word: Word) -> Word | str | None:
    """The directory a working-directory option (`-C DIR`, `-CDIR`, `--chdir=DIR`) names;
    None for another option; a reason when it hides in a cluster of flags (`-iC DIR`)."""
    if value.startswith("--"):
        name, eq, rest = value.partition("=")
        if name not in spec.chdir:
            return None
        return Word(word.text, rest) if eq else following
    if value in spec.chdir:
        return following
    if value[:2] in spec.chdir:
        return Word(word.text, value[2:])
    if any("-" + letter in spec.chdir for letter in value[1:]):
        return "a working-directory option inside a cluster of flags: write it on its own"
    return None


def _option(spec: WrapperSpec, value: str) -> int | None:
    """How many following words an option consumes, or None if unknown."""
    if value.startswith("--"):
        name, eq, _ = value.partition("=")
        if spec.long_values and eq:
            return 0
        if name in spec.flags:
            return 0
        if name in spec.valued:
            return 0 if eq else 1
        return None
    if spec.numeric_flags and value[1:].isdigit():
        return 0
    if value in spec.flags:
        return 0
    if value in spec.valued:
        return 1
    # Attached value (`-n5`, `-s9`) or a cluster of flags (`-xn`).
    if value[:2] in spec.valued:
        return 0
    letters = value[1:]
    for j, letter in enumerate(letters):
        opt = "-" + letter
        if opt in spec.valued:
            return 0 if j + 1 < len(letters) else 1
        if opt not in spec.flags:
            return None
    return 0


def _refused(spec: WrapperSpec, value: str) -> str:
    if not spec.refuse:
        return ""
    name = value.split("=", 1)[0]
    if name in spec.refuse:
        return spec.refuse[name]
    if not value.startswith("--"):
        for opt, reason in spec.refuse.items():
            if len(opt) == 2 and value[:2] == opt:
                return reason
            if len(opt) == 2 and opt[1] in value[1:] and value[1:].isalpha() and \
                    all(("-" + c) in spec.flags for c in value[1:] if c != opt[1]):
                return reason
    return ""


def _is_name(text: str) -> bool:
    return bool(text) and (text[0].isalpha() or text[0] == "_") and all(c.isalnum() or c == "_" for c in text)
