"""Find profile files, follow `extends`, merge, and resolve paths."""

# No `from __future__ import annotations`: typing.NamedTuple compiles every string
# annotation at import (~4 ms over agentsh -c's models); tests/test_startup_imports.py.

import os
from collections.abc import Mapping
from typing import Any, NamedTuple

from ..errors import ConfigError
from .model import ArgPattern, Credential, Profile, ProfileTests, Rule

EMBEDDED_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "profiles")
SYSTEM_DIR = "/etc/agentsh/profiles"
DEFAULT_PROFILE = "default"
EMBEDDED_PREFIX = "<embedded>/"
MAX_EXTENDS_DEPTH = 16
DEFAULT_PATH = ("/usr/local/bin", "/usr/bin", "/bin")


class Host(NamedTuple):
    """What profile resolution needs to know about where agentsh runs."""

    cwd: str
    home: str
    config_home: str  # $XDG_CONFIG_HOME or ~/.config
    cache_dir: str = ""  # where validated profiles are cached; "" for no cache
    evidence: tuple[str, ...] = ()  # agentsh's state dir and audit key file: denied to every line

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], cwd: str | None = None) -> "Host":
        from .cache import cache_dir

        home = environ.get("HOME") or os.path.expanduser("~")
        cache = "" if environ.get("AGENTSH_NO_CACHE") else cache_dir(home, environ.get("XDG_CACHE_HOME"))
        return cls(cwd=cwd or os.getcwd(), home=home,
                   config_home=environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config"),
                   cache_dir=cache, evidence=evidence_paths(environ))

    @property
    def user_dir(self) -> str:
        return os.path.join(self.config_home, "agentsh", "profiles")


def evidence_paths(environ: Mapping[str, str]) -> tuple[str, ...]:
    """Where agentsh keeps its audit log, head, key, recordings, live sessions and profile cache,
    and an audit key file named by AGENTSH_AUDIT_KEY_FILE (with its creation lock).

    base.yaml denies ~/.local/state/agentsh, but with XDG_STATE_HOME set (to a dir under /tmp,
    say) the state dir was elsewhere and inside the write roots: a line could cut the log, put
    back an older head, or delete the recordings.

    The validated-profile cache too: base.yaml denies ~/.cache/agentsh, but with XDG_CACHE_HOME
    in a write root (the workspace, /tmp) a line copied a forged entry over the real one and
    the next call ran under the profile it held."""
    from ..audit.log import state_dir
    from .cache import cache_dir

    home = environ.get("HOME") or os.path.expanduser("~")
    paths = [state_dir(environ), cache_dir(home, environ.get("XDG_CACHE_HOME"))]
    # The Python keyring's own files (as keyring places them on Linux): its data root holds the
    # keyrings.alt file backends' secrets (`cat ~/.local/share/python_keyring/keyring_pass.cfg`
    # printed every stored credential), and its config file names the backend to load and a
    # directory to load it from, which agentsh then imported before any check.
    for variable, default in (("XDG_DATA_HOME", ".local/share"), ("XDG_CONFIG_HOME", ".config")):
        paths.append(os.path.join(environ.get(variable) or os.path.join(home, default), "python_keyring"))
    key_file = environ.get("AGENTSH_AUDIT_KEY_FILE")
    if key_file:
        paths += (key_file, key_file + ".lock")
    return tuple(os.path.realpath(path) for path in paths)


def find_profile(spec: str | None, host: Host) -> str:
    """Resolve `-p SPEC` to a file: a path, or a name in the user, system, embedded dirs."""
    if not spec:
        return os.path.join(EMBEDDED_DIR, DEFAULT_PROFILE + ".yaml")
    if "/" in spec or spec.endswith((".yaml", ".yml")):
        path = os.path.join(host.cwd, os.path.expanduser(spec))
        if not os.path.isfile(path):
            raise ConfigError("profile file not found", file=spec)
        return os.path.normpath(path)
    _check_name(spec, spec)
    dirs = (host.user_dir, SYSTEM_DIR, EMBEDDED_DIR)
    for directory in dirs:
        for ext in (".yaml", ".yml"):
            candidate = os.path.join(directory, spec + ext)
            if os.path.isfile(candidate):
                return candidate
    raise ConfigError(f"profile '{spec}' not found; looked in {', '.join(dirs)}", file=spec)


def load_profile(spec: str | None, host: Host) -> Profile:
    """Load, validate and merge a profile (no cache, no self-tests: see session.load_policy)."""
    merged, files = load_sources(find_profile(spec, host))
    return build_profile(merged, files, host, effective_sha256(merged))


def load_sources(path: str, absent: list[str] | None = None) -> tuple[dict[str, Any], list[str]]:
    """The merged settings of a profile and its `extends` chain, and the files read.

    `absent`, when given, collects the files `extends` looked for and did not find before the
    one it took (beside the child, before the embedded profile): one appearing later changes
    the profile, which a cache of it must notice."""
    return _load_tree(path, [], 0, [] if absent is None else absent)


def display_name(path: str) -> str:
    if path.startswith(EMBEDDED_DIR + os.sep):
        return EMBEDDED_PREFIX + os.path.basename(path)
    return path


def _check_name(name: str, where: str) -> None:
    if not name or name.startswith(".") or not all(c.isalnum() or c in "-_." for c in name):
        raise ConfigError(f"'{name}' is not a valid profile name", file=where)


def _read(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            raw = handle.read((1 << 20) + 1)
    except OSError as err:
        raise ConfigError(f"cannot read profile: {err.strerror}", file=display_name(path)) from None
    if len(raw) > 1 << 20:
        raise ConfigError("profile is larger than 1 MiB", file=display_name(path))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ConfigError("profile is not valid UTF-8", file=display_name(path), line=line) from None


def _load_tree(path: str, chain: list[str], depth: int, absent: list[str]) -> tuple[dict[str, Any], list[str]]:
    real = os.path.realpath(path)
    shown = display_name(path)
    if real in chain:
        raise ConfigError("profile extends itself (cycle: "
                          + " -> ".join(display_name(p) for p in chain + [real]) + ")", file=shown)
    if depth > MAX_EXTENDS_DEPTH:
        raise ConfigError("extends chain is deeper than 16 profiles", file=shown)
    # Imported here: a cached profile (every `agentsh -c` once warm) needs neither.
    from .schema import validate_file
    from .yamlsrc import load_yaml

    data = validate_file(load_yaml(_read(path), shown))
    merged: dict[str, Any] = {}
    files: list[str] = []
    for parent in data.get("extends", []):
        parent_path = _find_parent(parent, path, absent)
        parent_data, parent_files = _load_tree(parent_path, chain + [real], depth + 1, absent)
        merged = merge(merged, parent_data)
        files.extend(f for f in parent_files if f not in files)
    own = dict(data)
    own.setdefault("name", os.path.splitext(os.path.basename(path))[0])
    merged = merge(merged, own)
    merged["tests"] = data.get("tests", {})
    files.append(path)
    return merged, files


def _find_parent(name: str, child: str, absent: list[str]) -> str:
    """`extends` looks beside the extending file, then in the embedded profiles.

    It never looks in the user's config dir: an admin's profile in /etc that says
    `extends: [base]` must not pick up a `base.yaml` the agent's user wrote.
    """
    here = os.path.dirname(child)
    if "/" in name or name.endswith((".yaml", ".yml")):
        candidate = os.path.join(here, name)
        if os.path.isfile(candidate):
            return candidate
        raise ConfigError(f"extends: '{name}' not found", file=display_name(child))
    _check_name(name, display_name(child))
    for directory in (here, EMBEDDED_DIR):
        for ext in (".yaml", ".yml"):
            candidate = os.path.join(directory, name + ext)
            if not os.path.isfile(candidate):
                if candidate not in absent:
                    absent.append(candidate)
            elif os.path.realpath(candidate) != os.path.realpath(child):
                return candidate
    raise ConfigError(f"extends: profile '{name}' not found beside the file or embedded",
                      file=display_name(child))


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Later wins for single values; lists of roots and names are joined; a rule
    replaces an inherited rule of the same name, otherwise rules accumulate."""
    out = dict(base)
    for key, value in over.items():
        if key in ("extends", "tests"):
            continue
        if key in ("read", "write"):
            section = dict(out.get(key, {}))
            for sub, items in value.items():
                section[sub] = _union(section.get(sub, []), items)
            out[key] = section
        elif key in ("record", "approval", "audit", "network"):
            out[key] = {**out.get(key, {}), **value}
        elif key == "env":
            env = {"pass": list(out.get("env", {}).get("pass", [])),
                   "set": dict(out.get("env", {}).get("set", {}))}
            env["pass"] = _union(env["pass"], value.get("pass", []))
            env["set"].update(value.get("set", {}))
            out[key] = env
        elif key == "commands":
            rules = {r["name"]: r for r in out.get("commands", [])}
            for rule in value:
                rules[rule["name"]] = rule
            out[key] = list(rules.values())
        else:
            out[key] = value
    return out


def _union(first: list[str], second: list[str]) -> list[str]:
    return first + [x for x in second if x not in first]


def effective_sha256(merged: dict[str, Any]) -> str:
    """SHA-256 of the effective profile: what decides, not where it was written.

    Moving a rule down a line (its origin) must not look like a policy change in
    the audit trail, so origins and test line numbers are left out.
    """
    import hashlib
    import json

    hashed = dict(merged, commands=[{k: v for k, v in r.items() if k != "origin"}
                                    for r in merged.get("commands", [])],
                  tests={k: [text for text, _ in v] for k, v in merged.get("tests", {}).items()})
    canonical = json.dumps(hashed, sort_keys=True, default=_json_default, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def build_profile(merged: dict[str, Any], files: list[str], host: Host, sha256: str) -> Profile:
    workspace = tuple(_expand(p, host, ()) [0] for p in merged.get("workspace", ["."]))
    path = tuple(merged.get("path", DEFAULT_PATH))

    def roots(section: str, kind: str) -> tuple[str, ...]:
        out: list[str] = []
        for item in merged.get(section, {}).get(kind, []):
            out.extend(p for p in _expand(item, host, workspace) if p not in out)
        return tuple(out)

    rules = []
    for raw in merged.get("commands", []):
        patterns = raw.get("args")
        rules.append(Rule(
            name=raw["name"],
            run=tuple(raw["run"]),
            args=None if patterns is None else tuple(patterns),
            decision=raw["decision"],
            message=raw.get("message", ""),
            env=frozenset(raw.get("env", [])),
            origin=raw.get("origin", ""),
            credentials=tuple(Credential(*c) for c in raw.get("credentials", [])),
            children=raw.get("children", "check"),
            background=raw.get("background", False),
        ))
    tests = merged.get("tests", {})
    env = merged.get("env", {})
    record = merged.get("record", {})
    audit_file = _expand(merged["audit"]["file"], host, workspace)[0] if merged.get("audit", {}).get("file") else ""
    record_dir = _expand(record["dir"], host, workspace)[0] if record.get("dir") else ""
    # No line may reach agentsh's own evidence, wherever the profile or environment put it: with
    # record.dir or audit.file under a write root (/tmp, the workspace) `rm DIR/*.cast` deleted
    # every recording, and the log and head could be cut or swapped for older copies.
    read_deny = roots("read", "deny")
    evidence = (*host.evidence, *([record_dir] if record_dir else ()),
                *((audit_file, audit_file + ".head") if audit_file else ()))
    # (one already inside a denied root adds nothing but a comparison on every path check)
    read_deny += tuple(dict.fromkeys(p for p in evidence
                                     if not any(p == r or p.startswith(r.rstrip("/") + "/") for r in read_deny)))
    return Profile(
        name=merged.get("name", "profile"),
        source=display_name(files[-1]),
        files=tuple(display_name(f) for f in files),
        paths=tuple(os.path.abspath(f) for f in files),
        approval_timeout=float(merged.get("approval", {}).get("timeout", 300.0)),
        audit_file=audit_file,
        audit_syslog=bool(merged.get("audit", {}).get("syslog", False)),
        audit_keyring=bool(merged.get("audit", {}).get("keyring", False)),
        sha256=sha256,
        workspace=workspace,
        read_allow=roots("read", "allow"),
        read_deny=read_deny,
        write_allow=roots("write", "allow"),
        write_deny=roots("write", "deny"),
        path=path,
        env_pass=frozenset(env.get("pass", [])),
        env_set=tuple(sorted(env.get("set", {}).items())),
        rules=tuple(rules),
        tests=ProfileTests(**{k: tuple(v) for k, v in tests.items()}),
        description=merged.get("description", ""),
        record_dir=record_dir,
        record_required=record.get("required", True),
        record_input=record.get("input", False),
        network_connect=_ports(merged, "connect"),
        network_bind=_ports(merged, "bind"),
        strict=bool(merged.get("strict", False)),
    )


def _ports(merged: dict[str, Any], kind: str) -> tuple[int, ...] | None:
    ports = merged.get("network", {}).get(kind, [])
    return None if ports == "any" else tuple(ports)


def _json_default(value: Any) -> Any:
    if isinstance(value, ArgPattern):
        return value.text
    raise TypeError(type(value).__name__)


def _expand(item: str, host: Host, workspace: tuple[str, ...]) -> list[str]:
    """`~`, `{home}`, `{workspace}` and relative paths become absolute real paths."""
    if "{workspace}" in item:
        return [p for root in workspace for p in _expand(item.replace("{workspace}", root), host, ())]
    item = item.replace("{home}", host.home)
    if item == "~" or item.startswith("~/"):
        item = host.home + item[1:]
    return [os.path.realpath(os.path.join(host.cwd, item))]
