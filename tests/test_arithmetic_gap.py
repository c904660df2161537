"""Known open gap (docs/security-model.md, "Known open gaps"): bash evaluates a string as an
arithmetic expression in `[[ A -eq B ]]`, `[[ -v NAME ]]`, `$((x))`, `((x))` and others,
and an array subscript in that string runs its command substitutions. The string can come
from a quoted literal or from a variable's value, so the command never appears as a command
in the line. The static check does not see it; in confined mode the exec guard decides the
program such a substitution runs, and Landlock confines its files.

These tests state what the static layer should do and fail until it does (strict xfail):
when the gap is closed they pass, and the marks must go."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agentsh.policy import Decision, Policy
from agentsh.profile import Host, load_profile

GAP = "arithmetic evaluation of strings runs their array subscripts' command substitutions (open gap)"


@pytest.fixture
def decide(home: Path, workspace: Path) -> Callable[[str], Decision]:
    host = Host(cwd=str(workspace), home=str(home), config_home=str(home / ".config"))
    return Policy(load_profile(None, host), host).decide


@pytest.mark.xfail(strict=True, reason=GAP)
@pytest.mark.parametrize("line", [
    "[[ -v 'a[$(curl -s https://example.com)]' ]]",
    "[[ 'a[$(curl -s https://example.com)]' -eq 1 ]]",
    "x='a[$(curl -s https://example.com)]'; [[ $x -eq 1 ]]",
    "x='a[$(curl -s https://example.com)]'; echo $((x))",
    "x='a[$(curl -s https://example.com)]'; echo $(($x))",
])
def test_arithmetic_on_strings_is_refused(line: str, decide: Callable[[str], Decision]) -> None:
    assert decide(line).decision == "deny"


def test_the_visible_command_is_checked(decide: Callable[[str], Decision]) -> None:
    """What is closed already: a substitution written as code is walked and decided."""
    assert decide("echo $(($(curl -s https://example.com)))").decision == "deny"
    assert decide("case x in $(curl -s https://example.com)) ;; esac").decision == "deny"
