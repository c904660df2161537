"""A writer's targets are found the way getopt reads its options: clusters (`cp -rt DIR`,
`tar -czf FILE`, `sort -uo FILE`), values glued or in the next word, abbreviated long options
(`--outp=`), options whose value is no operand (`cp A DEST -S .bak`), tar's dashless first
word; compressors and mktemp write too, and so does a writer that names no place (tar
extracting, `ln -s TARGET`, `split FILE`), in the working directory.  Each line below was
allowed before, and wrote into a denied write root (which Landlock leaves to the static
check) or outside the write roots."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from agentsh.parse import Word
from agentsh.policy import Policy
from agentsh.policy.writes import write_targets
from agentsh.profile import Host, load_profile

Run = Callable[..., subprocess.CompletedProcess[str]]
SECRET = "SECRET-KEY-BYTES"


@pytest.fixture
def git_workspace(workspace: Path, home: Path) -> Path:
    """A workspace with .git/hooks and .git/config (the default profile's denied write roots),
    an archive with a member planted in `.`, and one with an absolute member in ~/.ssh."""
    (workspace / ".git" / "hooks").mkdir(parents=True)
    (workspace / ".git" / "config").write_text("[core]\n")
    (workspace / "src").mkdir()
    (workspace / "src" / "app.py").write_text("print(1)\n")
    (workspace / "pre-commit").write_text("#!/bin/sh\necho planted\n")
    with tarfile.open(workspace / "hook.tar", "w") as archive:
        archive.add(workspace / "pre-commit", arcname="pre-commit")
    with tarfile.open(workspace / "abs.tar", "w") as archive:
        archive.add(workspace / "pre-commit", arcname=str(home / ".ssh" / "planted"))
    (workspace / "pre-commit").unlink()
    return workspace


def _snapshot(*roots: Path) -> dict[str, tuple[int, bytes]]:
    """Every file and directory below the roots: mode and content."""
    out = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                path = Path(dirpath) / name
                out[str(path)] = (path.lstat().st_mode, b"" if path.is_dir() else path.read_bytes())
        out[str(root)] = (root.lstat().st_mode, b"")
    return out


@pytest.fixture
def default_policy(home: Path, git_workspace: Path) -> Policy:
    host = Host(cwd=str(git_workspace), home=str(home), config_home=str(home / ".config"))
    return Policy(load_profile(None, host), host)


@pytest.mark.parametrize("line", [
    "tar -czf .git/hooks/pre-commit src",  # -f at the end of a cluster
    "tar czf .git/hooks/pre-commit src",  # tar's old dashless first word
    "tar --create --fil=.git/hooks/pre-commit src",  # an abbreviated --file
    "tar -cg .git/hooks/pre-commit -f /dev/null src",  # the snapshot file is written
    "tar -cf /dev/null --volno-file=.git/hooks/pre-commit src",  # so is the volume number file
    "cp -vt .git/hooks README.md",  # -t inside a cluster
    "cp README.md --target=.git/hooks",  # an abbreviated --target-directory
    "cp README.md .git/hooks/pre-commit -S .bak",  # -S takes `.bak`: the destination is before it
    "sort -uo .git/hooks/pre-commit README.md",
    "sort --outp=.git/hooks/pre-commit README.md",
    "sort -T .git/hooks README.md",  # the temporary directory is written
    # less's log file (piped input, output a terminal; LESSSECURE from base turns it off)
    "printf '[core]' | less -F -o .git/config", "less -O.git/config README.md",
    "sed -i -es/core/x/ .git/config",  # the script is an option: no operand is the script
    "sed -i --expression=s/core/x/ .git/config",
    "gzip .git/config",  # writes .git/config.gz and deletes .git/config
    "xz -k .git/config",
    "mktemp .git/hooks/pre-commitXXX",
    "mktemp -p .git/hooks",
    "mktemp --tmpdir=.git/hooks x.XXX",
    "chmod --reference=README.md .git/config",  # no mode operand
    "chmod -w .git/config",  # the mode as an option
    "uniq README.md .git/hooks/pre-commit -f 1",  # -f takes 1: the output is before it
    "split README.md .git/hooks/x -l 1",
    "cd .git/hooks && ln -s ../../README.md",  # one operand: the link is made in .
    "cd .git/hooks && split -l 1 ../../README.md",  # writes ./xaa
    "cd .git/hooks && tar -xf ../../hook.tar",  # extracts into .
    "tar -xPf abs.tar",  # members with absolute names go where they say (~/.ssh/planted)
])
def test_writes_into_denied_roots_are_refused(line: str, default_policy: Policy, git_workspace: Path,
                                              home: Path, run_agentsh: Run) -> None:
    decision = default_policy.decide(line)
    assert decision.decision == "deny", line
    assert decision.refused[0].rule == "read-write-roots", decision.refused
    before = _snapshot(git_workspace / ".git", home / ".ssh")
    done = run_agentsh("-c", line, cwd=git_workspace)
    assert done.returncode == 126, done.stderr
    assert _snapshot(git_workspace / ".git", home / ".ssh") == before
    assert SECRET not in done.stdout + done.stderr


@pytest.fixture
def far_home_policy(tmp_path: Path, git_workspace: Path) -> Policy:
    """HOME outside every write root (the tests' own homes sit under /tmp, which is one)."""
    host = Host(cwd=str(git_workspace), home="/nonexistent-agentsh-home", config_home=str(tmp_path / "config"))
    return Policy(load_profile(None, host), host)


@pytest.mark.parametrize("line", [
    "tar -czf ~/x.tgz src", "cp -rt ~ src", "cp README.md ~/.bashrc -S .bak", "sort -uo ~/.bashrc README.md",
    "gzip ~/.bashrc", "bzip2 ~/.bashrc", "gunzip ~/x.gz", "mktemp ~/.bashrcXXX", "mktemp -p ~",
    "cd ~ && tar -xf /tmp/x.tar", "cd ~ && ln -s /tmp/evil", "cd ~ && split /etc/hostname",
    "uniq README.md ~/.bashrc -f 1", "chmod -x ~/.bashrc",
])
def test_writes_outside_the_write_roots_are_refused(line: str, far_home_policy: Policy) -> None:
    assert far_home_policy.decide(line).decision == "deny", line


@pytest.mark.parametrize("line", [
    "tar -xzf ~/Downloads/x.tgz", "tar -tzf ~/x.tgz", "tar xzf ~/x.tgz -C src", "tar -czf out.tgz src",
    "tar -xf hook.tar", "gzip -c ~/.bashrc", "gunzip -c ~/x.gz", "zcat ~/x.gz", "gzip -dc ~/x.gz",
    "xz -l ~/x.xz", "mktemp", "mktemp -d", "mktemp -t x.XXXX", "mktemp --tmpdir x.XXXX", "mktemp out.XXXX",
    "sed -i s/a/b/ README.md", "sed -i -e s/a/b/ -e s/c/d/ README.md", "sed -n 1p ~/.bashrc",
    "sort -o out.txt README.md", "sort -k2 -t, README.md", "cp -rt src README.md", "cp -t src ~/.bashrc", "cp ~/.bashrc .",
    "chmod -R u+x src", "chmod 644 README.md", "split -l 10 README.md part-", "ln -s README.md link",
    "ln -sf ~/.bashrc src/", "uniq -c README.md",
])
def test_ordinary_writers_are_allowed(line: str, far_home_policy: Policy) -> None:
    decision = far_home_policy.decide(line)
    assert decision.decision == "allow", decision.refused


@pytest.mark.skipif(shutil.which("time") is None, reason="GNU time is not installed")
@pytest.mark.parametrize("line", [
    "env time -f 'touch PWNED' -o .git/hooks/pre-commit true",  # the report's format is the hook
    "nice time -a -o .git/config true",
    "timeout 5 time --output=.git/hooks/pre-commit true",
    "/usr/bin/time -fx -o.git/hooks/pre-commit true",
])
def test_gnu_time_writes_its_report_to_minus_o(line: str, default_policy: Policy, git_workspace: Path,
                                               home: Path, run_agentsh: Run) -> None:
    """GNU time (allowed as a wrapper) writes its report to -o FILE in the -f format it is
    given: `env time -f 'touch PWNED' -o .git/hooks/pre-commit true` planted a hook."""
    assert default_policy.decide(line).decision == "deny", line
    before = _snapshot(git_workspace / ".git")
    done = run_agentsh("-c", line, cwd=git_workspace)
    assert done.returncode == 126, done.stderr
    assert _snapshot(git_workspace / ".git") == before


@pytest.mark.parametrize("line", ["env time -o /tmp/report.txt true", "time sort -o out.txt README.md",
                                  "env time grep -o x README.md", "env time -f %e true"])
def test_gnu_time_ordinary_lines_stay_allowed(line: str, far_home_policy: Policy) -> None:
    assert far_home_policy.decide(line).decision == "allow", far_home_policy.decide(line).refused


def test_write_targets_reads_options_as_getopt_does() -> None:
    def targets(line: str) -> list[str | None]:
        from agentsh.parse import parse_line

        argv = parse_line(line, "/h").commands[0].argv
        return [w.value for w in write_targets(argv[0].value or "", argv[1:])]

    assert targets("cp -rt dst a b") == ["dst"]
    assert targets("cp a b -S .bak") == ["b"]
    assert targets("install a b -m 755") == ["b"]
    assert targets("sed -i.bak -e s/a/b/ f g") == ["f", "g"]
    assert targets("sed -i s/a/b/ f") == ["f"]
    assert targets("tar -xzf a.tgz") == ["."]
    assert targets("tar -czf a.tgz src") == ["a.tgz"]
    assert targets("tar cvfC a.tgz dir src") == ["a.tgz", "dir"]
    assert targets("mktemp -p d x.XXX") == ["d", "d/x.XXX"]
    assert targets("gcc -static -o out x.c") == ["out"]


@pytest.mark.parametrize(("argv", "expected"), [
    (("init", "/etc/x"), ["/etc/x"]), (("init",), ["."]), (("init", "-b", "main", "sub"), ["sub"]),
    (("init", "--separate-git-dir=/etc/g", "x"), ["/etc/g", "x"]),
    (("init", "--separate-git-dir", "/etc/g", "x"), ["/etc/g", "x"]),
    (("worktree", "add", "/etc/x"), ["/etc/x"]), (("worktree", "add", "-b", "feat", "../wt", "main"), ["../wt"]),
    (("worktree", "list"), []), (("status",), []), (("log", "-o", "/etc/x"), ["/etc/x"]),
])
def test_git_creates_what_init_and_worktree_add_name(argv: tuple[str, ...], expected: list[str]) -> None:
    assert [w.value for w in write_targets("git", tuple(Word(a, a) for a in argv))] == expected



def test_quick_look_for_output_options_agrees_with_the_full_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    """writes._no_output_option skips the getopt-style reading for programs that only write
    through output options; on 30,000 generated argument lists it must change no answer."""
    import random

    from agentsh.policy import writes

    vocabulary = ["-o", "-O", "-p", "-po", "-op", "-n", "5", "x", "/etc/x", "--", "-", "--output", "--outp",
                  "--out=/etc/y", "--o", "--oneline", "--other=1", "-oFILE", "-vo", "-t", "-d", "--directory-prefix",
                  "--output-document=z", "-P", "-a", "--append-output", "-fno-omit", "log", "diff"]
    rng = random.Random(7)
    programs = [p for p in writes.OUTPUT_OPTIONS if p not in writes.WRITERS]
    cases = []
    for _ in range(30000):
        words = tuple(Word("$v", None, "expansion") if rng.random() < 0.03 else Word(w, w)
                      for w in (rng.choice(vocabulary) for _ in range(rng.randint(0, 6))))
        cases.append((rng.choice(programs), words))
    quick = [write_targets(program, words) for program, words in cases]
    monkeypatch.setattr(writes, "_no_output_option", lambda program, args: False)
    assert quick == [write_targets(program, words) for program, words in cases]


@pytest.mark.parametrize("argv", [
    ("--in", "s/x/y/", "/etc/hosts"), ("--i=.bak", "s/x/y/", "/etc/hosts"), ("--in-pl", "s/x/y/", "/etc/hosts"),
    ("s/x/y/", "/etc/hosts", "--in-place"), ("-n", "--in=", "1p", "/etc/hosts"),
])
def test_sed_in_place_abbreviated(argv: tuple[str, ...]) -> None:
    """getopt_long takes any unambiguous prefix of --in-place (no other sed option starts
    with `--i`): `sed --in s/x/y/ /etc/hosts` edits /etc/hosts."""
    assert [w.value for w in write_targets("sed", tuple(Word(a, a) for a in argv))] == ["/etc/hosts"]


def test_sed_quick_look_agrees_with_the_full_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    """writes._not_in_place skips the getopt-style reading of sed's words when none can be -i;
    on 30,000 generated argument lists it must change no answer."""
    import random

    from agentsh.policy import writes

    vocabulary = ["-i", "-n", "-ni", "-i.bak", "-e", "-E", "-s", "--in", "--in-place", "--i=.b", "--inx", "--silent",
                  "--expression=p", "-f", "s/i/x/", "1,40p", "f", "/etc/x", "--", "-", "-es/i/x/", "--line-length=5",
                  "-l", "9", "--posix", "-z"]
    rng = random.Random(11)
    cases = [tuple(Word("$v", None, "expansion") if rng.random() < 0.03 else Word(w, w)
                   for w in (rng.choice(vocabulary) for _ in range(rng.randint(0, 6)))) for _ in range(30000)]
    quick = [write_targets("sed", words) for words in cases]
    assert sum(1 for q in quick if q) > 1000  # the cases hold writes as well as none
    monkeypatch.setattr(writes, "_not_in_place", lambda args: False)
    assert quick == [write_targets("sed", words) for words in cases]


@pytest.mark.parametrize(("program", "argv", "expected"), [
    ("iconv", ("-f", "utf8", "-t", "ascii", "-o", "/etc/x", "f"), ["/etc/x"]),
    ("iconv", ("--output=/etc/x", "f"), ["/etc/x"]),
    ("iconv", ("-co", "/etc/x", "f"), ["/etc/x"]),
    ("iconv", ("--out", "/etc/x", "f"), ["/etc/x"]),  # getopt_long takes the prefix
    ("iconv", ("-f", "latin1", "-t", "utf8", "f"), []),
    ("xxd", ("-r", "f", "/etc/x"), ["/etc/x"]),  # xxd [options] [infile [outfile]]
    ("xxd", ("f", "/etc/x"), ["/etc/x"]),
    ("xxd", ("-c8", "f", "/etc/x"), ["/etc/x"]),
    ("xxd", ("-s", "5", "/usr/bin/ls"), []),  # the value of -s is no operand
    ("xxd", ("-seek", "5", "-cols", "8", "/usr/bin/ls"), []),  # one-dash long names take the next word
    ("xxd", ("-l16", "/usr/bin/ls"), []),
])
def test_iconv_and_xxd_outputs(program: str, argv: tuple[str, ...], expected: list[str]) -> None:
    """iconv -o FILE and xxd's second operand are files they write: both were unchecked, so
    `xxd -r dump /etc/x` and `iconv -o /etc/x f` wrote outside the write roots."""
    assert [w.value for w in write_targets(program, tuple(Word(a, a) for a in argv))] == expected
