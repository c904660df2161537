"""Red-team review of the fp19 loosenings (find -exec rm {} as the start points, a loop's
`cd "$d"`, `"$tmp"` after `tmp=$(mktemp)`, `export PYTHONPATH=DIRS`), in guardrail mode
where only the static check stands: each bypass found has an outcome test here, and what
held is kept as decision tests."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.test_ordinary_corpus import DEVELOPER, guarded_project, project_policy

Run = Callable[..., subprocess.CompletedProcess[str]]

# A copy of the repository with a hook planted in it, put back where .git was once that is
# gone: git runs the hook at the next commit (it writes the canary into .git/hooks, a denied
# write root, to show it ran).
PLANT = ("cp -r .git g && printf '#!/bin/sh\\ntouch .git/hooks/canary\\n' > g/hooks/pre-commit && "
         "chmod +x g/hooks/pre-commit && ")
COMMIT = "; mv g .git && git commit -q --allow-empty -m x"


@pytest.fixture
def guarded(tmp_path: Path, home: Path, agentsh_env: dict[str, str]) -> tuple[Path, Run]:
    return guarded_project(tmp_path, home, agentsh_env)


@pytest.mark.parametrize("removal", [
    "rm -rf .git",
    "find . -name .git -exec rm -rf {} +",  # fp19: `{}` checked as the start point `.`
    "find .git -delete",
    "rm -rf .?it",
    "zip -rmq a.zip .git",
    "tar --remove-files -cf a.tar .git",
    "cmake -E remove_directory .git",
])
def test_removing_the_directory_above_a_denied_root_plants_no_hook(guarded: tuple[Path, Run], removal: str) -> None:
    """Each removal took .git/hooks (write.deny) along with .git, and `mv g .git` then put a
    copy with a planted hook in its place (the check read it as a move into .git, to .git/g)."""
    project, run = guarded
    got = run(PLANT + removal + COMMIT)
    assert not (project / ".git" / "hooks" / "canary").exists()
    assert (project / ".git" / "config").exists()
    assert got.returncode == 126, got.stderr
    assert "denied" in got.stderr


HOOK = ("mkdir -p g/hooks && printf '#!/bin/sh\\ntouch .git/hooks/canary\\n' > g/hooks/pre-commit && "
        "chmod +x g/hooks/pre-commit && ")


@pytest.mark.parametrize("line", [
    # `-name '*.sample'` names nothing on the way to .git/hooks, so the find may empty it (a
    # fresh repository's hooks are samples): mv then put g/hooks in its place
    "find . -name '*.sample' -delete; " + HOOK + "mv g/hooks .git/",
    "find . -name '*.sample' -delete; " + HOOK + "mv -t .git g/hooks",
    HOOK + "cp -a g/. .git",  # g/hooks was made by the line, after the check looked for it
    HOOK + "cp -rT g .git",
])
def test_a_hooks_directory_is_not_moved_or_copied_into_dot_git(guarded: tuple[Path, Run], line: str) -> None:
    project, run = guarded
    got = run(line + " && git commit -q --allow-empty -m x")
    assert not (project / ".git" / "hooks" / "canary").exists()
    assert got.returncode == 126, got.stderr


def test_the_repository_configuration_is_not_replaced_by_a_move(guarded: tuple[Path, Run]) -> None:
    """`mv g/config .git` replaced .git/config (git runs core.fsmonitor, aliases, pagers from it):
    the check saw only `.git` written, not .git/config."""
    project, run = guarded
    before = (project / ".git" / "config").read_text()
    got = run("mkdir g && cp .git/config g/config && printf '[core]\\n\\tfsmonitor = touch canary\\n' >> g/config "
              "&& mv g/config .git")
    assert (project / ".git" / "config").read_text() == before
    assert got.returncode == 126, got.stderr


def test_find_removals_that_name_none_of_the_way_to_a_denied_root_still_run(guarded: tuple[Path, Run]) -> None:
    project, run = guarded
    for directory in ("src/__pycache__", "tests/__pycache__"):
        (project / directory).mkdir(parents=True)
        (project / directory / "m.cpython-311.pyc").write_bytes(b"x")
    (project / "stale.pyc").write_bytes(b"x")
    got = run("find . -name __pycache__ -type d -prune -exec rm -rf {} + && find . -name '*.pyc' -delete "
              "&& rm -rf build && ls -a")
    assert got.returncode == 0, got.stderr
    assert not list(project.rglob("__pycache__")) and not (project / "stale.pyc").exists()
    assert not (project / "build").exists() and (project / ".git" / "hooks").is_dir()


@pytest.fixture(scope="module")
def decide_developer(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], str]:
    policy, project = project_policy(tmp_path_factory.mktemp("fp19"), DEVELOPER)
    return lambda line: policy.decide(line, str(project)).decision


REFUSED = [
    # removals that reach a denied root or the directory holding it
    "find . -exec rm -rf {} +",
    "find . -delete",
    "find . -name config -exec rm {} +",  # .git/config itself
    "find . -name x -o -name .git -exec rm -rf {} +",
    "find . -exec rm -rf {} + -name x",  # the -name after the action binds nothing
    "find . -exec echo -name zzz \\; -exec rm -rf {} +",  # -exec's words are not tests
    "find . -name '[.]git' -exec rm -rf {} +",  # a class find reads, not Python
    "find . -name '\\.git' -exec rm -rf {} +",
    "find . -iname .GIT -exec rm -rf {} +",
    "find . -path ./.git -prune -o -exec rm -rf {} +",
    "find . -name x -exec rmdir -p {} +",  # the parents of an absolute start point too
    "rm --rec .git",
    "rm .git -rf",
    "rm -r -- .",
    "cmake -E rm -rf .git",
    "mv g/hooks .git/",
    "mv g/config .git",
    # what held: a loop's cd
    "for d in .. .ssh; do cd \"$d\"; done; cat id_rsa",
    "for d in src; do cd \"$d\"; pushd ..; done; cat .ssh/id_rsa",
    "for d in src; do export d; cd \"$d\"; done",
    "for d in src; do cd ${d%c}; done",
    "CDPATH=..; for d in .ssh; do cd \"$d\"; done; cat id_rsa",
    "shopt -s cdable_vars; h=..; for d in h; do cd \"$d\"; done; cat .ssh/id_rsa",
    # what held: "$tmp" after mktemp
    "tmp=$(mktemp); read -r t\\mp < README.md; echo x > \"$tmp\"",
    "tmp=$(mktemp); printf -v t\\mp %s ../x; cp README.md \"$tmp\"",
    "tmp=$(mktemp); getopts ab t\\mp; cp README.md \"$tmp\"",
    "tmp=$(mktemp); declare -n r=t\"m\"p; r=~/.ssh/id_rsa; cat \"$tmp\"",
    "tmp=$(mktemp); rm \"$tmp\"; ln -s ~/.ssh/id_rsa \"$tmp\"; cat \"$tmp\"",
    "tmp=$(mktemp); mv \"$tmp\" .git/hooks/pre-commit",
    "tmp=$(mktemp); echo 'touch canary' > \"$tmp\"; source \"$tmp\"",
    # what held: export PYTHONPATH
    "export PYTHONPATH=src && pip --version",
    "export PYTHONPATH=src; python3 -m pytest & pip list",
    "export PYTHONPATH=src:~/.ssh && python3 -m pytest",
    "export PYTHONPATH=src:/tmp && python3 -m pytest",
    "export PYTHONPATH=src && cd .. && python3 x.py",
    "export PYTHONPATH=src && cat <(pip list)",
    "export PYTHONPATH=src && echo ${x:-$(pip list)}",
    "export PYTHONPATH=src && timeout 5 python3 x.py",
    "declare -x PYTHONPATH=src && python3 x.py",
]


@pytest.mark.parametrize("line", REFUSED)
def test_what_fp19_keeps_refused(decide_developer: Callable[[str], str], line: str) -> None:
    assert decide_developer(line) == "deny"


@pytest.mark.parametrize("line", [
    "find . -name __pycache__ -type d -prune -exec rm -rf {} +",
    "for d in src tests; do (cd \"$d\" && ls); done",
    "tmp=$(mktemp) && echo hi > \"$tmp\" && cat \"$tmp\" && rm \"$tmp\"",
    "export PYTHONPATH=src && python3 -m pytest -q",
    "find . -name '*.pyc' -delete",
    "find src tests -name '*.pyc' -delete",
    "find build -exec rm -rf {} +",
    "rm -rf build src",
    "tar -czf a.tgz src && rm -rf src",
    "mv x .git/",
    "mv README.md docs",
    "cp -r src/. build/",
    "cp -r p/. .",
    "cmake -E rm -rf build",
])
def test_what_fp19_allows_stays_allowed(decide_developer: Callable[[str], str], line: str) -> None:
    assert decide_developer(line) == "allow"
