"""Shortcuts of the decision, each held to the full checks it skips:

- the engine skips its last program-specific checks (sed's scripts, write targets, names read
  elsewhere, mv/cp, links made, patches, find -exec, wrappers) with one set test for a
  program none of them names (ls, head, grep ...), and Rules.verdict does not ask
  Rules.problem about a program no hazard table names when no variable is assigned: whole
  decisions with the shortcuts on and off, on generated lines over the programs those checks
  name and ordinary ones; `never_writes` against `write_targets` on generated arguments;
- git's words skip its write targets and pathspec reading when the quick looks those start
  with say there is nothing (writes.git_writes_nothing, pathspecs.names_nothing);
- sed's quick look (scripts.sed_may_find) against the full hazard reading."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from agentsh.parse import Word
from agentsh.policy import Policy, engine, writes
from agentsh.policy.wrappers import WRAPPERS
from agentsh.policy.write_table import OUTPUT_OPTIONS, WRITERS
from agentsh.profile import Host, load_profile

from .conftest import policy_in

# Programs the later checks name, programs none does, and names the compilers' reader knows.
SPECIAL = ["sed", "gsed", "mv", "cp", "tar", "patch", "git", "find", "env", "xargs", "nice", "timeout", "ln",
           "unzip", "sha256sum", "md5sum", "gzip", "xz", "tee", "sort", "touch", "mkdir", "rm", "install", "dd",
           "split", "chmod", "gcc", "cc", "c++", "ld", "as", "make", "time"]
ORDINARY = ["head", "tail", "ls", "grep", "cat", "wc", "diff", "cut", "tr", "uniq", "stat", "du", "file", "od",
            "nl", "echo", "printf", "basename", "dirname", "realpath", "true", "python3", "awk", "cmp"]
WORDS = ["-n", "5", "-la", "-o", "out.txt", "-t", "dir", "-C", "secrets", "-i", "-i.bak", "--in-place",
         "-r", "-R", "-a", "-s", "-f", "x.tar", "-xf", "-cf", "a.txt", "src/app.py", "link", "link/id",
         "secrets/key", "-exec", "cat", "{}", ";", "+", "-delete", "--output=o", "-p1", "-d", "s/a/b/",
         "s/a/b/w secrets/key", "1r secrets/key", "-e", "--", "-c", "--check", "sums", "-S", ".bak",
         "--suffix=x", "apply", "am", "mv", "diff", "status", "-m", "x", "init", "/tmp/x", "~/.ssh/k",
         "--target-directory=dir", "-T", "-exec=x", "--files-from=list", "HEAD~1"]


class Everything:
    """A set that holds every name: the shortcut's set test never skips anything."""

    def __contains__(self, name: object) -> bool:
        return True


class Loud(dict):  # type: ignore[type-arg]
    """Rules._no_hazards that never says a program is quiet: Rules.problem is always asked."""

    def get(self, key: object, default: object = None) -> bool:
        return False


@pytest.fixture()
def scratch(tmp_path: Path) -> tuple[Path, Path, Path]:
    work, home, scratch = tmp_path / "work", tmp_path / "home", tmp_path / "scratch"
    for d in (work / "src", work / "secrets", work / "dir", home / ".ssh", scratch):
        d.mkdir(parents=True)
    for name in ("a.txt", "src/app.py", "secrets/key", "sums", "list", "x.tar"):
        (work / name).write_text("x\n")
    (work / "link").symlink_to(home / ".ssh")
    return work, home, scratch


def profile_for(names: list[str]) -> str:
    present = [n for n in dict.fromkeys(names) if shutil.which(n, path="/usr/local/bin:/usr/bin:/bin")
               or n in ("echo", "printf", "true", "time")]
    return ("agentsh: 1\nname: fast\nextends: [default]\n"
            'read:\n  deny: ["{workspace}/secrets"]\n'
            "commands:\n  - name: any\n    run: " + json.dumps(present) + "\n    decision: allow\n")


def test_never_writes_is_write_targets_empty() -> None:
    for name in (*WRITERS, *OUTPUT_OPTIONS, "git", "gcc", "x86_64-linux-gnu-gcc-12", "clang", "ld.bfd", "as"):
        assert not writes.never_writes(name), name
    rng = random.Random(11)
    names = [*SPECIAL, *ORDINARY, *WRITERS, *OUTPUT_OPTIONS, "gcc-12", "python3.11", "cc1", "g++"]
    checked = 0
    for _ in range(20000):
        name = rng.choice(names)
        args = tuple(Word(w, w) if rng.random() > 0.05 else Word("$x", None, "expansion")
                     for w in rng.choices(WORDS, k=rng.randint(0, 5)))
        if writes.never_writes(name):
            assert writes.write_targets(name, args) == [], (name, args)
            checked += 1
    assert checked > 3000


def test_shortcut_decides_as_the_full_checks(scratch: tuple[Path, Path, Path],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    work, home, tmp = scratch
    policy = policy_in(work, home, tmp, profile_for(SPECIAL + ORDINARY))
    rng = random.Random(7)
    lines = []
    for _ in range(2500):
        commands = []
        for _ in range(rng.choice((1, 1, 2))):
            name = rng.choice(SPECIAL if rng.random() < 0.5 else ORDINARY)
            words = rng.choices(WORDS, k=rng.randint(0, 5))
            prefix = rng.choice(["", "", "", "", "FOO=1 ", "PAGER=cat ", "IFS= ", "LD_PRELOAD=x "])
            commands.append(prefix + " ".join([name, *("'" + w + "'" if " " in w or w in (";", "{}") else w
                                                       for w in words)]))
        lines.append(" | ".join(commands))
    fast = [policy.decide(line) for line in lines]
    monkeypatch.setattr(engine, "_NAMED_OR_MOVED", Everything())
    monkeypatch.setattr(engine, "_LINKS_PATCHES_WRAPPERS", Everything())
    monkeypatch.setattr(engine, "never_writes", lambda name: False)
    monkeypatch.setattr(policy.rules, "_no_hazards", Loud())
    monkeypatch.setattr(engine, "git_writes_nothing", lambda args: False)
    full = [policy.decide(line) for line in lines]
    assert fast == full
    kinds = {d.decision for d in full}
    denied_by_paths = sum(any(v.rule == "read-write-roots" for v in d.verdicts) for d in full)
    assert kinds >= {"allow", "deny"} and denied_by_paths > 100  # the lines reached the path checks


def test_sets_name_every_program_the_later_checks_name() -> None:
    """A program the later checks name is never skipped: the sets hold the tables they read."""
    from agentsh.policy import madelinks

    assert set(engine._NAMED_ELSEWHERE) | {"sed", "gsed", "mv", "cp"} <= engine._NAMED_OR_MOVED
    assert set(madelinks.MAKERS) | {"patch", "git", "find"} | set(WRAPPERS) <= engine._LINKS_PATCHES_WRAPPERS


SED_WORDS = ["-n", "-E", "-nE", "-r", "-s", "-u", "-z", "-i", "-i.bak", "-e", "-f", "-l", "5", "-nf", "-ne",
             "--", "-", "+", "+E", "+n", "--expression=p", "--file=x", "--quiet", "-b", "1,40p", "1d", "$d", "p",
             "5q", "1~2p", "2,+3p", "1!G;h;$!d", "{p;q}", "=", "1e id", "w out", "s/a/b/", "s/a/b/w x", "r x",
             "R x", "a text", "y/ab/ba/", "/x/p", "#c", "l", "L", "e", "1,40pe", "src/app.py", "a.txt", "é",
             "1\uff12p", "\t1p", "1p;\n2p", "w", "1W", "pe", "+f", "+nf", "-nEf", "-Ee"]


def test_sed_quick_look_decides_as_the_full_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    """sed's quick look (scripts.sed_may_find) against the full reading: on 30,000 generated
    argument lists, whenever it says nothing can be found, the full reading finds no hazard and
    no word is dynamic; and Rules.problem answers the same with the quick look and without."""
    from agentsh.policy import hazards, scripts
    from agentsh.policy.resolve import resolve_command

    spec = hazards.spec_for("sed")[0]
    assert spec.quick is scripts.sed_may_find
    rng = random.Random(5)
    full = spec._replace(quick=None)
    policy = policy_for_sed()
    program = resolve_command("sed", policy.profile.path, "/")
    rule = policy.profile.rules[-1]
    skipped = 0
    for _ in range(30000):
        args = tuple(Word("$x", None, "expansion") if rng.random() < 0.03 else Word(w, w)
                     for w in rng.choices(SED_WORDS, k=rng.randint(0, 5)))
        if not scripts.sed_may_find(args):
            skipped += 1
            assert hazards.find_hazards(("sed", "sed"), args, [full]) == [], args
            assert all(w.value is not None for w in args)
        quick = policy.rules.problem(program, "sed", args, (), rule, ("...",) * len(args))
        monkeypatch.setitem(hazards._SPECS, "sed", full)
        assert policy.rules.problem(program, "sed", args, (), rule, ("...",) * len(args)) == quick, args
        monkeypatch.setitem(hazards._SPECS, "sed", spec)
    assert 3000 < skipped < 27000, skipped


def policy_for_sed() -> Policy:
    host = Host(cwd="/", home="/nonexistent", config_home="/nonexistent/.config")
    return Policy(load_profile(None, host), host)


GIT_WORDS = ["status", "diff", "log", "show", "mv", "init", "worktree", "add", "apply", "am", "commit", "-m", "x",
             "--", "-o", "-ox", "--output=out", "--output", "--out=o", "--output-directory=d", "-p", "-C", "dir",
             "--oneline", "-n", "5", "HEAD~1", "HEAD:secret", ":(top)x", ":!x", "*.py", "a?", "[ab]", "src/",
             "-c", "a=b", "--no-pager", "--stat", "-s", "-vo", "--template=t", "-b", "br", "list"]


def test_git_quick_looks_answer_as_the_readers(scratch: tuple[Path, Path, Path]) -> None:
    """Where git_writes_nothing says so, write_targets("git", ...) is []; where names_nothing
    says so, pathspecs.problem is ''; the engine's git shortcut skips nothing else."""
    from agentsh.policy import pathspecs

    assert engine._NAMED_ELSEWHERE["git"] == (pathspecs.problem,) and WRITERS.get("git") is None
    work, home, tmp = scratch
    policy = policy_in(work, home, tmp, profile_for(["git"]))
    rng = random.Random(3)
    quiet = named = 0
    for _ in range(30000):
        args = tuple(Word("$x", None, "expansion") if rng.random() < 0.03 else Word(w, w)
                     for w in rng.choices(GIT_WORDS, k=rng.randint(0, 5)))
        if writes.git_writes_nothing(args):
            quiet += 1
            assert writes.write_targets("git", args) == [], args
        if pathspecs.names_nothing(args):
            named += 1
            assert pathspecs.problem("git", args, [str(work)], policy.paths, {}) == "", args
    assert 5000 < quiet < 28000 and 5000 < named < 28000, (quiet, named)
