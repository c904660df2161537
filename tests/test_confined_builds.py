"""Ordinary builds run for real in confined mode (the exec guard decides every exec in the
line's process tree) under the developer profile, and the dangerous forms next to each stay
refused.

False positives found by hand and fixed here:
- `gcc -flto` (and `-flto=auto`): collect2 runs ld, whose LTO plugin runs gcc's lto-wrapper,
  which the guard refused ("not the name the profile's path finds it under": gcc's helpers are
  gcc's, and ld's rule decided ld); lto-wrapper then runs `gcc @TMPFILE`, a response file that
  gcc's hazards refuse unread.
- cmake's compiler check and `cmake --build` run `/usr/bin/gmake` (make under its GNU name),
  which no rule of the developer profile named.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agentsh.guard.doctor import probe_exec_guard
from agentsh.guard.execcheck import LINE, ExecChecker, Lineage, expand_response_files
from agentsh.policy import Policy
from agentsh.profile import Host, load_profile

DEVELOPER = Path(__file__).resolve().parent.parent / "profiles" / "developer.yaml"
TOOLS = "/usr/local/bin:/usr/bin:/bin"
GCC = shutil.which("gcc", path=TOOLS)
LTO_WRAPPERS = sorted(glob.glob("/usr/lib/gcc/*/*/lto-wrapper"))
LTO_PLUGINS = sorted(glob.glob("/usr/lib/gcc/*/*/liblto_plugin.so"))

needs_guard = pytest.mark.skipif(not probe_exec_guard().active, reason="no exec guard here (ptrace unavailable)")
needs_lto = pytest.mark.skipif(GCC is None or not LTO_WRAPPERS or not LTO_PLUGINS,
                               reason="no gcc with lto-wrapper and its LTO plugin under /usr/lib/gcc")
needs_cmake = pytest.mark.skipif(shutil.which("cmake", path=TOOLS) is None or GCC is None
                                 or shutil.which("gmake", path=TOOLS) is None,
                                 reason="no cmake, gcc or gmake on this machine")

Run = Callable[[str], subprocess.CompletedProcess[str]]


@pytest.fixture
def home() -> Iterator[Path]:
    """HOME outside /tmp, as on a real machine: under /tmp its denied secrets (~/.ssh) leave
    Landlock no way to grant /tmp itself, where the compilers make their temporary files."""
    if not os.access("/dev/shm", os.W_OK):
        pytest.skip("no writable /dev/shm for a HOME outside /tmp")
    root = Path(tempfile.mkdtemp(prefix="agentsh-builds-", dir="/dev/shm"))
    (root / ".ssh").mkdir()
    (root / ".ssh" / "id_rsa").write_text("SECRET-KEY-BYTES\n")
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def proj(home: Path) -> Path:
    workspace = home / "proj"
    workspace.mkdir()
    (workspace / "main.c").write_text("int util(void);\nint main(void) { return util(); }\n")
    (workspace / "util.c").write_text("#include <math.h>\nint util(void) { return (int) floor(0.5); }\n")
    return workspace


@pytest.fixture
def run(agentsh_env: dict[str, str], proj: Path, home: Path) -> Run:
    """`agentsh -p developer.yaml -c LINE` in the project, in the mode the machine gives."""
    def go(line: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "agentsh", "-p", str(DEVELOPER), "-c", line], cwd=proj,
                              env=dict(agentsh_env, AGENTSH_WARM="0", HOME=str(home)), capture_output=True,
                              text=True, timeout=120)
    return go


def _built_and_runs(binary: Path) -> None:
    assert binary.exists(), binary
    assert subprocess.run([str(binary)], check=False).returncode == 0


# -- gcc -flto ------------------------------------------------------------------------------
@needs_guard
@needs_lto
@pytest.mark.parametrize("flag", ["-flto", "-flto=auto"])
def test_gcc_link_time_optimisation_runs_confined(flag: str, run: Run, proj: Path) -> None:
    done = run(f"gcc {flag} -O2 -o prog main.c util.c -lm")
    assert done.returncode == 0, done.stderr
    _built_and_runs(proj / "prog")


@needs_guard
@needs_lto
def test_a_lto_wrapper_of_the_lines_own_choosing_stays_refused(run: Run, proj: Path) -> None:
    """What the linker's plugin may run is gcc's own lto-wrapper, not one planted in the
    workspace; and the options lto-wrapper hands gcc in its response file are decided
    (COLLECT_GCC_OPTIONS, which an allowed interpreter sets, carries `-wrapper PROGRAM`)."""
    evil = proj / "lto-wrapper"
    evil.write_text(f"#!/bin/sh\ntouch {proj}/canary\n")
    evil.chmod(0o755)
    assert run("gcc -flto -c main.c util.c").returncode == 0
    plugin = LTO_PLUGINS[-1]
    wrapper = os.path.join(os.path.dirname(plugin), "lto-wrapper")
    link = ["ld", "-plugin", plugin, "-plugin-opt=-fresolution=r.res", "-o", "p", "main.o", "util.o"]
    for opt, env in ((str(evil), {}), (wrapper, {"COLLECT_GCC": "gcc", "COLLECT_GCC_OPTIONS": f"'-wrapper' '{evil}'"})):
        code = (f"import os, subprocess; os.environ.update({env!r}); "
                f"subprocess.run({[*link[:3], f'-plugin-opt={opt}', *link[3:]]!r})")
        done = run(f"python3 -c {_quote(code)}")
        assert "denied at exec" in done.stderr, done.stderr
        # the second is refused on the word read from the response file, before evil runs
        assert env == {} or "-wrapper runs the given command" in done.stderr, done.stderr
        assert not (proj / "canary").exists(), opt


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


# -- the exec guard's own answers, file by file ----------------------------------------------
@pytest.fixture
def checker(proj: Path, home: Path) -> ExecChecker:
    host = Host(cwd=str(proj), home=str(home), config_home=str(home / ".config"))
    return ExecChecker(Policy(load_profile(str(DEVELOPER), host), host))


def _key(path: str) -> tuple[int, int]:
    info = os.stat(path)
    return (info.st_dev, info.st_ino)


LD = Lineage(rule="build-tools", program="ld")
GCC_LINEAGE = Lineage(rule="build-tools", program="gcc")
LTO = Lineage(rule="build-tools", program="lto-wrapper")


@needs_lto
def test_the_linker_runs_gccs_lto_wrapper_and_nothing_else_of_gccs(checker: ExecChecker, proj: Path) -> None:
    wrapper = LTO_WRAPPERS[-1]
    argv = [wrapper, "@/tmp/x.lto_wrapper_args"]
    for lineage in (LD, GCC_LINEAGE):
        verdict = checker.check(wrapper, _key(wrapper), argv, str(proj), lineage)
        assert verdict.allowed, verdict.reason
        assert verdict.lineage.program == "lto-wrapper"
    # not under another program, not gcc's other programs under ld, not a copy elsewhere
    assert not checker.check(wrapper, _key(wrapper), argv, str(proj), LINE).allowed
    assert not checker.check(wrapper, _key(wrapper), argv, str(proj), Lineage("python", "python3")).allowed
    cc1 = os.path.join(os.path.dirname(wrapper), "cc1")
    if os.path.exists(cc1):
        assert not checker.check(cc1, _key(cc1), [cc1, "-fplugin=./x.so"], str(proj), LD).allowed
    planted = proj / "lto-wrapper"
    shutil.copy(wrapper, planted)
    assert not checker.check(str(planted), _key(str(planted)), [str(planted)], str(proj), LD).allowed


@needs_lto
@pytest.mark.parametrize(("words", "allowed"), [
    ("-xlto\n-c\n-fPIC\n-mtune=generic\n-dumpdir\nprog.\n-dumpbase\n./prog.wpa\n-fwpa\n"
     "-fresolution=/tmp/x.res\n-flinker-output=pie\n/tmp/cc1.o\n", True),
    ("-xlto\n-c\n-fplugin=./evil.so\n/tmp/cc1.o\n", False),
    ("-xlto\n-wrapper\n./evil\n/tmp/cc1.o\n", False),
    ("-xlto '-B' ./bin /tmp/cc1.o", False),
    ("-xlto\n@/tmp/more\n", False),  # no second level: kept as a response file, refused
    ("-xlto -specs=./x.specs /tmp/cc1.o", False),
])
def test_the_response_file_lto_wrapper_hands_gcc_is_decided(words: str, allowed: bool, checker: ExecChecker,
                                                             proj: Path) -> None:
    response = proj / "args"
    response.write_text(words)
    gcc = str(GCC)
    argv = ["gcc", f"@{response}"]
    verdict = checker.check(os.path.realpath(gcc), _key(gcc), argv, str(proj), LTO)
    assert verdict.allowed is allowed, verdict.reason
    # run by anything but lto-wrapper, `gcc @FILE` stays refused unread
    assert not checker.check(os.path.realpath(gcc), _key(gcc), argv, str(proj), GCC_LINEAGE).allowed


@pytest.mark.skipif(shutil.which("make", path=TOOLS) is None, reason="no make on this machine")
def test_only_a_compiler_drivers_response_file_is_read(checker: ExecChecker, proj: Path) -> None:
    """To make, `@FILE` is a target name: what is decided is the argv make reads."""
    (proj / "args").write_text("--eval=x:;id\n")
    make = str(shutil.which("make", path=TOOLS))
    verdict = checker.check(os.path.realpath(make), _key(make), ["make", f"@{proj / 'args'}"], str(proj), LTO)
    assert verdict.allowed, verdict.reason
    assert verdict.lineage.program == "make"


def test_response_files_split_as_gcc_splits_them(tmp_path: Path) -> None:
    (tmp_path / "r").write_text("a 'b c' \"d\\\"e\"\tf\\ g\n''\n")
    assert expand_response_files(["gcc", "@r", "x", "@"], str(tmp_path)) == ["gcc", "a", "b c", 'd"e', "f g", "", "x", "@"]
    # a missing file, a FIFO and argv[0] are kept as written
    os.mkfifo(tmp_path / "fifo")
    assert expand_response_files(["@r", "@missing", "@fifo"], str(tmp_path)) == ["@r", "@missing", "@fifo"]


# -- cmake and gmake --------------------------------------------------------------------------
# A static library and a program linked with it (the generator's clean scripts run for the library)
_CMAKE_HEAD = "cmake_minimum_required(VERSION 3.10)\nproject(demo C)\n"
_CMAKE_TARGETS = "add_library(u STATIC util.c)\nadd_executable(demo main.c)\ntarget_link_libraries(demo u m)\n"

@needs_guard
@needs_cmake
def test_cmake_configures_and_builds_confined(run: Run, proj: Path) -> None:
    (proj / "CMakeLists.txt").write_text(_CMAKE_HEAD + "enable_testing()\n" + _CMAKE_TARGETS)
    done = run("mkdir -p build && cmake -S . -B build && cmake --build build -j2")
    assert done.returncode == 0, done.stderr
    _built_and_runs(proj / "build" / "demo")
    # a static library: the generator runs `cmake -P CMakeFiles/u.dir/cmake_clean_target.cmake`
    # before archiving it, and `make clean` runs each target's cmake_clean.cmake
    done = run("cmake --build build --target clean && cmake --build build")
    assert done.returncode == 0, done.stderr
    _built_and_runs(proj / "build" / "demo")


@pytest.mark.parametrize("line", ["cmake -P x.cmake", "cmake -P CMakeFiles/u.dir/build.cmake",
                                  "cmake -P CMakeFiles/u.dir/cmake_clean.cmake -DX=1", "cmake -DX=1 -P x.cmake"])
def test_cmake_runs_no_other_script(line: str, decide: Callable[[str], str]) -> None:
    assert decide(line) == "deny"
    assert decide("cmake -P CMakeFiles/u.dir/cmake_clean_target.cmake") == "allow"


@pytest.fixture
def decide(proj: Path, home: Path) -> Callable[[str], str]:
    host = Host(cwd=str(proj), home=str(home), config_home=str(home / ".config"))
    policy = Policy(load_profile(str(DEVELOPER), host), host)
    return lambda line: policy.decide(line).decision


@pytest.mark.skipif(shutil.which("gmake", path=TOOLS) is None, reason="no gmake on this machine")
@pytest.mark.parametrize("form", ["{m} --eval='x:;touch canary' x", "{m} -E 'x:;id' x", "{m} SHELL=/tmp/x",
                                  "MAKEFLAGS=--eval=x {m}", "MFLAGS=-E {m}", "SHELL=./sh {m}"])
def test_gmake_has_makes_hazards(form: str, decide: Callable[[str], str]) -> None:
    assert decide(form.format(m="make")) == "deny"
    assert decide(form.format(m="gmake")) == "deny"


@needs_guard
@pytest.mark.skipif(shutil.which("gmake", path=TOOLS) is None, reason="no gmake on this machine")
def test_gmake_run_by_a_program_is_decided_as_make(run: Run, proj: Path) -> None:
    (proj / "Makefile").write_text("all: m\nm: main.o util.o\n\t$(CC) -o $@ $^ -lm\n")
    assert run("gmake").returncode == 0
    _built_and_runs(proj / "m")
    code = "import subprocess; subprocess.run(['gmake', '--eval=x:;touch canary', 'x'])"
    done = run(f"python3 -c {_quote(code)}")
    assert "denied at exec" in done.stderr, done.stderr
    assert not (proj / "canary").exists()


# -- the rest of an ordinary day --------------------------------------------------------------
@needs_guard
@pytest.mark.skipif(GCC is None or shutil.which("g++", path=TOOLS) is None, reason="no gcc/g++ on this machine")
def test_ordinary_c_and_cpp_builds_run_confined(run: Run, proj: Path) -> None:
    (proj / "x.cpp").write_text("#include <vector>\nint main() { std::vector<int> v{1}; return int(v.size()) - 1; }\n")
    done = run("gcc -g -O2 -o prog main.c util.c -lm && g++ -std=c++17 -O2 -o xx x.cpp"
               " && gcc -c util.c -o u.o && ar rcs libu.a u.o && gcc -o linked main.c libu.a -lm")
    assert done.returncode == 0, done.stderr
    for binary in ("prog", "xx", "linked"):
        _built_and_runs(proj / binary)


@needs_guard
@pytest.mark.skipif(shutil.which("npm", path=TOOLS) is None or shutil.which("node", path=TOOLS) is None,
                    reason="no node/npm on this machine")
def test_npm_test_runs_confined(run: Run, proj: Path) -> None:
    (proj / "package.json").write_text('{"name": "t", "version": "1.0.0", "scripts": '
                                       '{"test": "node -e \\"console.log(6 * 7)\\""}}\n')
    done = run("npm test")
    assert done.returncode == 0, done.stderr
    assert "42" in done.stdout



# -- gcc's -B, read where gcc reads it ----------------------------------------------------------
@pytest.mark.parametrize("line", ["gcc -DNAME=B -c main.c", "gcc -Iinclude/Boost -c main.c",
                                  "gcc -fdebug-prefix-map=/src/Build=. -c main.c", "gcc -Wl,-rpath,/opt/Build -o p main.c util.c",
                                  "gcc -fresolution=/tmp/ccB1.res -fwpa main.o"])
def test_a_B_inside_another_gcc_option_is_no_dash_B(line: str, decide: Callable[[str], str]) -> None:
    """The hazard table read gcc's words as clusters of one-letter options, so any B in a word
    was `-B`: lto-wrapper's `-fresolution=/tmp/ccXXXXXX.res` failed the link whenever mkstemp's
    six letters held a B."""
    assert decide(line) == "allow"


@pytest.mark.parametrize("line", ["gcc -B./bin -c main.c", "gcc -B ./bin -c main.c", "cc -c -B/tmp main.c",
                                  "g++ -xc++ -B. -c x.cc", "gcc '-B'./x main.c", 'gcc -B"$D" main.c',
                                  "gcc --prefix=./x main.c", "gcc -wrapper ./x,-v main.c"])
def test_dash_B_itself_stays_refused(line: str, decide: Callable[[str], str]) -> None:
    assert decide(line) == "deny"


# -- ar's, nm's and ranlib's --plugin ------------------------------------------------------------
@pytest.mark.parametrize("line", ["ar --plugin ./p.so t lib.a", "ar --plug ./p.so t lib.a", "ar --plugin=./p.so rcs l.a u.o",
                                  "ar --p ./p.so t lib.a", "ranlib --plugin ./p.so lib.a",
                                  "ar --plugin=/usr/lib/gcc/../../tmp/p.so t lib.a", "ar $X t lib.a"])
def test_a_binutils_plugin_outside_the_toolchain_is_refused(line: str, decide: Callable[[str], str]) -> None:
    """`ar --plug ./p.so t lib.a` ran p.so's constructor (the developer profile allows ar with
    any arguments); gcc-ar hands ar gcc's own LTO plugin, which stays allowed."""
    assert decide(line) == "deny"


@needs_lto
def test_gccs_own_plugin_for_ar_is_allowed(decide: Callable[[str], str]) -> None:
    assert decide(f"ar --plugin {LTO_PLUGINS[-1]} rcs libu.a u.o") == "allow"
    assert decide("ar rcs libu.a u.o") == "allow"


# -- ninja --------------------------------------------------------------------------------------
@needs_guard
@needs_cmake
@pytest.mark.skipif(shutil.which("ninja", path=TOOLS) is None, reason="no ninja on this machine")
def test_cmake_with_ninja_builds_confined(run: Run, proj: Path) -> None:
    (proj / "CMakeLists.txt").write_text(_CMAKE_HEAD + _CMAKE_TARGETS)
    done = run("cmake -S . -B build -G Ninja && cmake --build build && ninja -C build -t clean && ninja -C build")
    assert done.returncode == 0, done.stderr
    _built_and_runs(proj / "build" / "demo")


@pytest.mark.parametrize("line", ["ninja -t browse", "ninja -C build -tbrowse --port=8000", "ninja -t msvc -- touch x",
                                  "ninja -j2 -tmsvc -e env.txt -- id"])
def test_ninja_tools_that_run_programs_are_refused(line: str, decide: Callable[[str], str]) -> None:
    assert decide(line) == "deny"
    assert decide("ninja -C build -j4 -t clean") == "allow"
