"""The other files a compiler, the linker and the assembler write (dependency files, link maps,
dumps, saved temporaries, listings, profile data) are write targets, in guardrail mode too.

Found by hand next to the policy fuzzer's second round (docs/security-model.md's old "A
compiler's other output files" gap): the developer profile allows cc, gcc, g++, c++, clang,
clang++, ld and as with any arguments, and only their `-o` was a write target, so `cc -MD -MF
../x.d`, `-Wl,-Map=FILE`, `-aux-info FILE`, `-fdump-*=FILE`, `-save-temps -dumpdir DIR/` and the
rest wrote outside the write roots, and into `.git/hooks`.

HOME is under /dev/shm here: /tmp is a write root of the developer profile, so a file outside
the write roots cannot be under pytest's tmp_path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agentsh.policy import Policy
from agentsh.profile import Host, load_profile
from tests.conftest import run_guardrail

DEVELOPER = Path(__file__).resolve().parent.parent / "profiles" / "developer.yaml"
GCC = shutil.which("gcc", path="/usr/local/bin:/usr/bin:/bin")
GXX = shutil.which("g++", path="/usr/local/bin:/usr/bin:/bin")
needs_gcc = pytest.mark.skipif(GCC is None or GXX is None, reason="no gcc/g++ on this machine")
SOURCE = "int main(void) { return 0; }\n"


@pytest.fixture
def outside() -> Iterator[Path]:
    """A HOME outside every write root of the developer profile, with the workspace proj in
    it (a git repository's hooks directory and a C source)."""
    if not os.access("/dev/shm", os.W_OK):
        pytest.skip("no writable /dev/shm: every temporary directory is under a write root")
    root = Path(tempfile.mkdtemp(prefix="agentsh-cc-", dir="/dev/shm"))
    home = root / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / "proj" / ".git" / "hooks").mkdir(parents=True)
    (home / "proj" / "a.c").write_text(SOURCE)
    try:
        yield home
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def env(outside: Path, agentsh_env: dict[str, str]) -> dict[str, str]:
    return dict(agentsh_env, HOME=str(outside))


@pytest.fixture
def decide(outside: Path) -> Callable[[str], str]:
    """The developer profile's decision of a line run in ~/proj: "allow", "deny" or "ask",
    with the reason of a refusal ("deny: why")."""
    host = Host(cwd=str(outside / "proj"), home=str(outside), config_home=str(outside / ".config"))
    policy = Policy(load_profile(str(DEVELOPER), host), host)

    def run(line: str) -> str:
        decision = policy.decide(line)
        if decision.decision == "allow":
            return "allow"
        why = decision.deciding.reason if decision.deciding else ""
        # a program missing here is refused for that alone: the test would prove nothing
        assert "not found" not in why, why
        return f"{decision.decision}: {why}"
    return run


def _written_outside(home: Path) -> set[str]:
    """What is in HOME, and in the hooks directory, besides what the fixture made."""
    found = {p.name for p in home.iterdir()} - {".ssh", "proj", ".config", ".local", ".cache"}
    hooks = home / "proj" / ".git" / "hooks"
    return found | {f"hooks/{p.name}" for p in hooks.iterdir()}


# Each wrote the named file outside the write roots (or a hook) in guardrail mode before.
WROTE_OUTSIDE = [
    "cc -MD -MF ../x.d -c a.c -o a.o",
    "gcc -MMD -MF../x.d -c a.c",
    "gcc -Wp,-MD,../x.d -c a.c",
    "gcc -save-temps -dumpdir ../out- -c a.c",
    "gcc -fstack-usage -dumpbase ../su -c a.c",
    "gcc -save-temps -dumpdir ../proj -c a.c",  # ../proja.i: the directory named is the workspace
    "gcc -fstack-usage -dumpbase ../proj -c a.c",  # ../proj.su
    "gcc -aux-info ../x.h -c a.c",
    "gcc -fdump-tree-original=../x.dump -c a.c",
    "gcc -fopt-info-all=../x.opt -O2 -c a.c",
    "gcc -Wa,-adhln=../x.lst -c a.c",
    "gcc --output=../x.o -c a.c",
    "gcc --output ../x.o -c a.c",
    "gcc -Wl,-Map=../x.map -o prog a.c",
    "gcc -Wl,-Map,../x.map -o prog a.c",
    "gcc -Xlinker -Map -Xlinker ../x.map -o prog a.c",
    "gcc -Xlinker -Map=../x.map -o prog a.c",
    "gcc -Wl,--dependency-file=../x.d -o prog a.c",
    "gcc -c a.c && ld -Map ../x.map -e main -o a.out a.o",
    "gcc -c a.c && ld -e main --output=../x a.o",
    "gcc -S a.c && as -a=../x.lst -o a.o a.s",
    "cd .. && gcc -c proj/a.c",  # no -o: a.o in the working directory, here HOME
    "cd .. && gcc -v -c proj/a.c",  # -v still compiles
    "cd .. && gcc -save-temps -c proj/a.c -o proj/a.o",  # a.i and a.s in the working directory
    "cc -MD -MF .git/hooks/post-checkout -c a.c",
    "gcc -Wl,-Map=.git/hooks/post-checkout -o prog a.c",
    "gcc -fdump-tree-original=.git/hooks/post-merge -c a.c",
    "gcc -aux-info .git/hooks/pre-commit -c a.c",
]


@needs_gcc
@pytest.mark.parametrize("line", WROTE_OUTSIDE)
def test_a_compilers_other_output_files_stay_in_the_write_roots(line: str, outside: Path, env: dict[str, str],
                                                                 tmp_path: Path) -> None:
    done = run_guardrail(line, outside / "proj", env, tmp_path, DEVELOPER)
    assert _written_outside(outside) == set(), done.stderr
    assert done.returncode == 126, done.stderr
    assert "write" in done.stderr, done.stderr


@pytest.mark.skipif(shutil.which("cmake", path="/usr/local/bin:/usr/bin:/bin") is None, reason="no cmake on this machine")
@pytest.mark.parametrize("line", ["cd .. && cmake proj", "cmake -S . -B ../b", "cmake -S . -B .git/hooks/b"])
def test_cmake_configures_no_build_tree_outside_the_write_roots(line: str, outside: Path, env: dict[str, str],
                                                                 tmp_path: Path) -> None:
    """Before, cmake's build tree was no write target: each of these configured (CMakeCache.txt,
    CMakeFiles/, Makefile) outside the workspace or in .git/hooks in guardrail mode."""
    (outside / "proj" / "CMakeLists.txt").write_text("cmake_minimum_required(VERSION 3.10)\nproject(x NONE)\n")
    done = run_guardrail(line, outside / "proj", env, tmp_path, DEVELOPER)
    assert _written_outside(outside) == set(), done.stderr
    assert done.returncode == 126, done.stderr


# Refused by the static check (no compiler needs to run): the other spellings and options.
# clang's options are spelled with cc (clang is not installed everywhere, and a program the
# profile's path lacks is refused for that alone); test_clang_is_read_as_a_driver covers the name.
@pytest.mark.parametrize("line", [
    "cc -save-temps -dumpdir ../ -c a.c",
    "cd .. && cc -save-temps=cwd -c proj/a.c -o proj/a.o",
    "cd .. && cc -fcallgraph-info=su,da -c proj/a.c",
    "cd .. && g++ -fmodules-ts -c proj/a.cc -o proj/a.o",  # gcm.cache/ in the working directory
    "cd .. && g++ -fmodule-header -c proj/a.h -o proj/a.o",
    "cc -dumpbase ../x -c a.c",
    "cc -fdump-rtl-all=../x -c a.c",
    "cc -fprofile-generate=../prof -o prog a.c",
    "cc -fprofile-dir=../prof -fprofile-generate -o prog a.c",
    "cc -fprofile-note=../x.gcno -c a.c",
    "cc -fprofile-instr-generate=../x.profraw -o prog a.c",
    "cc -ftime-trace=../trace.json -c a.c",
    "cc -fmodules-cache-path=../mc -c a.c",
    "cc -fcrash-diagnostics-dir=../crash -c a.c",
    "cc -fdiagnostics-add-output=sarif:file=../x.sarif -c a.c",
    "cc -MJ ../x.json -c a.c",  # clang's compilation database entry
    "cc -MJ../x.json -c a.c",
    "cc --serialize-diagnostics ../x.dia -c a.c",
    "cc -flto-incremental=../cache -flto -o prog a.c",
    "cc -fproc-stat-report=../x.csv -c a.c",
    "cd .. && cc -save-stats=cwd -c proj/a.c -o proj/a.o",
    "cc -fsome-future-dump-file=../x -c a.c",  # unknown, but its name says it may write there
    "cc -Wa,--MD,../x.d -c a.c",
    "cc -Xassembler -a=../x.lst -c a.c",
    "cc -Xpreprocessor -MF -Xpreprocessor ../x.d -c a.c",
    "cc --outp=../x.o -c a.c",
    "cc --for-linker=-Map=../x.map a.c",  # gcc's long name of -Xlinker
    "cc --for-linker -Map=../x.map a.c",
    "cc --for-assembler=-a=../x.lst -c a.c",
    "cd .. && cc --write-d -c proj/a.c -o /tmp/a.o",  # --write-dependencies: -MD, .d in the dump directory
    "cd .. && cc --save -c proj/a.c -o /tmp/a.o",
    "c++ -MD -MF ../x.d -c a.cc",
    "ld -Map=../x.map a.o",
    "ld --Map ../x.map a.o",
    "ld -out ../x a.o",
    "ld --dep=../x.d a.o",
    "ld --save-temps -o ../proj a.o",  # lld: ../proj.lto.o (-o names the workspace)
    "as --MD ../x.d a.s",
    "as -alh=../x.lst a.s",
    "cd .. && as proj/a.s",  # a.out in the working directory
    "cc -Wl,-Map=$(echo ../x) a.c",
    "cc -Wl,-Map ../x.o a.c",  # -Map takes the next word ld is handed: the object ../x.o
    "cc -Xlinker -Map ../x.o a.c",
    "cc -Wp,-MD ../x.c",
    "cc -Wl,-o ../x.o a.c",
    "cc -Wl,-o,../x -o p a.c",
    "cc -fdump-tree-all=$(echo ../x) -c a.c",
    "ld $(echo -Map=../x) a.o",
    "ld -plugin-opt=-fresolution=../x.res -o prog a.o",
    "cd .git/hooks && cc -c ../../a.c",
    # cmake, the other build tool the developer profile allows with any arguments
    "cmake -S . -B ../b",
    "cmake -B../b",
    "cmake -S . -B .git/hooks",
    "cd .. && cmake proj",  # the build tree is the working directory
    "cmake --build ../b",
    "cmake --install build --prefix ../inst",
    "cmake --graphviz=../x.dot .",
    "cmake --trace-redirect=../x.log .",
    "cmake --profiling-output=../x.json --profiling-format=google-trace .",
    "cmake --system-information ../x.txt",
])
def test_the_compilers_other_writes_are_checked(line: str, decide: Callable[[str], str]) -> None:
    assert decide(line).startswith("deny: writes"), decide(line)


# Options that make the compiler or linker run or load a program the line does not show.
@pytest.mark.parametrize("line", [
    "cc -fuse-ld=/tmp/ld -o prog a.c",
    "cc --prefix=/tmp/x/ a.c",  # gcc's long name of -B
    "cc --prefix /tmp/x/ a.c",
    "cc --pref=/tmp/x/ a.c",
    "cc --ld-path=/tmp/ld -o prog a.c",
    "cc --gcc-toolchain=/tmp/tc -o prog a.c",
    "cc -Wl,-plugin,/tmp/x.so -o prog a.c",
    "cc -Wl,--plugin=/tmp/x.so -o prog a.c",
    "cc -Xlinker -plugin -Xlinker /tmp/x.so -o prog a.c",
    "cc -Wl,--error-handling-script=./x.sh -o prog a.c",
    "cc -Wl,@args -o prog a.c",
    "cc -Wa,@args -c a.c",
    "ld -plugin /tmp/x.so a.o",
    "ld --load-pass-plugin=/tmp/x.so a.o",
    "ld -plugin /usr/lib/gcc/../../../tmp/x.so a.o",
    "ld -plugin-opt=/usr/lib/gcc/x/../../../../tmp/lto-wrapper a.o",
    "ld -plugin-opt=/tmp/lto-wrapper a.o",  # gcc's plugin runs it
    "cc -Wl,-plugin-opt,./x -o prog a.c",
    "ld --error-handling-script=./x.sh a.o",
    "cc -fpass-plugin=/tmp/x.so -c a.c",
    "cc -Xclang -load -Xclang /tmp/x.so -c a.c",
    "cc -Xclang -dependency-file -Xclang ../x.d -c a.c",
    "g++ -fmodules-ts -fmodule-mapper='|sh -c id' -c a.cc",
    "g++ -fmodules-ts -fmodule-mapper=map.txt -c a.cc",  # the file names where module files go
])
def test_options_that_make_a_compiler_run_a_program_are_refused(line: str, decide: Callable[[str], str]) -> None:
    assert decide(line).startswith("deny"), decide(line)
    assert "only known at run time" not in decide(line)


@needs_gcc
@pytest.mark.parametrize("line", ["gcc --prefix=tools/ -c a.c", "gcc --prefix tools/ -c a.c"])
def test_gccs_long_name_of_dash_b_runs_no_program_of_the_workspace(line: str, outside: Path, env: dict[str, str],
                                                                   tmp_path: Path) -> None:
    """`-B DIR` was a hazard, its long name `--prefix=DIR` was not: gcc ran tools/as (any program
    the line had written there) in guardrail mode."""
    tools = outside / "proj" / "tools"
    tools.mkdir()
    canary = tmp_path / "ran"
    (tools / "as").write_text(f"#!/bin/sh\ntouch {canary}\nexit 1\n")
    (tools / "as").chmod(0o755)
    done = run_guardrail(line, outside / "proj", env, tmp_path, DEVELOPER)
    assert not canary.exists(), done.stderr
    assert done.returncode == 126, done.stderr


# Hazards there were before (kept; these pass on the old code too).
@pytest.mark.parametrize("line", ["cc -specs=x.specs a.c", "cc -wrapper sh,-c a.c", "cc -B/tmp/x a.c",
                                  "cc -fplugin=x.so a.c", "cc @args a.c", "cc -Xlinker @args -o prog a.c"])
def test_the_hazards_there_were_stay(line: str, decide: Callable[[str], str]) -> None:
    assert decide(line).startswith("deny"), decide(line)


def test_clang_is_read_as_a_driver() -> None:
    from agentsh.parse import Word
    from agentsh.policy import compilers

    for name in ("clang", "clang++", "clang-17", "x86_64-linux-gnu-gcc-12", "aarch64-linux-gnu-g++", "c99"):
        assert compilers.kind(name) == "driver", name
    for name in ("ld", "ld.bfd", "ld.gold", "ld.lld", "x86_64-linux-gnu-ld"):
        assert compilers.kind(name) == "ld", name
    for name in ("distcc", "ccache", "clangd", "yacc", "gas-preprocessor", "old", "bash"):
        assert compilers.kind(name) == "", name
    words = tuple(Word(w, w) for w in ("-MD", "-MF", "../x.d", "-c", "a.c"))
    for name in ("clang++", "x86_64-linux-gnu-gcc-12"):  # as typed, and as `cc` resolves on Debian
        assert "../x.d" in [w.value for w in compilers.write_targets(name, words)]
    assert [w.value for w in compilers.write_targets("ld.bfd", (Word("-Map", "-Map"), Word("x", "x")))] == ["x", "."]


ORDINARY = [
    "cc -O2 -Wall -c a.c -o a.o",
    "gcc -g -o prog main.c util.c -lm",
    "g++ -std=c++17 -I include -MMD -MP -c src/x.cpp -o build/x.o",
    "cc -MD -MP -MF build/x.d -MT build/x.o -c a.c -o build/x.o",
    "cc -c a.c",
    "cc -E a.c",
    "cc -M a.c",
    "cc --version",
    "cc -v -c a.c",
    "cc -dumpmachine",
    "cc -print-file-name=libc.so",
    "cc -x c -c /dev/null -o /tmp/x.o",
    "cc -Wl,-rpath,/opt/lib -Wl,--as-needed -o prog a.c",
    "cc -shared -fPIC -Wl,-soname,libx.so.1 -o libx.so a.c",
    "cc -fuse-ld=gold -o prog a.c",
    "cc -ffile-prefix-map=/build=. -fdebug-prefix-map=/src=. -c a.c",
    "cc -fprofile-use=/opt/prof -c a.c",
    "cc -fdiagnostics-color=always -fsanitize=address -c a.c",
    "cc -Wl,-Map=build/x.map -o build/prog a.c",
    "cc -fprofile-generate -o prog a.c",
    "cc --coverage -save-temps -o prog a.c",
    "cc -flto=auto -Wl,-z,relro,-z,now -Wl,-O1 -Wl,--gc-sections -Wl,--trace -o p a.c",
    "cc -Wl,--version-script=x.ver -shared -o x.so a.c",
    "cc -I include -Iinclude -L lib -lm -std=c11 -pthread -DVERSION=$(git describe) -o p a.c",
    "cc -ftime-trace-granularity=50 -fdiagnostics-path-format=inline-events -c a.c",
    "cc -fdump-tree-original -c a.c -o /tmp/a.o",
    "cc -Xclang -fno-pch-timestamp -c a.c",
    "ld -o prog a.o",
    # what gcc's collect2 runs on every link (the exec guard decides it in confined mode)
    "ld -plugin /usr/lib/gcc/x86_64-linux-gnu/12/liblto_plugin.so "
    "-plugin-opt=/usr/lib/gcc/x86_64-linux-gnu/12/lto-wrapper -plugin-opt=-fresolution=/tmp/cc1.res "
    "-plugin-opt=-pass-through=-lgcc --build-id -m elf_x86_64 -dynamic-linker /lib64/ld-linux-x86-64.so.2 "
    "-pie -o prog a.o -lc",
    "as --64 -o /tmp/cc2.o /tmp/cc2.s",
    "as -o a.o a.s",
    "cd / && ld --version && as --version",
    "make",
    "make -j4 all",
    "cmake --build build",
    "cmake --build build -j4 -t all",
    "cmake --build build --config Release --parallel",
    "cmake .",
    "cmake -S . -B build",
    # -DCMAKE_... was read as a cluster holding -P and -C (cmake's hazards) before
    "cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=gcc -G 'Unix Makefiles'",
    "cmake -S /usr/share/cmake/Modules -B build",
    "mkdir -p build && cd build && cmake ..",
    "cmake --install build --prefix /tmp/inst",
]


@pytest.mark.parametrize("line", ORDINARY)
def test_ordinary_builds_stay_allowed(line: str, decide: Callable[[str], str]) -> None:
    assert decide(line) == "allow"


def _run_default(line: str, cwd: Path, env: dict[str, str], _scratch: Path, profile: Path) -> subprocess.CompletedProcess[str]:
    """`agentsh -p PROFILE -c LINE` in the mode the machine gives (confined where ptrace and
    Landlock work: the exec guard then decides the ld that gcc's collect2 runs, with gcc's own
    `-plugin liblto_plugin.so`, which a hazard on `ld -plugin` must let through)."""
    return subprocess.run([sys.executable, "-m", "agentsh", "-p", str(profile), "-c", line], cwd=cwd,
                          env=dict(env, AGENTSH_WARM="0"), capture_output=True, text=True, timeout=60)


@needs_gcc
@pytest.mark.parametrize("run", [run_guardrail, _run_default], ids=["guardrail", "default-mode"])
def test_ordinary_builds_run(run: Callable[..., subprocess.CompletedProcess[str]], outside: Path,
                             env: dict[str, str], tmp_path: Path) -> None:
    """The must-allow builds, for real, in the workspace (a Makefile with -MMD dependency files too)."""
    proj = outside / "proj"
    (proj / "main.c").write_text("int util(void);\nint main(void) { return util(); }\n")
    (proj / "util.c").write_text("#include <math.h>\nint util(void) { return (int) floor(0.5); }\n")
    (proj / "include").mkdir()
    (proj / "include" / "x.hpp").write_text("inline int x() { return 0; }\n")
    (proj / "src").mkdir()
    (proj / "src" / "x.cpp").write_text('#include "x.hpp"\nint y() { return x(); }\n')
    (proj / "Makefile").write_text("CFLAGS += -MMD -MP\nall: m\nm: main.o util.o\n\t$(CC) -o $@ $^ -lm\n"
                                   "-include main.d util.d\n")
    for line in ("cc -O2 -Wall -c a.c -o a.o", "gcc -g -o prog main.c util.c -lm",
                 "mkdir -p build && g++ -std=c++17 -I include -MMD -MP -c src/x.cpp -o build/x.o", "make"):
        done = run(line, proj, env, tmp_path, DEVELOPER)
        assert done.returncode == 0, (line, done.stderr)
    for made in ("a.o", "prog", "build/x.o", "build/x.d", "m", "main.d", "util.d"):
        assert (proj / made).exists(), made
    assert _written_outside(outside) == set()
    # the binary built runs, so the build was a real one
    assert subprocess.run([str(proj / "m")], check=False).returncode == 0
