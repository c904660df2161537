"""False positives of the developer profile fixed by modelling what the line does, and the
dangerous neighbours of each shape, which must stay refused: decisions in a project at ~/proj,
and outcomes in guardrail mode (only the static check stands), where a real run can show them."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from agentsh.policy import Decision, Policy
from agentsh.profile import Host, load_profile
from tests.conftest import run_guardrail
from tests.test_ordinary_corpus import (
    DEVELOPER,
    SECRET,
    build,
    developer_with_tools,
    guarded_project,
    narrow_developer,
    project_policy,
    reason_of,
)

Run = Callable[[str], subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def decide(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Decision]:
    """The developer profile's decision in ~/proj, with ~/.ssh/id_rsa, a link `out` in the
    project to ~/elsewhere (outside the write roots when they are the project only) and a
    `lnk` to ~/.ssh."""
    root = tmp_path_factory.mktemp("shapes")
    policy, project = project_policy(root, developer_with_tools(root))
    (root / "home" / "elsewhere").mkdir()
    (project / "lnk").symlink_to(root / "home" / ".ssh")
    return lambda line: policy.decide(line, str(project))


@pytest.fixture
def narrow(tmp_path: Path, home: Path, agentsh_env: dict[str, str]) -> tuple[Path, Run]:
    """A project at ~/proj and `run(line)` in guardrail mode under the developer profile with
    the project as its only write root (the test's home is under /tmp, a write root otherwise)."""
    project = home / "proj"
    project.mkdir()
    build(project)
    profile = narrow_developer(tmp_path)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return project, lambda line: run_guardrail(line, project, agentsh_env, scratch, profile)


ALLOWED = [
    "find . -name __pycache__ -type d -prune -exec rm -rf {} +",
    "find . -name '*.pyc' -exec rm -f {} \\;",
    "find src tests -name __pycache__ -exec rm -rf -- {} +",
    "find -P . -name '*.o' -exec rm {} +",
    'for d in src tests; do (cd "$d" && ls); done',
    "for d in src tests; do (cd $d && ls); done",
    'for d in src tests; do echo "== $d"; (cd "${d}" && ls); done',
    'for d in src tests; do pushd "$d" >/dev/null && ls && popd >/dev/null; done',
    'tmp=$(mktemp) && echo hi > "$tmp" && cat "$tmp" && rm "$tmp"',
    'tmp=$(mktemp) && sort -u README.md > "$tmp" && mv "$tmp" README.md',
    'out="$(mktemp)"; git diff > "$out"; wc -l < "$out"; rm -f "${out}"',
    "export PYTHONPATH=src && python3 -m pytest -q",
    "export PYTHONPATH=src:. && cd src && python3 -m demo.cli 1 2",
    "export PYTHONPATH=src; python3 -c 'import demo'; echo done",
    'a=$(mktemp); b=$(mktemp); sort README.md > "$a"; sort README.md > "$b"; diff "$a" "$b"; rm "$a" "$b"',
]

REFUSED = [
    # find: links followed below the start points lead anywhere (-delete too)
    "find -L . -name x -exec rm -rf {} +",
    "find . -follow -name x -exec rm -rf {} +",
    "find -H -L . -delete",
    "find . -name x -follow -delete",
    # find's own options before the start points are no expression (was checked as `.`)
    "find -P / -name x -delete",
    "find -O3 /etc -name x -delete",
    "find -D exec ~/.ssh -delete",
    "find -P /usr -name x -exec rm -f {} +",
    # start points outside the write roots or unknown; `{}` glued to other text; not -exec
    "find ~/.ssh -exec rm -rf {} +",
    "find /etc -name x -exec rm {} \\;",
    "find lnk -exec rm -rf {} +",
    "find \"$d\" -exec rm -rf {} +",
    "find . -exec rm -rf {}/../.. \\;",
    "find . -exec rm -rf x{} \\;",
    "find . -exec rm -rf {} /etc +",
    "find . -execdir rm -rf {} +",
    "find . -ok rm {} \\;",
    "find . -exec cp README.md {} \\;",  # cp follows links at {}
    "find . -exec mv {} /etc \\;",
    # a loop's cd: each word is read-checked, words only
    "for d in src ~/.ssh; do (cd \"$d\" && ls); done",
    "for d in src lnk; do cd \"$d\"; cat id_rsa; done",
    "for d in src ..; do cd \"$d\"; done; cat .ssh/id_rsa",
    "for d in sr* tests; do cd \"$d\"; done",
    "for d in src tests; do d=~/.ssh; cd \"$d\"; done",
    "for d in src tests; do read d; cd \"$d\"; done",
    "for d in src tests; do :; done; cd \"$d\"",
    "cd \"$d\"; for d in src tests; do :; done",
    "for d in src; do for d in ~/.ssh; do :; done; cd \"$d\"; done",
    "for d in src tests; do cd \"$d/../..\"; done",
    "for d in \"$x\" src; do cd \"$d\"; done",
    "for d in $(cat dirs.txt); do cd \"$d\" && cat id_rsa; done",
    "for d in src tests; do cd \"$d\"; done; for d in ~/.ssh; do :; done",
    "for d in src tests; do cd \"$e\"; done",
    'for d in src tests; do : <<EOF\n$((d=5))\nEOF\ncd "$d"; done',  # d is 5 when cd runs
    'for d in src tests; do : "${d:=x}" $((d++)); cd "$d"; done',
    # the same for an interpreter's script word (loopvars.known_starts): f is -1 at python3
    'for f in tests/*.py; do : <<EOF\n$((f=-1))\nEOF\npython3 "$f"; done',
    # "$tmp" is mktemp's new file only after `tmp=$(mktemp)` with no arguments, set by nothing else
    'tmp=$(mktemp -p /etc) && echo hi > "$tmp"',
    'tmp=$(mktemp --tmpdir=/etc) && echo hi > "$tmp"',
    'tmp=$(mktemp -u) && echo hi > "$tmp"',
    'tmp=$(mktemp /etc/x.XXXX) && echo hi > "$tmp"',
    'tmp=$(mktemp -d) && echo hi > "$tmp/x"',
    'tmp=$(mktemp) && tmp=/etc/passwd && echo hi > "$tmp"',
    'tmp=$(mktemp); tmp+=/x; echo hi > "$tmp"',
    'tmp=/etc/passwd; tmp=$(mktemp); echo hi > "$tmp"',
    'tmp=$(mktemp); read tmp < README.md; echo > "$tmp"',
    'tmp=$(mktemp); printf -v tmp %s /etc/x; rm "$tmp"',
    'tmp=$(mktemp); : ${tmp:=/etc/x}; rm "$tmp"',
    'for tmp in /etc/x; do :; done; tmp=$(mktemp); echo > "$tmp"',
    'tmp=$(mktemp); export tmp=/etc/x; echo > "$tmp"',
    'tmp=$(mktemp) cp README.md "$tmp"',  # a prefix assignment: "$tmp" is the caller's
    'TMPDIR=/etc; tmp=$(mktemp); echo hi > "$tmp"',
    'tmp=$(TMPDIR=/etc mktemp); echo hi > "$tmp"',
    'tmp=$(mktemp); echo > $tmp',  # unquoted
    'tmp=$(mktemp); echo > "$tmp.bak"',
    'tmp=$(mktemp); echo > "$tmp"/../../etc/x',
    'tmp=$(mktemp); cd "$tmp"',
    'tmp=$(mktemp); cp README.md "$tmp" /etc',
    'tmp=$(mktemp); mv "$tmp" .git/hooks/pre-commit',
    'tmp=$(mktemp); cd /etc; sed -i s/a/b/ "$tmp"',  # empty: the working directory
    'TMP=$(mktemp); echo > "$TMP"',  # a name bash or the profile may set
    # assignments the parse does not list: a builtin's here-document body expands in the shell
    ': <<EOF\n${tmp:=/etc/x}\nEOF\necho hi > "$tmp"; tmp=$(mktemp)',
    ': <<EOF\n${tmp=/etc/x}\nEOF\ncp README.md "$tmp"; tmp=$(mktemp)',
    'x=$((1?tmp=2:0)); cd /etc; echo > "$tmp"; tmp=$(mktemp)',
    # an exported PYTHONPATH reaches every later program: each must be allowed by a rule naming
    # it, and its value must be literal directories in the workspace from wherever python starts
    "export PYTHONPATH=src && python3 -m pytest -q && git status",
    "export PYTHONPATH=src && ls",
    "git status; export PYTHONPATH=src && python3 -m pytest",
    "export PYTHONPATH=src && timeout 60 python3 -m pytest",  # the wrapper's rule names none
    "export PYTHONPATH=src && find . -exec python3 {} \\;",
    "export PYTHONPATH=/tmp && python3 -m pytest",
    "export PYTHONPATH=src:/usr/lib/x && python3 -m pytest",
    "export PYTHONPATH=.. && python3 -m pytest",
    "export PYTHONPATH=lnk && python3 -m pytest",  # a link to ~/.ssh
    "export PYTHONPATH=~/.ssh && python3 -m pytest",
    "export PYTHONPATH=src && cd .. && python3 -m pytest",  # src from the parent
    "export PYTHONPATH=src && cd /tmp && python3 -m pytest",
    'export PYTHONPATH="$x" && python3 -m pytest',
    "export PYTHONPATH=$PWD/src && python3 -m pytest",
    "export PYTHONPATH+=:/tmp && python3 -m pytest",
    "export PYTHONPATH=src PYTHONHOME=/tmp && python3 -m pytest",
    "export PYTHONPATH=src NODE_OPTIONS=--inspect && python3 -m pytest",
    "export PYTHONPATH=src PYTHONPATH=/tmp && python3 -m pytest",
    "export PYTHONSTARTUP=src/x.py && python3 -m pytest",
    "export NODE_PATH=src && node --test",
    # left refused (docs/profiles.md, Environment): sourcing runs a writable file and its hash -r
    "source .venv/bin/activate",
    ". .venv/bin/activate && pytest -q",
    "source /tmp/venv/bin/activate && python3 -m pytest",
]


@pytest.mark.parametrize("line", ALLOWED)
def test_the_fixed_shape_is_allowed(line: str, decide: Callable[[str], Decision]) -> None:
    decision = decide(line)
    assert decision.decision == "allow", reason_of(decision)


@pytest.mark.parametrize("line", REFUSED)
def test_its_dangerous_neighbour_is_refused(line: str, decide: Callable[[str], Decision]) -> None:
    assert decide(line).decision == "deny"


def test_mktemp_file_is_in_the_temporary_directory_only(tmp_path: Path) -> None:
    """With the project as its only write root, "$tmp" is refused (the new file is in /tmp); so
    it is when the profile passes TMPDIR (mktemp would use a directory the line does not show)."""
    root = tmp_path / "proj"
    root.mkdir()
    line = 'tmp=$(mktemp) && echo hi > "$tmp" && rm "$tmp"'
    for change in ({"write": {"allow": ["{workspace}"]}}, {"env": {"pass": ["TMPDIR"]}}):
        data = yaml.safe_load(DEVELOPER.read_text())
        data.update(change)
        profile = tmp_path / "p.yaml"
        profile.write_text(yaml.safe_dump(data, sort_keys=False))
        host = Host(cwd=str(root), home=str(tmp_path), config_home=str(tmp_path / ".config"))
        decision = Policy(load_profile(str(profile), host), host).decide(line, str(root))
        assert decision.decision == "deny", change


def test_mktemp_line_runs(tmp_path: Path, home: Path, agentsh_env: dict[str, str]) -> None:
    """The line runs under the developer profile in guardrail mode (confined mode cannot make a
    file directly in /tmp while the test's HOME, holding denied roots, is below it)."""
    _project, run = guarded_project(tmp_path, home, agentsh_env)
    got = run('tmp=$(mktemp) && echo hi > "$tmp" && cat "$tmp" && rm "$tmp" && test ! -e "$tmp" && echo gone')
    assert (got.returncode, got.stdout) == (0, "hi\ngone\n"), got.stderr


def test_mktemp_variable_given_another_value_writes_nothing(narrow: tuple[Path, Run], home: Path) -> None:
    """The project is the only write root: a reassigned or read "$tmp" pointing out of it is
    refused and the file outside is not made."""
    _project, run = narrow
    outside = home / "outside.txt"
    for line in ('tmp=$(mktemp) && tmp=../outside.txt && echo x > "$tmp"',
                 'tmp=$(mktemp); read -r tmp <<< ../outside.txt; echo x > "$tmp"',
                 'tmp=$(mktemp -p ..) && echo x > "$tmp" && mv "$tmp" ../outside.txt',
                 'tmp=$(mktemp) && echo x > "$tmp"'):  # /tmp is no write root here
        got = run(line)
        assert got.returncode == 126, (line, got.stderr)
    assert not outside.exists()
    assert [p.name for p in home.iterdir() if p.name.startswith("tmp.")] == []


def test_an_exported_pythonpath_outside_the_workspace_runs_nothing(narrow: tuple[Path, Run], home: Path) -> None:
    """`export PYTHONPATH=src` reaches python3 (allowed, it imports from src); one naming a
    directory outside the workspace is refused and its module is not imported."""
    project, run = narrow
    canary = home / "canary"
    (home / "evil").mkdir()
    (home / "evil" / "evilmod.py").write_text(f"open({str(canary)!r}, 'w').close()\n")
    got = run("export PYTHONPATH=src && python3 -c 'import demo; print(demo.__file__)'")
    assert got.stdout.strip() == str(project / "src" / "demo" / "__init__.py"), got.stderr
    for line in ("export PYTHONPATH=../evil && python3 -c 'import evilmod'",
                 "export PYTHONPATH=evil && cd .. && python3 -c 'import evilmod'"):
        got = run(line)
        assert got.returncode == 126, (line, got.stderr)
    assert not canary.exists()


def test_find_deletes_only_below_the_write_roots(narrow: tuple[Path, Run], home: Path) -> None:
    """`-exec rm -rf {} +` cleans the project; `find -P DIR` (its option was read as the
    expression, so DIR was not checked) and `-L` through a link do not delete ~/elsewhere."""
    project, run = narrow
    victim = home / "elsewhere" / "victim"
    victim.parent.mkdir()
    victim.write_text("keep\n")
    (project / "src" / "__pycache__").mkdir()
    (project / "out").symlink_to(home / "elsewhere")
    for line in ("find -P ../elsewhere -name victim -delete", "find -L . -name victim -delete",
                 "find -L . -name victim -exec rm -f {} +", "find -P .. -name victim -exec rm {} +"):
        run(line)
        assert victim.exists(), line
    got = run("find . -name __pycache__ -type d -prune -exec rm -rf {} + && ls -a src | grep -c pycache")
    assert (got.returncode, got.stdout) == (1, "0\n"), got.stderr  # grep -c found none


def test_a_loop_cd_is_read_checked_for_each_word(narrow: tuple[Path, Run], home: Path) -> None:
    """Each directory of the loop is entered for real; a word into ~/.ssh is refused, nothing printed."""
    project, run = narrow
    got = run('for d in src tests; do (cd "$d" && ls | head -n 1); done')
    assert got.returncode == 0, got.stderr
    assert got.stdout.split() == ["demo", sorted(p.name for p in (project / "tests").iterdir())[0]]
    for line in ('for d in src ../.ssh; do (cd "$d" && cat id_rsa); done',
                 'for d in src ..; do cd "$d"; done; cat .ssh/id_rsa'):
        got = run(line)
        assert got.returncode == 126, (line, got.stderr)
        assert SECRET not in got.stdout + got.stderr


def test_a_heredoc_assignment_does_not_hand_a_path_unseen(narrow: tuple[Path, Run], home: Path) -> None:
    """bash expands a builtin's here-document body in the shell: `${f:=$HOME/.ss}` there
    gives f a value the line's read checks must know."""
    _project, run = narrow
    got = run(': <<EOF\n${f:=$HOME/.ss}\nEOF\ncat "${f}h/id_rsa"')
    assert SECRET not in got.stdout + got.stderr
    assert got.returncode == 126, got.stderr
