"""realpaths.real_path (open(O_PATH) + /proc/self/fd) must always equal os.path.realpath."""

from __future__ import annotations

import os
from pathlib import Path

from agentsh.policy.realpaths import real_path


def build_tree(root: Path) -> list[str]:
    (root / "dir" / "sub").mkdir(parents=True)
    (root / "dir" / "file.txt").write_text("x")
    (root / "secret").mkdir()
    (root / "secret" / "key").write_text("k")
    os.symlink(root / "secret" / "key", root / "abs-link")
    os.symlink("secret/key", root / "rel-link")
    os.symlink("dir", root / "dir-link")
    os.symlink("abs-link", root / "chain")
    os.symlink("missing", root / "dangling")
    os.symlink("loop-b", root / "loop-a")
    os.symlink("loop-a", root / "loop-b")
    os.symlink("..", root / "dir" / "up")
    os.symlink("/dev/null", root / "null-link")
    os.mkfifo(root / "fifo")
    (root / "locked").mkdir()
    (root / "locked" / "inner").write_text("x")
    names = ["", "dir", "dir/sub", "dir/file.txt", "secret/key", "abs-link", "rel-link", "dir-link",
             "dir-link/file.txt", "dir-link/sub", "chain", "dangling", "dangling/x", "loop-a", "loop-a/x",
             "dir/up", "dir/up/secret/key", "null-link", "fifo", "nothing", "nothing/deeper", "dir/file.txt/x",
             "locked/inner", "dir/a file (deleted)",
             # a missing last component (a file about to be written), and its neighbours
             "new.txt", "dir/new.txt", "dir/.new", "dir-link/new.txt", "dir/up/new", "dir/sub/../new",
             "nothing/../dir/file.txt", "nothing/../new", "dir//new", "dir/./new", "dir/new/", "dangling-new",
             "fifo/new", "dir/file.txt/new"]
    os.symlink("nothing/../dir", root / "dangling-new")
    (root / "dir" / "a file (deleted)").write_text("x")
    return [str(root / n) if n else str(root) for n in names]


def test_real_path_equals_realpath(tmp_path: Path) -> None:
    paths = build_tree(tmp_path) + ["/", "/dev/null", "/proc/self/cwd", "/proc/self/root", "/proc/self/exe",
                                    "/proc/self/fd/0", "/proc/1/ns/net", "/etc/passwd", "/usr/bin/env",
                                    "/no-such-top-level", "/proc/self/no-such", "/dev/fd/999/x"]
    for path in paths:
        try:
            expected = os.path.realpath(path)
        except OSError:
            expected = None
        try:
            got = real_path(path)
        except OSError:
            got = None
        assert got == expected, path


def test_real_path_follows_a_swap(tmp_path: Path) -> None:
    """Nothing is remembered between calls: a link retargeted is seen at once."""
    (tmp_path / "a").write_text("a")
    (tmp_path / "b").write_text("b")
    os.symlink("a", tmp_path / "link")
    assert real_path(str(tmp_path / "link")) == str(tmp_path / "a")
    os.unlink(tmp_path / "link")
    os.symlink("b", tmp_path / "link")
    assert real_path(str(tmp_path / "link")) == str(tmp_path / "b")


def test_a_fifo_is_not_opened(tmp_path: Path) -> None:
    """O_PATH does not open the file: resolving a FIFO with no writer must not block."""
    os.mkfifo(tmp_path / "fifo")
    assert real_path(str(tmp_path / "fifo")) == str(tmp_path / "fifo")
