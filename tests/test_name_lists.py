"""Files a program opens by names the line does not show: names listed in a file or read
from standard input (`tar -T LIST`, `sort --files0-from=LIST`, `xz --files=LIST`,
`find -files0-from LIST`, `git add --pathspec-from-file=LIST`), JSON or modules a jq program
imports by a name inside the program, and a response file (`strings @list`).  Each line
below printed a secret from a denied read root in guardrail mode under the default profile:
the read check saw only the list's own name.  They are refused as hazards (a rule must name
the option to allow it).  So is tar's dashless first word holding a hazardous letter (`tar
cIf CMD ...` ran CMD)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from agentsh.policy import Policy
from tests.conftest import SECRETS_DENIED, policy_in

Run = Callable[..., subprocess.CompletedProcess[str]]
CANARY = "WS-CANARY-PLUGH"
DOCKER_CANARY = "DOCKER-AUTH-CANARY"


@pytest.fixture
def work(workspace: Path, home: Path) -> Path:
    """A git workspace with a denied `secrets/key`, lists naming it, and ~/.docker/config.json
    (denied by base)."""
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    (workspace / "secrets").mkdir()
    (workspace / "secrets" / "key").write_text(CANARY + "\n")
    (workspace / "list").write_text("secrets/key\n")
    (workspace / "list0").write_text("secrets/key\0")
    (home / ".docker").mkdir()
    (home / ".docker" / "config.json").write_text(json.dumps({"auths": {"x": {"auth": DOCKER_CANARY}}}))
    return workspace


@pytest.mark.parametrize("line", [
    "tar -cf - -T list | tar -xOf -",
    "tar -cf - --files-from=list | tar -xOf -",
    "tar -cf - --files-f list | tar -xOf -",
    "tar cTf list - | tar -xOf -",
    "sort --files0-from=list0",
    "sort --files0-f=list0",
    "xz -c --files=list | xz -dc",
    "xz -c --files0=list0 | xz -dc",
    "find -files0-from list0 -exec cat {} +",
    "git add --pathspec-from-file=list && git diff --cached",
    "jq -n 'import \"../home/.docker/config\" as $c; $c'",
    "jq -n --arg a b 'import \"../home/.docker/config\" as $c; $c'",
    "strings @list",  # a response file: more arguments, file names among them
    "strings -f @list",
])
def test_names_the_line_does_not_show_print_no_secret(line: str, guardrail: Run) -> None:
    done = guardrail(line)
    assert done.returncode == 126, done.stdout + done.stderr
    assert CANARY not in done.stdout + done.stderr
    assert DOCKER_CANARY not in done.stdout + done.stderr
    assert "cannot check" in done.stderr


@pytest.mark.parametrize("line", [
    "wc --files0-from=list0", "du --files0-from=list0", "file -f list", "file --files-from list",
    "jq -f prog.jq", "jq -n 'include \"x\"; .'", "unxz --files=list", "zstd --filelist list",
])
def test_other_name_lists_are_refused(line: str, policy: Policy) -> None:
    assert policy.decide(line).decision == "deny", line


@pytest.mark.parametrize("line", [
    "wc -l \"$f\"", "du -sh \"$d\"", "wc -l $(git ls-files)", "sort -T /tmp README.md", "tar -czf a.tgz README.md",
    "tar xzf a.tgz", "tar --create --file=a.tar README.md",
    "jq -r .a x.json", "jq -n --arg x import '$x'", "jq '.[] | .include' x.json",
    "file README.md", "strings README.md", "strings \"$f\"", "find . -name '*.py'", "xz -k README.md", "git log --patch -1",
])
def test_ordinary_lines_stay_allowed(line: str, policy: Policy) -> None:
    assert policy.decide(line).decision == "allow", line


def test_tar_dashless_cluster_runs_no_compress_program(guardrail: Run, tmp_path: Path) -> None:
    planted = tmp_path / "PWNED"
    done = guardrail(f"tar cIf 'touch {planted};' out.tar README.md")
    assert done.returncode == 126, done.stdout + done.stderr
    assert not planted.exists()


def test_a_rule_naming_the_option_allows_it(work: Path, home: Path, tmp_path: Path) -> None:
    """A hazard, not a ban: an admin who wants `sort --files0-from` names it."""
    text = SECRETS_DENIED + "commands:\n  - {name: lists, run: sort, args: ['--files0-from=names0'], decision: allow}\n"
    policy = policy_in(work, home, tmp_path, text)
    assert policy.decide("sort --files0-from=names0").decision == "allow"
    assert policy.decide("sort --files0-from=list0").decision == "deny"
