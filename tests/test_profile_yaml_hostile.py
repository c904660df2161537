"""Hostile YAML in a profile is refused with exit 2, naming the file and line; nothing runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import pytest

HOSTILE = {
    # The composer recursed once per level: 100,000 levels crashed agentsh with SIGSEGV.
    "deep-flow-sequences": "agentsh: 1\nx: " + "[" * 100_000 + "]" * 100_000 + "\n",
    "deep-flow-mappings": "agentsh: 1\nx: " + "{a: " * 30_000 + "1" + "}" * 30_000 + "\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_deep_nesting_is_refused_with_file_and_line(name: str, tmp_path: Path, workspace: Path,
                                                    run_agentsh: Callable[..., CompletedProcess[str]]) -> None:
    profile = tmp_path / f"{name}.yaml"
    profile.write_text(HOSTILE[name])
    result = run_agentsh("-p", str(profile), "-c", "echo RAN > canary")
    assert result.returncode == 2, result.stderr[-500:]
    assert f"{profile}:2: the YAML document is nested too deeply" in result.stderr
    assert not (workspace / "canary").exists()
