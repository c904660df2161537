"""Arithmetic that could run code: bash evaluates some values as arithmetic expressions
(`$((x))`, `((x))`, `for ((...))`, `[[ A -eq B ]]`, `[[ -v NAME ]]`, `${s:x:y}`), through
variable values recursively, and an array subscript in such a value runs its command
substitutions: `x='a[$(sh ...)]'; [[ $x -eq 1 ]]` runs `sh ...`, which is no command of
the line.  So in those places only what is known to be a number is accepted: integer
literals, the special parameters bash keeps numeric (`$?`, `$#`, `$$`, `$!`; not `$1` or `$@`,
which `set --` or the caller of `agentsh -c LINE ARG0 ARGS` sets), and variables
that this line assigns only numbers or arithmetic (`n=5`, `i` of `for ((i=0; ...))`,
`n=$((n+1))`).  Anything else (a variable from the environment, a loop word, a command's
output, a quoted string) is refused; `[ "$x" -eq 1 ]` compares without evaluating.

The walker calls `problems()` after its walk, only for lines that can hold arithmetic.
"""

from __future__ import annotations

import re
from typing import Any

_INTEGER_TESTS = frozenset({"-eq", "-ne", "-lt", "-le", "-gt", "-ge"})
_NUMERIC_SPECIALS = frozenset({"?", "#", "$", "!"})
# Builtins that assign the variables they are given: any such assignment may hold a string.
_ASSIGNING_BUILTINS = frozenset({"read", "mapfile", "readarray", "getopts", "printf", "declare", "typeset",
                                 "local", "export", "readonly", "wait"})
_QUOTING = re.compile(r"""["'\\$]""")  # taken out of a word to see the names it may spell
WHY = ("bash evaluates it as arithmetic, and a value that is not a number there can run commands "
       "through an array subscript")
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\[[0-9]+\])?")
UNSAFE = -1  # in `numeric` below: some assignment of the name may hold a string
ANY = "*"  # a key of `numeric`: some variable, which the line does not say, may hold a string


def may_hold_arithmetic(source: str) -> bool:
    """A cheap look at the text: could the line have an arithmetic context at all?"""
    return "((" in source or "$[" in source or "[[" in source or ("${" in source and ":" in source)


def problems(root: Any, raw: bytes) -> list[tuple[Any, str]]:
    """(node, reason) for each value evaluated as arithmetic that is not known to be a number."""
    numeric, contexts, bad_names = _scan(root, raw)
    # The walker's Problem names the node's text; the reason says why (no repeat of the text).
    found: list[tuple[Any, str]] = [(node, f"[[ -v ]] of more than a plain name: {WHY}") for node in bad_names]
    for context in contexts:
        bad = _unsafe(context, numeric, raw)
        if bad is not None:
            found.append((bad, f"{WHY} (assign it a number in this line, or compare with "
                               "[ \"$x\" -eq N ], which does not evaluate it)"))
    return found


def numeric_names(root: Any, raw: bytes) -> dict[str, int]:
    """The line's variables and where each is first assigned only numbers (for known_number)."""
    return _scan(root, raw)[0]


def known_number(node: Any, numeric: dict[str, int], raw: bytes) -> bool:
    """Whether an expansion node is known to be a number where it stands (`$?`, or `$i` after
    `i=0`): such a word never splits and is never an option (policy/builtins.py)."""
    return _unsafe(node, numeric, raw) is None


def _scan(root: Any, raw: bytes) -> tuple[dict[str, int], list[Any], list[Any]]:
    """The line's numeric variables, its arithmetic contexts and its bad `[[ -v ]]` operands."""
    # name -> where its first numeric assignment ends; UNSAFE once any assignment may hold a
    # string.  Arithmetic's own assignments (`n+=1`, `i++`) read the old value first, so they
    # make nothing safe; they do leave a number, so they make nothing unsafe either.
    numeric: dict[str, int] = {}
    pending: list[tuple[str, int]] = []  # `$x` words where printf's -v or wait's -p could be
    contexts: list[Any] = []  # subtrees evaluated as arithmetic
    bad_names: list[Any] = []  # `[[ -v NAME ]]` operands that are more than a name
    stack = [root]
    while stack:
        node = stack.pop()
        kind = node.type
        if kind == "variable_assignment":
            name_node = node.child_by_field_name("name")
            if name_node is not None:
                _assigned(numeric, _text(name_node, raw), node.end_byte if _assigns_number(node) else UNSAFE)
        elif kind == "for_statement":
            variable = node.child_by_field_name("variable")
            values = node.children_by_field_name("value")
            if variable is not None:  # `for i in 1 2 3` assigns numbers; words, globs, expansions any string
                numbers = bool(values) and all(_text(v, raw).isdigit() for v in values)
                _assigned(numeric, _text(variable, raw), values[-1].end_byte if numbers else UNSAFE)
        elif kind == "command":
            _note_builtin(numeric, node, raw, pending)
        elif kind == "arithmetic_expansion":
            contexts.append(node)
        elif kind == "compound_statement" and node.child_count and node.children[0].type == "((":
            contexts.append(node)
        elif kind == "c_style_for_statement":
            contexts.extend(c for c in (node.child_by_field_name(f) for f in ("initializer", "condition", "update"))
                            if c is not None)
        elif kind in ("binary_expression", "unary_expression") and \
                (op := _operator(node)) and (op in _INTEGER_TESTS or op == "-v"):
            operands = [c for c in node.named_children if c.type != "test_operator"]
            if op == "-v":  # a variable's name, evaluated only for its subscript
                bad_names.extend(c for c in operands if not _PLAIN_NAME.fullmatch(_text(c, raw)))
            else:
                contexts.extend(operands)
        elif kind == "expansion":
            contexts.extend(_substring_parts(node))
            if any(not c.is_named and c.type in (":=", "=") for c in node.children):
                # ${x:=VALUE} assigns x a string
                variable = next((c for c in node.named_children if c.type == "variable_name"), None)
                if variable is not None:
                    numeric[_text(variable, raw)] = UNSAFE
        stack.extend(node.children)
    for name, where in pending:  # `wait $pid` after `pid=$!` names no variable; `printf "$o"` may
        if name not in _NUMERIC_SPECIALS and (numeric.get(name, UNSAFE) == UNSAFE or numeric[name] > where):
            numeric[ANY] = UNSAFE
    return numeric, contexts, bad_names


def _assigned(numeric: dict[str, int], name: str, end: int) -> None:
    """Note an assignment of `name` that ends at byte `end` (UNSAFE: it may hold a string)."""
    if end == UNSAFE:
        numeric[name] = UNSAFE
    elif numeric.get(name) != UNSAFE:
        numeric[name] = min(numeric.get(name, end), end)


def _assigns_number(node: Any) -> bool:
    value = node.child_by_field_name("value")
    if value is None:
        return True  # `x=`: the empty string is 0 in arithmetic
    if value.type == "number" or value.type == "arithmetic_expansion":
        return True
    if value.type == "simple_expansion":  # `pid=$!`, `rc=$?`: the specials bash keeps numeric
        return value.text.decode("utf-8", "replace")[1:] in _NUMERIC_SPECIALS
    return value.type == "word" and value.text.decode("utf-8", "replace").lstrip("-").isdigit()


def _note_builtin(numeric: dict[str, int], node: Any, raw: bytes, pending: list[tuple[str, int]]) -> None:
    """`read x`, `printf -v x`, `getopts o x` ... assign strings to the names they are given.
    Written quoted (`read "x"`) or glued to a clustered option (`printf -vx`, `read -rax`,
    `wait -npx`): every name a word may hold is taken as assigned (more is only stricter)."""
    name = node.child_by_field_name("name")
    builtin = _QUOTING.sub("", _text(name, raw)) if name is not None else ""
    if builtin not in _ASSIGNING_BUILTINS:
        return
    if builtin in _NAMING_LETTER:  # their operands are a format and values, or jobs: no names
        _note_named_by_option(numeric, node.children_by_field_name("argument"), raw, _NAMING_LETTER[builtin],
                              pending)
        return
    for word in node.children_by_field_name("argument"):
        text = _QUOTING.sub("", _text(word, raw))
        if text.startswith("-"):
            for start in range(1, len(text)):
                numeric[text[start:].split("=", 1)[0].split("[", 1)[0]] = UNSAFE
        else:
            numeric[text.split("=", 1)[0].split("[", 1)[0]] = UNSAFE


_NAMING_LETTER = {"printf": "v", "wait": "p"}  # the option whose value is the name assigned
_LONE_EXPANSION = re.compile(r'"?\$\{?([A-Za-z_][A-Za-z0-9_]*|[?#$!])\}?"?')


def _note_named_by_option(numeric: dict[str, int], words: list[Any], raw: bytes, letter: str,
                          pending: list[tuple[str, int]]) -> None:
    """`printf -v NAME`, `wait -p NAME` (or `-vNAME`, `-npNAME`) assign NAME; their operands (a
    format and values, jobs) are no names.  A word only known at run time where an option may
    be could be the option with any name glued to it (`o=-vn; printf "$o" %s VALUE`), so then
    no variable of the line is a known number (ANY), unless the word is a variable known to
    hold a number there (`pid=$!; wait $pid`), which the scan settles at its end (`pending`)."""
    for i, node in enumerate(words):
        word = _text(node, raw)
        if "$" in word or "`" in word:
            lone = _LONE_EXPANSION.fullmatch(word)
            if lone is None:
                numeric[ANY] = UNSAFE
            else:
                pending.append((lone.group(1), node.start_byte))
            continue
        text = word.replace('"', "").replace("'", "").replace("\\", "")
        if text == "--" or text == "-" or not text.startswith("-"):
            return  # options end here: the rest are a format and values, or jobs
        if letter in text[1:]:
            glued = text[text.index(letter, 1) + 1:]
            named = glued or (_text(words[i + 1], raw) if i + 1 < len(words) else "")
            numeric[_QUOTING.sub("", named).split("=", 1)[0].split("[", 1)[0]] = UNSAFE


def _operator(node: Any) -> str:
    operator = next((c for c in node.children if c.type == "test_operator"), None)
    return "" if operator is None else operator.text.decode("utf-8", "replace")


def _substring_parts(node: Any) -> list[Any]:
    """`${s:OFFSET:LENGTH}`: the parts after the first `:` are arithmetic."""
    kids = node.children
    colon = next((i for i, c in enumerate(kids) if not c.is_named and c.type == ":"), None)
    if colon is None:
        return []
    return [c for c in kids[colon + 1:] if c.is_named]


def _unsafe(context: Any, numeric: dict[str, int], raw: bytes) -> Any | None:
    """The first part of an arithmetic context not known to be a number, or None."""
    stack = [context]
    while stack:
        node = stack.pop()
        kind = node.type
        if kind == "number" or not node.is_named:
            continue
        if kind == "variable_assignment" or (kind == "binary_expression" and any(
                not c.is_named and c.type == "=" for c in node.children)):
            # `i=0`, `x = y`: the name is written, not read; only the value is evaluated
            stack.extend(c for c in node.named_children[1:])
            continue
        if kind == "special_variable_name":
            if _text(node, raw) not in _NUMERIC_SPECIALS:
                return node
            continue
        if kind in ("variable_name", "word"):
            text = _text(node, raw)
            if text.isdigit() or (text.startswith("-") and text[1:].isdigit()):
                continue
            assigned = numeric.get(text, UNSAFE)
            if assigned == UNSAFE or assigned > node.start_byte or ANY in numeric:  # a string, or not yet
                return node  # assigned here, or any name may have been given a string
            continue
        if kind in ("simple_expansion", "expansion"):
            names = [c for c in node.named_children]
            if len(names) == 1 and names[0].type in ("variable_name", "special_variable_name") and \
                    len(node.children) <= 4:  # `$x`, `${x}`: nothing else in it
                if names[0].type == "variable_name" and _text(names[0], raw).isdigit():
                    return node  # `$1`, `${10}`: a positional parameter (`set -- 'a[$(cmd)]'`), no literal
                stack.append(names[0])
                continue
            return node
        if kind in ("raw_string", "string", "command_substitution", "process_substitution", "concatenation",
                    "ansi_c_string", "translated_string", "subscript"):
            inner = _text(node, raw).strip("'\"")
            if inner.isdigit():
                continue
            return node
        stack.extend(node.children)
    return None


def _text(node: Any, raw: bytes) -> str:
    return raw[node.start_byte:node.end_byte].decode("utf-8", "replace")
