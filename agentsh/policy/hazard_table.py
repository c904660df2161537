"""Data for hazards.py: which options, subcommands and operands make a program run another.

Plain data only (strings, tuples, dicts); the mechanisms that read it live in
hazards.py.  Sources: GTFOBins and the agent-bypass reports in shared/corpus, which
tests/test_corpus_gtfobins.py replays.  Each entry is there because the named
option/operand makes the program run a program, run code, or load code that agentsh
never sees; an allow rule with wildcards must not grant that.
"""

from __future__ import annotations

CMD = "runs the given command"
CODE = "runs code given on the command line"
SCRIPT = "runs code from the given file"
LIB = "loads a library or plugin"
CONFIG = "reads configuration that can run programs"
SHELL = "starts a shell"
REMOTE = "connects to a remote shell program it runs"
# The names of the files such an option makes the program open are in a file (or on standard
# input), not in the line: the read roots cannot check them (`tar -cf - -T list` with
# `secrets/key` in list, `sort --files0-from=list`).
NAMES = ("reads the names of the files it opens from a file or standard input, where the read roots "
         "cannot check them (name the files in the line instead)")


def _opts(**by_reason: str) -> dict[str, str]:
    """`_opts(CMD="-e --exec")` -> {"-e": CMD, "--exec": CMD}; keys are reason names."""
    reasons = {"CMD": CMD, "CODE": CODE, "SCRIPT": SCRIPT, "LIB": LIB, "CONFIG": CONFIG,
               "SHELL": SHELL, "REMOTE": REMOTE}
    return {option: reasons[key] for key, options in by_reason.items() for option in options.split()}


_TEX = _opts(CMD="--shell-escape -shell-escape --enable-write18 -enable-write18 --shell-restricted")
# (-B is compiler_hazards': a driver never clusters one-letter options, and this table would
# find a B anywhere in `-DX=B`, `-Iinc/B` or lto-wrapper's `-fresolution=/tmp/ccB.res`.)
_GCC = _opts(CMD="-wrapper", LIB="-fplugin", CONFIG="-specs --specs")
_RPM = _opts(CODE="--eval -E", CMD="--pipe", CONFIG="--macros --rcfile --load")
_APT = _opts(CONFIG="-o --option -c --config-file")

# Options (anywhere in argv, short clusters and long prefixes understood) that run things.
OPTIONS: dict[str, dict[str, str]] = {
    "agetty": _opts(CMD="-l --login-program"),
    "apt": _APT, "apt-get": _APT, "aptitude": _APT, "apt-cache": _APT,
    "aria2c": _opts(CMD="--on-download-complete --on-download-error --on-download-start "
                        "--on-download-pause --on-download-stop --on-bt-download-complete"),
    "borg": _opts(CMD="--rsh --remote-path"),
    "bpftrace": _opts(CMD="-c --unsafe"),
    "busctl": _opts(CMD="--address"),
    "gcc": _GCC, "g++": _GCC, "cc": _GCC, "c++": _GCC, "c89": _GCC, "c99": _GCC, "clang": _GCC,
    "clang++": _GCC,
    "certbot": _opts(CMD="--pre-hook --post-hook --deploy-hook --renew-hook --manual-auth-hook "
                         "--manual-cleanup-hook"),
    "check_by_ssh": _opts(CONFIG="-o --ssh-option -F --configfile"),
    "check_ssl_cert": _opts(CMD="--grep-bin --openssl --file-bin --curl-bin --dig-bin --nmap-bin "
                                "--inetutils-bin --date"),
    "cobc": _opts(CMD="-j --job"),
    "cmake": _opts(SCRIPT="-P -C --toolchain"),  # a CMake script is code (file(), execute_process())
    "cpio": _opts(CMD="--rsh-command"),
    "curl": _opts(LIB="--engine", CONFIG="-K --config"),
    "dhclient": _opts(CMD="-sf"),
    "dmsetup": _opts(CMD="--exec"),
    "dnsmasq": _opts(CMD="--conf-script --dhcp-script --dhcp-luascript", CONFIG="-C --conf-file --conf-dir"),
    "dvips": _opts(CMD="-R0"),
    "easyrsa": _opts(SCRIPT="--vars"),
    "emacs": _opts(CODE="--eval -eval --execute -execute -f --funcall -funcall -batch --batch",
                   SCRIPT="-l --load -load --script -script -x"),
    "enscript": _opts(CMD="-I --filter"),
    "exiftool": _opts(CODE="-if -p", CONFIG="-config"),
    "facter": _opts(LIB="--custom-dir --external-dir"),
    "fail2ban-client": _opts(CONFIG="-c"),
    "fastfetch": _opts(CONFIG="-c --config --load-config"),
    "forge": _opts(CMD="--use"),
    "fzf": _opts(CMD="--preview --listen --listen-unsafe --with-shell"),
    "gem": _opts(CMD="-e --editor", SCRIPT="--file -g"),
    "genie": _opts(CMD="-c --command"),
    "gimp": _opts(CODE="-b --batch --batch-interpreter"),
    "hg": _opts(CONFIG="--config --config-file"),
    "ksu": _opts(CMD="-e"),
    "latex": _TEX, "pdflatex": _TEX, "lualatex": _TEX, "xelatex": _TEX, "tex": _TEX, "pdftex": _TEX,
    "luatex": _TEX, "xetex": _TEX, "etex": _TEX,
    "latexmk": _opts(CODE="-e", SCRIPT="-r",
                     CMD="-pdflatex -latex -lualatex -xelatex -dvipdf -dvips -ps2pdf -pdfdvi -makeindex "
                         "-bibtex -biber"),
    "ldconfig": _opts(CONFIG="-f"),
    "lftp": _opts(CODE="-c -e", SCRIPT="-f"),
    "logrotate": _opts(CMD="-m --mail"),
    "mail": _opts(CODE="-E --exec"), "mailx": _opts(CODE="-E --exec"),
    "minicom": _opts(SCRIPT="-S --script"),
    "mosh": _opts(CMD="--server --ssh"),
    "mysql": _opts(CODE="-e --execute", LIB="--default-auth --plugin-dir", CONFIG="--init-command"),
    "nano": _opts(CMD="-s --speller"), "pico": _opts(CMD="-s --speller"),
    "neofetch": _opts(CONFIG="--config"),
    "nginx": _opts(CONFIG="-c -g"),
    "needrestart": _opts(CONFIG="-c"),
    "nmap": _opts(SCRIPT="--script --script-args-file", SHELL="--interactive"),
    "octave": _opts(CODE="--eval"), "octave-cli": _opts(CODE="--eval"),
    "openssl": _opts(LIB="-engine -provider -provider-path"),
    "openvpn": _opts(CMD="--up --down --route-up --route-pre-down --ipchange --client-connect "
                         "--client-disconnect --learn-address --auth-user-pass-verify --tls-verify "
                         "--config", LIB="--plugin"),
    "pandoc": _opts(SCRIPT="-L --lua-filter -F --filter"),
    "perlbug": _opts(CMD="-e"),
    "pic": _opts(CMD="-U"),
    "pidstat": _opts(CMD="-e"),
    "pip": _opts(CMD="--editor"), "pip3": _opts(CMD="--editor"),
    "plymouth": _opts(CMD="--command"),
    "psql": _opts(CODE="-c --command", SCRIPT="-f --file"),
    "npm": _opts(CMD="--script-shell"),  # the program every package script is handed to
    "puppet": _opts(CODE="-e --execute"),
    "rake": _opts(CODE="-e --execute -p --execute-print -E --execute-continue", SCRIPT="-f --rakefile -r "
                  "--require -R --rakelibdir --libdir -I"),
    # ripgrep runs `--pre COMMAND FILE` for each file it searches (`rg --pre sh . x.sh` ran x.sh)
    "rg": _opts(CMD="--pre --hostname-bin"),
    # tree before 2.0 re-ran itself for -R through system() with each directory's name in the
    # command (a directory named `$(...)` ran it); every version writes 00Tree.html in each
    # directory below, denied roots included
    "tree": {"-R": "runs tree again in each directory (through the shell before tree 2.0) and writes "
                   "00Tree.html there"},
    "restic": _opts(CMD="--password-command -o --option"),
    "rsyslogd": _opts(CONFIG="-f"),
    "yum": _opts(CONFIG="-c --config --setopt --pluginpath"), "dnf": _opts(CONFIG="-c --config --setopt"),
    "rpm": _RPM, "rpmdb": _RPM, "rpmquery": _RPM, "rpmverify": _RPM, "rpmbuild": _RPM,
    "scrot": _opts(CMD="-e --exec"),
    "sort": _opts(CMD="--compress-program"),  # run to compress temporary files (`-S 1k` forces them)
    "split": _opts(CMD="--filter"),
    "sqlite3": _opts(CODE="-cmd -init"),
    "sqlmap": _opts(CODE="--eval", CMD="--os-cmd --os-shell --os-pwn"),
    "ssh-keygen": _opts(LIB="-D"),
    "sshuttle": _opts(CMD="-e --ssh-cmd --python"),
    "start-stop-daemon": _opts(CMD="-x --exec -a --startas"),
    "tcpdump": _opts(CMD="-z"),
    "tmux": _opts(CMD="-c", CONFIG="-f"), "tmate": _opts(CMD="-c", CONFIG="-f"),
    "tshark": _opts(SCRIPT="-X"), "wireshark": _opts(SCRIPT="-X"),
    "wget": _opts(CMD="--use-askpass", CONFIG="-e --execute --config"),
    "yt-dlp": _opts(CMD="--exec --exec-before-download", CONFIG="--config-locations"),
    "zic": _opts(CMD="-y"),
}

# Options that take the names of the files a program reads (or compresses, or writes beside
# them) from a file or standard input.  tar's -T is in hazards._TAR, git's
# --pathspec-from-file in githazards._GIT_ANY_HAZARDS.  A program here with no other hazard
# takes dynamic words as it did before (hazard_specs._names_only): such a word may name a file
# only at run time, which every reader's operands may.
NAME_LISTS: dict[str, tuple[str, ...]] = {
    "sort": ("--files0-from",), "wc": ("--files0-from",), "du": ("--files0-from",),
    "find": ("-files0-from",), "file": ("-f", "--files-from"), "rsync": ("--files-from",),
    "zip": ("-@", "--names-stdin"),
    **dict.fromkeys(("xz", "unxz", "xzcat", "lzma", "unlzma", "lzcat"), ("--files", "--files0")),
    **dict.fromkeys(("zstd", "unzstd", "zstdcat"), ("--filelist",)),
}

# Programs that read more arguments, options and file names alike, from a response file
# named by an operand `@FILE` (binutils, the gcc family, javac): `strings @list` printed the
# file that list named.  Such an operand is a hazard (hazard_specs._response_file).
RESPONSE_FILES = ("strings", "objdump", "readelf", "nm", "size", "ar", "ranlib", "objcopy", "strip",
                  "addr2line", "c++filt", "elfedit", "gprof", "ld", "as", "gcc", "g++", "cc", "c++", "cpp",
                  "clang", "clang++", "javac", "java")

# Subcommands (the first operands, after the program's own options) that run things.
SUBCOMMANDS: dict[str, dict[str, str]] = {
    "ansible-test": {"shell": SHELL},
    "bee": {"eval": CODE},
    "bundle": {"exec": CMD}, "bundler": {"exec": CMD},
    "cabal": {"exec": CMD, "run": CMD},
    # `cmake -E env|time|chdir DIR CMD...` runs CMD (the developer profile allows cmake for builds)
    "cmake": {"env": CMD, "time": CMD, "chdir": CMD},
    "cdist": {"shell": SHELL},
    "codex": {"sandbox": CMD, "exec": CMD},
    "csvtool": {"call": CMD},
    "ctr": {"run": CMD, "task exec": CMD, "t exec": CMD},
    "docker": {"run": CMD, "exec": CMD, "create": CMD,
               "cp": "copies files between the host and a container, past the read and write roots"},
    "podman": {"run": CMD, "exec": CMD, "create": CMD,
               "cp": "copies files between the host and a container, past the read and write roots"},
    "ip": {"netns exec": CMD, "vrf exec": CMD},
    "knife": {"exec": CODE},
    "lxc": {"exec": CMD, "shell": SHELL},
    "npm": {"exec": CMD, "x": CMD},
    "perf": {"stat": CMD, "record": CMD, "trace": CMD},
    "pipx": {"run": CMD},
    "poetry": {"run": CMD, "shell": SHELL},
    "rustup": {"run": CMD},
    "task": {"execute": CMD},
    "uv": {"run": CMD, "tool run": CMD},
    "xdotool": {"exec": CMD},
    "yarn": {"exec": CMD, "dlx": CMD},
}

# (option, regular expression on its value or on an operand when option is "", reason)
VALUE_PATTERNS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "cowsay": (("-f", r"/", "a cow file is Perl code"),),
    "cowthink": (("-f", r"/", "a cow file is Perl code"),),
    "curl": (("", r"(?i)^file:", "reads local files past the read roots"),),
    "ffmpeg": (("", r"(?i)\b(ladspa|lv2|frei0r)\b", "a filter that " + LIB),),
    "fail2ban-client": (("", r"^action(ban|unban|start|stop|check|flush)$", CMD),),
    "fzf": (("--bind", r"(?i)(execute|become|reload|preview|transform)", CMD),),
    "service": (("", r"/", "runs a script named by path"),),
    "socat": (("", r"(?i)^(exec|system)[:,]", CMD),),
    "sqlite3": (("", r"(?m)^\s*\.(shell|system|output|once|import|load|read|save|backup|restore|excel|"
                     r"log|cd|open)\b", "runs a dot-command that runs programs or opens files"),),
    "sshfs": (("-o", r"(?i)(ssh_command|ssh_protocol|proxycommand|localcommand)", CMD),),
    "sysctl": (("", r"=", "writes kernel parameters (core_pattern and others run programs)"),),
    "xdg-user-dir": (("", r"[^A-Za-z_]", "its operand is evaluated as shell code"),),
}

# Programs that run their first operand (or every operand) as a command, and pin nothing.
RUNS_OPERAND: dict[str, str] = {
    "chroot": "runs a program inside another root directory, where it cannot be pinned",
    "gtester": "runs its operands as test programs",
    "openvt": "runs its operand as a command on a new terminal",
    "pexec": "runs its operand as a command",
    "run-parts": "runs every program in the directory",
    "systemd-run": "runs its operand as a transient service, outside this session",
    "watch": "runs its operands as a shell command",
}

# Programs that are hazardous whatever the arguments, unless one of the listed words appears
# (the listed words select a harmless mode: list, version, help).
ALWAYS: dict[str, tuple[str, tuple[str, ...]]] = {
    "at": ("schedules commands read from stdin to run later, unchecked", ("-l", "-r", "-d", "-c", "-V")),
    "batch": ("schedules commands read from stdin to run later, unchecked", ("-V",)),
    "crontab": ("installs commands that cron runs later, unchecked", ("-l", "-V")),
    "cpio": ("takes the names of the files it archives or copies from standard input (-o, -p), or "
             "extracts an archive whose members the line does not show (-i)", ("-t", "--list")),
    "capsh": ("runs a shell (`--`, `==`) or changes capabilities", ("--print", "--help", "--version")),
    "newgrp": (SHELL, ()),
    "screen": ("starts a shell or runs a command in a session", ("-ls", "-list", "-v", "-version")),
    "script": ("starts a shell (or runs -c) with its output recorded", ("-V", "--version", "-h", "--help")),
    "sg": ("runs a shell or a command string as another group", ("--help", "--version")),
    "su": (SHELL, ("--help", "--version", "-V")),
    "tmux": ("starts a shell or runs commands in a session",
             ("ls", "list-sessions", "list-windows", "list-panes", "has-session", "has", "-V",
              "kill-server", "kill-session", "capture-pane")),
    "tmate": ("starts a shell or runs commands in a session", ("ls", "list-sessions", "-V")),
}

# Programs that read commands from standard input when given fewer operands than this.
STDIN_COMMANDS: dict[str, tuple[int, str]] = {
    "sqlite3": (2, "reads SQL and dot-commands (.shell, .system) from standard input"),
    "m4": (1, "reads macros (esyscmd, syscmd) from standard input"),
}

# Programs whose operands after the host are a command run by the remote shell.  The host may
# be this machine (`ssh localhost sh`), so a rule must name the command.
REMOTE_COMMAND: dict[str, tuple[str, ...]] = {
    # options taking a value, so the value is not taken for the host
    "ssh": ("-B", "-b", "-c", "-D", "-E", "-e", "-F", "-I", "-i", "-J", "-L", "-l", "-m", "-O", "-o",
            "-p", "-Q", "-R", "-S", "-W", "-w"),
    "mosh": ("-p", "--port", "--predict", "--family", "--bind-server", "--experimental-remote-ip"),
}

# Interpreters: name -> options that take code on the command line.  Run with no script they
# read a program from standard input (or a prompt), which is the `bare` hazard.
INTERPRETERS: dict[str, tuple[str, ...]] = {
    "clisp": ("-x",), "slsh": ("-e",), "ghc": ("-e",), "ghci": ("-e",), "guile": ("-c", "-l", "-e"),
    "julia": ("-e", "--eval", "-E", "--print", "-L", "--load"), "gnuplot": ("-e",),
    "dc": ("-e", "--expression", "-f", "--file"), "expect": ("-c", "-f"), "irb": ("-r",),
    "pry": ("-e", "-r"), "jjs": (), "sbcl": ("--eval", "--load", "--script"),
    "scala": ("-e",), "groovy": ("-e",), "erl": ("-eval", "-s", "-run"), "elixir": ("-e", "--eval"),
    "iex": (), "racket": ("-e", "--eval"), "ocaml": (), "swipl": ("-g", "-t"), "qjs": ("-e",),
    "luajit": ("-e", "-l"),
}

SHELLS = ("elvish", "yash", "posh", "rc", "sash", "pwsh", "xonsh", "nu", "oil", "osh", "es",
          "rbash", "bash", "sh", "dash", "zsh", "ksh", "ash", "fish", "tcsh", "csh", "mksh")
