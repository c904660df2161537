"""A corpus of ordinary agent lines (tests/ordinary_corpus.py) must stay allowed by the
developer profile in a polyglot project, and the false positives fixed from it must not
have opened the dangerous lines next to them (outcome tests: a canary not made, a secret's
bytes absent from the output, in guardrail mode where only the static check stands)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from agentsh.policy import Decision, Policy
from agentsh.profile import Host, load_profile
from tests.conftest import REPO, run_guardrail
from tests.ordinary_corpus import CORPUS, FIXED, PROJECT, REFUSED, TOOLS

DEVELOPER = REPO / "profiles" / "developer.yaml"
Run = Callable[..., subprocess.CompletedProcess[str]]
SECRET = "SECRET-KEY-BYTES"


def build(root: Path) -> None:
    for name, text in PROJECT.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for directory in ("build", "node_modules/.cache", "target/debug/incremental"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1")
    for argv in (["git", "init", "-q", "-b", "main"], ["git", "config", "user.name", "Agent"],
                 ["git", "config", "user.email", "agent@example.com"], ["git", "add", "-A"],
                 ["git", "commit", "-q", "-m", "initial"]):
        subprocess.run(argv, cwd=root, env=env, check=True, capture_output=True)


def developer_with_tools(directory: Path) -> Path:
    """The developer profile, with stand-ins last on its path for the tools this machine lacks."""
    stand_ins = directory / "stand-ins"
    stand_ins.mkdir()
    for tool in TOOLS:
        (stand_ins / tool).write_text("#!/bin/sh\nexit 0\n")
        (stand_ins / tool).chmod(0o755)
    data = yaml.safe_load(DEVELOPER.read_text())
    data["path"] = [*data["path"], str(stand_ins)]
    out = directory / "developer.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def project_policy(root: Path, profile: Path) -> tuple[Policy, Path]:
    """The policy of `profile` for ~/proj (built) under a home at root/home holding
    ~/.ssh/id_rsa, and the project."""
    home, project = root / "home", root / "home" / "proj"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text(SECRET + "\n")
    project.mkdir()
    build(project)
    host = Host(cwd=str(project), home=str(home), config_home=str(home / ".config"))
    return Policy(load_profile(str(profile), host), host), project


def narrow_developer(directory: Path) -> Path:
    """The developer profile with the project its only write root (the tests' home is under
    /tmp, a write root otherwise), written to directory/narrow.yaml."""
    data = yaml.safe_load(DEVELOPER.read_text())
    data["write"]["allow"] = ["{workspace}"]
    profile = directory / "narrow.yaml"
    profile.write_text(yaml.safe_dump(data, sort_keys=False))
    return profile


@pytest.fixture(scope="module")
def decide(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Decision]:
    root = tmp_path_factory.mktemp("corpus")
    policy, project = project_policy(root, developer_with_tools(root))
    return lambda line: policy.decide(line, str(project))


def reason_of(decision: Decision) -> str:
    return "; ".join(f"{v.command}: {v.reason}" for v in decision.refused)


def _id(line: str) -> str:
    return " ".join(line.split())[:60]


def test_the_corpus_is_big_and_has_no_repeats() -> None:
    lines = CORPUS + FIXED
    assert len(lines) >= 250
    assert len(set(lines)) == len(lines)


@pytest.mark.parametrize("line", CORPUS + FIXED, ids=_id)
def test_corpus_line_is_allowed(line: str, decide: Callable[[str], Decision]) -> None:
    decision = decide(line)
    assert decision.decision == "allow", reason_of(decision)


@pytest.mark.parametrize(("line", "reason"), REFUSED, ids=[_id(line) for line, _ in REFUSED])
def test_corpus_line_refused_on_purpose(line: str, reason: str, decide: Callable[[str], Decision]) -> None:
    decision = decide(line)
    assert decision.decision == "deny"
    assert reason in reason_of(decision)


# -- next to each fix: the dangerous variants stay refused ---------------------------------

NEARBY = [
    # node -e/-p are allowed as `python3 -c` is, with nothing after the code: node reads
    # options there too, and agentsh's interpreter reading takes them for script arguments.
    "node -e 1 --inspect=0.0.0.0:9229",
    "node -e 1 --inspect-brk",
    "node -p 1 -r /tmp/x.js",
    "node -p --inspect=0.0.0.0:9229",  # -p's code is optional: this is `node --inspect -p`
    "node --print --env-file=x.env",
    "node -e 1 -i",
    "c='1 --inspect'; node -e $c",
    # the variables the profile now passes do not bring the dangerous ones
    "NODE_OPTIONS='--require /tmp/x.js' NODE_ENV=test npm test",
    "GOFLAGS=-toolexec=/tmp/x CGO_ENABLED=0 go build",
    "RUSTC_WRAPPER=/tmp/x RUST_BACKTRACE=1 cargo build",
    "export NODE_OPTIONS=--inspect",
    # the directory stack is read-checked like cd
    "pushd ~/.ssh",
    "pushd ~ && cat .ssh/id_rsa && popd",
    "pushd \"$X\"",
    "pushd - && ls",
    "pushd src; read -a DIRSTACK < f; popd; cat id_rsa",  # DIRSTACK's members are the stack
    "pushd src; mapfile -t DIRSTACK < f; popd",
    "pushd src; DIRSTACK=(x ../..); popd; cat .ssh/id_rsa",
    "pushd src; for DIRSTACK in ..; do :; done; popd",
    "pushd src; export DIRSTACK; popd",
    # OLDPWD cannot be given a value for `cd -`
    "OLDPWD=~/.ssh; cd - && cat id_rsa",
    "export OLDPWD=~/.ssh; cd -; cat id_rsa",
    ": ${OLDPWD:=~/.ssh}; cd - && cat id_rsa",
    "read OLDPWD < f; cd -",
    "for OLDPWD in ~/.ssh; do cd -; done",
    "cd ~/.ssh; cd -",
    # ulimit sets nothing
    "ulimit -n 1",
    "ulimit -Sv 1000",
    # a loop value that could be an option, or is not the loop's
    "for f in *.py; do python3 \"$f\"; done",
    "for f in tests/a.py -i; do python3 \"$f\"; done",
    "for f in tests/*.py; do :; done; python3 \"$f\"",
    "python3 \"$f\"; for f in tests/*.py; do python3 \"$f\"; done",
    "for f in tests/*.py; do python3 \"$f\"; done & python3 \"$f\"",
    "(for f in tests/*.py; do python3 \"$f\"; done); python3 \"$f\"",
    "for f in tests/*.py; do :; done | python3 \"$f\"",
    "for f in tests/*.py; do unset f; python3 \"$f\"; done",
    "for f in tests/*.py; do read f; python3 \"$f\"; done",
    "for f in tests/*.py; do f=-i; python3 \"$f\"; done",
    "for f in tests/*.py; do printf -v f %s -i; python3 \"$f\"; done",
    "for f in tests/*.py; do printf -vf %s -i; python3 \"$f\" install x; done",
    "for f in tests/*.py; do read -raf < x; python3 \"$f\"; done",
    "for f in tests/*.py; do wait -npf; python3 \"$f\"; done",
    "for f in tests/*.py; do getopts ab f; python3 \"$f\"; done",
    "for f in tests/*.py; do mapfile -t f < x; python3 \"$f\"; done",
    "for f in tests/*.py; do export f=-i; python3 \"$f\"; done",
    "for _ in tests/*.py; do echo -i; python3 \"$_\"; done",  # bash's own variables
    "for REPLY in tests/*.py; do read < x; python3 \"$REPLY\"; done",
    "for DIRSTACK in tests/*.py; do pushd -; python3 \"$DIRSTACK\"; done",
    "for f in tests/*.py; do : $((f=1)); python3 \"$f\"; done",
    "for f in tests/*.py; do for f in -i; do :; done; python3 \"$f\"; done",
    "for f in \"$x\"; do python3 \"$f\"; done",
    "for f in x$(ls); do python3 \"$f\"; done",
    "for f in {-i,x}; do python3 \"$f\"; done",
    "for f in tests/*.py; do python3 $f; done",  # unquoted: splits
    "for f in tests/*.py; do python3 -W \"$f\" x.py; done",
    "select f in tests/a.py; do python3 \"$f\"; done",
    "for f; do python3 \"$f\"; done",
    "python3 \"$f\"",
    "python3 -W \"tests/$f\" x.py",
    "python3 \"tests/$f\"",  # a parser's prefix may go on: tests/../../dev/stdin
    "for f in ../../dev/stdin; do python3 \"$f\"; done",  # loop words below the directory only
    "for f in /dev/std*; do python3 \"$f\"; done",
    "for f in t/.?/.?/dev/stdin; do python3 \"$f\"; done",
    # `git -C DIR` with reading subcommands only; DIR is read-checked, git's paths are from it
    "git -C src push --force origin main",
    "git -C src push origin main",
    "git -C src commit -m x",
    "git -C src -c core.pager=sh log",
    "git -C ~/.ssh log",
    "git -C \"$d\" status",
    "git -C src log --ext-diff",
    "git -C src diff --output=/etc/x",
]


@pytest.mark.parametrize("line", NEARBY, ids=_id)
def test_next_to_a_fix_the_dangerous_variant_is_refused(line: str, decide: Callable[[str], Decision]) -> None:
    assert decide(line).decision == "deny"


# -- outcomes, in guardrail mode -------------------------------------------------------------

def guarded_project(tmp_path: Path, home: Path, agentsh_env: dict[str, str]) -> tuple[Path, Run]:
    """A project at ~/proj and `run(line, **env)` under the developer profile in guardrail mode."""
    project = home / "proj"
    project.mkdir()
    build(project)
    scratch = tmp_path / "scratch"
    scratch.mkdir()

    def run(line: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return run_guardrail(line, project, dict(agentsh_env, **extra), scratch, DEVELOPER)
    return project, run


@pytest.fixture
def guarded(tmp_path: Path, home: Path, agentsh_env: dict[str, str]) -> tuple[Path, Run]:
    return guarded_project(tmp_path, home, agentsh_env)


def test_cd_dash_cannot_go_where_the_caller_was(guarded: tuple[Path, Run],
                                               home: Path) -> None:
    """`cd -` is allowed because $OLDPWD is unset when the line starts: one the caller had
    (~/.ssh) must not reach it."""
    _project, run = guarded
    got = run("cd - ; cat id_rsa; cd src && cd - >/dev/null && ls src", OLDPWD=str(home / ".ssh"))
    assert "agentsh: denied" not in got.stderr, got.stderr
    assert SECRET not in got.stdout + got.stderr
    assert "OLDPWD not set" in got.stderr
    assert got.stdout.split() == ["demo", "lib.rs", "main.rs"]  # the second `cd -` went back to the project


def test_a_loop_value_that_is_an_option_runs_no_code(
        guarded: tuple[Path, Run]) -> None:
    """A file named like an option (`-c...py`) in the loop's glob: refused, nothing runs."""
    project, run = guarded
    canary = project / "canary"
    (project / "-cimport pathlib;pathlib.Path('canary').touch()#.py").write_text("")
    got = run('for f in *.py; do python3 "$f"; done')
    assert (got.returncode, "agentsh: denied") == (126, got.stderr[got.stderr.find("agentsh: denied"):][:15])
    assert not canary.exists()
    got = run('for f in tests/*.py; do PYTHONPATH=src python3 "$f"; done; echo "rc=$?"')
    assert got.stdout.strip() == "rc=0", got.stderr


def test_node_eval_takes_no_node_options(tmp_path: Path,
                                         guarded: tuple[Path, Run]) -> None:
    """node -e is allowed; a preload module after the code (or in NODE_OPTIONS) is not run."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    project, run = guarded
    canary = tmp_path / "canary"
    (project / "evil.js").write_text(f"require('fs').writeFileSync({str(canary)!r}, 'x')\n")
    assert run("node -e 'console.log(6 * 7)'").stdout == "42\n"
    for line in ("node -e 1 -r ./evil.js", "NODE_OPTIONS='--require ./evil.js' NODE_ENV=test node -e 1"):
        assert run(line).returncode == 126, line
    assert not canary.exists()


def test_a_for_loop_of_known_rounds_is_followed_to_its_end(guarded: tuple[Path, Run],
                                                           home: Path) -> None:
    """With x/x/x/... deeper than the loop follow's limit, a three-round loop is followed three
    rounds (allowed), and a path climbing out of where it leads is still checked from there."""
    project, run = guarded
    (project / ("x/" * 40)).mkdir(parents=True)
    (home / ".netrc").write_text("machine h password NETRC-BYTES\n")
    got = run("for i in 1 2 3; do mkdir -p x && cd x; done; pwd")
    assert got.stdout.strip() == str(project / "x/x/x"), got.stderr
    got = run("for i in 1 2 3; do cd x; done; cat ../../../../.netrc")
    assert got.returncode == 126
    assert "NETRC-BYTES" not in got.stdout
    got = run("i=0; while [ $i -lt 3 ]; do cd x; i=$((i+1)); done; pwd")
    assert "ever more directories" in got.stderr  # an unbounded loop: as before


def test_git_elsewhere_writes_nothing_outside(tmp_path: Path, home: Path, agentsh_env: dict[str, str]) -> None:
    """`git -C src diff` is allowed; its --output is still a write target, from src (here the
    project is the only write root: the test's home is under /tmp, a write root otherwise)."""
    project = home / "proj"
    project.mkdir()
    build(project)
    profile = narrow_developer(tmp_path)
    (project / "src" / "main.rs").write_text("changed\n")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    assert "+changed" in run_guardrail("git -C src diff", project, agentsh_env, scratch, profile).stdout
    # from src, `../outside.txt` would be in the project; from git's directory it is not
    got = run_guardrail("git -C .. diff --output=../outside.txt", project / "src", agentsh_env, scratch, profile)
    assert got.returncode == 126, got.stderr
    assert not (home / "outside.txt").exists()


def test_popd_goes_only_where_the_line_was(guarded: tuple[Path, Run], home: Path) -> None:
    """popd and `pushd +N` go to the directory stack's members, which a line could set through
    DIRSTACK (bash lets its members be assigned): refused, and the key is not printed."""
    project, run = guarded
    (project / "f").write_text(f"x {home / '.ssh'}\n")
    assert run("pushd src >/dev/null && popd >/dev/null && ls -d src").stdout == "src\n"
    for line in ("pushd src >/dev/null; read -a DIRSTACK < ../f; popd >/dev/null; cat id_rsa",
                 "pushd src >/dev/null; mapfile -t DIRSTACK < <(tr ' ' '\\n' < ../f); popd; cat id_rsa",
                 "pushd src >/dev/null; DIRSTACK=(x ../..); popd >/dev/null; cat .ssh/id_rsa"):
        got = run(line)
        assert got.returncode == 126, line
        assert SECRET not in got.stdout + got.stderr

