"""The real mini-swe-agent (PyPI) running a short scripted task, each action through
`agentsh -lc` as its interpreter.

mini-swe-agent's `interpreter` setting (default `["bash", "-lc"]`) belongs to its
DockerEnvironment, which runs `docker exec -w CWD [-e K=V] ID *interpreter COMMAND`.
No Docker daemon can run here, so the one stand-in is the `docker` program: a few lines
that do what `docker exec` does inside the container (chdir, set the variables, exec the
rest).  The agent, its deterministic model, its environment class and its trajectory are
mini-swe-agent's own.  (Its LocalEnvironment runs `/bin/sh -c` through
subprocess(shell=True) and takes no interpreter; see docs/pty-harnesses.md.)
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import write_profile

PROFILE = """\
agentsh: 1
name: mini
extends: [base]
write: {allow: ["{workspace}", "/tmp"]}
path: [/usr/bin, /bin]
commands:
  - name: tools
    run: [ls, cat, touch]
    decision: allow
"""

DOCKER = """\
#!{python}
# Stands in for the docker CLI (no daemon here): `run` makes a "container", `exec` runs the
# command in this machine the way docker exec runs it in the container.
import os, sys
args = sys.argv[1:]
if args[0] == "run":
    print("c0ffee")
elif args[0] == "exec":
    rest, env = args[1:], dict(os.environ)
    while rest[0].startswith("-"):
        if rest[0] == "-w":
            os.chdir(rest[1])
        elif rest[0] == "-e":
            key, _, value = rest[1].partition("=")
            env[key] = value
        rest = rest[2:]
    argv = rest[1:]  # after the container id: the interpreter and the command
    os.execvpe(argv[0], argv, env)
"""


@pytest.fixture
def tools(tmp_path: Path) -> tuple[Path, Path]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    docker = bindir / "docker"
    docker.write_text(DOCKER.replace("{python}", sys.executable))
    agentsh = bindir / "agentsh"
    agentsh.write_text(f'#!/bin/sh\nexec {sys.executable} -m agentsh "$@"\n')
    for path in (docker, agentsh):
        path.chmod(0o755)
    return docker, agentsh


def test_mini_swe_agent_scripted_task(tools: tuple[Path, Path], tmp_path: Path, workspace: Path,
                                      agentsh_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from minisweagent.agents.default import DefaultAgent
    from minisweagent.environments.docker import DockerEnvironment
    from minisweagent.models.test_models import DeterministicModel, make_output

    for name in list(os.environ):
        if name.startswith(("AGENTSH_", "XDG_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", agentsh_env["HOME"])
    monkeypatch.setenv("PYTHONPATH", agentsh_env["PYTHONPATH"])
    docker, agentsh = tools
    profile = write_profile(tmp_path, "mini", PROFILE)
    canary = tmp_path / "canary"
    model = DeterministicModel(outputs=[
        make_output("Write a note.", [{"command": "echo hello > notes.txt && cat notes.txt"}]),
        make_output("Try the network.", [{"command": f"curl -s http://127.0.0.1:9/ ; touch {canary}"}]),
        make_output("Done.", [{"command": "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT && cat notes.txt"}]),
    ])
    env = DockerEnvironment(image="unused", cwd=str(workspace), executable=str(docker),
                            interpreter=[str(agentsh), "-p", str(profile), "-lc"])
    trajectory = tmp_path / "trajectory.json"
    agent = DefaultAgent(model, env, system_template="You run shell commands.", instance_template="{{task}}",
                         step_limit=10, output_path=trajectory)
    result = agent.run("Write hello to notes.txt")

    assert result["exit_status"] == "Submitted"
    assert result["submission"] == "hello\n"
    assert (workspace / "notes.txt").read_text() == "hello\n"
    observations = [m["content"] for m in agent.messages if m["role"] == "user"][1:]
    assert "<returncode>0</returncode>" in observations[0] and "hello" in observations[0]
    assert "<returncode>126</returncode>" in observations[1]
    assert "agentsh: denied: curl -s http://127.0.0.1:9/" in observations[1]
    assert not canary.exists()
    saved = json.loads(trajectory.read_text())
    assert saved["info"]["exit_status"] == "Submitted"
    # each action was one `agentsh -c` of its own, each recorded in the audit trail
    audit = [json.loads(line) for path in Path(agentsh_env["HOME"]).glob(".local/state/agentsh/audit*.jsonl")
             for line in path.read_text().splitlines()]
    lines = [e["line"] for e in audit if e.get("kind") == "line"]
    assert lines == ["echo hello > notes.txt && cat notes.txt", f"curl -s http://127.0.0.1:9/ ; touch {canary}",
                     "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT && cat notes.txt"]
