"""The audit log: the chain as written, each kind of tampering caught at the right event, many writers at once."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from agentsh.audit.log import AuditError, default_path, open_audit_log
from agentsh.audit.verify import verify
from tests.conftest import REPO

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


def write_log(path: Path, count: int = 10, key: bytes = KEY) -> list[dict[str, object]]:
    with open_audit_log(str(path), key) as log:
        return [log.write("decision" if i % 2 else "line", session="s1", n=i, decision="allow", rule="tools")
                for i in range(count)]


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def put(path: Path, content: list[bytes]) -> None:
    path.write_bytes(b"".join(content))


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    path = tmp_path / "state" / "audit.jsonl"
    write_log(path)
    return path


def test_events_carry_seq_time_kind_prev_and_an_independently_checkable_mac(tmp_path: Path) -> None:
    path = tmp_path / "a" / "audit.jsonl"
    events = write_log(path, 3)
    on_disk = [json.loads(line) for line in lines(path)]
    assert on_disk == events
    assert [e["seq"] for e in events] == [1, 2, 3]
    assert [e["kind"] for e in events] == ["line", "decision", "line"]
    assert events[0]["prev"] == "" and events[1]["prev"] == events[0]["mac"] and events[2]["prev"] == events[1]["mac"]
    for event in events:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", str(event["time"]))
        body = {k: v for k, v in event.items() if k != "mac"}
        # The spec, re-implemented here: HMAC-SHA256 over canonical JSON without `mac`.
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        assert hmac.new(KEY, canonical, hashlib.sha256).hexdigest() == event["mac"]
    assert verify(str(path), KEY) == (True, 3, None, "")


def test_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "new" / "audit.jsonl"
    write_log(path, 1)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(f"{path}.head").stat().st_mode) == 0o600


def test_default_path_follows_xdg_state_home() -> None:
    assert default_path({"XDG_STATE_HOME": "/x/state", "HOME": "/h"}) == "/x/state/agentsh/audit.jsonl"
    assert default_path({"HOME": "/h"}) == "/h/.local/state/agentsh/audit.jsonl"
    assert default_path({"XDG_STATE_HOME": "relative", "HOME": "/h"}) == "/h/.local/state/agentsh/audit.jsonl"


def test_reserved_fields_and_bad_kinds_are_refused(tmp_path: Path) -> None:
    with open_audit_log(str(tmp_path / "audit.jsonl"), KEY) as log:
        with pytest.raises(ValueError, match="seq"):
            log.write("line", seq=5)
        with pytest.raises(ValueError, match="mac"):
            log.write("line", mac="x")
        with pytest.raises(ValueError):
            log.write("Line Start")
        with pytest.raises(AuditError, match="JSON"):
            log.write("line", value=object())
        with pytest.raises(AuditError, match="JSON"):
            log.write("line", duration=float("nan"))
    with pytest.raises(AuditError, match="closed"):
        log.write("line")


def test_undecodable_bytes_in_a_line_still_verify(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    line = b"echo \xff\xfe caf\xc3\xa9".decode("utf-8", "surrogateescape")
    with open_audit_log(str(path), KEY) as log:
        event = log.write("line", line=line)
    assert event["line"] == line
    path.read_bytes().decode("utf-8")  # the file stays valid UTF-8
    assert verify(str(path), KEY).ok


# --- each kind of tampering, caught at the right event -------------------------------------------------------


def test_clean_log_verifies(log_path: Path) -> None:
    assert verify(str(log_path), KEY) == (True, 10, None, "")


def test_edited_field(log_path: Path) -> None:
    content = lines(log_path)
    content[4] = content[4].replace(b'"decision":"allow"', b'"decision":"deny"')
    put(log_path, content)
    assert verify(str(log_path), KEY) == (False, 4, 5, "edited")


def test_edited_first_event_is_not_mistaken_for_a_wrong_key(log_path: Path) -> None:
    content = lines(log_path)
    content[0] = content[0].replace(b'"session":"s1"', b'"session":"s2"')
    put(log_path, content)
    assert verify(str(log_path), KEY) == (False, 0, 1, "edited")


def test_deleted_line(log_path: Path) -> None:
    content = lines(log_path)
    del content[4]
    put(log_path, content)
    assert verify(str(log_path), KEY) == (False, 4, 5, "deleted")


def test_deleted_first_line(log_path: Path) -> None:
    put(log_path, lines(log_path)[1:])
    assert verify(str(log_path), KEY) == (False, 0, 1, "deleted")


def test_inserted_forged_line(log_path: Path) -> None:
    content = lines(log_path)
    previous = json.loads(content[3])
    forged = {"seq": 5, "time": previous["time"], "kind": "decision", "session": "s1", "n": 99,
              "decision": "allow", "rule": "tools", "prev": previous["mac"], "mac": "0" * 64}
    content.insert(4, json.dumps(forged, separators=(",", ":")).encode() + b"\n")
    put(log_path, content)
    assert verify(str(log_path), KEY) == (False, 4, 5, "inserted")


def test_replayed_copy_of_an_earlier_line(log_path: Path) -> None:
    content = lines(log_path)
    content.insert(6, content[2])
    put(log_path, content)
    assert verify(str(log_path), KEY) == (False, 6, 7, "inserted")


def test_forged_line_appended_past_the_end(log_path: Path) -> None:
    content = lines(log_path)
    last = json.loads(content[-1])
    forged = dict(last, seq=11, prev=last["mac"], mac="f" * 64)
    content.append(json.dumps(forged, separators=(",", ":")).encode() + b"\n")
    put(log_path, content)
    assert verify(str(log_path), KEY) == (False, 10, 11, "inserted")


def test_swapped_lines(log_path: Path) -> None:
    content = lines(log_path)
    content[3], content[4] = content[4], content[3]
    put(log_path, content)
    assert verify(str(log_path), KEY) == (False, 3, 4, "reordered")


def test_line_moved_to_the_end(log_path: Path) -> None:
    content = lines(log_path)
    content.append(content.pop(1))
    put(log_path, content)
    assert verify(str(log_path), KEY) == (False, 1, 2, "reordered")


def test_truncated_end(log_path: Path) -> None:
    put(log_path, lines(log_path)[:7])
    assert verify(str(log_path), KEY) == (False, 7, 8, "truncated")


def test_truncated_end_with_a_rewritten_head(log_path: Path) -> None:
    content = lines(log_path)[:7]
    put(log_path, content)
    last = json.loads(content[-1])
    # Without the key the head's tag cannot be made to match.
    Path(f"{log_path}.head").write_text(f"7 {last['mac']} {log_path.stat().st_size} {'0' * 64}\n")
    assert verify(str(log_path), KEY) == (False, 7, 8, "truncated")


def test_emptied_log(log_path: Path) -> None:
    log_path.write_bytes(b"")
    assert verify(str(log_path), KEY) == (False, 0, 1, "truncated")


def test_missing_head_file(log_path: Path) -> None:
    os.unlink(f"{log_path}.head")
    assert verify(str(log_path), KEY) == (False, 10, 11, "truncated")
    assert verify(str(log_path), KEY, require_head=False) == (True, 10, None, "")


def test_wrong_key(log_path: Path) -> None:
    assert verify(str(log_path), OTHER_KEY) == (False, 0, 1, "wrong key")


def test_wrong_key_without_a_head(log_path: Path) -> None:
    os.unlink(f"{log_path}.head")
    assert verify(str(log_path), OTHER_KEY, require_head=False) == (False, 0, 1, "wrong key")


@pytest.mark.parametrize("garbage", [b"garbage\n", b"\n", b'{"seq": 7}\n', b"[1,2,3]\n"])
def test_garbage_line(log_path: Path, garbage: bytes) -> None:
    content = lines(log_path)
    content.insert(6, garbage)
    put(log_path, content)
    assert verify(str(log_path), KEY) == (False, 6, 7, "malformed")


def test_line_cut_in_half(log_path: Path) -> None:
    data = log_path.read_bytes()
    log_path.write_bytes(data[:-40])
    assert verify(str(log_path), KEY) == (False, 9, 10, "malformed")


def test_a_write_in_flight_past_the_head_is_not_an_error(log_path: Path) -> None:
    with open(log_path, "ab") as handle:
        handle.write(b'{"kind":"line","prev":"')
    assert verify(str(log_path), KEY) == (True, 10, None, "")


# --- writer robustness ----------------------------------------------------------------------------------------


def test_writer_picks_the_chain_up_after_a_crash_between_append_and_head_update(log_path: Path) -> None:
    head = Path(f"{log_path}.head")
    before = head.read_bytes()
    write_log(log_path, 1)
    head.write_bytes(before)  # as if the writer died after its append
    write_log(log_path, 2)
    assert verify(str(log_path), KEY) == (True, 13, None, "")


def test_writer_refuses_a_log_whose_head_is_lost_instead_of_hiding_a_cut_end(log_path: Path) -> None:
    # Picking the chain up from the log's last event made a cut-off end undetectable:
    # cut events off, delete the head, and the next write re-anchored the chain there.
    put(log_path, lines(log_path)[:7])
    os.unlink(f"{log_path}.head")
    with pytest.raises(AuditError, match="no valid head file"):
        write_log(log_path, 2)
    assert verify(str(log_path), KEY) == (False, 7, 8, "truncated")


def test_writer_refuses_a_head_it_did_not_sign(log_path: Path) -> None:
    # A head forged without the key (tag of zeros) over a cut log was trusted by the writer,
    # whose next event and head then made the cut chain verify.
    content = lines(log_path)[:7]
    put(log_path, content)
    last = json.loads(content[-1])
    Path(f"{log_path}.head").write_text(f"7 {last['mac']} {log_path.stat().st_size} {'0' * 64}\n")
    with pytest.raises(AuditError, match="not written with this key"):
        write_log(log_path, 1)
    assert verify(str(log_path), KEY) == (False, 7, 8, "truncated")


def test_garbage_without_newline_is_not_glued_to_the_next_event(log_path: Path) -> None:
    with open(log_path, "ab") as handle:
        handle.write(b"junk")
    write_log(log_path, 1)
    assert lines(log_path)[10] == b"junk\n"
    assert verify(str(log_path), KEY) == (False, 10, 11, "malformed")


def test_opening_with_another_key_fails_closed(log_path: Path) -> None:
    with pytest.raises(AuditError, match="another key"):
        open_audit_log(str(log_path), OTHER_KEY)


def test_unwritable_location_fails_closed_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(AuditError, match=r"cannot open audit log .*file/audit.jsonl \(.*/file\): File exists"):
        open_audit_log(str(tmp_path / "file" / "audit.jsonl"), KEY)
    os.symlink("/dev/null", tmp_path / "link.jsonl")
    with pytest.raises(AuditError, match=r"link\.jsonl"):
        open_audit_log(str(tmp_path / "link.jsonl"), KEY)


FULL_DISK = """
import resource, signal, sys
sys.path.insert(0, {repo!r})
from agentsh.audit.log import AuditError, open_audit_log
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG and short writes instead of being killed
log = open_audit_log({path!r}, bytes(range(32)))
resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))
written = 0
try:
    for i in range(100):
        log.write("line", line="x" * 100, n=i)
        written += 1
except AuditError as err:
    print(written, err)
"""


def test_a_full_disk_raises_and_leaves_no_partial_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    out = subprocess.run([sys.executable, "-c", FULL_DISK.format(repo=str(REPO), path=str(path))],
                         capture_output=True, text=True, check=True)
    written, message = out.stdout.split(" ", 1)
    assert 0 < int(written) < 100
    assert f"cannot write audit log {path}" in message
    assert path.read_bytes().endswith(b"\n")
    assert verify(str(path), KEY) == (True, int(written), None, "")


WRITER = """
import sys
sys.path.insert(0, {repo!r})
from agentsh.audit.log import open_audit_log
sys.stdin.read()  # start line: every process is up before any writes
log = open_audit_log({path!r}, bytes(range(32)))
for i in range({count}):
    log.write("line", writer=int(sys.argv[1]), n=i, line="echo " + "x" * (i * 37 % 3000))
log.close()
"""


def test_twenty_processes_writing_at_once_leave_one_valid_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    code = WRITER.format(repo=str(REPO), path=str(path), count=50)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(n)], stdin=subprocess.PIPE) for n in range(20)]
    for proc in procs:
        proc.stdin.close()  # type: ignore[union-attr]
    assert [proc.wait(timeout=120) for proc in procs] == [0] * 20
    assert verify(str(path), KEY) == (True, 1000, None, "")
    events = [json.loads(line) for line in lines(path)]
    assert [e["seq"] for e in events] == list(range(1, 1001))
    for writer in range(20):
        assert [e["n"] for e in events if e["writer"] == writer] == list(range(50))


def test_callers_nested_seq_and_prev_keys_do_not_confuse_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with open_audit_log(str(path), KEY) as log:
        for i in range(6):
            log.write("decision", commands=[{"seq": 99, "prev": "x"}], line=f'echo "seq":{i} "prev":"', n=i)
    assert verify(str(path), KEY) == (True, 6, None, "")
    content = lines(path)
    del content[3]
    put(path, content)
    assert verify(str(path), KEY) == (False, 3, 4, "deleted")


def test_the_docs_list_every_kind_of_event() -> None:
    """docs/audit.md's table of kinds is what auditors read; it had missed five kinds."""
    from agentsh.audit import KINDS

    docs = (Path(__file__).parent.parent / "docs" / "audit.md").read_text()
    listed = set(re.findall(r"^\| `([a-z_]+)` \|", docs, re.M))
    source = "".join(p.read_text() for p in (Path(__file__).parent.parent / "agentsh").rglob("*.py"))
    written = set(re.findall(r'(?:\.write|\baudit)\(\s*"([a-z_]+)"', source))
    assert listed - {"kind"} == KINDS
    assert written <= KINDS, written - KINDS
    assert len(written) >= 8, written  # the pattern still finds the calls
