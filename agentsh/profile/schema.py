"""Validate one profile file's data: known keys only, right types, errors with lines.

Unknown keys are errors because a typo (`decison: deny`, `comands:`) must never
silently widen access.
"""

from __future__ import annotations

import shlex
from typing import Any

from .model import ANY_REST, DECISIONS, ArgPattern
from .yamlsrc import Located, Path

TOP_KEYS = {"agentsh", "name", "description", "extends", "workspace", "read", "write",
            "path", "env", "commands", "tests", "record", "approval", "audit", "network", "strict"}
RECORD_KEYS = {"dir", "required", "input"}
ROOT_KEYS = {"allow", "deny"}
ENV_KEYS = {"pass", "set"}
RULE_KEYS = {"name", "run", "args", "decision", "message", "env", "credentials", "children", "background"}
CHILDREN = ("check", "none", "any")
NETWORK_KEYS = {"connect", "bind"}
CREDENTIAL_KEYS = {"keyring", "user", "as"}
TEST_KEYS = {"allow", "ask", "deny"}
VERSION = 1


def validate_file(src: Located) -> dict[str, Any]:
    """Return the file's settings in normalised form; raise ConfigError on any flaw."""
    data = src.data
    if not isinstance(data, dict):
        raise src.error((), "a profile must be a YAML mapping")
    _known(src, (), data, TOP_KEYS)
    if data.get("agentsh") != VERSION:
        raise src.error(("agentsh",), f"missing or unsupported format version; write 'agentsh: {VERSION}'")
    out: dict[str, Any] = {}
    for key in ("name", "description"):
        if key in data:
            out[key] = _string(src, (key,), data[key])
    if "extends" in data:
        out["extends"] = _strings(src, ("extends",), data["extends"], allow_single=True)
    if "workspace" in data:
        out["workspace"] = _strings(src, ("workspace",), data["workspace"], allow_single=True)
        for i, root in enumerate(out["workspace"]):
            if "{workspace}" in root:
                raise src.error(("workspace", i), "a workspace root cannot be written in terms of {workspace}")
    for key in ("read", "write"):
        if key in data:
            section = _mapping(src, (key,), data[key], ROOT_KEYS)
            out[key] = {k: _strings(src, (key, k), v) for k, v in section.items()}
    if "path" in data:
        dirs = _strings(src, ("path",), data["path"])
        for i, d in enumerate(dirs):
            if not d.startswith("/"):
                raise src.error(("path", i), f"'{d}' is not an absolute directory; "
                                "relative entries would let the working directory pick programs")
        out["path"] = dirs
    if "env" in data:
        env = _mapping(src, ("env",), data["env"], ENV_KEYS)
        out["env"] = {}
        if "pass" in env:
            out["env"]["pass"] = _strings(src, ("env", "pass"), env["pass"])
            for i, name in enumerate(out["env"]["pass"]):
                _env_name(src, ("env", "pass", i), name)
        if "set" in env:
            values = _mapping(src, ("env", "set"), env["set"], None)
            for name, value in values.items():
                _env_name(src, ("env", "set", name), name)
                if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                    raise src.error(("env", "set", name), "must be a string")
            out["env"]["set"] = {k: str(v) for k, v in values.items()}
    if "record" in data:
        record = _mapping(src, ("record",), data["record"], RECORD_KEYS)
        out["record"] = {}
        if "dir" in record:
            out["record"]["dir"] = _string(src, ("record", "dir"), record["dir"])
        for key in ("required", "input"):
            if key in record:
                if not isinstance(record[key], bool):
                    raise src.error(("record", key), "must be true or false")
                out["record"][key] = record[key]
    if "audit" in data:
        audit = _mapping(src, ("audit",), data["audit"], {"file", "syslog", "keyring"})
        out["audit"] = {}
        if "file" in audit:
            out["audit"]["file"] = _string(src, ("audit", "file"), audit["file"])
        for key in ("syslog", "keyring"):
            if key in audit:
                if not isinstance(audit[key], bool):
                    raise src.error(("audit", key), "must be true or false")
                out["audit"][key] = audit[key]
    if "approval" in data:
        approval = _mapping(src, ("approval",), data["approval"], {"timeout"})
        out["approval"] = {}
        if "timeout" in approval:
            timeout = approval["timeout"]
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 86400:
                raise src.error(("approval", "timeout"), "must be a number of seconds between 0 and 86400")
            out["approval"]["timeout"] = float(timeout)
    if "network" in data:
        network = _mapping(src, ("network",), data["network"], NETWORK_KEYS)
        out["network"] = {key: _ports(src, ("network", key), value) for key, value in network.items()}
    if "strict" in data:
        if not isinstance(data["strict"], bool):
            raise src.error(("strict",), "must be true or false")
        out["strict"] = data["strict"]
    if "commands" in data:
        rules = data["commands"]
        if not isinstance(rules, list):
            raise src.error(("commands",), "must be a list of rules")
        out["commands"] = [_rule(src, ("commands", i), r) for i, r in enumerate(rules)]
        seen: dict[str, int] = {}
        for i, rule in enumerate(out["commands"]):
            if rule["name"] in seen:
                raise src.error(("commands", i, "name"),
                                f"rule name '{rule['name']}' is already used by commands[{seen[rule['name']]}]")
            seen[rule["name"]] = i
    if "tests" in data:
        tests = _mapping(src, ("tests",), data["tests"], TEST_KEYS)
        out["tests"] = {
            k: [(line, src.line(("tests", k, i)) or 0) for i, line in
                enumerate(_strings(src, ("tests", k), v))]
            for k, v in tests.items()
        }
    return out


def _rule(src: Located, path: Path, data: Any) -> dict[str, Any]:
    rule = _mapping(src, path, data, RULE_KEYS)
    for key in ("name", "run", "decision"):
        if key not in rule:
            raise src.error(path, f"rule needs '{key}'")
    out: dict[str, Any] = {
        "name": _string(src, path + ("name",), rule["name"]),
        "run": _strings(src, path + ("run",), rule["run"], allow_single=True),
        "decision": _string(src, path + ("decision",), rule["decision"]),
        "origin": f"{src.file}:{src.line(path)}",
    }
    if out["decision"] not in DECISIONS:
        raise src.error(path + ("decision",), f"'{out['decision']}' is not one of {', '.join(DECISIONS)}")
    for i, program in enumerate(out["run"]):
        if not program or (("/" in program) and not program.startswith("/")):
            raise src.error(path + ("run", i), f"'{program}': write a program name or an absolute path")
    if "args" in rule:
        patterns = _strings(src, path + ("args",), rule["args"])
        out["args"] = [_pattern(src, path + ("args", i), p) for i, p in enumerate(patterns)]
    if "message" in rule:
        out["message"] = _string(src, path + ("message",), rule["message"])
    if "env" in rule:
        out["env"] = _strings(src, path + ("env",), rule["env"])
        for i, name in enumerate(out["env"]):
            _env_name(src, path + ("env", i), name)
    if "credentials" in rule:
        out["credentials"] = _credentials(src, path + ("credentials",), rule["credentials"])
    if "children" in rule:
        out["children"] = _string(src, path + ("children",), rule["children"])
        if out["children"] not in CHILDREN:
            raise src.error(path + ("children",), f"'{out['children']}' is not one of {', '.join(CHILDREN)}")
    if "background" in rule:
        if not isinstance(rule["background"], bool):
            raise src.error(path + ("background",), "must be true or false")
        out["background"] = rule["background"]
    return out


def _ports(src: Located, path: Path, data: Any) -> list[int] | str:
    """`any`, or a list of TCP port numbers (Landlock rules are per port, so no ranges)."""
    if data == "any":
        return "any"
    if not isinstance(data, list):
        raise src.error(path, "must be 'any' or a list of TCP port numbers")
    for i, port in enumerate(data):
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise src.error(path + (i,), "must be a TCP port number (0-65535)")
    return sorted(set(data))


def _credentials(src: Located, path: Path, data: Any) -> list[list[str]]:
    """VAR: {keyring: SERVICE, user: USER, as: env|file} -> [[VAR, SERVICE, USER, AS], ...]"""
    entries = _mapping(src, path, data, None)
    out = []
    folded: dict[tuple[str, str], str] = {}
    for variable, spec in entries.items():
        _env_name(src, path + (variable,), variable)
        spec = _mapping(src, path + (variable,), spec, CREDENTIAL_KEYS)
        for key in ("keyring", "user"):
            if key not in spec:
                raise src.error(path + (variable,), f"credential needs '{key}'")
        service = _string(src, path + (variable, "keyring"), spec["keyring"])
        user = _string(src, path + (variable, "user"), spec["user"])
        kind = _string(src, path + (variable, "as"), spec.get("as", "env"))
        if kind not in ("env", "file"):
            raise src.error(path + (variable, "as"), f"'{kind}' is not one of env, file")
        # keyrings.alt's file backend folds user names to lower case: two entries that
        # differ only in case would silently read the same secret.
        key = (service, user.lower())
        if key in folded and folded[key] != user:
            raise src.error(path + (variable, "user"), f"'{user}' and '{folded[key]}' differ only in case; "
                            "some keyring backends cannot tell them apart")
        folded[key] = user
        out.append([variable, service, user, kind])
    return out


def _pattern(src: Located, path: Path, text: str) -> ArgPattern:
    try:
        elements = tuple(shlex.split(text))
    except ValueError as err:
        raise src.error(path, f"cannot split pattern {text!r}: {err}") from None
    for element in elements:
        if ANY_REST in element and element != ANY_REST:
            raise src.error(path, f"'...' must be a whole element, not part of {element!r}")
    return ArgPattern(text=text, elements=elements)


def _known(src: Located, path: Path, data: dict[str, Any], known: set[str]) -> None:
    for key in data:
        if key not in known:
            hint = _closest(key, known)
            raise src.error(path + (key,), f"unknown key '{key}'" + (f" (did you mean '{hint}'?)" if hint else "")
                            + f"; known keys: {', '.join(sorted(known))}")


def _closest(key: str, known: set[str]) -> str:
    import difflib

    match = difflib.get_close_matches(key, sorted(known), n=1)
    return match[0] if match else ""


def _mapping(src: Located, path: Path, data: Any, known: set[str] | None) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise src.error(path, "must be a mapping")
    if known is not None:
        _known(src, path, data, known)
    return data


def _string(src: Located, path: Path, data: Any) -> str:
    if not isinstance(data, str):
        raise src.error(path, "must be a string")
    return data


def _strings(src: Located, path: Path, data: Any, allow_single: bool = False) -> list[str]:
    if allow_single and isinstance(data, str):
        return [data]
    if not isinstance(data, list):
        raise src.error(path, "must be a list of strings")
    for i, item in enumerate(data):
        if not isinstance(item, str):
            raise src.error(path + (i,), "must be a string (quote it)")
    return list(data)


def _env_name(src: Located, path: Path, name: str) -> None:
    if not name or not (name[0].isalpha() or name[0] == "_") or not all(c.isalnum() or c == "_" for c in name):
        raise src.error(path, f"'{name}' is not a valid environment variable name")
