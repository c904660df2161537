"""Red-team review of the loosenings made to cut false positives (loop values, loop bounds,
`cd -`, the directory stack, `git -C`, `node -e`, passed variables, compilers): each bypass
found has an outcome test here (in guardrail mode, where only the static check stands)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from agentsh.policy import Policy
from agentsh.profile import Host, load_profile
from tests.conftest import run_guardrail
from tests.test_ordinary_corpus import DEVELOPER, SECRET, build, guarded_project, narrow_developer, project_policy

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def guarded(tmp_path: Path, home: Path, agentsh_env: dict[str, str]) -> tuple[Path, Run]:
    return guarded_project(tmp_path, home, agentsh_env)


@pytest.mark.parametrize("line", [
    "pushd -n .ssh >/dev/null; cd ~; popd >/dev/null; cat id_rsa",
    "pushd -n .ssh >/dev/null; cd ..; pushd >/dev/null; cat id_rsa",
    "pushd -n .ssh >/dev/null; cd ..; pushd +1 >/dev/null; cat id_rsa",
])
def test_a_directory_pushed_without_cd_is_not_entered_from_elsewhere(guarded: tuple[Path, Run], line: str) -> None:
    """`pushd -n DIR` puts DIR on the stack as written, relative, and popd (or a swap) cds to
    it from wherever the line is then: `.ssh` read-checked from the project was ~/.ssh."""
    _project, run = guarded
    got = run(line)
    assert SECRET not in got.stdout + got.stderr
    assert got.returncode == 126, got.stderr


@pytest.mark.parametrize("line", ["cd -- -x; cat id_rsa", "pushd -- -x >/dev/null; cat id_rsa"])
def test_cd_enters_a_directory_named_like_an_option_after_dashdash(guarded: tuple[Path, Run], home: Path,
                                                                   line: str) -> None:
    """`cd -- -x` enters `-x` (here a link to ~/.ssh, as a checked-out repository may hold):
    it was read as a `cd` with no operand, to ~, so `cat id_rsa` was checked as ~/id_rsa."""
    project, run = guarded
    (project / "-x").symlink_to(home / ".ssh")
    got = run(line)
    assert SECRET not in got.stdout + got.stderr
    assert got.returncode == 126, got.stderr


def _object(project: Path) -> None:
    (project / "a.c").write_text("int main(void) { return 0; }\n")
    subprocess.run(["gcc", "-c", "a.c"], cwd=project, check=True)


@pytest.mark.parametrize("line", [
    "ld -e main -T evil.ld a.o",
    "ld -e main --script=evil.ld a.o",
    "ld -e main -Tevil.ld a.o",
])
def test_a_linker_script_names_no_output_past_the_check(guarded: tuple[Path, Run], line: str) -> None:
    """A linker script's OUTPUT(FILE) is ld's output when the line gives no -o: here a hook in
    .git/hooks (write.deny), where the check saw a.out in the working directory."""
    project, run = guarded
    _object(project)
    (project / "evil.ld").write_text("OUTPUT(.git/hooks/pre-commit)\n")
    got = run(line)
    assert not (project / ".git" / "hooks" / "pre-commit").exists()
    assert got.returncode == 126, got.stderr
    # with -o, -o wins over OUTPUT() (bfd and gold alike): allowed, and written where -o says
    got = run(line.replace("ld ", "ld -o prog ", 1))
    assert got.returncode == 0, got.stderr
    assert (project / "prog").exists()
    assert not (project / ".git" / "hooks" / "pre-commit").exists()


@pytest.mark.parametrize("line", [
    "gcc -fuse-ld=gold -Wl,--print-symbol-counts=.git/hooks/pre-commit a.o",
    "gcc -fuse-ld=gold -Wl,--print-symbol-counts,.git/hooks/pre-commit a.o",
    "gcc -fuse-ld=gold -Xlinker --print-symbol-c -Xlinker .git/hooks/pre-commit a.o",
])
def test_gold_writes_its_symbol_counts_only_where_checked(guarded: tuple[Path, Run], line: str) -> None:
    """gold's --print-symbol-counts FILE writes FILE (here a hook in .git/hooks, write.deny)."""
    project, run = guarded
    _object(project)
    got = run(line)
    assert not (project / ".git" / "hooks" / "pre-commit").exists()
    assert got.returncode == 126, got.stderr


def test_a_header_is_compiled_beside_itself_only_inside_the_write_roots(tmp_path: Path, home: Path,
                                                                       agentsh_env: dict[str, str]) -> None:
    """gcc compiles a header with no -o into NAME.gch beside it, not in the working directory:
    `gcc ../other/h.h` wrote ../other/h.h.gch (here outside the only write root, the project)."""
    project = home / "proj"
    project.mkdir()
    build(project)
    (home / "other").mkdir()
    (home / "other" / "h.h").write_text("int f(void);\n")
    profile = narrow_developer(tmp_path)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    for line in ("gcc ../other/h.h", "gcc -c -x c-header ../other/h.h", "g++ -xc++-header ../other/h.h"):
        got = run_guardrail(line, project, agentsh_env, scratch, profile)
        assert not (home / "other" / "h.h.gch").exists(), line
        assert got.returncode == 126, got.stderr
    got = run_guardrail("gcc -o h.h.gch ../other/h.h", project, agentsh_env, scratch, profile)
    assert got.returncode == 0, got.stderr
    assert (project / "h.h.gch").exists()


@pytest.mark.xfail(strict=True, reason="known open gap: a compiler reads what its search paths and files name")
@pytest.mark.parametrize("line", [
    "gcc -E -I.. -include .ssh/id_rsa a.c",
    "ld -r -b binary -o k.o -L.. -l:.ssh/id_rsa && strings k.o",
    "ld -r -o k.o bin.ld && strings k.o",
    "gcc -E inc.c",
])
def test_what_a_compiler_finds_by_searching_is_not_checked(guarded: tuple[Path, Run], home: Path, line: str) -> None:
    """docs/security-model.md, Known open gaps: the read roots check the words, not what the
    include or library path finds, nor what a source or a linker script names."""
    project, run = guarded
    (project / "a.c").write_text("int main(void) { return 0; }\n")
    (project / "inc.c").write_text(f'#include "{home}/.ssh/id_rsa"\n')
    (project / "bin.ld").write_text(f"TARGET(binary)\nINPUT({home}/.ssh/id_rsa)\n")
    got = run(line)
    assert SECRET not in got.stdout + got.stderr


@pytest.mark.parametrize("line", [
    "clang -c a.c -o a.o -dependency-file /etc/x.d",
    "clang -c a.c -o a.o -dependency-dot .git/hooks/pre-commit",
    "clang -c a.c -o a.o -module-dependency-dir .git/hooks",
    "clang -c a.c -o a.o -gen-cdb-fragment-path .git/hooks",
    "clang -fuse-ld=lld -o a a.c -Wl,--print-symbol-order=.git/hooks/pre-commit",
    "clang -fuse-ld=lld -o a a.c -Wl,--time-trace-file=.git/hooks/pre-commit",
])
def test_clang_and_lld_write_options_are_targets(tmp_path: Path, home: Path, line: str) -> None:
    """clang and lld are not installed here: the decision (their write options name a hook)."""
    project = home / "proj"
    project.mkdir()
    build(project)
    host = Host(cwd=str(project), home=str(home), config_home=str(home / ".config"))
    profile = yaml.safe_load(DEVELOPER.read_text())
    stand_ins = tmp_path / "bin"
    stand_ins.mkdir()
    (stand_ins / "clang").write_text("#!/bin/sh\nexit 0\n")
    (stand_ins / "clang").chmod(0o755)
    profile["path"] = [*profile["path"], str(stand_ins)]
    (tmp_path / "dev.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    decision = Policy(load_profile(str(tmp_path / "dev.yaml"), host), host).decide(line, str(project))
    assert decision.decision == "deny"
    assert "writes" in " ".join(v.reason for v in decision.refused)


# What the review tried against the loosenings that held (refused before and after): kept
# so a later loosening that opens one of them shows.
HELD = [
    "pushd -n .ssh; cd ~; popd; cat id_rsa",
    "pushd -n -- .ssh; cd ~; pushd; cat id_rsa",
    "OLDPWD=~/.ssh cd - && cat id_rsa",
    "HOME=~/.ssh cd && cat id_rsa",
    "PWD=~/.ssh cd .. && cat .ssh/id_rsa",
    "cd ~ && cd proj && cat ~-/.netrc",
    "for f in tests/*.py; do declare -n g=f; g=-mpip; python3 \"$f\" install x; done",
    "for f in tests/*.py; do select f in -mpip; do break; done <<< 1; python3 \"$f\" install x; done",
    "for f in tests/*.py; do let \"f = -5\"; python3 \"$f\"; done",
    "for f in tests/*.py; do [[ 1 -eq f=-5 ]]; python3 \"$f\"; done",
    "for f in tests/*.py; do trap 'x=1;f=-mpip' DEBUG; python3 \"$f\" install x; done",
    "for f in tests/*.py; do IFS= read -r f; python3 \"$f\" install x; done",
    "for f in tests/*.py; do python3 \"$f\"; done; for g in -mpip; do python3 \"$g\" install x; done",
    "for g in -mpip; do for f in tests/*.py; do python3 \"$f\" install x; done; done",
    "for f in .ssh/id_rsa; do cd ~; python3 \"$f\"; done",
    "cd ~ && for f in .ss*/id*; do python3 \"$f\"; done",
    "for f in tests/*; do sed \"$f\" README.md; done",
    "for f in scripts/*; do timeout 5 \"$f\"; done",
    "node -e --inspect=0.0.0.0:9229",
    "node -e -r",
    "git -C ~ diff --no-index /dev/null .ssh/id_rsa",
    "git -C .. diff --no-index proj/README.md .ssh/id_rsa",
    "git -C src blame --contents ../../.ssh/id_rsa x",
    "git -C ~ show HEAD:.ssh/id_rsa",
]


@pytest.fixture(scope="module")
def decide_developer(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], str]:
    policy, project = project_policy(tmp_path_factory.mktemp("held"), DEVELOPER)
    return lambda line: policy.decide(line, str(project)).decision


@pytest.mark.parametrize("line", HELD)
def test_what_held_stays_refused(decide_developer: Callable[[str], str], line: str) -> None:
    assert decide_developer(line) == "deny"


@pytest.mark.parametrize("line", [
    "ar xP lib.a",  # members with their paths, as `ar rcP` stored them
    "ar -xP lib.a",
    "ar x --output=.git/hooks plain.a",
    "ar x --output .git/hooks plain.a",
    "cd .git/hooks && ar x ../../plain.a",  # members land in the working directory
])
def test_ar_extracts_no_member_into_a_denied_place(guarded: tuple[Path, Run], tmp_path: Path, line: str) -> None:
    """ar (allowed for builds) extracting archives from the repository: each member is written
    where the archive's names, --output DIR or the working directory say."""
    project, run = guarded
    made = tmp_path / "made"
    (made / ".git" / "hooks").mkdir(parents=True)
    hook = made / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\ntouch canary\n")
    (made / "pre-commit").write_text(hook.read_text())
    subprocess.run(["ar", "rcPU", str(project / "lib.a"), ".git/hooks/pre-commit"], cwd=made, check=True)
    subprocess.run(["ar", "rcU", str(project / "plain.a"), "pre-commit"], cwd=made, check=True)
    got = run(line)
    assert not (project / ".git" / "hooks" / "pre-commit").exists()
    assert got.returncode == 126, got.stderr
    got = run("mkdir -p out && cd out && ar x ../plain.a && ls")
    assert got.stdout == "pre-commit\n", got.stderr


@pytest.mark.parametrize("line", ["gcc -c a.c -o a.o -Wp,@opts", "gcc -c a.c -o a.o -Wp,-DX,@opts",
                                  "gcc -c a.c -o a.o --for-linker=-e --for-linker=main -Wp,@opts"])
def test_the_preprocessors_response_file_is_refused(guarded: tuple[Path, Run], line: str) -> None:
    """`-Wp,@FILE` hands cc1 more options from FILE (here `-MD .git/hooks/pre-commit`), as
    `@FILE`, `-Wa,@FILE` and `-Wl,@FILE` would (those were refused already)."""
    project, run = guarded
    (project / "a.c").write_text("int main(void) { return 0; }\n")
    (project / "opts").write_text("-MD .git/hooks/pre-commit\n")
    got = run(line)
    assert not (project / ".git" / "hooks" / "pre-commit").exists()
    assert got.returncode == 126, got.stderr
