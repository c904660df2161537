"""Built-in hazards: ordinary use stays allowed under an any-arguments rule; escapes do not.

Every program here is allowed by a rule without `args:`, so only agentsh's hazard knowledge
(hazards.py, hazard_table.py, scripts.py, wrappers.py) stands between the line and bash.
Programs resolve to stub files, so the verdicts do not depend on what this host installed.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentsh.policy import Decision, Policy
from agentsh.profile import Host, load_profile
from tests.conftest import run_guardrail, write_profile

PROGRAMS = """
git python3 find tar sed awk make xargs timeout env sort grep rsync zip ssh curl docker npm
strace nsenter unshare chroot watch script systemd-run start-stop-daemon setarch capsh sg su
run-parts nano vim less gcc latex sqlite3 socat certbot aria2c restic split tcpdump rpm apt
crontab at tmux ip perf fzf sysctl service xdg-user-dir valgrind ltrace firejail pkexec cpulimit
choom logsave gdb emacs expect julia guile m4 dc cowsay openssl ld.so mosh openvpn dmsetup
busctl man zic yt-dlp wget node rg tree
""".split()


@pytest.fixture(scope="module")
def decide(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Decision]:
    root = tmp_path_factory.mktemp("hazards")
    stubs = root / "stubs"
    stubs.mkdir()
    for name in PROGRAMS:
        (stubs / name).write_text("#!/bin/sh\nexit 0\n")
        (stubs / name).chmod(0o755)
    home = root / "home"
    workspace = root / "work"
    home.mkdir()
    workspace.mkdir()
    profile = root / "any-args.yaml"
    profile.write_text(
        "agentsh: 1\nname: any-args\nextends: [base]\n"
        f'path: ["{stubs}", /usr/bin, /bin]\n'
        'write: {allow: ["{workspace}", "/tmp"]}\n'
        "commands:\n  - name: tools\n"
        f"    run: [{', '.join(repr(p) for p in PROGRAMS)}]\n"
        "    decision: allow\n")
    host = Host(cwd=str(workspace), home=str(home), config_home=str(home / ".config"))
    policy = Policy(load_profile(str(profile), host), host)
    return policy.decide


def why(decision: Decision) -> str:
    return "; ".join(f"{v.command}: {v.reason}" for v in decision.refused)


ORDINARY = [
    "git log -p", "git log --oneline -n 5", "git diff --stat", "git status --short",
    "python3 -m pytest -q -c pytest.ini", "python3 script.py -c x",
    "find . -name '*.py' -type f", "tar -czf out.tgz src", "tar -xzf a.tgz", "tar -tf a.tar",
    "sed -n '1,5p' f", "sed -i 's/a/b/g' f", "sed -e 's/x/y/' -e '/^$/d' f",
    "awk '{print $1}' f", "awk -F: '$3 > 100 {print $1}' /etc/passwd",
    "make test", "make -j4", "xargs -0 grep foo", "timeout 5 make", "env LANG=C sort f",
    "rsync -a src/ dst/", "zip -r a.zip dir", "ssh -V",
    # launchers run a program the rules allow
    "strace -f -o trace.txt make test", "nsenter -t 1 -n ip addr", "unshare -r sort f",
    "setarch x86_64 -R make", "valgrind --leak-check=full python3 script.py", "cpulimit -l 50 -- make",
    "ltrace -c make", "logsave build.log make", "choom -n 5 make",
    # subcommands and options that do not run anything
    "docker ps", "docker images", "npm test", "npm run build", "ip addr show", "perf list",
    "tmux ls", "crontab -l", "at -l", "sqlite3 db.sqlite 'select 1'", "curl -sS https://example.com",
    "rpm -qa", "apt list --installed", "sysctl -a", "sysctl net.ipv4.ip_forward", "service nginx status",
    "xdg-user-dir DESKTOP", "fzf --bind ctrl-a:select-all", "cowsay -f tux hello", "socat - TCP:localhost:80",
    "nano notes.txt", "gcc -O2 -o prog prog.c", "latex paper.tex", "split -l 100 big.txt part-",
    "tcpdump -i lo -w cap.pcap", "script --version", "man ls", "watch --help",
    "sort -S 1k big.txt", "sort -u -o out.txt big.txt", "npm run test -- --watch=false", "python3 /dev/null",
    "rg -n TODO src", "rg --pre-glob '*.gz' -z x", "tar czf out.tgz src", "tar xvf a.tar",
    "tree -L 2 src", "tree -a -I node_modules", "tree -H . -o index.html src",
]


@pytest.mark.parametrize("line", ORDINARY)
def test_ordinary_use_is_allowed(line: str, decide: Callable[[str], Decision]) -> None:
    decision = decide(line)
    assert decision.decision == "allow", why(decision)


ESCAPES = [
    # launchers (wrappers.py): the program they run is checked, and with none they start a shell
    ("strace -o /dev/null sh", "no rule"), ("nsenter", "starts a shell"), ("unshare -r", "starts a shell"),
    ("nsenter -m -t 1 make", "mount namespace"), ("unshare --root=/tmp make", "root"),
    ("setarch x86_64", "starts a shell"), ("firejail", "starts a shell"), ("pkexec", "starts a shell"),
    ("valgrind sh", "no rule"), ("cpulimit -l 5 -- sh", "no rule"), ("ltrace -p 1", "another process"),
    ("ld.so --preload x.so make", "loads other libraries"), ("ld.so /bin/sh", "sh"),
    ("choom -n 0 bash", "no rule"), ("logsave /dev/null bash -i", "no rule"),
    # programs that run their operand, unpinned
    ("chroot /", "another root"), ("watch 'id'", "shell command"), ("systemd-run -S", "transient service"),
    ("run-parts /etc/cron.daily", "every program"),
    # always hazardous unless a harmless mode is named
    ("script -q /dev/null", "starts a shell"), ("capsh --", "runs a shell"), ("sg root", "shell"),
    ("su -c id", "starts a shell"), ("crontab -e", "cron"), ("at now", "later"), ("tmux", "session"),
    # options that run commands, code, libraries or configuration
    ("start-stop-daemon -S -x /bin/sh", "-x"), ("nano -s /bin/sh", "-s"), ("gcc -wrapper /bin/sh,-s x", "-wrapper"),
    ("latex --shell-escape doc.tex", "--shell-escape"), ("sqlite3 db -cmd '.shell id'", "-cmd"),
    ("certbot renew --deploy-hook 'id'", "--deploy-hook"), ("aria2c --on-download-complete=/bin/sh u", "--on-download"),
    ("restic --password-command=id backup", "--password-command"), ("split --filter='sh' f", "--filter"),
    ("tcpdump -z /bin/sh -w x", "-z"), ("rpm --eval '%(id)'", "--eval"), ("rpm --pipe sh", "--pipe"),
    ("apt update -o APT::Update::Pre-Invoke::=/bin/sh", "-o"), ("busctl --address=unixexec:path=/bin/sh", "--address"),
    ("openvpn --up /bin/sh", "--up"), ("dmsetup ls --exec sh", "--exec"), ("emacs --eval '(shell)'", "--eval"),
    ("yt-dlp URL --exec 'sh #'", "--exec"), ("zic -y /bin/sh f", "-y"), ("wget --use-askpass=/bin/sh 0", "--use-askpass"),
    ("mosh --server=sh host", "--server"), ("openssl req -engine ./lib.so", "-engine"), ("fzf --preview 'cat {}'", "--preview"),
    ("curl --engine x.so https://e.com", "--engine"), ("man -H/bin/sh man", "-H"),
    # subcommands
    ("docker run --rm -it alpine", "docker run"), ("docker cp c:/etc/shadow .", "docker cp"),
    ("npm exec sh", "npm exec"), ("ip netns exec foo sh", "ip netns exec"), ("perf stat sh", "perf stat"),
    # values and operands
    ("fzf --bind 'enter:execute(sh)'", "--bind"), ("socat - exec:/bin/sh", "exec:"), ("sysctl kernel.core_pattern=|/x", "kernel"),
    ("service ../../bin/sh", "path"), ("xdg-user-dir '}; sh #'", "shell code"), ("curl file:///etc/passwd", "local files"),
    ("cowsay -f ./evil.cow hi", "Perl"), ("sqlite3 /dev/null '.shell sh'", "dot-command"),
    ("ssh localhost sh", "remote host"), ("mosh host -- sh", "remote host"),
    # interpreters and stdin readers
    ("expect -c 'spawn sh'", "code"), ("julia -e 'run(`sh`)'", "code"), ("guile -c '(system \"sh\")'", "code"),
    ("dc -e '!sh'", "code"), ("m4", "standard input"), ("sqlite3 db", "standard input"), ("gdb -ex '!sh'", "-ex"),
    # git
    ("git apply --unsafe-paths --directory / x.patch", "--unsafe-paths"), ("git -p log", "pager"),
    # find, tar, sed, awk, make, zip, rsync (pre-existing hazards)
    ("find . -exec sh \\;", "no rule allows"), ("tar cf /dev/null x --checkpoint-action=exec=sh", "--checkpoint-action"),
    ("sed -n '1e id' f", "sed script"), ("awk 'BEGIN{system(\"id\")}'", "awk program"), ("make --eval='x:'", "--eval"),
    ("zip a.zip f -T -TT 'sh #'", "-TT"), ("rsync -e 'sh -c id' x:y .", "-e"),
    # found in review (stop 12)
    ("sort -S 1k --compress-program=sh big.txt", "--compress-program"),
    ("sort --compress-prog sh big.txt", "--compress-program"),
    ("npm --script-shell=/bin/sh run test", "--script-shell"), ("npm run test --script-shell sh", "--script-shell"),
    ("python3 /dev/stdin", "standard input"), ("python3 /dev/fd/0", "standard input"),
    ("python3 /proc/self/fd/0 x", "standard input"), ("node /dev/stdin", "standard input"),
    ("node --loader ./x.mjs app.js", "--loader"), ("node --experimental-loader=./x.mjs app.js", "--experimental-loader"),
    ("node --inspect=0.0.0.0:9229 app.js", "debugger port"), ("node --inspect-brk app.js", "debugger port"),
    # found in the readers review: ripgrep's preprocessor, tar's dashless first word
    ("rg --pre sh . x.sh", "--pre"), ("rg --pre=python3 x .", "--pre"), ("rg --hostname-bin=sh x", "--hostname-bin"),
    ("tar cIf 'sh -c id' out.tar x", "-I"), ("tar xf a.tar --to-command=sh", "--to-command"),
    ("tree -R -H . -L 1 src", "-R"), ("tree -aR -H x .", "-R"),
]


@pytest.mark.parametrize(("line", "reason"), ESCAPES, ids=[e[0][:50] for e in ESCAPES])
def test_escape_is_refused(line: str, reason: str, decide: Callable[[str], Decision]) -> None:
    decision = decide(line)
    assert decision.decision == "deny", f"{line!r} was allowed"
    assert reason in why(decision), why(decision)


def test_a_rule_naming_the_option_allows_it(tmp_path: Path) -> None:
    """The escape hatch: a rule that names the hazard literally (never by wildcard)."""
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name in ("certbot", "docker"):
        (stubs / name).write_text("#!/bin/sh\n")
        (stubs / name).chmod(0o755)
    profile = tmp_path / "named.yaml"
    profile.write_text(
        "agentsh: 1\nname: named\nextends: [base]\n"
        f'path: ["{stubs}", /usr/bin, /bin]\n'
        "commands:\n"
        "  - {name: hook, run: certbot, args: ['renew --deploy-hook /usr/local/bin/reload'], decision: allow}\n"
        "  - {name: run, run: docker, args: ['run --rm alpine:3 ...'], decision: allow}\n")
    host = Host(cwd=str(tmp_path), home=str(tmp_path), config_home=str(tmp_path / ".config"))
    policy = Policy(load_profile(str(profile), host), host)
    assert policy.decide("certbot renew --deploy-hook /usr/local/bin/reload").decision == "allow"
    assert policy.decide("docker run --rm alpine:3 true").decision == "allow"
    assert policy.decide("certbot renew --deploy-hook /bin/sh").decision == "deny"


@pytest.mark.parametrize(("line", "allowed"), [
    ("tar --checkpoint=1 -cf /dev/null README.md", True),  # an option of its own, not an abbreviation
    ("tar --checkpoint -cf /dev/null README.md", True),
    ("tar --checkpoint-a=exec=sh -cf /dev/null README.md", False),  # the abbreviation still counts
    ("tar --checkpoint-action=exec=sh -cf /dev/null README.md", False),
])
def test_exact_long_option_is_not_an_abbreviation(decide: Callable[[str], Decision], line: str, allowed: bool) -> None:
    assert (decide(line).decision == "allow") is allowed, decide(line).refused


def test_env_hazard_is_fnmatchcase_over_each_global_glob() -> None:
    """env_hazard matches one alternation of the globs' translations: the same answer as
    fnmatchcase against each glob in turn, for names on either side of every glob."""
    from fnmatch import fnmatchcase

    from agentsh.policy.hazards import GLOBAL_ENV, env_hazard

    names = {"", "f", "PATHS", "XPATH", "path", "LD_", "LD", "ld_preload", "PS", "PS12", "GIT", "GITX",
             "HOME\n", "\nHOME", "PROMPT_", "LUA_INIT_5_4", "LESSKEY_SYSTEM", "MY_VAR", "TERM"}
    for glob in GLOBAL_ENV:
        literal = glob.rstrip("*")
        names.update({glob, literal, literal + "X", literal + "\n", "X" + literal, literal[:-1], literal.lower()})
    for name in sorted(names):
        assert env_hazard(name) == any(fnmatchcase(name, glob) for glob in GLOBAL_ENV), name


# git's own reader (githazards.git_hazards), option by option: long options after the
# subcommand and every abbreviation (git's parse-options takes any unambiguous prefix:
# `git rebase --ex=CMD` runs CMD), subcommand-specific short options, in clusters too
# (`git rebase -qx CMD`), `--` ending the options.
GIT_HAZARD_CASES = [
    ('git log --oneline -n 5', []),
    ('git log --ext-diff', [(1, '--ext-diff')]),
    ('git log --ext-d', [(1, '--ext-diff')]),
    ('git log --ext', [(1, '--extcmd'), (1, '--ext-diff')]),
    ('git log --ex', [(1, '--exec'), (1, '--extcmd'), (1, '--ext-diff')]),
    ('git rebase --ex=make HEAD~1', [(1, '--exec'), (1, '--extcmd'), (1, '--ext-diff')]),
    ('git ls-remote --u=make .', [(1, '--upload-pack'), (1, '--unsafe-paths')]),
    ('git diff --textconv=x -- --ext-diff', [(1, '--textconv')]),
    ('git rebase -x make', [(1, '-x')]),
    ('git rebase -ix make', [(1, '-x')]),
    ('git rebase -qx make HEAD~1', [(1, '-x')]),
    ('git grep -iOless x', [(1, '-O')]),
    ('git rebase --exec make', [(1, '--exec')]),
    ('git grep -O less x', [(1, '-O')]),
    ('git grep -Oless x', [(1, '-O')]),
    ('git log -O x', []),
    ('git clone -u x -c a=b r', [(1, '-u'), (3, '-c')]),
    ('git difftool -t vim -x c', [(0, 'difftool'), (1, '-t'), (3, '-x')]),
    ('git fetch --upload-pack=sh r', [(1, '--upload-pack')]),
    ('git fetch --upload r', [(1, '--upload-pack')]),
    ('git show --open-files-in-pager=x', [(1, '--open-files-in-pager')]),
    ('git commit --template=t', [(1, '--template')]),
    ('git -c a=b log --config', [(0, '-c'), (3, '--config')]),
    ('git mergetool -t x', [(0, 'mergetool'), (1, '-t')]),
    ('git log --e=1 --exec', [(1, '--exec'), (1, '--extcmd'), (1, '--ext-diff'), (2, '--exec')]),
    ('git log ---ext', []),
]


@pytest.mark.parametrize(("line", "expected"), GIT_HAZARD_CASES)
def test_git_hazards_option_by_option(line: str, expected: list[tuple[int, str]]) -> None:
    from agentsh.parse import parse_line
    from agentsh.policy import githazards, hazards

    assert hazards.Hazard  # githazards builds Hazard values through the hazards module
    args = parse_line(line, "/nonexistent").commands[0].argv[1:]
    assert [(h.index, h.option) for h in githazards.git_hazards(args)] == expected


@pytest.mark.parametrize("line", [
    "git rebase --ex='touch {canary}' HEAD~1",
    "git rebase -qx 'touch {canary}' HEAD~1",
])
def test_git_runs_no_command_through_an_abbreviation_or_a_cluster(line: str, tmp_path: Path, home: Path,
                                                                  workspace: Path, run_agentsh: Callable[..., Any]) -> None:
    """Both ran `touch` after each commit with the default profile (touch is allowed, so the
    exec guard let it run too); now the line is refused and nothing runs."""
    canary = tmp_path / "canary"
    (home / ".gitconfig").write_text("[user]\n\tname = a\n\temail = a@example.com\n")
    for argv in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "a"], ["commit", "-q", "--allow-empty", "-m", "b"]):
        subprocess.run(["git", *argv], cwd=workspace, env={"HOME": str(home), "PATH": "/usr/bin:/bin"}, check=True)
    done = run_agentsh("-c", line.format(canary=canary))
    assert done.returncode == 126, done.stderr
    assert "runs" in done.stderr
    assert not canary.exists()


@pytest.mark.parametrize(("line", "allowed"), [
    ("tar -cvI'touch {canary};cat' -f x.tar README.md", False),  # flags, then -I with its value glued
    ("tar -cvI./evil.sh -f x.tar README.md", False),
    ("tar -cvf x.tar README.md", True),
    ("python3 -Werror::DeprecationWarning -m pytest --version", True),  # the rest is -W's value
    ("python3 -Wd -Bc 'import os'", False),
])
def test_short_option_with_a_glued_value_at_the_end_of_a_cluster(line: str, allowed: bool, tmp_path: Path,
                                                                  decide: Callable[[str], Decision],
                                                                  run_agentsh: Callable[..., Any]) -> None:
    """getopt reads `-cvIcmd` as -c, -v and -I with the value `cmd`: the hazard counts even when
    the word is not all letters.  `tar -cvI'touch CANARY;cat' ...` ran touch."""
    canary = tmp_path / "canary"
    line = line.format(canary=canary)
    assert (decide(line).decision == "allow") is allowed, line
    if not allowed:
        done = run_agentsh("-c", line)
        assert done.returncode == 126, done.stderr
        assert not canary.exists()


GIT_ANY = """\
agentsh: 1
name: git-any
extends: [default]
commands:
  - {name: git-any, run: git, decision: allow}
"""


def test_a_dynamic_word_after_a_global_option_value_is_no_subcommand_operand(
        tmp_path: Path, home: Path, workspace: Path, agentsh_env: dict[str, str]) -> None:
    """The dynamic-word check took the first word not starting with `-` for git's
    subcommand: in `git -C add grep -e foo "$x"` that is `-C`'s value `add`, whose operands
    may be dynamic, so `$x = -Otouch CANARY` reached git grep's -O (runs a pager) unchecked:
    in guardrail mode it ran; the exec guard refused it at its exec in confined mode."""
    canary = tmp_path / "canary"
    (workspace / "add").mkdir()
    subprocess.run(["git", "init", "-q"], cwd=workspace / "add", check=True)
    (workspace / "add" / "f").write_text("foo\n")
    subprocess.run(["git", "add", "f"], cwd=workspace / "add", check=True)
    profile = write_profile(tmp_path, "git-any", GIT_ANY)
    line = f'x="-Otouch {canary}"; git -C add grep -e foo "$x"'
    done = run_guardrail(line, workspace, agentsh_env, tmp_path, profile)
    assert done.returncode == 126, done.stdout + done.stderr
    assert "only known at run time" in done.stderr
    assert not canary.exists()
@pytest.mark.skipif(shutil.which("rg") is None, reason="ripgrep is not installed")
def test_ripgrep_runs_no_preprocessor(workspace: Path, tmp_path: Path, agentsh_env: dict[str, str]) -> None:
    """`rg --pre sh . x.sh` ran x.sh under the default profile (rg is allowed there)."""
    planted = tmp_path / "PWNED"
    (workspace / "x.sh").write_text(f"touch {planted}\n")
    done = run_guardrail("rg --pre sh . x.sh", workspace, agentsh_env, tmp_path)
    assert done.returncode == 126, done.stdout + done.stderr
    assert not planted.exists()
