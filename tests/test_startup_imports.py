"""What `agentsh -c` imports once its profile is cached: the start-up budget, kept by structure.

Not a timing test: it checks which modules load (`python -X importtime`), and that the
NamedTuple models carry no string annotations (typing.NamedTuple compiles each one, ~45 µs
a field, ~4 ms over the models on the `-c` path, so those modules do without
`from __future__ import annotations`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, peer_pidfd_supported

# Needed only without a cached profile, for lines that are not plain, or for programs
# with hazard tables; never for `agentsh -c true` once warm.
NOT_ON_THE_WARM_PATH = ("yaml", "tree_sitter", "tree_sitter_bash", "agentsh.parse.walker", "agentsh.policy.hazards",
                        "agentsh.profile.schema", "agentsh.profile.yamlsrc", "_hashlib", "hmac", "click", "dataclasses")


def imported(home: Path, line: str, warm: bool = False) -> set[str]:
    """What `agentsh -c LINE` imports: in the calling process (AGENTSH_WARM=0), or, with
    `warm`, with a warm server of its own serving the line."""
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8", "PYTHONPATH": str(REPO),
           "AGENTSH_WARM": "1" if warm else "0", "XDG_RUNTIME_DIR": str(home / "run")}
    (home / "run").mkdir(mode=0o700, exist_ok=True)
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "agentsh", "-c", line], env=env,
                            cwd=home, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    return {row.split("|")[2].strip() for row in result.stderr.splitlines() if row.startswith("import time:")}


@pytest.mark.parametrize("line", ["true", "cd . && pwd"])
def test_warm_builtin_line_imports_no_heavy_module(tmp_path: Path, line: str) -> None:
    imported(tmp_path, line)  # fills the per-user profile cache
    heavy = sorted(m for m in imported(tmp_path, line) if m in NOT_ON_THE_WARM_PATH)
    assert heavy == []


@pytest.mark.skipif(not peer_pidfd_supported(), reason="SO_PEERPIDFD needs Linux >= 6.5: no warm server")
def test_the_warm_client_imports_only_itself(tmp_path: Path) -> None:
    """Served by a warm server, `agentsh -c` imports none of the line path."""
    from agentsh.warm.wire import stop_servers

    try:
        imported(tmp_path, "true", warm=True)  # runs here, starts the server
        for _ in range(100):
            mods = imported(tmp_path, "true", warm=True)
            if "agentsh.session" not in mods:
                break  # served
        ours = sorted(m for m in mods if m.startswith("agentsh"))
        assert ours == ["agentsh", "agentsh.builtin_sha256", "agentsh.credentials", "agentsh.credentials.envcut",
                        "agentsh.errors", "agentsh.main", "agentsh.warm", "agentsh.warm.client", "agentsh.warm.wire"]
        assert not mods & {*NOT_ON_THE_WARM_PATH, "json", "ctypes", "socket", "signal", "select"}
    finally:
        stop_servers(str(tmp_path / "run" / "agentsh"))


def test_models_have_no_string_annotations() -> None:
    from agentsh.parse import model as parse_model
    from agentsh.policy import decision, hazards, resolve, wrappers
    from agentsh.profile import cache, load
    from agentsh.profile import model as profile_model

    allowed = {("Verdict", "wrapped")}  # refers to its own class
    found = []
    for module in (parse_model, profile_model, decision, resolve, wrappers, hazards, load, cache):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, tuple) and hasattr(value, "_fields") \
                    and value.__module__ == module.__name__:
                found.extend((value.__name__, field) for field, annotation in value.__annotations__.items()
                             if isinstance(annotation, str) and (value.__name__, field) not in allowed)
    assert found == []


def test_the_launcher_imports_only_what_the_entry_needs(tmp_path: Path) -> None:
    """bin/agentsh, installed as the `agentsh` script, imports sys and agentsh.main and nothing
    else: pip's generated console script imports re (with enum, functools and collections,
    ~5 ms at every start) to strip Windows suffixes from argv[0]."""
    import ast

    launcher = REPO / "bin" / "agentsh"
    assert launcher.read_text().startswith("#!python\n")  # pip writes the interpreter's path here
    tree = ast.parse(launcher.read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert names == {"sys", "agentsh.main"}
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8", "PYTHONPATH": str(REPO),
           "XDG_RUNTIME_DIR": str(tmp_path / "run")}
    (tmp_path / "run").mkdir(mode=0o700)
    done = subprocess.run([sys.executable, str(launcher), "-c", "echo launched"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "launched\n"), done.stderr
