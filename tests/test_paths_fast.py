"""The path checks' fast paths must answer exactly as the code they stand in for:
realpaths._pathlike as os.path.lexists, and realpaths.resolve with a line's `reals` scratch
(_resolve_under) as resolve without it, on many generated values and directories."""

from __future__ import annotations

import itertools
import os
import random
from pathlib import Path

import pytest

from agentsh.policy import realpaths
from agentsh.policy.realpaths import _pathlike, resolve
from tests.test_real_path import build_tree

COMPONENTS = ["dir", "sub", "file.txt", "secret", "key", "abs-link", "rel-link", "dir-link", "chain", "dangling",
              "loop-a", "up", "null-link", "fifo", "nothing", "new.txt", "locked", "inner", ".", "..", "", "~",
              "stdin", "null", "fd", "0", "self", "a\0b"]


def directories(root: Path) -> list[str]:
    """Where a line may resolve from: real ones, through links, unnormalised, missing, special."""
    named = ["", "dir", "dir/sub", "dir-link", "dir-link/sub", "dir/up", "nothing", "dangling", "loop-a",
             "secret", "locked", "dir/./sub", "dir//sub", "dir/sub/..", "dir/"]
    return [str(root / n) if n else str(root) for n in named] + [
        str(root) + "/dir/", "/", "/dev", "/dev/fd", "/proc/self/fd", "/proc/self", "/proc", "//", "/tmp"]


def values(rng: random.Random, count: int) -> list[str]:
    out = [".", "..", "./", "/", "//", "", "dir/", "dir//", "dir/sub/", "file.txt/", "a\0b", "/etc/passwd",
           "dir/sub/../file.txt", "null", "stdin", "fd/0", "self/fd/1", "dev/null", "dev/fd/0", "proc/self/fd/0"]
    for _ in range(count):
        parts = [rng.choice(COMPONENTS) for _ in range(rng.randint(1, 6))]
        value = "/".join(parts)
        if rng.random() < 0.15:
            value += "/"
        out.append(value)
    return out


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    build_tree(tmp_path)
    (tmp_path / "dir" / "sub" / "deep.txt").write_text("x")
    os.symlink("file.txt", tmp_path / "dir" / "sub-link")
    return tmp_path


@pytest.mark.parametrize("nofollow_access", [True, False])
def test_pathlike_is_lexists(tree: Path, nofollow_access: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both ways _pathlike asks: access(F_OK, no follow), and lstat where that call fails."""
    monkeypatch.setattr(realpaths, "_NOFOLLOW_ACCESS", nofollow_access)
    cwds = directories(tree)
    for cwd, value in itertools.product(cwds, values(random.Random(1), 200)):
        if "/" in value or value.startswith(".") or value == "~":
            expected = True
        else:
            try:
                expected = os.path.lexists(os.path.join(cwd, value))
            except ValueError:
                expected = False
        assert _pathlike(value, cwd) == expected, (cwd, value)


def _resolved(value: str, cwd: str, reals: dict[str, str] | None, read: bool = False) -> str:
    try:
        return resolve(value, cwd, reals, read)
    except (OSError, ValueError) as err:
        return f"raises {type(err).__name__}"


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("read", [True, False])
def test_resolve_with_reals_is_resolve(tree: Path, seed: int, read: bool) -> None:
    """Read and write checks find cwd's real path their own ways, first or later in a line."""
    rng = random.Random(seed)
    cwds = directories(tree)
    generated = values(rng, 400)
    for cwd in cwds:
        for first in generated[:25]:
            # Each value first in its line (the scratch cold), then a few after it (warm).
            reals: dict[str, str] = {}
            for value in (first, *rng.sample(generated, 5)):
                assert _resolved(value, cwd, reals, read) == _resolved(value, cwd, None), (cwd, first, value)
    # A line resolving from several directories shares one scratch.
    reals = {}
    for value, cwd in zip(generated, itertools.cycle(cwds)):
        assert _resolved(value, cwd, reals, read) == _resolved(value, cwd, None), (cwd, value)


@pytest.mark.parametrize("read", [True, False])
def test_resolve_from_the_working_directory_is_resolve(tree: Path, read: bool,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """`agentsh -c` checks a line in its own working directory, which the scratch takes for
    real when getcwd names it as written; entered through a link, or written unnormalised,
    it is not, and resolve answers its own way.  Both must be resolve's answer."""
    generated = values(random.Random(7), 300)
    entered = 0
    for cwd in directories(tree):
        try:
            monkeypatch.chdir(cwd)
        except OSError:
            continue  # missing, a dangling link, a file: no process can work there
        entered += 1
        for first in generated[:40]:
            reals: dict[str, str] = {}
            for value in (first, *generated[40:50]):
                assert _resolved(value, cwd, reals, read) == _resolved(value, cwd, None), (cwd, first, value)
    assert entered >= 10  # real directories, links to them, unnormalised spellings


def test_working_directory_swapped_between_lines(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The working directory's name now leads elsewhere: getcwd names the directory the
    process is in, not the path as written, so the scratch does not take it for real."""
    cwd = str(tree / "work")
    os.mkdir(cwd)
    (tree / "work" / "a.txt").write_text("a")
    monkeypatch.chdir(cwd)
    assert resolve("a.txt", cwd, {}, True) == cwd + "/a.txt"
    os.rename(cwd, str(tree / "elsewhere"))  # the process is still in it, under its new name
    os.symlink(str(tree / "secret"), cwd)
    for read in (True, False):
        assert resolve("key", cwd, {}, read) == str(tree / "secret" / "key")


def test_resolve_with_reals_sees_a_swap_in_the_next_line(tree: Path) -> None:
    """The scratch lives one line: a directory swapped for a link between lines is seen."""
    cwd = str(tree / "work")
    os.mkdir(cwd)
    (tree / "work" / "a.txt").write_text("a")
    for read in (True, False):
        assert resolve("a.txt", cwd, {}, read) == cwd + "/a.txt"
    os.rename(cwd, str(tree / "elsewhere"))
    os.symlink(str(tree / "secret"), cwd)
    for read in (True, False):
        assert resolve("key", cwd, {}, read) == str(tree / "secret" / "key")


def test_pathlike_without_faccessat2(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under a seccomp filter that fails faccessat2 with EPERM, os.access(..., follow_symlinks=False)
    says False for every path: the probe sees it, and operands are still found by lstat."""
    real_access = os.access

    def blocked(path: str, mode: int, *, follow_symlinks: bool = True, **kw: object) -> bool:
        return False if not follow_symlinks else real_access(path, mode, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", blocked)
    assert realpaths.nofollow_access_works() is False
    monkeypatch.setattr(realpaths, "_NOFOLLOW_ACCESS", realpaths.nofollow_access_works())
    assert _pathlike("file.txt", str(tree / "dir")) and _pathlike("dangling", str(tree))
    assert not _pathlike("nothing", str(tree))
