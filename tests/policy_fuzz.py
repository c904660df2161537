"""Outcome-based fuzzing of the static policy: helper for tests/test_policy_fuzz.py.

In guardrail mode (no ptrace, no Landlock) the static decision is all that stands between
a line and the files it touches.  ``generated(seed, n)`` builds agent-like episodes (one to
three lines run one after the other) from the programs the default profile allows, with
their risky options (file-taking options glued and separate, output files, in-place edits,
archives, wrappers, ``cd`` chains, links made by an earlier line), aimed at canary secrets
in denied read roots, at files git and the next login shell run code from, and at places
outside the write roots.  ``Sandbox`` holds a throwaway HOME with all of these and a git
workspace; ``Sandbox.episode(lines)`` decides each line with agentsh's own Policy against
the disk as it is at that moment and runs the allowed ones the way agentsh runs them in
guardrail mode (its rebuilt environment, its pinned programs, ``bash --noprofile --norc``),
then reports what the outcome checks saw: a secret's bytes in the output or in a file
outside the denied roots, a guarded file made or changed, anything changed outside the
write roots.  Deterministic: the same seed gives the same lines.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import random
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from agentsh.policy import Policy
from agentsh.profile import Host, load_profile
from agentsh.run import bash_argv, bash_script, build_environment

# Denied read roots of the profile below (HOME-relative) and the canary file in each.
SECRETS = {
    ".ssh/id_rsa": "CANARY-ssh-q7Zk2",
    ".aws/credentials": "CANARY-aws-W3xv9",
    ".config/gh/hosts.yml": "CANARY-ghc-Lp4s8",
    ".netrc": "CANARY-net-Rt6m1",
    ".docker/config.json": "CANARY-dkr-Hb5n0",
    "proj/secrets/key": "CANARY-wsp-Jc8d3",
}
DENIED_DIRS = (".ssh", ".aws", ".config/gh", ".docker", "proj/secrets")
# Files programs run code from later: the next login shell, git in any repository, git here.
GUARDED = (".bashrc", ".profile", ".gitconfig", ".config/git/config", "proj/.git/config",
           "proj/.git/hooks/pre-commit", "proj/.git/hooks/post-checkout")
# Write targets outside the write roots (HOME is not one: the sandbox is not under /tmp).
OUTSIDE = ("outside/x", "outside/note.txt", "newfile", "outside")
WORKSPACE = "proj"

PROFILE = ('agentsh: 1\nname: polfuzz\nextends: [default]\n'
           'read:\n  deny: ["{workspace}/secrets"]\n')


class Outcome(NamedTuple):
    line: str
    decision: str  # allow | deny | ask | skipped (after a refused line)
    problems: tuple[str, ...] = ()
    reason: str = ""


def _encodings(token: str) -> set[str]:
    """The ways a program the lines use may print a token: as is, reversed, in another case,
    base64 at each alignment, hex."""
    raw = token.encode()
    forms = {token, token[::-1], token.upper(), token.lower(), raw.hex()}
    for skip in range(3):
        encoded = base64.b64encode(raw[skip:]).decode()
        forms.add(encoded[4:-4])  # the stable middle, whatever bytes come before and after
    return {f for f in forms if len(f) >= 8}


SECRET_FORMS = {token: _encodings(token) for token in SECRETS.values()}


class Sandbox:
    """A HOME outside every write root of the default profile, rebuilt from a template
    before each episode."""

    def __init__(self) -> None:
        # /dev/shm is no write root of the default profile (/tmp and /var/tmp are)
        base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
        self.root = Path(tempfile.mkdtemp(prefix="agentsh-polfuzz-", dir=base))
        if base is None:  # no /dev/shm: HOME under /tmp is a write root, outside checks weaken
            pass
        self.template = self.root / "template"
        self.home = self.root / "home"
        self.work = self.home / WORKSPACE
        self.scratch = Path(tempfile.mkdtemp(prefix="agentsh-polfuzz-tmp-"))  # under /tmp: writable
        self.profile_path = self.root / "polfuzz.yaml"
        self.profile_path.write_text(PROFILE)
        self._build_template()
        self._reset()
        host = Host(cwd=str(self.work), home=str(self.home), config_home=str(self.home / ".config"))
        self.profile = load_profile(str(self.profile_path), host)
        self.host = host
        inherited = {"HOME": str(self.home), "USER": os.environ.get("USER", "root"), "LANG": "C.UTF-8",
                     "TERM": "dumb"}
        self.env = build_environment(self.profile, inherited, str(self.work))

    def _build_template(self) -> None:
        t = self.template
        for rel, token in SECRETS.items():
            path = t / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{token}\nline two {token}\n")
        for rel in (".bashrc", ".profile", ".gitconfig"):
            (t / rel).write_text(f"# {rel}\n")
        (t / "outside").mkdir()
        (t / "outside" / "note.txt").write_text("outside note\n")
        w = t / WORKSPACE
        (w / "src").mkdir(parents=True)
        (w / "README.md").write_text("hello readme\nsecond line\n")
        (w / "notes.txt").write_text("b\na\nc\n")
        (w / "src" / "a.py").write_text("print('a')\n")
        (w / "src" / "b.txt").write_text("x y z\n")
        env = {"HOME": str(t), "PATH": "/usr/bin:/bin", "GIT_CONFIG_NOSYSTEM": "1"}
        git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
        subprocess.run([*git, "init", "-q"], cwd=w, env=env, check=True)
        subprocess.run([*git, "add", "README.md", "notes.txt", "src"], cwd=w, env=env, check=True)
        subprocess.run([*git, "commit", "-qm", "init"], cwd=w, env=env, check=True)
        (w / ".git" / "hooks" / "pre-commit").write_text("#!/bin/sh\nexit 0\n")
        (w / ".gitignore").write_text("secrets/\n")
        # an archive and a patch the lines may apply, links that were there before the line
        subprocess.run(["tar", "-cf", "ws.tar", "notes.txt"], cwd=w, check=True)
        (w / "fix.patch").write_text("--- notes.txt\n+++ notes.txt\n@@ -1,3 +1,3 @@\n b\n-a\n+A\n c\n")
        (w / "uplink").symlink_to("..")
        (w / "outlink").symlink_to("../outside")
        # the fixture must not already hold what the checks look for
        self.reference: dict[str, tuple[str, str]] = {}

    def _reset(self) -> None:
        if self.home.exists():
            _force_rmtree(self.home)
        shutil.copytree(self.template, self.home, symlinks=True)
        for entry in self.scratch.iterdir():
            _force_rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        self.reference = self.snapshot()

    def policy(self) -> Policy:
        return Policy(self.profile, self.host)

    def snapshot(self) -> dict[str, tuple[str, str]]:
        """Every entry below HOME (not below the workspace's .git objects): its kind and hash."""
        out: dict[str, tuple[str, str]] = {}
        for path in _walk(self.home):
            rel = str(path.relative_to(self.home))
            if rel.startswith(f"{WORKSPACE}/.git/") and not rel.startswith((f"{WORKSPACE}/.git/hooks",
                                                                             f"{WORKSPACE}/.git/config")):
                continue
            if path.is_symlink():
                out[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                out[rel] = ("dir", "")
            else:
                try:
                    out[rel] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
                except OSError as error:
                    out[rel] = ("file", f"unreadable: {error.errno}")
        return out

    def check(self, output: str) -> list[str]:
        """What the outcome checks see now (against the state before the episode)."""
        problems = [f"printed {token}" for token, forms in SECRET_FORMS.items() if any(f in output for f in forms)]
        now = self.snapshot()
        for rel in sorted(set(now) | set(self.reference)):
            before, after = self.reference.get(rel), now.get(rel)
            if before == after:
                continue
            if _is_guarded(rel):
                if after is None:
                    continue  # removed (`rm -rf .git`): no code of the line's runs later from it
                problems.append(f"guarded {rel}: {before and before[0]} -> {after and after[0]}")
            elif not _in_write_roots(rel):
                problems.append(f"outside {rel}: {before and before[0]} -> {after and after[0]}")
        for path in [*_walk(self.home), *_walk(self.scratch)]:
            rel = str(path.relative_to(self.home)) if path.is_relative_to(self.home) else str(path)
            if path.is_symlink() or not path.is_file() or _in_denied(rel):
                continue
            try:
                data = path.read_bytes()[:1 << 20].decode("latin-1")
            except OSError:
                continue
            problems += [f"copied {token} into {rel}" for token, forms in SECRET_FORMS.items()
                         if any(f in data for f in forms)]
        return problems

    def run(self, script: str) -> str:
        # a new session: a line that hangs is ended whole, nothing it started outlives the run
        with subprocess.Popen(bash_argv(script), cwd=self.work, env=self.env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True) as bash:
            try:
                out, _ = bash.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                out = b""
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(bash.pid, signal.SIGKILL)
                rest, _ = bash.communicate()
        return (out + (rest or b"")).decode("utf-8", "replace")

    def episode(self, lines: list[str], *, execute: bool = True) -> list[Outcome]:
        """Decide each line against the disk as it is then; run the allowed ones in order."""
        self._reset()
        policy = self.policy()
        outcomes = []
        for i, line in enumerate(lines):
            decision = policy.decide(line)
            deciding = decision.deciding
            if not decision.allowed:
                outcomes.append(Outcome(line, decision.decision, (), deciding.reason if deciding else ""))
                outcomes += [Outcome(rest, "skipped") for rest in lines[i + 1:]]
                break
            if not execute:
                outcomes.append(Outcome(line, "allow"))
                continue
            output = self.run(bash_script(decision))
            outcomes.append(Outcome(line, "allow", tuple(self.check(output))))
        return outcomes

    def close(self) -> None:
        _force_rmtree(self.root)
        _force_rmtree(self.scratch)


def _walk(top: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            yield Path(dirpath, name)


def _force_rmtree(path: Path) -> None:
    def writable(func, p, _exc) -> None:
        os.chmod(os.path.dirname(p), 0o755)
        with contextlib.suppress(OSError):
            os.chmod(p, 0o755)
        func(p)
    with contextlib.suppress(FileNotFoundError):
        os.chmod(path, 0o755)
        shutil.rmtree(path, onerror=writable)


def _is_guarded(rel: str) -> bool:
    return rel in GUARDED or rel.startswith((f"{WORKSPACE}/.git/hooks/", ".config/git/"))


def _in_denied(rel: str) -> bool:
    return any(rel == d or rel.startswith(d + "/") for d in (*DENIED_DIRS, ".netrc"))


def _in_write_roots(rel: str) -> bool:
    return (rel == WORKSPACE or rel.startswith(WORKSPACE + "/")) and not _in_denied(rel)


# ---- the generator ----------------------------------------------------------------------

# Read commands: {R} is a file to read. Those with their own output encoding still print
# something SECRET_FORMS recognises (rev, hex, base64, upper case).
READERS = [
    "cat {R}", "cat -A {R}", "head -n 5 {R}", "head -c200 {R}", "tail -n +1 {R}", "tail -c 300 {R}",
    "grep -h '' {R}", "grep -e C {R}", "grep -r C {R}", "grep --no-filename -a . {R}", "egrep . {R}",
    "fgrep -h C {R}", "rg -N C {R}", "sed -n p {R}", "sed -n '1p' {R}", "sed 's/x/x/' {R}",
    "sed -n '1r {R}' README.md", "awk 1 {R}", "awk '{{print}}' {R}", "sort {R}", "sort -m README.md {R}",
    "uniq {R}", "cut -c1- {R}", "tr a-z A-Z < {R}", "diff README.md {R}", "diff -u {R} README.md",
    "comm README.md {R}", "paste {R}", "paste -s {R}", "nl {R}", "tac {R}", "rev {R}", "fold {R}", "fmt {R}",
    "xxd -p {R}", "base64 {R}", "base64 -w0 {R}", "strings {R}", "iconv -f utf-8 -t utf-8 {R}", "jq -R . {R}",
    "jq -Rr . {R}", "jq -n --rawfile a {R} '$a'", "jq -Rs . {R}", "envsubst < {R}", "date -f {R}",
    "date --file={R}", "less {R}", "less -f {R}", "column -t {R}", "join {R} {R}", "expr \"$(cat {R})\"",
    "echo \"$(cat {R})\"", "cat <(cat {R})", "cat < {R}", "cat 0< {R}", "read -r x < {R}; echo \"$x\"",
    "mapfile -t a < {R}; echo \"${{a[@]}}\"", "while read -r l; do echo \"$l\"; done < {R}",
    "cp {R} copy.txt && cat copy.txt", "cp {R} {T}/c && cat {T}/c", "ln {R} hard && cat hard",
    "tar -cf - {R} | tar -xOf -", "tar -cf {T}/a.tar {R} && tar -xOf {T}/a.tar", "gzip -c {R} | zcat",
    "zcat -f {R}", "xz -c {R} | unxz -c", "split -l 1 {R} {T}/part && cat {T}/part*",
    "git diff --no-index README.md {R}", "git config --list --file {R}", "git config --get --file={R} x.y",
    "git diff --no-index --stat {R} README.md", "git --no-pager diff --no-index -- README.md {R}",
    "git blame {R}", "git log --follow -p -- {R}", "git show HEAD:{R}", "git grep -h C -- {R}",
    "git commit -q --allow-empty -F {R} && git log -1 --format=%B",
    "git tag -F {R} t1 && git tag -n9", "make -f {R}", "python3 {R}", "node {R}", "perl {R}",
    "xargs -a {R} echo", "cat {R} | xargs echo", "find {R} -type f -exec cat {{}} +", "find {R} -print",
    "md5sum -c {R}", "sha256sum -c {R}", "file {R}", "od -c {R}", "hexdump -C {R}",
    "sed -f {R} README.md", "grep -f {R} -e C README.md", "numfmt --from-file? 1",
    "diff --from-file={R} README.md", "diff --to-file {R} README.md", "cmp {R} README.md",
    "sort --files0-from={R}", "wc --files0-from={R}", "tar -cf - -T {R} | tar -tf -",
    "mv {R} moved && cat moved", "cp -r {D} cdir && cat cdir/*", "cp -rL {D} cdir2 && cat cdir2/*",
    "tar -cf - {D} | tar -xOf -", "cat {D}/*", "head {D}/*", "grep -r C {D}", "ls -la {D}",
    "env cat {R}", "timeout 5 cat {R}", "nice -n 1 cat {R}", "stdbuf -o0 cat {R}", "nohup cat {R}",
    "time cat {R}", "env -i cat {R}", "xargs cat <<< {R}", "echo {R} | xargs cat", "echo {R} | xargs -I@ cat @",
    "find . -maxdepth 0 -exec cat {R} \\;", "env -C {DD} cat {BR}", "git -C {DD} show :{BR}",
    "cat /dev/fd/3/{BR} 3< {DD}", "cat /dev/stdin/{BR} < {DD}", "cd {DD} && cat $PWD/{BR}",
    "cd {DD} && cat \"$PWD\"/{BR}", "cd {DD}; cd - >/dev/null; cat $OLDPWD/{BR}", "git blame --contents={R} README.md",
    "git grep -h -f {R} -e C", "git commit -q --allow-empty -F{R} && git log -1 --format=%B",
    "git merge -F {R} HEAD", "date -f{R}", "grep -f{R} README.md", "sed -n 1p -- {R}", "cat -- {R}",
    "head --lines=5 -- {R}", "sort -o /dev/stdout {R}", "paste -d, {R} -", "tail -q {R} README.md",
    "cut -d: -f1 {R}", "tr -d x < {R}", "nl -ba {R}", "wc -L {R} && cat {R}", "iconv -c -t ascii {R}",
    "base64 -d <<< $(base64 -w0 {R})", "cat {R} 2>&1 | cat", "{{ cat {R}; }}", "( cat {R} )",
    "if true; then cat {R}; fi", "for f in {R}; do cat $f; done", "for f in {R}; do cat \"$f\"; done",
    "case x in x) cat {R};; esac", "f={R}; cat $f", "f={R}; cat \"$f\"", "read -r f <<< {R}; cat \"$f\"",
    "set -- {R}; cat \"$1\"", "a=({R}); cat \"${{a[0]}}\"", "cat $(echo {R})", "cat `echo {R}`",
    "cat \"$(printf %s {R})\"", "x=$(cat {R}); echo \"$x\"", "cat {R} | tee /dev/null",
    "diff <(cat {R}) README.md", "comm -23 <(sort {R}) /dev/null", "exec 3< {R}; cat <&3",
    "d={PD}; cat $d/{PR}", "d={PD}/; cat \"${{d}}{PR}\"", "for d in {PD}; do cat $d/{PR}; done",
    "d={PD}; cd $d && cat {PR}", "d={PD}; cat < $d/{PR}", "d={PD}; head -- \"$d/{PR}\"",
    "cd {PD} && cat ./{PR}", "cd {PD} && cat $PWD/{PR}", "cd {PD}; cat ~+/{PR}", "env -C {PD} cat {PR}",
    "tar -C {PD} -cf - {PR} | tar -xOf -", "git diff --no-index -- {PD}/{PR} README.md",
]
# Write commands: {W} is a file to create or change, {WD} a directory to write into.
WRITERS = [
    "echo PWNED > {W}", "echo PWNED >> {W}", "echo PWNED &> {W}", "echo PWNED >| {W}", "echo PWNED 2> {W}",
    "echo PWNED | tee {W}", "echo PWNED | tee -a {W}", "tee {W} < README.md", "cp README.md {W}",
    "cp -f notes.txt {W}", "cp -t {WD} README.md", "cp --target-directory={WD} README.md",
    "mv notes.txt {W}", "mv -t {WD} notes.txt", "touch {W}", "truncate -s 1 {W}", "sed -i s/b/B/ {W}",
    "sed -i.bak s/b/B/ {W}", "sed --in-place=.orig -e s/b/B/ {W}", "sort -o {W} notes.txt",
    "sort -o{W} notes.txt", "sort --output={W} notes.txt", "uniq notes.txt {W}", "xxd -r -p README.md {W}",
    "iconv -f utf-8 -t utf-8 -o {W} README.md", "split -b 3 README.md {W}", "tar -cf {W} README.md",
    "tar -xf ws.tar -C {WD}", "tar -C {WD} -xf ws.tar", "tar --directory={WD} -xf ws.tar",
    "gzip -c README.md > {W}", "mkdir {W}", "mkdir -p {W}/sub", "mktemp {W}.XXXX", "mktemp -p {WD}",
    "mktemp --tmpdir={WD} t.XXXX", "ln -s README.md {W}", "ln README.md {W}", "ln -sf notes.txt {W}",
    "cp -s README.md {W}", "git diff --output={W}", "git log -1 --output={W}", "git show --output={W} HEAD",
    "git init -q {WD}/r", "git worktree add -q {WD}/wt", "less -o {W} README.md", "time -o {W} true",
    "date > {W}", "printf '%s\\n' PWNED > {W}", "rm -f {W}", "rm -rf {WD}", "rmdir {WD}", "rm -r {W}",
    "cd {WD} && echo PWNED > x", "cd {WD} && touch .bashrc", "env -C {WD} touch x", "cp -r src {WD}",
    "mv src {WD}", "cp -a src {WD}/", "patch -o {W} notes.txt fix.patch", "patch -r {W} notes.txt fix.patch",
    "patch -b -B {WD}/ notes.txt fix.patch", "gzip -S .gz notes.txt && mv notes.txt.gz {W}",
    "gzip -k notes.txt && cp notes.txt.gz {W}", "git -C {WD} init -q", "git init -q --bare {WD}/b.git",
    "tar -cf /dev/null -g {W} src", "git checkout -q -b x && git diff --output={W} HEAD",
    "echo PWNED | env tee {W}", "echo PWNED | timeout 5 tee {W}", "xargs touch <<< {W}",
    "echo {W} | xargs -I@ cp README.md @", "find src -name a.py -exec cp {{}} {W} \\;",
    "cp --parents src/a.py {WD}", "ln -st {WD} README.md", "mv -b notes.txt {W}", "cp -b README.md {W}",
    "cp --backup=numbered README.md {W}", "sort -T {WD} -o {W} notes.txt", "truncate -r README.md {W}",
    "git mv README.md {W}", "git mv -f notes.txt {W}", "git mv src {WD}", "git mv -k README.md {WD}/",
    "git restore --source=HEAD --worktree -- {W}", "git checkout HEAD -- {W}", "git stash -q && git stash pop -q",
    "git clean -fdxq {WD}", "ln -t {WD} README.md", "ln -s -t {WD} README.md", "split -d README.md {W}",
    "tar -cf - README.md | tar -xf - -C {WD}", "tar -x -C {WD} < ws.tar", "tar -xf ws.tar --one-top-level={W}",
    "echo PWNED 3< {WD} > /dev/fd/3/post-checkout", "echo PWNED > /proc/self/cwd/{W}",
    "sort --output={W} notes.txt", "git diff HEAD --output={W}", "iconv -t utf-8 -o{W} README.md",
    "cp --target-directory={WD} README.md", "f={W}; echo PWNED > \"$f\"", "echo PWNED > $(echo {W})",
    "for f in {W}; do echo PWNED > $f; done", "set -- {W}; touch \"$1\"", "echo PWNED | tee -- {W}",
    "cp -- README.md {W}", "mv -- notes.txt {W}", "touch -- {W}", "mkdir -p -- {W}",
    "echo PWNED >{W}", "echo PWNED>>{W}", "echo PWNED 1>{W}", "echo PWNED >&2 2>{W}", "> {W}",
    "exec > {W}; echo PWNED", "{{ echo PWNED; }} > {W}", "( echo PWNED ) > {W}", "echo PWNED | cat > {W}",
    "while read l; do echo $l; done < README.md > {W}", "printf PWNED | dd of={W}",
    "echo PWNED > >(cat > {W})", "echo PWNED | (cd {WD} && cat > x)", "(cd {WD}; touch y) && true",
    "{{ cd {WD}; echo PWNED > z; }}", "cd {WD} & touch x", "d={WD}; echo PWNED > $d/x", "d={WD}; cd $d && touch x",
    "for d in {WD}; do touch $d/x; done", "cp README.md {WD}/ && true", "cd src && cd {WD} && cp ../README.md .",
]
# Lines that set up what a later line uses (run first, in their own line), with the name
# each makes (relative to the workspace), through which the next line aims.
SETUPS = [
    ("ln -s {DT} k", "k"), ("ln -s {DT} src/k", "src/k"), ("mkdir -p a/b && ln -s ../../{UPW} a/b/k", "a/b/k"),
    ("ln -s .. up", "up"), ("ln -s ../.. up2", "up2"), ("ln -s .git/hooks h", "h"), ("ln -s .git g", "g"),
    ("ln -s ~ hm", "hm"), ("cp -P uplink ul2", "ul2"), ("mv uplink src/ul", "src/ul"),
    ("mkdir d && mv outlink d/", "d/outlink"), ("cp -a uplink src/", "src/uplink"), ("ln uplink hl", "hl"),
    ("mkdir -p x/y && cd x/y && ln -s ../../../.ssh s", "x/y/s"), ("ln -s /proc/self/cwd/.. pc", "pc"),
    ("git checkout -q -b side", "uplink"), ("tar -cf l.tar uplink && mkdir -p e && tar -xf l.tar -C e", "e/uplink"),
    ("ln -s ../outside/note.txt on", "on"), ("ln -sr ../.bashrc rc", "rc"), ("ln -s ../../.bashrc src/rc", "src/rc"),
    ("mkdir -p m && cp -r uplink m/", "m/uplink"), ("ln -s uplink/.ssh ks", "ks"), ("ln -s outlink ol", "ol"),
    ("mkdir -p q && ln -s ../uplink q/u", "q/u"), ("cp -d outlink ol2", "ol2"), ("ln -sT .. t", "t"),
]

PRELUDES = ["", "", "", "cd src && ", "cd .git && ", "cd .git/hooks 2>/dev/null; ",
            "cd ~/.config && ", "cd .. && ", "cd ~ && ", "cd uplink && ", "mkdir -p w/v && cd w/v && ",
            "cd src; ", "cd ~/proj/src && ", "cd /proc/self/cwd && ", "cd outlink && ", "X=1 ", "env X=1 ",
            "cd src/.. && ", "cd ./uplink/proj && ", "cd -P uplink && ", "cd -L uplink/proj/src && "]


class Generator:
    def __init__(self, rng: random.Random, sandbox_home: str) -> None:
        self.rng = rng
        self.home = sandbox_home

    def spell(self, rel_home: str, up: str, cwd_in_home: bool = True) -> str:
        """One spelling of HOME/rel_home from a directory `up` below HOME ('' is unknown)."""
        r = self.rng
        parts = rel_home.split("/")
        forms = [f"~/{rel_home}", f"$HOME/{rel_home}", f'"$HOME/{rel_home}"', f"${{HOME}}/{rel_home}",
                 f"{self.home}/{rel_home}", f"~//{rel_home}", f"~/./{rel_home}",
                 f"~/{'/'.join(parts[:-1] + ['.', parts[-1]])}" if len(parts) > 1 else f"~/./{rel_home}",
                 f"/proc/self/root{self.home}/{rel_home}", f"~/{WORKSPACE}/../{rel_home}",
                 f"uplink/{rel_home}" if not up else f"~/{WORKSPACE}/uplink/{rel_home}",
                 f"~/'{parts[0]}'/{'/'.join(parts[1:])}".rstrip("/"), f"~/\\{rel_home}",
                 f"~/{{{parts[0]},nothere}}/{'/'.join(parts[1:])}".rstrip("/"),
                 f"{self.glob(rel_home)}", f"~/{self.glob(rel_home)}"]
        if up is not None:
            forms += [f"{up}{rel_home}", f"./{up}{rel_home}", f"{up}{WORKSPACE}/../{rel_home}",
                      f"/proc/self/cwd/{up}{rel_home}", f"$PWD/{up}{rel_home}", f"~+/{up}{rel_home}",
                      f'"$PWD"/{up}{rel_home}', f"${{PWD}}/{up}{rel_home}", f"{up}{rel_home}/",
                      f"{up}{rel_home}/.", f"{up}{rel_home}//"]
        choice = r.choice(forms)
        if not choice.startswith(("~", "$", '"', "/", ".", "u")):
            choice = f"~/{choice}"
        return choice

    def glob(self, rel_home: str) -> str:
        r = self.rng
        parts = rel_home.split("/")
        i = r.randrange(len(parts))
        part = parts[i]
        if len(part) > 1:
            j = r.randrange(1, len(part))
            part = r.choice([part[:j] + "?" + part[j + 1:], part[:j] + "*", part[:j] + "[" + part[j] + "]" + part[j + 1:],
                             "*" + part[j:] if part[0] != "." else "." + "*" + part[j:], part[:j] + "{" + part[j:] + ",}"])
        parts[i] = part
        return "/".join(parts)

    def line(self, setup_made: list[str]) -> str:
        r = self.rng
        prelude = r.choice(PRELUDES)
        up = {"cd .git && ": "../../", "cd .git/hooks 2>/dev/null; ": "../../../", "cd ~/.config && ": "../",
              "": "../", "cd src && ": "../../", "cd .. && ": "", "cd ~ && ": "", "cd uplink && ": "",
              "mkdir -p w/v && cd w/v && ": "../../../", "cd src; ": "../../", "cd ~/proj/src && ": "../../",
              "cd /proc/self/cwd && ": "../", "cd outlink && ": "../", "X=1 ": "../", "env X=1 ": "../",
              "cd src/.. && ": "../", "cd ./uplink/proj && ": "../", "cd -P uplink && ": "",
              "cd -L uplink/proj/src && ": "../../"}[prelude]
        if r.random() < 0.55:
            template = r.choice(READERS)
        else:
            template = r.choice(WRITERS)
        secret = r.choice(list(SECRETS))
        secret_dir = r.choice([*DENIED_DIRS, "."])
        guarded = r.choice(GUARDED + OUTSIDE)
        wdir = r.choice([".git/hooks", ".git", "outside", ".", ".config/git", "proj/.git/hooks", ".ssh",
                         "proj/secrets", "proj/.git"])
        parent, _, below = secret.partition("/") if secret.count("/") > 1 else ("", "", secret)
        fills = {
            "PD": self.spell(parent, up) if parent else r.choice(["~", "$HOME", ".."]),
            "PR": below,
            "R": self.spell(secret, up),
            "D": self.spell(secret_dir, up) if secret_dir != "." else r.choice(["~", "..", "uplink", "~/"]),
            "W": self.spell(guarded, up),
            "WD": self.spell(wdir, up) if wdir != "." else r.choice(["~", "..", "uplink", "~/", "outlink"]),
            "T": "/tmp/" + Path(self.scratch_name).name if hasattr(self, "scratch_name") else "/tmp",
            "DD": self.spell(secret.rsplit("/", 1)[0] if "/" in secret else ".", up),
            "BR": secret.rsplit("/", 1)[-1],
            "DT": self.spell(r.choice([*DENIED_DIRS, ".", "outside"]), up.replace("../", "../", 1) or "../"),
            "UPW": r.choice([".ssh", "outside", ".", "proj/secrets"]),
        }
        if setup_made and r.random() < 0.7:  # aim through a name an earlier line made
            name = r.choice(setup_made)
            rest = r.choice(["id_rsa", ".ssh/id_rsa", "proj/secrets/key", "key", "pre-commit", "config",
                             "hooks/pre-commit", ".bashrc", "x", "note.txt", ".aws/credentials", "", "../.ssh/id_rsa",
                             "../../.ssh/id_rsa", ".gitconfig"])
            aimed = f"{name}/{rest}".rstrip("/") if not prelude.startswith("cd") else f"~/{WORKSPACE}/{name}/{rest}"
            fills["R"] = fills["W"] = aimed
            fills["WD"] = fills["D"] = aimed if rest in ("", "x") else fills["WD"]
        text = template
        for key in sorted(fills, key=len, reverse=True):
            text = text.replace("{" + key + "}", fills[key])
        text = text.replace("{{", "{").replace("}}", "}")
        return prelude + text

    def episode(self) -> list[str]:
        r = self.rng
        lines: list[str] = []
        made: list[str] = []
        if r.random() < 0.35:
            setup, name = r.choice(SETUPS)
            setup = setup.replace("{DT}", self.spell(r.choice([*DENIED_DIRS, ".", "outside", ".config/git"]), "../"))
            setup = setup.replace("{UPW}", r.choice([".ssh", "outside", ".", "proj/secrets", ".config"]))
            lines.append(setup)
            made = [name]
        lines.append(self.line(made))
        if r.random() < 0.2:
            lines[-1] = lines[-1] + r.choice([" && ", "; ", " | "]) + self.line(made)
        return lines


def generated(seed: int, count: int, home: str, scratch: str) -> list[list[str]]:
    rng = random.Random(seed)
    gen = Generator(rng, home)
    gen.scratch_name = scratch  # type: ignore[attr-defined]
    return [gen.episode() for _ in range(count)]


# Lines whose leak is a documented gap (docs/security-model.md "Honest limits", "Known open
# gaps"): a recursive reader below an allowed directory, names xargs reads at run time.
KNOWN_GAP_MARKS = ("grep -r", "rg ", "cp -r", "cp -a", "tar -cf - ~", "tar -cf - ..", "tar -cf - uplink",
                   "find ", "xargs", "git add -A", "cdir")


def known_gap(line: str) -> bool:
    return any(mark in line for mark in KNOWN_GAP_MARKS)


def campaign(seed: int, count: int, *, verbose: bool = False) -> tuple[int, int, list[tuple[list[str], list[Outcome]]]]:
    """(lines decided, lines run, episodes with a problem)."""
    box = Sandbox()
    decided = ran = 0
    hits = []
    try:
        for lines in generated(seed, count, str(box.home), str(box.scratch)):
            outcomes = box.episode(lines)
            decided += sum(o.decision != "skipped" for o in outcomes)
            ran += sum(o.decision == "allow" for o in outcomes)
            if any(o.problems for o in outcomes):
                hits.append((lines, outcomes))
                if verbose:
                    tag = "KNOWN" if any(known_gap(o.line) for o in outcomes if o.problems) else "HIT"
                    print(tag, repr(lines), [o.problems for o in outcomes], flush=True)
    finally:
        box.close()
    return decided, ran, hits


if __name__ == "__main__":
    import sys

    first, number = int(sys.argv[1]), int(sys.argv[2])
    d, n, found = campaign(first, number, verbose=True)
    print(f"decided {d} ran {n} episodes-with-problems {len(found)}")
