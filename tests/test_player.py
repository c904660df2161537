"""A real agentsh recording rendered by the real asciinema-player in headless Chromium.

The page is served on 127.0.0.1; Chromium is driven over the DevTools protocol
(--remote-debugging-port); the test polls the text of `.ap-line` elements until the
recorded output appears and fails fast on `.ap-overlay-error`.  .ci/run installs
chromium and the npm package (tests/player/package.json).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, write_profile

PLAYER = REPO / "tests" / "player" / "node_modules" / "asciinema-player" / "dist" / "bundle"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MISSING = "" if CHROMIUM and PLAYER.is_dir() else "needs chromium and `npm install --prefix tests/player` (.ci/run does both)"
PAGE = """<!doctype html>
<html><head><link rel="stylesheet" href="asciinema-player.css"></head>
<body><div id="player"></div>
<script src="asciinema-player.min.js"></script>
<script>AsciinemaPlayer.create('session.cast', document.getElementById('player'),
  {autoPlay: true, speed: 20, idleTimeLimit: 0.1, cols: 100, rows: 30});</script>
</body></html>
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    site = tmp_path / "site"
    site.mkdir()
    for name in ("asciinema-player.min.js", "asciinema-player.css"):
        shutil.copy(PLAYER / name, site / name)
    (site / "index.html").write_text(PAGE)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *a: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site, server.server_address[1]
    finally:
        server.shutdown()


def _evaluate(ws: object, expression: str, ident: list[int]) -> object:
    ident[0] += 1
    ws.send(json.dumps({"id": ident[0], "method": "Runtime.evaluate",  # type: ignore[attr-defined]
                        "params": {"expression": expression, "returnByValue": True}}))
    while True:
        reply = json.loads(ws.recv())  # type: ignore[attr-defined]
        if reply.get("id") == ident[0]:
            return reply.get("result", {}).get("result", {}).get("value")


@pytest.mark.skipif(bool(MISSING) and not os.environ.get("CI"), reason=MISSING or "ok")
def test_player_renders_a_recording(served: tuple[Path, int], tmp_path: Path, agentsh_env: dict[str, str],
                                    workspace: Path) -> None:
    assert not MISSING, MISSING
    site, port = served
    profile = write_profile(tmp_path, "p", f'agentsh: 1\nextends: [base]\nrecord: {{dir: "{tmp_path / "rec"}"}}\n'
                                          "commands: [{name: s, run: seq, decision: allow}]\n")
    env = dict(agentsh_env, AGENTSH_SESSION="player")
    for line in ("seq 41 43", "curl http://127.0.0.1/"):
        subprocess.run([sys.executable, "-m", "agentsh", "-p", str(profile), "-c", line], cwd=workspace,
                       env=env, capture_output=True, timeout=60)
    shutil.copy(tmp_path / "rec" / "player.cast", site / "session.cast")
    text = _render(port, tmp_path, "agentsh: denied: curl")
    assert "$ seq 41 43" in text and "42" in text and "agentsh: denied: curl" in text, text


@pytest.mark.skipif(bool(MISSING) and not os.environ.get("CI"), reason=MISSING or "ok")
def test_player_renders_page_cut_events_markers_and_resizes(served: tuple[Path, int], tmp_path: Path) -> None:
    """A recording written by the Recorder directly, appended by a second one: output longer than
    a page (cut into several events, with empty padding events), colour, markers, a resize."""
    assert not MISSING, MISSING
    from agentsh.record.asciicast import open_recording

    site, port = served
    args = {"width": 100, "height": 30, "title": "agentsh dev rec alice", "command": "agentsh", "env": {}}
    with open_recording(str(tmp_path / "rec"), "rec", **args) as first:
        first.marker("cmd-1")
        first.output("\x1b[32mgreen\x1b[0m caf\u00e9 ".encode() + b"z" * 9000 + b"\r\n" + b"END-ONE\r\n")
    with open_recording(str(tmp_path / "rec"), "rec", **args) as second:
        second.resize(90, 25)
        second.marker("cmd-2")
        second.output(b"\xe2\x9c")
        second.output(b"\x93 appended-line\r\n")
    shutil.copy(tmp_path / "rec" / "rec.cast", site / "session.cast")
    text = _render(port, tmp_path, "appended-line")
    assert "END-ONE" in text and "\u2713 appended-line" in text, text


def _render(port: int, tmp_path: Path, wanted: str) -> str:
    """Open the player page in headless Chromium; the text of its lines once `wanted` shows."""
    import websocket

    debug_port = _free_port()
    browser = subprocess.Popen([CHROMIUM or "chromium", "--headless", "--no-sandbox", "--disable-gpu",
                                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                                "--no-first-run", f"--user-data-dir={tmp_path / 'chrome'}",
                                f"--remote-debugging-port={debug_port}", f"http://127.0.0.1:{port}/index.html"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        target = None
        while target is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{debug_port}/json", timeout=2) as response:
                    pages = [t for t in json.load(response) if t.get("type") == "page"]
                target = pages[0]["webSocketDebuggerUrl"] if pages else None
            except OSError:
                time.sleep(0.2)
        assert target, "Chromium's DevTools endpoint did not come up"
        ws = websocket.create_connection(target, timeout=10)
        ident = [0]
        text = ""
        while time.monotonic() < deadline:
            error = _evaluate(ws, "document.querySelector('.ap-overlay-error') !== null", ident)
            assert not error, "the player reported an error loading the recording"
            text = str(_evaluate(ws, "Array.from(document.querySelectorAll('.ap-line'))"
                                     ".map(e => e.textContent).join('\\n')", ident) or "")
            if wanted in text:
                break
            time.sleep(0.2)
        ws.close()
        return text
    finally:
        browser.kill()
        browser.wait(timeout=10)
