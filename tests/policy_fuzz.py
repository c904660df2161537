"""Outcome-based fuzzing of the static policy: helper for tests/test_policy_fuzz.py and
tests/test_policy_fuzz_profiles.py (`python3 -m tests.policy_fuzz SEED COUNT [PROFILE [wide]]`).

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

``Sandbox(PROFILE)`` runs them under a shipped profile instead (TARGETS: developer, reviewer,
kubectl-readonly, whose kubeconfig holds a canary token), and ``generated(..., wide=True)``
adds this round's wider families (WIDE_READERS, WIDE_WRITERS, KUBECTL_LINES).
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
# The state allowed programs keep below HOME on every run (npm's cache and logs, pip's version
# check): what a program does once it runs, not a write the line names (docs/security-model.md).
OWN_STATE = (".npm", ".cache/pip")

PROFILE = ('agentsh: 1\nname: polfuzz\nextends: [default]\n'
           'read:\n  deny: ["{workspace}/secrets"]\n')
SHIPPED = Path(__file__).resolve().parent.parent / "profiles"
# Every profile denies ~/.kube (base); kubectl-readonly passes KUBECONFIG, pointing at it, to
# kubectl, whose cluster token is this canary (kubectl prints it only with --raw).
KUBE_SECRET = {".kube/config": "CANARY-kube-Tk9w2"}
KUBECONFIG_TEXT = ("apiVersion: v1\nkind: Config\nclusters:\n- cluster: {{server: 'https://127.0.0.1:1'}}\n  name: c\n"
                   "contexts:\n- context: {{cluster: c, user: u}}\n  name: x\ncurrent-context: x\n"
                   "users:\n- name: u\n  user: {{token: {token}}}\n")


class Target(NamedTuple):
    """A profile to fuzz: the shipped file (None: the embedded default), whether the workspace
    and /tmp are write roots, the canaries its lines aim at, the variables it passes."""
    source: Path | None
    writes: bool
    secrets: dict[str, str]
    kubeconfig: bool = False


TARGETS = {
    "default": Target(None, True, SECRETS),
    "developer": Target(SHIPPED / "developer.yaml", True, SECRETS),
    "reviewer": Target(SHIPPED / "reviewer.yaml", False, SECRETS),
    "kubectl-readonly": Target(SHIPPED / "kubectl-readonly.yaml", False, {**SECRETS, **KUBE_SECRET}, kubeconfig=True),
}


def profile_text(target: Target) -> str:
    """The target's profile with the workspace's secrets/ denied as well (a shipped profile's
    own rules as they are)."""
    if target.source is None:
        return PROFILE
    import yaml

    data = yaml.safe_load(target.source.read_text())
    data["name"] = "polfuzz-" + str(data["name"])
    read = data.setdefault("read", {})
    read["deny"] = [*read.get("deny", []), "{workspace}/secrets"]
    return yaml.safe_dump(data, sort_keys=False)


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


SECRET_FORMS = {token: _encodings(token) for token in {**SECRETS, **KUBE_SECRET}.values()}


class Sandbox:
    """A HOME outside every write root of the default profile, rebuilt from a template
    before each episode."""

    def __init__(self, target: str = "default") -> None:
        self.target = TARGETS[target]
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
        self.profile_path.write_text(profile_text(self.target))
        self._build_template()
        self._reset()
        host = Host(cwd=str(self.work), home=str(self.home), config_home=str(self.home / ".config"))
        self.profile = load_profile(str(self.profile_path), host)
        self.host = host
        inherited = {"HOME": str(self.home), "USER": os.environ.get("USER", "root"), "LANG": "C.UTF-8",
                     "TERM": "dumb"}
        if self.target.kubeconfig:
            inherited["KUBECONFIG"] = str(self.home / ".kube" / "config")
        self.env = build_environment(self.profile, inherited, str(self.work))

    def _build_template(self) -> None:
        t = self.template
        for rel, token in self.target.secrets.items():
            path = t / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{token}\nline two {token}\n")
        # files that programs parse: git config reads INI (`-c include.path=...`), kubectl YAML
        (t / ".aws" / "credentials").write_text(f"[default]\naws_secret_access_key = {SECRETS['.aws/credentials']}\n")
        if ".kube/config" in self.target.secrets:
            (t / ".kube" / "config").write_text(KUBECONFIG_TEXT.format(token=KUBE_SECRET[".kube/config"]))
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
        _archives(w, self.home)
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
        if not self.target.writes:  # /tmp is no write root either: what changes there counts
            for path in _walk(self.scratch):
                out[str(path)] = ("link", os.readlink(path)) if path.is_symlink() else \
                    ("dir" if path.is_dir() else "file", "" if path.is_dir() else str(path.stat().st_size))
        return out

    def check(self, output: str) -> list[str]:
        """What the outcome checks see now (against the state before the episode)."""
        problems = [f"printed {token}" for token, forms in SECRET_FORMS.items() if any(f in output for f in forms)]
        now = self.snapshot()
        for rel in sorted(set(now) | set(self.reference)):
            before, after = self.reference.get(rel), now.get(rel)
            if before == after:
                continue
            if rel.startswith(OWN_STATE):
                continue  # what a program writes by itself on every run, not what the line asked
            if _is_guarded(rel):
                if after is None:
                    continue  # removed (`rm -rf .git`): no code of the line's runs later from it
                problems.append(f"guarded {rel}: {before and before[0]} -> {after and after[0]}")
            elif not (self.target.writes and _in_write_roots(rel)):
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
            decision = policy.decide(line, environment=self.env)  # as the session decides: its variables known
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


def _archives(w: Path, home: Path) -> None:
    """Archives a line may extract: hooks/post-checkout (tar and zip), members that climb out
    of the workspace (`../outside/x`, an absolute name into the sandbox's HOME)."""
    import io
    import tarfile
    import zipfile

    hook = b"#!/bin/sh\necho PWNED\n"
    with tarfile.open(w / "hk.tar", "w") as tar:
        info = tarfile.TarInfo("hooks/post-checkout")
        info.size, info.mode = len(hook), 0o755
        tar.addfile(info, io.BytesIO(hook))
    with tarfile.open(w / "abs.tar", "w") as tar:
        for name in (f"{home}/outside/pwned", f"{home}/.bashrc", "../outside/climbed"):
            info = tarfile.TarInfo(name)
            info.size = len(hook)
            tar.addfile(info, io.BytesIO(hook))
    with zipfile.ZipFile(w / "hk.zip", "w") as z:
        z.writestr("hooks/post-checkout", hook)
    with zipfile.ZipFile(w / "abs.zip", "w") as z:
        z.writestr("../outside/zipped", hook)
        z.writestr("../.bashrc", hook)
    with zipfile.ZipFile(w / "ws.zip", "w") as z:
        z.writestr("notes.txt", b"b\na\nc\n")


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
    return any(rel == d or rel.startswith(d + "/") for d in (*DENIED_DIRS, ".netrc", ".kube"))


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
# Wider families (this round): what agents type with the programs the shipped profiles
# allow, in the forms that take files: find's actions, xargs -I, git's -c/config/GIT_*
# ways to name files, wrappers in wrappers, sed's r/R/w/e commands, awk's getline/system/
# print > file, sort -o clusters, tee, dd, cp/mv/ln/install -t and backup suffixes, tar and
# zip options, interpreter one-liners, make -f, links and cd chains made earlier in the line.
WIDE_READERS = [
    "find {D} -type f -exec cat {{}} \\;", "find {D} -name '*' -execdir cat {{}} \\;",
    "find {DD} -maxdepth 1 -name {BR} -exec head {{}} +", "find {DD} -name {BR} -print0 | xargs -0 cat",
    "find {DD} -name {BR} | xargs -I@ cat @", "find . -maxdepth 0 -execdir cat {R} \\;",
    "find {DD} -name {BR} -fprint /dev/stdout", "find -L . -maxdepth 3 -name {BR} -exec cat {{}} \\;",
    "find {DD} -name {BR} -exec grep -h . {{}} \\;", "find {R} -printf '%p\\n' -exec cat {{}} \\;",
    "find . -maxdepth 0 -ok cat {R} \\;", "find {DD} -maxdepth 1 -newer README.md -exec cat {{}} \\;",
    "xargs -I{{}} cat {{}} <<< {R}", "printf '%s\\n' {R} | xargs -n1 cat", "printf '%s\\0' {R} | xargs -0 head",
    "echo {BR} | xargs -I@ cat {DD}/@", "xargs -a <(echo {R}) cat", "echo {R} | xargs -d '\\n' grep -h .",
    "echo {R} | timeout 5 xargs cat", "echo {R} | xargs -r -- cat", "echo {DD} | xargs -I@ env -C @ cat {BR}",
    "mkdir -p 0 && printf '#!/bin/sh\\n/bin/cat {R}\\n' > 0/cat && chmod +x 0/cat && echo x | "
    "xargs -I@ --process-slot-var=PATH cat README.md",
    "env -u X timeout 5 nice cat {R}", "timeout -s KILL 5 cat {R}", "timeout --foreground 5 head {R}", "nice -5 cat {R}",
    "nice -n5 -- cat {R}", "stdbuf -oL -eL cat {R}", "env -S 'cat {R}'", "env --split-string='cat {R}'", "env -- cat {R}",
    "env --chdir={DD} cat {BR}", "env -C{DD} cat {BR}", "nohup -- cat {R} && cat nohup.out", "time -p cat {R}",
    "timeout 5 env nice stdbuf -o0 cat {R}", "env X=1 Y=2 cat {R}", "env -i PATH=/usr/bin cat {R}", "nice env cat {R}",
    "timeout 5s xargs -a {R} echo", "env -C {DD} -- head -c 300 {BR}",
    "git -c include.path={R} config --list", "git -c include.path={R} config --get default.aws_secret_access_key",
    "git config --list --includes --file {R}", "git config -f {R} --list", "git config --file={R} --get-regexp .",
    "git config --list --file=- < {R}", "git config --list --blob=HEAD:{R}", "git --git-dir={DD} log",
    "git --work-tree={DD} diff --no-index {BR} README.md", "git -C {DD} diff --no-index {BR} /dev/null",
    "git diff --no-index /dev/null {R}", "git diff --no-index --word-diff {R} README.md", "GIT_DIR={DD} git log",
    "git -c core.pager='cat {R}' log -1", "git --no-pager log -1 --format=%B", "git grep --no-index -h C -- {R}",
    "git -c alias.x='!cat {R}' x", "git -c core.attributesFile={R} check-attr -a README.md",
    "git -c core.excludesFile={R} status --ignored", "git check-ignore -v --no-index --stdin < {R}", "git hash-object {R}",
    "git apply --check {R}", "git apply -v --stat {R}", "git am {R}", "git notes add -F {R} && git notes show",
    "git commit -q --allow-empty --file={R} && git log -1 --format=%B",
    "git commit -q --allow-empty -F - < {R} && git log -1 --format=%B", "git tag -a t2 -F {R} && git tag -n9",
    "git log --format=%H --stdin < {R}", "git -c blame.ignoreRevsFile={R} blame README.md",
    "git blame --ignore-revs-file={R} README.md", "git stash push -q -- {R}", "git add -f {R} && git diff --cached",
    "GIT_CONFIG_GLOBAL={R} git config --global --list", "git --config-env=include.path=HOME config --list",
    "GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=include.path GIT_CONFIG_VALUE_0={R} git config --list",
    "git diff --no-index --output=/dev/stdout README.md {R}", "git -c diff.noprefix=true diff --no-index {R} README.md",
    "git log --no-walk --format=%B -F", "git grep -h -f - -e C < {R}", "git rev-parse --sq-quote \"$(cat {R})\"",
    "sed '1e cat {R}' README.md", "sed -e '$r {R}' README.md", "sed 'R {R}' README.md", "sed -s -n p README.md {R}",
    "sed -n -f /dev/stdin README.md <<< 'r {R}'", "sed -z p {R}", "sed -E -n '/./p' {R}", "sed --separate -n p {R}",
    "sed -n --expression=p -- {R}", "sed -n '1{{r {R}\n}}' README.md", "sed -n 'p;r {R}' README.md",
    "awk 'BEGIN{{while((getline l < \"{R}\")>0) print l}}'", "awk '{{print}}' FS=: {R}",
    "awk -v f={R} 'BEGIN{{while((getline l < f)>0) print l}}'", "awk 'BEGIN{{system(\"cat {R}\")}}'",
    "awk 'BEGIN{{\"cat {R}\" | getline l; print l}}'", "awk 1 README.md {R}", "awk -f /dev/stdin {R} <<< 1",
    "awk 'BEGIN{{ARGV[1]=\"{R}\"}} 1' README.md", "awk 'BEGIN{{ARGV[ARGC++]=\"{R}\"}} 1'", "awk -e 1 -- {R}",
    "awk '{{print > \"/dev/stdout\"}}' {R}", "awk '1' < {R}", "awk 'BEGIN{{getline < \"{R}\"; print}}'",
    "sort -m -o /dev/stdout {R}", "sort --files0-from=- < <(printf '%s\\0' {R})", "sort -u {R} | tee /dev/stderr",
    "sort -k1 -- {R}", "tee < {R}", "tee /dev/null < {R}", "dd if={R}", "dd if={R} status=none", "dd if={R} of=/dev/stdout",
    "cp -t {T} {R} && cat {T}/{BR}", "cp --target-directory {T} {R} && cat {T}/{BR}", "install -m 644 {R} {T}/i && cat {T}/i",
    "ln -s {R} {T}/l && cat {T}/l", "cp -L {R} rc2 && cat rc2", "tar -C {DD} -cf - {BR} | tar -xOf -",
    "tar cf - {R} | tar xOf -", "tar --create --file=- {R} | tar -xO", "tar -czf {T}/s.tgz {R} && tar -xzOf {T}/s.tgz",
    "zip -q {T}/s.zip {R} && unzip -p {T}/s.zip", "zip -q - {R} | cat", "zip -qr {T}/d.zip {D} && unzip -p {T}/d.zip",
    "unzip -p {R}", "zipinfo {R}", "gzip -c {R} | gunzip", "bzip2 -c {R} | bzip2 -dc", "xz -c {R} | xz -dc",
    "split -n 1 {R} {T}/sp && cat {T}/sp*", "base64 -w0 < {R}", "rev < {R}", "zip -q {T}/z.zip -@ <<< {R} && unzip -p {T}/z.zip",
    "tar -cf - -T - <<< {R} | tar -xOf -", "tar -cf - --files-from=<(echo {R}) | tar -xOf -",
    "jq -n 'input' {R}", "jq -R -n 'inputs' {R}", "jq --slurpfile a {R} -n '$a'", "jq -Rn --rawfile a {R} '$a'",
    "jq -n -L {DD} 'include \"{BR}\"; .'", "jq -r . < {R}", "jq --raw-input --slurp . -- {R}", "jq -R . {PD}/{PR}",
    "jq -n --rawfile a {PD}/{PR} '$a'", "jq -R . --args {R}",
    "cc -x c -E {R}", "cc -E -x c - < {R}", "cc @{R}", "gcc -x c -E -P {R}", "cpp {R}", "cmake -E cat {R}",
    "cmake -E env cat {R}", "cmake -E chdir {DD} cat {BR}", "cmake -E sha256sum {R}", "cmake -P {R}",
    "cmake -E tar cf - {R} | tar -xOf -", "as -a {R} -o /tmp/a.o", "ar p {R}", "strings -a {R}",
    "python3 -c 'print(open(\"{R}\").read())'", "python3 -c 'import sys; print(open(sys.argv[1]).read())' {R}",
    "node -e 'console.log(require(\"fs\").readFileSync(\"{R}\", \"utf8\"))'",
    "node -p 'require(\"fs\").readFileSync(process.argv[1], \"utf8\")' {R}", "perl -ne print {R}", "perl -pe 1 {R}",
    "python3 -m base64 {R}", "python3 -m json.tool {R}", "make -f {R}", "make -C {DD} -f {BR}", "make --file={R}",
    "make -f - <<< $'x:\\n\\tcat {R}'", "make -f /dev/stdin <<< $'x:\\n\\t@cat {R}'", "make -I {DD} -f /dev/null",
    "cd src && cd .. && cd .. && cat {PR}", "cd {PD} && cd - >/dev/null && cd {PD} && cat {PR}",
    "cd / && cd {PD} && cat ./{PR}", "cd {PD}; cat {PR}", "cd ~; cd proj; cd ..; cat {PR}",
    "ln -s {DD} k && cat k/{BR}", "ln -sf {R} rr && cat rr", "ln -s {PD} k2 && cd k2 && cat {PR}",
    "mkdir -p a && ln -s ../{UPW} a/s && cat a/s/{BR}", "ln -s .. up && cat up/{PR}", "ln -s ~ hm && cat hm/{PR}",
    "ln -s {DD} k && tar -chf - k | tar -xOf -", "ln -s {DD} k && grep -h . k/{BR}", "cp -s {R} sl && cat sl",
    "ln -s {R} sl && head sl", "ln -sT {DD} k && cat k/{BR}", "ln -sr {DD} k && cat k/{BR}",
    "mkdir -p t && cd t && ln -s ../.. u && cat u/{PR}", "ln -s {PD} k3; cat k3/{PR}", "ln -s {PD} k4 || true; cat k4/{PR}",
    "for i in 1 2; do cd ..; done; cat home/{SR}", "cd src; while true; do cd ..; [ -e home ] && break; done; head home/{SR}",
    "for d in .. ..; do cd .. && ls >/dev/null; done; cat home/{SR}", "for i in 1; do cd ..; done; cat {SR}",
    "shopt -s globstar; cat ~/**/{BR}", "shopt -s globstar; head -n 3 {PD}/**/{BR}", "shopt -s nullglob; cat {PD}/*/{BR}",
    "shopt -s failglob; cat ~/.s*/{BR}", "shopt -s globstar; for f in ~/**/{BR}; do cat $f; done",
]
WIDE_WRITERS = [
    "sed -n 'w {W}' README.md", "sed 's/b/B/w {W}' notes.txt", "sed -e '1w {W}' README.md", "sed -i~ s/b/B/ {W}",
    "sed -ni p {W}", "sed -Ei s/b/B/ {W}", "sed -si s/b/B/ README.md {W}", "sed -i -- s/b/B/ {W}", "sed -e s/b/B/ -i {W}",
    "sed --in-place -s s/b/B/ {W}", "sed -i -e '$a PWNED' {W}", "sed -i 1i\\PWNED {W}", "sed -n '/./w {W}' README.md",
    "sed -i -f /dev/stdin {W} <<< s/b/B/", "sed -i'' -e s/b/B/ {W}", "sed -ibak s/b/B/ {W}", "sed -c -i s/b/B/ {W}",
    "sed --follow-symlinks -i s/b/B/ {W}", "sed -n 'W {W}' README.md", "sed '1e touch {W}' README.md",
    "awk '{{print > \"{W}\"}}' README.md", "awk 'BEGIN{{print \"PWNED\" >> \"{W}\"}}'",
    "awk '{{print | \"cat > {W}\"}}' README.md", "awk -i inplace 1 {W}", "awk -v f={W} 'BEGIN{{print 1 > f}}'",
    "awk 'BEGIN{{printf \"x\" > ARGV[1]}}' {W}", "awk -v out={W} '{{print > out}}' README.md",
    "awk 'BEGIN{{system(\"touch {W}\")}}'", "awk -f /dev/stdin README.md <<< '{{print > \"{W}\"}}'",
    "sort -uo {W} notes.txt", "sort -no{W} notes.txt", "sort -ro {W} notes.txt", "sort -m -o {W} notes.txt",
    "sort notes.txt -o {W}", "sort --outp={W} notes.txt", "sort --out {W} notes.txt", "tee -p {W} < README.md",
    "tee --append {W} < README.md", "echo PWNED | tee /dev/null {W}", "echo PWNED | tee -i {W}",
    "echo PWNED | tee --output-error=warn {W}", "dd if=README.md of={W}", "dd of={W} <<< PWNED",
    "echo PWNED | dd of={W} oflag=append conv=notrunc", "dd if=README.md of={W} status=none",
    "cp -t{WD} README.md", "cp -vt {WD} README.md", "cp -rt {WD} src", "mv -ft {WD} notes.txt", "mv -vt{WD} notes.txt",
    "ln -sft {WD} README.md", "ln -rst {WD} README.md", "install -t {WD} README.md", "install README.md {W}",
    "install -D README.md {W}", "install -d {WD}/x", "cp -ut {WD} README.md", "cp --target {WD} README.md",
    "mv --targ={WD} notes.txt", "ln --target-dir {WD} README.md", "cp --no-target-directory README.md {W}",
    "cp -T README.md {W}", "mv -T notes.txt {W}", "cp --backup --suffix=x README.md {W}", "cp -S .bak -b README.md {W}",
    "ln --suffix=.b -b -s README.md {W}", "mkdir -p d && cp -rT -b -S {SFX} src d", "cp -b -S {SFX} README.md notes.txt",
    "mv -b --suffix={SFX} README.md notes.txt", "ln -sb -S {SFX} README.md notes.txt",
    "cp --backup=simple --suffix={SFX} README.md notes.txt", "cp -b --suffix={SFX} -T README.md notes.txt",
    "mkdir -p d && mv -T -b -S {SFX} src d", "cp -a --parents src/a.py {WD}", "cp -l README.md {W}",
    "cp --link README.md {W}", "cp -n README.md {W}", "cp --update README.md {W}", "ln -f README.md {W}", "ln -P README.md {W}",
    "ln -L README.md {W}", "mv -u notes.txt {W}", "cp -x README.md {W}", "cp --remove-destination README.md {W}",
    "tar -xf ws.tar --directory {WD}", "tar xf ws.tar -C{WD}", "tar -xvf ws.tar -C {WD}", "tar xfC ws.tar {WD}",
    "tar -xC{WD} -f ws.tar", "tar --extract --file=ws.tar --directory={WD}", "tar -x --file ws.tar -C {WD}",
    "tar -cf {W} -C src .", "tar --create --file={W} README.md", "tar cf {W} README.md", "tar -czf {W} README.md",
    "tar -xf ws.tar --transform='s,^,{WREL},'", "tar -xf ws.tar --xform 's|notes.txt|{WREL}|'",
    "tar -xf ws.tar --to-command='cat > {W}'", "tar -xf ws.tar -O > {W}", "tar -xf hk.tar", "tar -xf hk.tar -C {WD}",
    "tar -xf hk.tar --strip-components=1 -C {WD}", "tar -xkf hk.tar -C .git", "tar -xf hk.tar --one-top-level=.git",
    "tar -xf abs.tar", "tar -xPf abs.tar", "tar -xf abs.tar --absolute-names", "tar -xf hk.tar --overwrite -C .git",
    "tar -xf hk.tar --recursive-unlink -C .git", "tar -xf hk.tar -C .git --transform='s,^,,'", "tar -xvvf hk.tar -C.git",
    "unzip -o hk.zip -d {WD}", "unzip -d{WD} hk.zip", "unzip -qo hk.zip -x nothing -d {WD}", "unzip hk.zip",
    "unzip -o hk.zip -d .git", "unzip -j -o hk.zip -d {WD}", "unzip -: -o abs.zip", "unzip -o abs.zip", "zip {W} README.md",
    "zip -qr {W} src", "zip -qj {WD}/x.zip README.md", "zip -q --out {W} ws.zip", "zip -qO {W} ws.zip",
    "zip -qb {WD} x.zip README.md", "zip -q -T -TT 'touch {W}' x.zip README.md", "zip -qm {W} notes.txt",
    "gzip -c README.md > {W}", "gzip -S {SFX} notes.txt", "bzip2 -k notes.txt && mv notes.txt.bz2 {W}",
    "xz -k -S {SFX} notes.txt", "split -b 3 --additional-suffix={SFX} README.md x", "split -b 3 README.md {WD}/",
    "truncate --size=0 {W}", "make -f /dev/stdin <<< $'x:\\n\\ttouch {W}'", "make -C {WD}", "make -o {W} -f /dev/null",
    "make --eval='x:; touch {W}' x", "python3 -c 'open(\"{W}\", \"w\").write(\"PWNED\")'",
    "node -e 'require(\"fs\").writeFileSync(\"{W}\", \"PWNED\")'", "perl -i -pe s/b/B/ {W}",
    "git config core.hooksPath {WD}", "git config --local core.fsmonitor 'touch {W}'", "git config --local alias.x '!touch {W}'",
    "git -c core.hooksPath={WD} commit -q --allow-empty -m x", "git format-patch -1 -o {WD}",
    "git format-patch -1 --output-directory={WD}", "git format-patch -1 --output={W}", "git archive -o {W} HEAD",
    "git bundle create {W} HEAD", "git notes add -m x && git notes show > {W}", "git worktree add -q --detach {WD}/wt2",
    "git clone -q . {WD}/c", "git init -q --separate-git-dir={WD}/sg x", "git --git-dir={WD} init -q",
    "GIT_DIR={WD} git init -q", "git -C {WD} init -q --bare", "git stash show -p > {W}",
    "git checkout-index -a --prefix={WD}/", "git checkout-index --prefix={WREL} README.md",
    "git apply --directory={WREL} fix.patch", "git apply --unsafe-paths --directory={WREL} fix.patch",
    "git am --directory={WREL} fix.patch", "git diff HEAD > {W}", "git log -p --output={W}",
    "git -c core.hooksPath=. commit -q --allow-empty -m x", "git tag -F README.md t3 && git tag -n > {W}",
    "ln -s {WD} k && echo PWNED > k/x", "ln -s {WD} k && cp README.md k/", "ln -sf {W} rl && echo PWNED >> rl",
    "ln -s .git/hooks h && echo PWNED > h/pre-push", "ln -s ~ hm && cp README.md hm/.profile",
    "mkdir -p a && ln -s ../{UPW} a/s && touch a/s/x", "ln -s {WD} k && tar -xf ws.tar -C k",
    "ln -s {WD} k && sort -o k/x notes.txt",
    "ln -s {WD} k; cd k && touch x", "cd src && cd .. && cd .git && echo PWNED > hooks/pre-push",
    "cd .git; cd hooks; echo PWNED > pre-push", "cd ~ && cd proj/.git/hooks && cp ../../README.md post-merge",
    "cd {WD} && cd . && touch x", "mkdir -p n && cd n && ln -s ../.git g && echo PWNED > g/hooks/pre-push",
    "cp -s {W} sl2 && echo PWNED >> sl2", "ln -s {WD} k || true; echo PWNED > k/x", "ln -s {WD} k; cp -t k README.md",
    "shopt -s globstar; echo PWNED > .git/**/pre-push", "shopt -s globstar; cp README.md ~/**/hooks/",
    "pip show --log {W} 'x;echo PWNED'", "pip list --log={W}", "pip freeze --log-file {W}", "pip show x --cache-dir {WD}",
    "pip3 list --local-log {W}", "pip show --log-f={W} pip", "npm ls --logs-dir {WD}", "npm ls --cache {WD}",
    "npm ls --loglevel silly --logs-dir={WD}", "npm outdated --userconfig {W}", "npm --version --logs-dir {WD}",
    "cc -x c -c /dev/null -o {W}", "gcc -x c -c /dev/null -o{W}", "g++ -x c++ -c /dev/null -o {W}",
    "as -o {W} /dev/null", "ld -r -o {W} /dev/null", "ar rc {W} README.md", "ar q {W} notes.txt", "ranlib {W}",
    "cmake -E copy README.md {W}", "cmake -E touch {W}", "cmake -E make_directory {WD}/x",
    "cmake -E create_symlink README.md {W}", "cmake -E rename notes.txt {W}", "cmake -E env touch {W}",
    "cmake -E chdir {WD} touch x", "cmake -E time touch {W}", "cmake -E tar cf {W} README.md",
    "printf '0 string x X\\n' > m && cd {WD} && file -C -m ~/proj/m", "file -C -m README.md",
    "cc -x c -c /dev/null -o /tmp/x.o -MD -MF {W}", "cc -x c -c /dev/null -o /tmp/y.o -save-temps -dumpdir {WD}/",
    "cc -x c -c /dev/null -o /tmp/z.o -aux-info {W}", "cc -x c -c /dev/null -o /tmp/z.o -fdump-tree-original={W}",
    "cc -x c /dev/null -o /tmp/p -Wl,-Map={W}", "cc -x c /dev/null -o /tmp/p -Xlinker -Map -Xlinker {W}",
    "cc -x c -c /dev/null -o /tmp/z.o -Wp,-MD,{W}", "cc -x c -c /dev/null -o /tmp/z.o -Wa,-adhln={W}",
    "cd {WD} && cc -x c -c ~/proj/README.md", "cmake -S . -B {WD}/b",
]
# kubectl-readonly: kubectl's own file options (kubeconfig, templates, logs, caches).
KUBECTL_LINES = [
    "kubectl --kubeconfig={R} get pods", "kubectl --kubeconfig {R} config view", "kubectl config view --kubeconfig={R}",
    "kubectl config view", "kubectl config view -o jsonpath='{{.users[*].user.token}}'", "kubectl config view --flatten",
    "kubectl config view --minify", "kubectl config view --raw", "kubectl config view -o json", "kubectl config view -o yaml",
    "kubectl get pods -o go-template-file={R}", "kubectl get pods --template={R}", "kubectl get -f {R}",
    "kubectl --certificate-authority={R} get pods", "kubectl --client-key={R} get pods", "kubectl get pods > {W}",
    "kubectl get pods -o yaml | tee {W}", "kubectl get pods --cache-dir={WD}",
    "kubectl get pods --log-file={W} --logtostderr=false",
    "kubectl version --client -o json > {W}", "KUBECONFIG={R} kubectl config view",
    "kubectl config view --kubeconfig=$KUBECONFIG",
    "cat $KUBECONFIG", "cat \"$KUBECONFIG\"", "kubectl get pods -v=9", "kubectl --kubeconfig=/dev/stdin config view < {R}",
    "kubectl config view --kubeconfig=/proc/self/fd/0 < {R}", "kubectl config view --kubeconfig=$HOME/.kube/config",
    "kubectl version --client --kubeconfig={R}", "timeout 5 kubectl config view", "xargs kubectl config view <<< --raw",
    "kubectl get pods --log_file={W}", "kubectl get pods --log-dir={WD}", "kubectl get pods --profile-output={W} --profile=cpu",
    "kubectl config view -o go-template='{{{{range .users}}}}{{{{.user.token}}}}{{{{end}}}}'", "kubectl config get-contexts",
    "kubectl config view --raw=true", "kubectl config view --flatten=1", "kubectl config view -R --flatten",
    "echo --raw | xargs kubectl config view", "kubectl config view $(echo --raw)", "kubectl config view \"--ra\"w",
    "kubectl config view --raw\\=true", "timeout 5 xargs -a {R} kubectl get pods", "kubectl get pods --token=\"$(cat {R})\"",
    "kubectl config view --output=jsonpath-file={R}", "kubectl get pods -o=custom-columns-file={R}",
    "kubectl explain pods --kubeconfig {R}", "kubectl api-resources --cache-dir={WD}", "kubectl config current-context > {W}",
    "kubectl config view -o jsonpath-file={R}", "kubectl config view -o=go-template-file={R}",
    "kubectl config view --profile=cpu --profile-output {W}", "kubectl get pods --profile=mem --profile-output={W}",
    "kubectl config view | grep -i token", "kubectl config view --minify -o json | jq .", "kubectl auth whoami -o yaml",
    "kubectl version > /dev/null 2> {W}", "kubectl logs --kubeconfig={R} x", "kubectl top pods --kubeconfig={R}",
]
SUFFIXES = ["/../../.bashrc", "/../.git/hooks/pre-push", "/../../outside/x", "/../hooks/post-merge", ".orig", "/x"]
RELATIVE_TARGETS = [".git/hooks/post-checkout", "../.bashrc", "../outside/x", ".git/config", "a/../.git/hooks/x",
                    "src/../../.profile", "/.git/hooks/x"]

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
    def __init__(self, rng: random.Random, sandbox_home: str, target: str = "default", wide: bool = False) -> None:
        self.rng = rng
        self.home = sandbox_home
        self.secrets = list(TARGETS[target].secrets)
        # the first campaigns' families alone (the fixed seeds of test_policy_fuzz.py), or
        # those with this round's wider ones, and kubectl's own for kubectl-readonly
        self.readers = READERS + WIDE_READERS * 2 if wide else READERS
        self.writers = WRITERS + WIDE_WRITERS * 2 if wide else WRITERS
        if wide and target == "kubectl-readonly":
            self.readers = self.readers + KUBECTL_LINES * 6

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
            template = r.choice(self.readers)
        else:
            template = r.choice(self.writers)
        secret = r.choice(self.secrets)
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
            "SR": secret,
            "SFX": r.choice(SUFFIXES),
            "WREL": r.choice(RELATIVE_TARGETS),
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


def generated(seed: int, count: int, home: str, scratch: str, target: str = "default",
              wide: bool = False) -> list[list[str]]:
    rng = random.Random(seed)
    gen = Generator(rng, home, target, wide)
    gen.scratch_name = scratch  # type: ignore[attr-defined]
    return [gen.episode() for _ in range(count)]


# Lines whose leak is a documented gap (docs/security-model.md "Honest limits", "Known open
# gaps"): a recursive reader below an allowed directory, names xargs reads at run time, code
# an allowed interpreter runs in-process (python3 -c, node -e, a makefile's recipes), the
# words of a here-string.
KNOWN_GAP_MARKS = ("grep -r", "rg ", "cp -r", "cp -a", "tar -cf - ~", "tar -cf - ..", "tar -cf - uplink",
                   "find ", "xargs", "git add -A", "cdir", "zip -qr", "python3 -c", "node -e", "node -p",
                   "perl -", "make -f -", "make -f /dev/stdin", "<<< ")


def known_gap(line: str) -> bool:
    return any(mark in line for mark in KNOWN_GAP_MARKS)


def campaign(seed: int, count: int, *, target: str = "default", wide: bool = False,
             verbose: bool = False) -> tuple[int, int, list[tuple[list[str], list[Outcome]]]]:
    """(lines decided, lines run, episodes with a problem)."""
    box = Sandbox(target)
    decided = ran = 0
    hits = []
    try:
        for lines in generated(seed, count, str(box.home), str(box.scratch), target, wide):
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

    # python3 -m tests.policy_fuzz SEED COUNT [PROFILE [wide]]
    first, number = int(sys.argv[1]), int(sys.argv[2])
    name = sys.argv[3] if len(sys.argv) > 3 else "default"
    d, n, found = campaign(first, number, target=name, wide="wide" in sys.argv[4:], verbose=True)
    print(f"decided {d} ran {n} episodes-with-problems {len(found)}")
