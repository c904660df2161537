"""Drop inherited credentials from agentsh's own environment at start.

Agents inherit their launcher's environment: cloud keys, tokens, an SSH agent
socket.  The commands agentsh runs get a rebuilt environment anyway, but
agentsh's own environment is visible to them as /proc/$PPID/environ of bash's
parent.  So agentsh removes everything that looks like a credential (unless the
profile passes it by name), and also blanks those values in the memory that
/proc/PID/environ shows, which os.environ does not touch.  Names are recorded,
never values.
"""

from __future__ import annotations

TYPE_CHECKING = False  # the warm client imports this module: collections.abc would cost it ~1.7 ms
if TYPE_CHECKING:
    from collections.abc import Iterable, MutableMapping

CREDENTIAL_PATTERNS = (
    "*_TOKEN", "*_TOKEN_*", "*TOKEN", "*SECRET*", "*_KEY", "*_KEY_*", "*_KEYS", "*PASSWORD*", "*PASSWD*",
    "*PASSPHRASE*", "*CREDENTIAL*", "*_AUTH", "*_AUTH_*", "AWS_*", "AZURE_*", "GOOGLE_APPLICATION_CREDENTIALS",
    "GCP_*", "CLOUDSDK_*", "GITHUB_TOKEN", "GH_TOKEN", "GITLAB_*", "NPM_TOKEN", "PYPI_*", "VAULT_*",
    "SSH_AUTH_SOCK", "SSH_AGENT_PID", "GPG_AGENT_INFO", "KUBECONFIG", "KRB5CCNAME", "DOCKER_AUTH_CONFIG",
    "DOCKER_CONFIG", "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "*_API_KEY", "*APIKEY*", "DATABASE_URL", "*_DSN",
    # a password by another name (MYSQL_PWD), a personal access token (GH_PAT), a connection
    # string's Password=, and password managers' unlocked sessions (Bitwarden's, 1Password's)
    "*_PWD", "*_PAT", "*CONNECTION_STRING*", "BW_SESSION", "OP_SESSION_*",
)
# Needed by agentsh itself (to reach the Secret Service keyring), never passed to commands
# (the rebuilt environment only has what the profile passes).
KEEP_FOR_AGENTSH = frozenset({"DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR"})


# The patterns are all of the forms X, X*, *X and *X*: plain string tests, no regex to compile.
_EXACT = tuple(p for p in CREDENTIAL_PATTERNS if "*" not in p)
_PREFIX = tuple(p[:-1] for p in CREDENTIAL_PATTERNS if p.endswith("*") and not p.startswith("*"))
_SUFFIX = tuple(p[1:] for p in CREDENTIAL_PATTERNS if p.startswith("*") and not p.endswith("*"))
_INSIDE = tuple(p[1:-1] for p in CREDENTIAL_PATTERNS if p.startswith("*") and p.endswith("*"))


def looks_like_credential(name: str) -> bool:
    upper = name.upper()
    return (upper in _EXACT or upper.startswith(_PREFIX) or upper.endswith(_SUFFIX)
            or any(part in upper for part in _INSIDE))


def holds_url_password(value: str) -> bool:
    """Does the value hold a URL with a password in it (`http://user:pass@proxy:3128`,
    `redis://:pw@host`)?  Such variables (HTTPS_PROXY, PIP_INDEX_URL, REDIS_URL) are named
    like no credential.  Plain string tests: the warm client imports this module."""
    at = value.find("://")
    while at >= 0:
        authority = value[at + 3:]
        for stop in "/?# \t\n":
            authority = authority.split(stop, 1)[0]
        userinfo = authority.rpartition("@")[0]
        if userinfo.partition(":")[2]:
            return True
        at = value.find("://", at + 3)
    return False


def cut(environ: MutableMapping[str, str], passed: Iterable[str]) -> list[str]:
    """Remove credential-like variables not passed by name (by their name, or a URL with a
    password in their value); return their names, sorted."""
    keep = set(passed) | KEEP_FOR_AGENTSH
    dropped = sorted(n for n in environ if n not in keep and (
        looks_like_credential(n) or ("://" in environ[n] and holds_url_password(environ[n]))))
    for name in dropped:
        del environ[name]
    if dropped:
        blank_initial_environment(set(dropped))
    return dropped


def blank_initial_environment(names: set[str]) -> None:
    """Overwrite the dropped values in the process's initial environment block."""
    try:
        with open("/proc/self/stat", "rb") as handle:
            stat = handle.read()
        fields = stat[stat.rindex(b")") + 2:].split()
        # env_start and env_end are fields 50 and 51 of /proc/PID/stat (1-based), i.e.
        # indexes 47 and 48 after the command name.
        start, end = int(fields[47]), int(fields[48])
        # Through /proc/self/mem rather than ctypes: the same bytes, without an import.
        with open("/proc/self/mem", "r+b", buffering=0) as memory:
            memory.seek(start)
            block = memory.read(end - start)
            offset = 0
            for entry in block.split(b"\0"):
                name, eq, value = entry.partition(b"=")
                if eq and name.decode("utf-8", "replace") in names and value:
                    memory.seek(start + offset + len(name) + 1)
                    memory.write(b"*" * len(value))
                offset += len(entry) + 1
    except (OSError, ValueError, IndexError):
        return
