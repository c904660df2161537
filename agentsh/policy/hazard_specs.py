"""The shapes of hazard knowledge (Hazard, Spec) and the generic readers that turn the plain
data in hazard_table into Specs: subcommands, option values, operands that are commands,
name lists, response files.  hazards.py holds the program-specific Specs and the matching.
"""

# No `from __future__ import annotations`: typing.NamedTuple compiles every string
# annotation at import (~4 ms over agentsh -c's models); tests/test_startup_imports.py.

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import NamedTuple

from ..parse import Word
from . import compiler_hazards
from . import hazard_table as table


class Hazard(NamedTuple):
    index: int  # index into the arguments (argv[1:]); -1: the invocation as a whole
    option: str  # what a rule must name literally to permit it
    reason: str


Inspector = Callable[[tuple[Word, ...]], list[Hazard]]


class Spec(NamedTuple):
    options: Mapping[str, str] = MappingProxyType({})  # option -> reason
    bare: str = ""  # hazard when run with no operands (a shell or REPL reading stdin)
    stdin_operands: tuple[str, ...] = ()  # operands meaning "read the program from stdin"
    operands: Inspector | None = None  # looks inside script-like operands
    env: tuple[str, ...] = ()  # environment variable globs hazardous for this program
    # options whose next argument is a value (so the value is not taken as an operand)
    takes_value: tuple[str, ...] = ()
    # interpreters: options after the first operand belong to the script, not to us
    stop_at_operand: bool = False
    # options that name the program to run and end option parsing (`python -m mod`)
    terminators: tuple[str, ...] = ()
    # further readers of the whole argv (subcommands, option values, operands)
    inspectors: tuple[Inspector, ...] = ()
    # says whether a dynamic word at an index is harmless for this program
    dynamic: Callable[[tuple[Word, ...], int], bool] | None = None
    # long options of this program that are no abbreviation of a hazardous one: they exist
    # under that very name, or are ambiguous and refused by the program itself
    exact: frozenset[str] = frozenset()
    # says whether any word may hold one of this spec's hazards (None: always look); only for
    # specs that take every dynamic word (`wc -l "$f"` need not pay for a full reading), or
    # whose quick look says True for any dynamic word (sed's)
    quick: Callable[[tuple[Word, ...]], bool] | None = None


# -- generic readers for the data in hazard_table --------------------------------------------

def operand_indexes(args: tuple[Word, ...]) -> list[int]:
    """Words that do not look like options (static ones only; dynamic words are checked apart)."""
    out: list[int] = []
    for i, word in enumerate(args):
        if word.value == "--":
            out.extend(j for j in range(i + 1, len(args)) if args[j].value is not None)
            break
        if word.value is not None and not (word.value.startswith("-") and word.value != "-"):
            out.append(i)
    return out


def _subcommands(program: str, table_: dict[str, str]) -> Inspector:
    """`docker run`, `ip netns exec`: the words may follow option values, so look a word further."""
    def inspect(args: tuple[Word, ...]) -> list[Hazard]:
        operands = operand_indexes(args)
        words = [args[i].value for i in operands]
        found = []
        for pattern, reason in table_.items():
            parts = pattern.split()
            for start in range(0, min(2, len(words) - len(parts) + 1)):
                if words[start:start + len(parts)] == parts:
                    found.append(Hazard(operands[start], parts[0], f"{program} {pattern} {reason}"))
                    break
        return found
    return inspect


def _values(patterns: tuple[tuple[str, str, str], ...]) -> Inspector:
    """An option whose value (or an operand, for option "") matches a pattern."""

    def inspect(args: tuple[Word, ...]) -> list[Hazard]:
        found = []
        for option, pattern, reason in patterns:
            # Compiled on first use, from re's cache after: a line for another program
            # should not pay for compiling these at every start-up.
            rx = re.compile(pattern)
            if not option:
                found.extend(Hazard(i, args[i].value or "", reason)
                             for i in operand_indexes(args) if rx.search(args[i].value or ""))
                continue
            for i, word in enumerate(args):
                value = word.value or ""
                if value == option and i + 1 < len(args):
                    candidate = args[i + 1].value
                elif value.startswith(option + "=") or (len(option) == 2 and value.startswith(option)
                                                          and len(value) > 2):
                    candidate = value[len(option):].lstrip("=")
                else:
                    continue
                if candidate is None or rx.search(candidate):
                    found.append(Hazard(i, option, f"{option} {reason}"))
        return found
    return inspect


_INFO = ("--help", "-h", "--version", "-V")


def _runs_operand(reason: str) -> Inspector:
    def inspect(args: tuple[Word, ...]) -> list[Hazard]:
        operands = operand_indexes(args)
        if operands:
            return [Hazard(operands[0], args[operands[0]].value or "", reason)]
        if any(w.value in _INFO for w in args):
            return []
        return [Hazard(-1, "", reason)]
    return inspect


def _always(reason: str, harmless: tuple[str, ...]) -> Inspector:
    def inspect(args: tuple[Word, ...]) -> list[Hazard]:
        if any(w.value in harmless or w.value in _INFO for w in args):
            return []
        return [Hazard(0, args[0].value or "", reason) if args else Hazard(-1, "", reason)]
    return inspect


def _stdin_commands(minimum: int, reason: str) -> Inspector:
    def inspect(args: tuple[Word, ...]) -> list[Hazard]:
        if len(operand_indexes(args)) >= minimum or any(w.value in _INFO for w in args):
            return []
        return [Hazard(-1, "", reason)]
    return inspect


def _remote_command(valued: tuple[str, ...]) -> Inspector:
    """`ssh HOST CMD...`: the words after the host are a command for the remote shell."""
    def inspect(args: tuple[Word, ...]) -> list[Hazard]:
        skip = False
        host_seen = False
        for i, word in enumerate(args):
            value = word.value
            if skip:
                skip = False
                continue
            if value is not None and value.startswith("-") and not host_seen:
                skip = value in valued
                continue
            if not host_seen:
                host_seen = True
                continue
            return [Hazard(i, value or "", "runs a command on the remote host, which may be this one")]
        return []
    return inspect


def _with(spec: Spec | None, options: dict[str, str] | None = None,
          inspectors: tuple[Inspector, ...] = ()) -> Spec:
    base = spec or Spec()
    merged = dict(base.options)
    merged.update(options or {})
    return Spec(options=merged, bare=base.bare, stdin_operands=base.stdin_operands, operands=base.operands,
                env=base.env, takes_value=base.takes_value, stop_at_operand=base.stop_at_operand,
                terminators=base.terminators, inspectors=base.inspectors + inspectors, dynamic=base.dynamic,
                exact=base.exact)


def _may_name_list(options: tuple[str, ...]) -> Callable[[tuple[Word, ...]], bool]:
    """A quick look for `options` (name lists): a word that is one of them, a prefix of a
    long one, or a cluster holding a short one."""
    shorts = frozenset(o[1] for o in options if len(o) == 2)
    longs = tuple(o for o in options if len(o) > 2)

    def quick(args: tuple[Word, ...]) -> bool:
        for word in args:
            value = word.value
            if not value or value[0] != "-" or value == "-":
                continue
            if value[1] == "-":
                name = value.partition("=")[0]
                if any(o.startswith(name) for o in longs):
                    return True
            elif not shorts.isdisjoint(value) or value in longs:
                return True
        return False
    return quick


def _may_name_response_file(args: tuple[Word, ...]) -> bool:
    return any((word.value or "")[:1] == "@" for word in args)


def _names_only(_args: tuple[Word, ...], _index: int) -> bool:
    """A program whose only hazards are name lists (table.NAME_LISTS) takes any dynamic word:
    at worst it names a list at run time, as any dynamic operand may name a file (the limit
    docs/security-model.md states), and `wc -l "$f"` stays allowed."""
    return True


def _no_option(args: tuple[Word, ...], index: int) -> bool:
    """A dynamic word whose known start is no option (`lib$N.a`); `$X` may be one."""
    return args[index].prefix[:1] not in ("", "-")


def _response_file(args: tuple[Word, ...]) -> list[Hazard]:
    return [Hazard(i, args[i].value or "", "reads more arguments (options and file names) from the file after @, "
                   "where the read roots cannot check them (name them in the line instead)")
            for i in operand_indexes(args) if (args[i].value or "").startswith("@")]


def _compiler_hazards(program: str) -> Inspector:
    def inspect(args: tuple[Word, ...]) -> list[Hazard]:
        return [Hazard(*found) for found in compiler_hazards.hazards(program, args)]
    return inspect


def load_table(specs: dict[str, Spec]) -> None:
    for name, options in table.OPTIONS.items():
        specs[name] = _with(specs.get(name), options)
    for name, lists in table.NAME_LISTS.items():
        base = specs.get(name)
        specs[name] = _with(base or Spec(dynamic=_names_only), dict.fromkeys(lists, table.NAMES))
        if base is None:  # nothing but name lists: a quick look says whether to read further
            specs[name] = specs[name]._replace(quick=_may_name_list(lists))
    for name in table.RESPONSE_FILES:
        base = specs.get(name)
        specs[name] = _with(base or Spec(dynamic=_names_only), inspectors=(_response_file,))
        if base is None:
            specs[name] = specs[name]._replace(quick=_may_name_response_file)
    for name in compiler_hazards.HAZARD_NAMES:  # what makes a compiler or linker run another program
        specs[name] = _with(specs.get(name), inspectors=(_compiler_hazards(name),))
    for name in compiler_hazards.PLUGIN_TAKERS:  # a word known at run time may be `--plugin=X`
        specs[name] = specs[name]._replace(dynamic=_no_option)
    for name, subcommands in table.SUBCOMMANDS.items():
        specs[name] = _with(specs.get(name), inspectors=(_subcommands(name, subcommands),))
    for name, patterns in table.VALUE_PATTERNS.items():
        specs[name] = _with(specs.get(name), inspectors=(_values(patterns),))
    for name, reason in table.RUNS_OPERAND.items():
        specs[name] = _with(specs.get(name), inspectors=(_runs_operand(f"{name} {reason}"),))
    for name, (reason, harmless) in table.ALWAYS.items():
        specs[name] = _with(specs.get(name), inspectors=(_always(f"{name} {reason}", harmless),))
    for name, (minimum, reason) in table.STDIN_COMMANDS.items():
        specs[name] = _with(specs.get(name), inspectors=(_stdin_commands(minimum, f"{name} {reason}"),))
    for name, valued in table.REMOTE_COMMAND.items():
        specs[name] = _with(specs.get(name), inspectors=(_remote_command(valued),))
