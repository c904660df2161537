"""Differential test: the plain-line fast path and the tree-sitter walk decide every line alike.

For each line of a large corpus (the ordinary-line lists, the bypass corpora in
shared/corpus, every string in the parse, policy, hazard, wrapper and bash-compat tests,
the benchmark's lines and generated lines), against several profiles (the shipped ones,
the embedded default and the benchmark's 500-rule one) in a workspace with files,
directories and symlinks into denied roots, the Decision reached from
``parse_plain(line)`` must equal, field by field, the one reached from the tree walker's
parse of the same line.  A line the fast path declines goes to the walker anyway, so
only accepted lines can differ; the test also checks that the fast path accepts enough
lines for the comparison to mean something.
"""

from __future__ import annotations

import ast
import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

from agentsh.parse import parse_line
from agentsh.parse.plain import parse_plain
from agentsh.parse.walker import parse_line as walk
from agentsh.policy import Decision, Policy
from agentsh.profile import Host, load_profile
from tests.conftest import REPO
from tests.test_parse_plain import generated, known_lines

STRING_SOURCES = ["test_parse.py", "test_parse_plain.py", "test_policy.py", "test_hazards.py", "test_wrappers.py",
                  "test_bash_compat.py", "test_ordinary_lines.py", "test_corpus_agent_bypasses.py",
                  "test_corpus_gtfobins.py", "test_real_path.py"]


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_decide", REPO / "bench" / "bench_decide.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _strings_in_tests() -> list[str]:
    found = []
    for name in STRING_SOURCES:
        path = REPO / "tests" / name
        if path.exists():
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and 0 < len(node.value) < 400:
                    found.append(node.value)
    return found


def corpus() -> list[str]:
    bench_lines = [line for _, line, _ in _bench().LINES]
    lines = known_lines() + _strings_in_tests() + bench_lines
    for seed in range(3):
        lines += generated(1000 + seed, 3000)
    # The bench lines in the shapes agents vary them in: more spaces, other separators.
    for line in bench_lines:
        lines += [line.replace(" ", "  "), line.replace(" | ", "|"), line.replace(" && ", ";"), line + " > out.txt"]
    return list(dict.fromkeys(lines))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("differential")
    work, home = root / "work", root / "home"
    (work / "src").mkdir(parents=True)
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("key\n")
    for name in ("a.txt", "b.txt", "f.txt", "main.py", "setup.py", "Makefile", "src/app.py", "status", "20", "x"):
        (work / name).write_text("x\n")
    # Words that look like plain operands but name a denied file: the path checks must see them.
    os.symlink(home / ".ssh" / "id_rsa", work / "key")
    os.symlink(home / ".ssh", work / "b")
    os.symlink("/etc/shadow", work / "shadow")
    os.symlink(work / "src", work / "srclink")
    return work, home


def _policies(work: Path, home: Path) -> list[Policy]:
    host = Host(cwd=str(work), home=str(home), config_home=str(home / ".config"), cache_dir="")
    bench_profile = work.parent / "bench-500.yaml"
    bench_profile.write_text(_bench().generate_profile())
    specs = [None, str(bench_profile)] + [str(p) for p in sorted((REPO / "profiles").glob("*.yaml"))]
    return [Policy(load_profile(spec, host), host) for spec in specs]


def assert_same_decision(fast: Decision, slow: Decision, context: str) -> None:
    """Field by field, so that a failure names what differs; then the whole tuple."""
    assert fast.decision == slow.decision, context
    assert fast.deciding == slow.deciding, context  # the rule and reason a refusal names
    assert len(fast.verdicts) == len(slow.verdicts), context
    for mine, theirs in zip(fast.verdicts, slow.verdicts, strict=True):
        assert mine._asdict() == theirs._asdict(), context
    assert fast.pins == slow.pins, context
    assert fast == slow, context


def test_fast_path_decides_like_the_tree_walk(workspace: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    work, home = workspace
    monkeypatch.chdir(work)
    lines = corpus()
    assert len(lines) > 5000
    accepted = [(line, fast) for line in lines if (fast := parse_plain(line)) is not None]
    assert len(accepted) > 1500, len(accepted)  # the comparison covers the fast path really taken
    decisions: dict[str, int] = {}
    for policy in _policies(work, home):
        for line, fast in accepted:
            slow = walk(line, str(home))
            assert fast == slow, line  # the parses agree ...
            fast_decision = policy.decide_parsed(fast)
            assert_same_decision(fast_decision, policy.decide_parsed(slow), f"{policy.profile.source}: {line!r}")
            assert policy.decide(line) == fast_decision, line  # ... and so does the public path
            decisions[fast_decision.decision] = decisions.get(fast_decision.decision, 0) + 1
    # Both outcomes are well represented: the corpus is not all refusals.
    assert decisions.get("allow", 0) > 500 and decisions.get("deny", 0) > 500, decisions


def test_declined_lines_go_to_the_tree_walk(workspace: tuple[Path, Path]) -> None:
    """What the fast path declines, parse_line hands to the walker unchanged."""
    _work, home = workspace
    for line in corpus():
        if parse_plain(line) is None and "\0" not in line:
            assert parse_line(line, str(home)) == walk(line, str(home)) or not parse_line(line, str(home)).ok, line


def test_the_benchmark_lines_take_the_fast_path_where_expected() -> None:
    """The bench reports which parser each line took; the plain lines must stay plain."""
    taken = {line: parse_plain(line) is not None for _, line, _ in _bench().LINES}
    assert taken["git status"] and taken["cd src && python3 -m pytest -q 2>&1 | tail -n 20"]
    assert not taken['for f in *.py; do wc -l "$f"; done']
