"""`agentsh shim DIR`: a directory whose `bash` and `sh` run agentsh, for agents that only
accept a shell named bash (Claude Code wants `bash` or `zsh` in the path) or look `bash`
up on PATH (Codex, Gemini CLI, mini-swe-agent).

Each entry is a tiny Python script that starts this very interpreter by absolute path,
with -I (isolated: PYTHONPATH, PYTHONHOME, user site-packages and the script's own
directory are ignored, so nothing in the agent's environment or in DIR decides which
agentsh, or which modules, run), finds agentsh where it was when the shim was made, and
bakes in the profile (-p) if one was given.  A profile baked in here is not something the
agent can change through its environment; an account that must not choose its profile
at all is mapped in /etc/agentsh/config.yaml instead.  Nothing in a shim ever runs the
real bash: that only happens for a checked line, under agentsh.
"""

from __future__ import annotations

import os
import sys

MARK = "# agentsh shim"
NAMES = ("bash", "sh")

_TEMPLATE = """#!{python} -I
{mark}: made by `agentsh shim`; runs agentsh, never the real shell.
import sys
if {package_root!r} not in sys.path:
    sys.path.insert(0, {package_root!r})
from agentsh.main import entry
sys.argv[1:1] = {baked!r}
entry()
"""


class ShimError(Exception):
    pass


def package_root() -> str:
    """The directory that holds the agentsh package now running."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def shim_text(profile: str | None, python: str | None = None) -> str:
    interpreter = os.path.abspath(python or sys.executable)
    baked = ["-p", profile] if profile else []
    return _TEMPLATE.format(python=interpreter, mark=MARK, package_root=package_root(), baked=baked)


def profile_argument(spec: str | None) -> str | None:
    """A profile as the shim should name it: a file by absolute path (the agent may run the
    shim from anywhere), a name as given."""
    if spec and ("/" in spec or os.path.isfile(spec)):
        return os.path.abspath(spec)
    return spec


def write_shim(directory: str, profile: str | None = None, python: str | None = None,
               force: bool = False) -> list[str]:
    """Create DIR (0755 if new) with executable `bash` and `sh`; return their paths.

    An existing file is replaced only if it is one of our shims, or with `force`."""
    text = shim_text(profile_argument(profile), python)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    paths = []
    for name in NAMES:
        path = os.path.join(os.path.abspath(directory), name)
        if os.path.lexists(path) and not force and not _is_shim(path):
            raise ShimError(f"{path} exists and is not an agentsh shim; remove it or use --force")
        temporary = path + ".agentsh-new"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o755)
        try:
            os.write(fd, text.encode())
            os.fchmod(fd, 0o755)
        finally:
            os.close(fd)
        os.replace(temporary, path)  # never a half-written shell on the agent's PATH
        paths.append(path)
    return paths


def _is_shim(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return not os.path.islink(path) and MARK.encode() in head
