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

from tests.conftest import REPO

# Needed only without a cached profile, for lines that are not plain, or for programs
# with hazard tables; never for `agentsh -c true` once warm.
NOT_ON_THE_WARM_PATH = ("yaml", "tree_sitter", "tree_sitter_bash", "agentsh.parse.walker", "agentsh.policy.hazards",
                        "agentsh.profile.schema", "agentsh.profile.yamlsrc", "_hashlib", "hmac", "click", "dataclasses")


def imported(home: Path, line: str) -> set[str]:
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8", "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "agentsh", "-c", line], env=env,
                            cwd=home, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    return {row.split("|")[2].strip() for row in result.stderr.splitlines() if row.startswith("import time:")}


@pytest.mark.parametrize("line", ["true", "cd . && pwd"])
def test_warm_builtin_line_imports_no_heavy_module(tmp_path: Path, line: str) -> None:
    imported(tmp_path, line)  # fills the per-user profile cache
    heavy = sorted(m for m in imported(tmp_path, line) if m in NOT_ON_THE_WARM_PATH)
    assert heavy == []


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
