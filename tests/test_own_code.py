"""A line must not write where agentsh's own interpreter loads code from at its next start:
a `.pth` file in the user's site-packages runs inside agentsh, before any check.  With the
workspace in $HOME and an existing ~/.local/lib/pythonX.Y/site-packages, the default
profile let `echo 'import os; ...' > ~/.local/lib/.../x.pth` through, and the next
`agentsh -c true` ran it (a global install; a venv reads no user site-packages)."""

from __future__ import annotations

import os
import site
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import agentsh
from agentsh.policy import Policy
from agentsh.policy.paths import own_code_roots
from agentsh.profile import Host, load_profile
from tests.conftest import write_profile

Run = Callable[..., subprocess.CompletedProcess[str]]


def test_own_code_roots_name_the_package_and_site_packages() -> None:
    roots = own_code_roots(str(Path.home()))
    assert str(Path(agentsh.__file__).resolve().parent) in roots
    assert all(str(Path(p).resolve()) in roots for p in site.getsitepackages())
    if site.ENABLE_USER_SITE and "PYTHONUSERBASE" not in os.environ:  # the user's, as this interpreter names it
        assert os.path.realpath(site.getusersitepackages()) in roots


@pytest.mark.skipif(not site.ENABLE_USER_SITE, reason="this interpreter reads no user site-packages (a venv)")
def test_a_pth_file_in_the_user_site_packages_is_refused(home: Path, agentsh_env: dict[str, str],
                                                          run_agentsh: Run) -> None:
    """Run for real from a workspace that is $HOME: refused, nothing planted, nothing run."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    user_site = home / ".local" / "lib" / version / "site-packages"
    user_site.mkdir(parents=True)
    canary = home / "PWNED"
    line = f"echo 'import os; open(\"{canary}\", \"w\")' > ~/.local/lib/{version}/site-packages/zz.pth"
    done = run_agentsh("-c", line, cwd=home)
    assert done.returncode == 126, done.stderr
    assert "agentsh's own interpreter loads code from" in done.stderr
    assert not (user_site / "zz.pth").exists()
    for line in (f"mkdir -p ~/.local/lib/{version}/site-packages/x",
                 f"cp README.md ~/.local/lib/{version}/site-packages/zz.pth"):
        assert run_agentsh("-c", line, cwd=home).returncode == 126, line
    done = run_agentsh("-c", "true", cwd=home)
    assert done.returncode == 0 and not canary.exists()


def test_writing_into_agentsh_itself_is_refused(tmp_path: Path, home: Path) -> None:
    """Even where the profile allows writing: agentsh's package is its own code."""
    package = Path(agentsh.__file__).resolve().parent
    profile = write_profile(tmp_path, "own", f"""\
agentsh: 1
name: own
extends: [default]
write: {{allow: ["{package.parent}"]}}
""")
    host = Host(cwd=str(tmp_path), home=str(home), config_home=str(home / ".config"))
    policy = Policy(load_profile(str(profile), host), host)
    for line in (f"touch {package}/policy/evil.py", f"echo x > {package}/__init__.py",
                 f"mv {package} {tmp_path}/moved", f"rm -rf {package}"):
        decision = policy.decide(line)
        assert decision.decision == "deny", line
    assert policy.decide(f"touch {package.parent}/notes.txt").decision == "allow"
