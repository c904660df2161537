"""Read YAML into plain data while remembering the line of every key and item.

Errors must name the file and line, and duplicate keys must be errors (PyYAML
silently keeps the last one, which would let a typo'd second `decision:` win).
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError

Path = tuple[Any, ...]


class Located:
    """Plain data from one YAML file plus the line (1-based) of each key path."""

    def __init__(self, file: str, data: Any, lines: dict[Path, int]) -> None:
        self.file = file
        self.data = data
        self.lines = lines

    def line(self, path: Path) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())

    def error(self, path: Path, message: str) -> ConfigError:
        return ConfigError(message, file=self.file, line=self.line(path), key=key_text(path))


def key_text(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_yaml(text: str, file: str) -> Located:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        _check_depth(yaml.parse(text, Loader=loader), file)
        node = yaml.compose(text, Loader=loader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"YAML error: {problem}", file=file, line=line) from None
    lines: dict[Path, int] = {}
    if node is None:
        raise ConfigError("the file is empty", file=file)
    data = _convert(node, (), lines, file)
    return Located(file, data, lines)


MAX_NODES = 200_000
MAX_DEPTH = 64


def _check_depth(events: Any, file: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH before composing: the composer recurses once per
    level (in C with CSafeLoader), so `x: [[[[...` 100,000 deep crashed agentsh with SIGSEGV
    (and a live session with it, on such an edit) instead of naming the file and line.
    The parser that yields these events keeps its own stack and does not recurse."""
    import yaml

    depth = 0
    for event in events:
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise ConfigError("the YAML document is nested too deeply", file=file,
                                  line=event.start_mark.line + 1)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _convert(node: Any, path: Path, lines: dict[Path, int], file: str) -> Any:
    import yaml

    # Aliases share nodes, so a small file can expand enormously ("billion laughs").
    if len(lines) > MAX_NODES or len(path) > MAX_DEPTH:
        raise ConfigError("the YAML document is too large or too deeply nested", file=file,
                          line=node.start_mark.line + 1, key=key_text(path))
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError("mapping keys must be plain strings", file=file,
                                  line=key_node.start_mark.line + 1, key=key_text(path))
            if key_node.tag.endswith(":merge"):
                raise ConfigError("YAML merge keys (<<) are not supported", file=file,
                                  line=key_node.start_mark.line + 1, key=key_text(path))
            key = str(key_node.value)
            if key in out:
                raise ConfigError(f"duplicate key '{key}'", file=file,
                                  line=key_node.start_mark.line + 1, key=key_text(path))
            out[key] = _convert(value_node, path + (key,), lines, file)
            lines[path + (key,)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, path + (i,), lines, file) for i, item in enumerate(node.value)]
    return _scalar(node, path, lines, file)


def _scalar(node: Any, path: Path, lines: dict[Path, int], file: str) -> Any:
    tag = node.tag.rsplit(":", 1)[-1]
    value = node.value
    if tag == "str":
        return value
    if tag == "int":
        try:
            return int(value.replace("_", ""), 0)
        except ValueError:
            return value
    if tag == "bool":
        return value.lower() in ("true", "yes", "on", "y")
    if tag == "null":
        return None
    if tag == "float":
        try:
            return float(value)
        except ValueError:
            return value
    raise ConfigError(f"unsupported YAML value type '{node.tag}'", file=file, line=lines[path],
                      key=key_text(path))
