"""The Recorder itself: asciicast v2 format, permissions, appends, concurrency, SIGKILL,
faithful bytes and failures, checked against the real asciinema 2.4 (cat and play)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from agentsh.record.asciicast import Recorder, RecordingError, default_directory, new_session_id, open_recording
from tests.conftest import REPO

ASCIINEMA = [sys.executable, "-m", "asciinema"]
ENV = {"SHELL": "agentsh", "TERM": "xterm-256color", "AWS_SECRET_ACCESS_KEY": "hunter2"}


def rec(directory: Path, session: str = "s1", **kw: object) -> Recorder:
    args: dict = {"width": 100, "height": 30, "title": f"agentsh dev {session} alice", "command": "agentsh -c x",
                  "env": ENV}
    args.update(kw)
    return open_recording(str(directory), session, **args)


def parse(path: Path) -> tuple[dict, list[list]]:
    """Every line parses; no blank lines; times non-decreasing with at most 6 decimals."""
    raw = path.read_bytes()
    assert raw.endswith(b"\n") and b"\n\n" not in raw
    lines = raw.decode().split("\n")[:-1]
    header = json.loads(lines[0])
    events = [json.loads(line) for line in lines[1:]]
    for line in lines[1:]:
        assert re.match(r'\[\d+(\.\d{1,6})?(e-\d+)?, "[oimr]", ', line), line[:60]
    times = [e[0] for e in events]
    assert times == sorted(times)
    return header, [e for e in events if e[1:] != ["o", ""]]  # empty "o" events pad a page (lines.py)


def asciinema(*args: str) -> subprocess.CompletedProcess[bytes]:
    # No controlling terminal (start_new_session), so 2.4 neither opens /dev/tty nor waits on keys.
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    return subprocess.run([*ASCIINEMA, *args], capture_output=True, stdin=subprocess.DEVNULL, env=env,
                          start_new_session=True, timeout=60)


def output_text(events: list[list]) -> str:
    return "".join(e[2] for e in events if e[1] == "o")


def test_format_and_permissions(tmp_path: Path) -> None:
    directory = tmp_path / "state" / "agentsh"
    old = os.umask(0)  # the modes must not depend on a permissive umask
    try:
        with rec(directory, record_input=False) as r:
            r.marker("cmd-1")
            r.output(b"$ ls\r\nREADME.md\r\n")
            r.input(b"ls\r")  # not recorded: the profile did not ask
            r.resize(120, 40)
            r.output(b"done\r\n")
    finally:
        os.umask(old)
    path = directory / "s1.cast"
    assert r.path == str(path) and r.session_id == "s1"
    assert path.stat().st_mode & 0o777 == 0o600 and directory.stat().st_mode & 0o777 == 0o700
    header, events = parse(path)
    assert header["version"] == 2 and header["width"] == 100 and header["height"] == 30
    assert isinstance(header["timestamp"], int) and abs(header["timestamp"] - time.time()) < 60
    assert header["env"] == {"SHELL": "agentsh", "TERM": "xterm-256color"}  # never the rest of the environment
    assert header["title"] == "agentsh dev s1 alice" and header["command"] == "agentsh -c x"
    assert [e[1:] for e in events] == [["m", "cmd-1"], ["o", "$ ls\r\nREADME.md\r\n"], ["r", "120x40"],
                                       ["o", "done\r\n"]]
    with rec(directory, "s2", record_input=True) as r:
        r.input(b"ls\r")
    assert [e[1:] for e in parse(directory / "s2.cast")[1]] == [["i", "ls\r"]]
    assert asciinema("cat", str(path)).stdout == b"$ ls\r\nREADME.md\r\ndone\r\n"


def test_append_across_two_recorders(tmp_path: Path) -> None:
    with rec(tmp_path, width=80) as first:
        first.marker("c1")
        first.output(b"one\r\n")
    time.sleep(0.05)
    with rec(tmp_path, width=200) as second:  # a later `agentsh -c` of the same AGENTSH_SESSION
        second.marker("c2")
        second.output(b"two\r\n")
    header, events = parse(tmp_path / "s1.cast")
    assert header["width"] == 80  # no second header
    assert [e[1:] for e in events] == [["m", "c1"], ["o", "one\r\n"], ["m", "c2"], ["o", "two\r\n"]]
    assert events[2][0] >= events[1][0] + 0.04  # continues from the first header's timestamp
    assert asciinema("cat", str(tmp_path / "s1.cast")).stdout == b"one\r\ntwo\r\n"
    play = asciinema("play", "-s", "100", str(tmp_path / "s1.cast"))
    assert play.returncode == 0 and b"two" in play.stdout


WRITER = """
import sys, time
sys.path.insert(0, {repo!r})
from agentsh.record.asciicast import open_recording
while not __import__("os").path.exists({go!r}):
    time.sleep(0.001)
r = open_recording({dir!r}, "shared", width=80, height=24, title="t", command="c", env={{}})
for i in range(200):
    if i % 10 == 0:
        r.marker(f"w{{sys.argv[1]}}:{{i}}")
    else:
        r.output(f"w{{sys.argv[1]}}:{{i}} ".encode() + b"x" * (i * 37 % 5000) + b"\\r\\n")
        r.flush()
r.close()
"""


def test_twenty_concurrent_writers(tmp_path: Path) -> None:
    go = tmp_path / "go"
    script = WRITER.format(repo=str(REPO), go=str(go), dir=str(tmp_path / "rec"))
    procs = [subprocess.Popen([sys.executable, "-c", script, str(i)]) for i in range(20)]
    time.sleep(0.5)
    go.touch()  # all start writing at once, to make them race for the lock
    assert all(p.wait(timeout=120) == 0 for p in procs)
    _, lines = parse(tmp_path / "rec" / "shared.cast")  # one header, every line whole, times never go back
    events: list[list] = []
    for line in lines:  # a long event is several lines of one time (page pieces): join them again
        if line[2].startswith("w"):
            events.append(line)
        else:
            assert events and line[:2] == events[-1][:2]  # a piece follows its own event, nothing between
            events[-1] = [*events[-1][:2], events[-1][2] + line[2]]
    assert len(events) == 20 * 200
    order: dict[str, list[int]] = {}
    for event in events:
        writer, index = event[2].split(" ")[0].split(":")
        order.setdefault(writer, []).append(int(index))
        if event[1] == "o":
            assert event[2] == f"{writer}:{index} " + "x" * (int(index) * 37 % 5000) + "\r\n"
    assert order == {f"w{i}": list(range(200)) for i in range(20)}  # each writer's events whole and in order


KILLED = """
import sys, time
sys.path.insert(0, {repo!r})
from agentsh.record.asciicast import open_recording
r = open_recording({dir!r}, "killed", width=80, height=24, title="t", command="c", env={{}})
i = 0
while True:
    r.output(f"line-{{i}} \\u00e9\\x1b[1mbold\\x1b[0m ".encode() + b"y" * 70000 + b"\\r\\n")
    r.flush()
    i += 1
    if i == 5:
        print("started", flush=True)
"""


def test_sigkill_leaves_a_playable_file(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", KILLED.format(repo=str(REPO), dir=str(tmp_path))],
                            stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"started\n"
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    path = tmp_path / "killed.cast"
    _, events = parse(path)
    assert len(events) >= 5
    expected = output_text(events).encode()
    cat = asciinema("cat", str(path))
    assert cat.returncode == 0 and cat.stdout == expected
    assert asciinema("play", "-i", "0.01", "-s", "100", str(path)).returncode == 0
    with rec(tmp_path, "killed") as later:  # the session goes on after the kill: appended, later times
        later.output(b"after\r\n")
    _, again = parse(path)
    assert again[-1][2] == "after\r\n" and len(again) == len(events) + 1
    assert asciinema("cat", str(path)).stdout == expected + b"after\r\n"


def test_repeated_sigkill_never_tears_a_line(tmp_path: Path) -> None:
    """Killed at random moments while writing 70 KB events, the file always ends with a whole
    line (before lines are cut at page boundaries, the first kill already tore one)."""
    import random

    rng = random.Random(11)
    for attempt in range(8):
        directory = tmp_path / str(attempt)
        proc = subprocess.Popen([sys.executable, "-c", KILLED.format(repo=str(REPO), dir=str(directory))],
                                stdout=subprocess.PIPE)
        assert proc.stdout is not None and proc.stdout.readline() == b"started\n"
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        parse(directory / "killed.cast")
    assert asciinema("cat", str(directory / "killed.cast")).returncode == 0


def test_a_torn_last_line_is_cut_by_the_next_writer(tmp_path: Path) -> None:
    with rec(tmp_path) as r:
        r.output(b"whole\r\n")
    path = tmp_path / "s1.cast"
    with open(path, "ab") as handle:  # what a writer killed inside write(2) could leave
        handle.write(b'[9.5, "o", "torn')
    with rec(tmp_path) as r:
        r.output(b"next\r\n")
    _, events = parse(path)
    assert [e[2] for e in events] == ["whole\r\n", "next\r\n"] and events[1][0] < 9.5
    assert asciinema("cat", str(path)).stdout == b"whole\r\nnext\r\n"


def test_utf8_split_across_writes_and_at_close(tmp_path: Path) -> None:
    with rec(tmp_path) as r:
        for data in (b"caf\xc3", b"\xa9 ", b"\xf0\x9f", b"\x98", b"\x80!", b" end\xe2\x82"):
            r.output(data)
            r.flush()  # each read its own event: the split must be joined across events
    _, events = parse(tmp_path / "s1.cast")
    assert output_text(events) == "café 😀! end\ufffd"  # the character cut off at close: U+FFFD
    assert "\ufffd" not in output_text(events)[:-1]


def test_invalid_bytes_are_replaced_never_a_crash(tmp_path: Path) -> None:
    import random

    rng = random.Random(7)
    blob = bytes(rng.getrandbits(8) for _ in range(200_000)) + b"\xff\xfe\xc0\xaf\xed\xa0\x80"
    with rec(tmp_path) as r:
        pos = 0
        while pos < len(blob):
            step = rng.randint(1, 9000)
            r.output(blob[pos:pos + step])
            pos += step
    _, events = parse(tmp_path / "s1.cast")
    assert output_text(events) == blob.decode("utf-8", "replace")  # as if decoded in one piece
    assert asciinema("cat", str(tmp_path / "s1.cast")).returncode == 0


def test_escape_sequences_pass_through(tmp_path: Path) -> None:
    data = (b"\x1b[31mred\x1b[0m \x1b[1;38;5;208mbold\x1b[0m\x1b[2J\x1b[H\x1b[10;20H\x1b[?25l\x1b[?1049h"
            b"\x1b]0;title\x07\x1b[K\r\x08\t\x00\x7f\"\\/\xe2\x80\xa8")  # U+2028 too
    with rec(tmp_path) as r:
        r.output(data)
    _, events = parse(tmp_path / "s1.cast")
    assert output_text(events).encode() == data
    assert asciinema("cat", str(tmp_path / "s1.cast")).stdout == data


def test_unwritable_directory(tmp_path: Path) -> None:
    # chmod 0500 does not stop root (CI runs as root): a path under a regular file fails for everyone.
    (tmp_path / "afile").write_text("")
    with pytest.raises(RecordingError) as caught:
        rec(tmp_path / "afile" / "sub")
    message = str(caught.value)
    assert message.startswith(f"cannot create recording {tmp_path / 'afile' / 'sub' / 's1.cast'}: ")
    assert "Not a directory" in message


def test_symlink_or_foreign_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("precious\n")
    (tmp_path / "link.cast").symlink_to(target)
    with pytest.raises(RecordingError, match=r"link\.cast: Too many levels of symbolic links"):
        rec(tmp_path, "link")
    (tmp_path / "notes.cast").write_text('{"something": "else"}\n')
    with pytest.raises(RecordingError, match=r"notes\.cast exists but is not an asciicast v2 file"):
        rec(tmp_path, "notes")
    assert target.read_text() == "precious\n" and (tmp_path / "notes.cast").read_text() == '{"something": "else"}\n'
    for bad in ("", "../up", ".hidden", "a\nb", "x" * 300):
        with pytest.raises(RecordingError, match="not a usable session id"):
            rec(tmp_path, bad)


FULL = """
import resource, signal, sys
sys.path.insert(0, {repo!r})
from agentsh.record.asciicast import RecordingError, open_recording
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so a write past the limit fails with EFBIG, as ENOSPC would
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
try:
    r = open_recording({dir!r}, "full", width=80, height=24, title="t", command="c", env={{}})
    for i in range(1000):
        r.output(b"z" * 1000)
        r.flush()
except RecordingError as err:
    print(err)
    sys.exit(3)
"""


@pytest.mark.parametrize("limit", [100_000, 50])
def test_full_disk(tmp_path: Path, limit: int) -> None:
    """RLIMIT_FSIZE with SIGXFSZ ignored makes write(2) fail with EFBIG past the limit, the way a
    full disk makes it fail with ENOSPC; at 50 bytes even the header does not fit."""
    script = FULL.format(repo=str(REPO), dir=str(tmp_path), limit=limit)
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 3, result.stderr
    path = tmp_path / "full.cast"
    assert result.stdout.strip() == f"cannot write recording {path}: File too large"
    if limit > 1000:
        _, events = parse(path)  # the event that did not fit was cut back off: the file still plays
        text = output_text(events)
        assert 0 < len(text) < 100_000 and len(text) % 1000 == 0  # whole events only, none half written
        assert path.stat().st_size <= limit
        assert asciinema("cat", str(path)).returncode == 0


def test_writes_after_close_fail_loudly(tmp_path: Path) -> None:
    r = rec(tmp_path)
    r.close()
    r.close()  # idempotent
    with pytest.raises(RecordingError, match="is closed"):
        r.marker("late")


def test_default_directory_and_session_ids() -> None:
    assert default_directory({"XDG_STATE_HOME": "/s", "HOME": "/h"}) == "/s/agentsh"
    assert default_directory({"HOME": "/h"}) == "/h/.local/state/agentsh"
    assert default_directory({"XDG_STATE_HOME": "rel", "HOME": "/h"}) == "/h/.local/state/agentsh"  # XDG: ignored
    ids = [new_session_id() for _ in range(200)]
    assert len(set(ids)) == 200 and all(re.fullmatch(r"\d{8}T\d{6}-[0-9a-f]{6}", i) for i in ids)
    assert [i[:15] for i in sorted(ids)] == sorted(i[:15] for i in ids)  # sorting by id sorts by start
