"""Shell parser stage: a command line in, the simple commands bash would run out."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import Any

from .model import Assignment, ParsedLine, Problem, Redirect, SimpleCommand, Word
from .plain import parse_plain

__all__ = [
    "MAX_LINE_BYTES",
    "Assignment",
    "ParsedLine",
    "Problem",
    "Redirect",
    "SimpleCommand",
    "Word",
    "parse_line",
]

# The kernel refuses a single argv string longer than this (MAX_ARG_STRLEN), so a
# longer line could not reach bash through `bash -c` anyway.
MAX_LINE_BYTES = 131072 - 1
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


@lru_cache(maxsize=1)
def _ts_parser() -> Any:
    import tree_sitter

    return tree_sitter.Parser(tree_sitter.Language(_bash_language()))


def _bash_language() -> Any:
    """The grammar from tree_sitter_bash's compiled binding.

    Loaded directly: the package's __init__ imports importlib.resources (about 5 ms
    at every start) only to offer query files agentsh never reads.
    """
    try:
        import importlib.machinery
        import importlib.util

        spec = importlib.util.find_spec("tree_sitter_bash")
        directory = spec.submodule_search_locations[0] if spec and spec.submodule_search_locations else ""
        binary = next(os.path.join(directory, f) for f in os.listdir(directory)
                      if f.startswith("_binding.") and f.endswith(".so"))
        loader = importlib.machinery.ExtensionFileLoader("tree_sitter_bash._binding", binary)
        module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
        loader.exec_module(module)
        return module.language()
    except Exception:  # any surprise in that shortcut: the ordinary import
        import tree_sitter_bash

        return tree_sitter_bash.language()


def parse_line(source: str, home: str | None = None) -> ParsedLine:
    """Parse one command line; problems in the result mean nothing may run.

    ``home`` is the HOME the command will see, used for tilde expansion.
    """
    problem = screen_line(source)
    if problem is not None:
        return ParsedLine(source=source, problems=(problem,))
    plain = parse_plain(source)  # the same result for the plainest lines, without the tree walk
    if plain is not None:
        return plain
    return _walk()(source, home)


@lru_cache(maxsize=1)
def _walk() -> Any:
    """walker.parse_line, imported on first use: it needs tree-sitter, which plain lines
    never load (an import statement in parse_line would cost a microsecond at every call)."""
    from .walker import parse_line as walk

    return walk


def screen_line(source: str) -> Problem | None:
    """Cheap checks before parsing: size, encoding and control characters."""
    try:
        raw = source.encode("utf-8")
    except UnicodeEncodeError:
        return Problem(text=_preview(source), reason="the line is not valid UTF-8")
    if len(raw) > MAX_LINE_BYTES:
        return Problem(text=_preview(source),
                       reason=f"the line is {len(raw)} bytes; the limit is {MAX_LINE_BYTES}")
    control = _CONTROL.search(source)
    if control is None:
        return None
    ch = control.group()
    if ch == "\x7f":
        return Problem(text=_preview(source), reason="raw DEL character in the line")
    return Problem(text=_preview(source), reason=f"raw control character {ord(ch):#04x} in the line "
                                                 "(write it as $'\\x..' if you need it)")


def _preview(source: str) -> str:
    shown = source.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
    return shown[:60] + ("..." if len(shown) > 60 else "")
