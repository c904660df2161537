"""Words: the Word each word node of the tree makes, as bash would read it.

A word's parts are read by the walker's rules (walker.py): a substitution's commands are
walked as commands of the line, and anything this module does not recognise is a Problem.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from .disagree import dollar_token
from .expansion import check_expansion
from .model import Word
from .words import WordError, ansi_c, double_quoted, unquoted

MAX_DEPTH = 200

# Nodes whose children are walked without further meaning.
STRUCTURE = frozenset({
    "program", "list", "pipeline", "redirected_statement", "subshell",
    "compound_statement", "if_statement", "elif_clause", "else_clause",
    "while_statement", "do_group", "for_statement", "c_style_for_statement",
    "case_statement", "case_item", "negated_command", "test_command",
    "binary_expression", "unary_expression", "parenthesized_expression",
    "postfix_expression", "ternary_expression",
})
# Leaves (or leaf-like nodes) that carry no command and need no check.
INERT = frozenset({
    "comment", "number", "variable_name", "special_variable_name", "test_operator",
    "file_descriptor", "heredoc_start", "heredoc_end", "regex", "extglob_pattern",
    "raw_string", "ansi_c_string",
})
# `((`, also split by line continuations (bash removes them first: `$(\\<newline>(` is `$((`).
DOUBLE_PAREN = re.compile(rb"\((?:\\\n)*\(")
# In backticks bash removes a backslash before these and parses the text again; a line
# continuation it removes first, also inside quotes (`` `cat '.ss\<newline>h'` `` read .ssh).
BACKTICK_ESCAPE = re.compile(r'\\[\\`$"\n]')
# Brace expansion needs a comma or `..` between unquoted braces; `{}` alone is literal.
BRACES = re.compile(r"\{[^{}]*(,|\.\.)[^{}]*\}")


class _Walker(Protocol):
    raw: bytes
    home: str | None

    def problem(self, node: Any, reason: str) -> None: ...
    def walk(self, node: Any, depth: int) -> Word | None: ...
    def check_gaps(self, node: Any, children: list[Any] | None = None, *, one_command: bool = False) -> None: ...


def text_of(node: Any) -> str:
    return node.text.decode("utf-8", "surrogateescape")


def word(walker: _Walker, node: Any, depth: int) -> Word:
    """The Word a word node makes (walking the commands inside its substitutions)."""
    text = text_of(node)
    if depth > MAX_DEPTH:
        walker.problem(node, f"nesting deeper than {MAX_DEPTH} levels")
        return Word(text, None, "too deep")
    kind = node.type
    try:
        if kind == "word":
            return unquoted_word(text, walker.home)
        if kind == "number":
            return Word(text, text)
        if kind == "raw_string":
            return Word(text, text[1:-1])
        if kind == "ansi_c_string":
            return Word(text, ansi_c(text[2:-1]))
        if kind == "string_content":
            return Word(text, double_quoted(text))
        if kind == "string":
            return joined(walker, node, depth, quoted=True)
        if kind == "concatenation":
            return joined(walker, node, depth, quoted=False)
    except WordError as err:
        walker.problem(node, str(err))
        return Word(text, None, "unparsed")
    if kind == "command_substitution":
        walker.check_gaps(node)
        if text.startswith("`") and BACKTICK_ESCAPE.search(text, 1, len(text) - 1):
            # bash removes these backslashes and parses the rest again (`\`cmd\`` is a
            # nested substitution); tree-sitter keeps them as literal word text.
            walker.problem(node, "a backslash escape or line continuation inside backticks (write $(...) instead)")
        if DOUBLE_PAREN.match(walker.raw, node.start_byte + 1):
            # bash reads `$((` as arithmetic when it can, tree-sitter (inside ${x:-...})
            # as a command substitution of a subshell: `'$(cmd)'` in it ran cmd
            walker.problem(node, "'$((' read as a command substitution: bash may read arithmetic "
                               "(write '$( (' for a subshell)")
        for child in node.children:
            walker.walk(child, depth + 1)
        return Word(text, None, "command substitution")
    if kind == "process_substitution":
        walker.check_gaps(node)
        for child in node.children:
            walker.walk(child, depth + 1)
        return Word(text, None, "process substitution")
    if kind in ("simple_expansion", "expansion", "arithmetic_expansion", "subscript"):
        if text.startswith("$\\\n"):
            # `$\\<newline>[$'$(cmd)']`: bash removes the continuation and reads `$[...]`
            # arithmetic (cmd ran); tree-sitter read a variable named by the continuation
            walker.problem(node, "a line continuation right after '$' (bash joins it to what "
                               "follows: write them together)")
        check_expansion(walker, node, depth)
        return Word(text, None, "expansion")
    if kind == "brace_expression":
        return Word(text, None, "brace expansion")
    if kind == "comment" and text.endswith("\\"):
        # `>"f"#\\<newline>x`: tree-sitter puts a comment `#\\` into the word and joins the next
        # line's text to it; bash removes the continuation (the file is f#x, not f#\\x)
        walker.problem(node, "a '#' glued to a quoted word and followed by a line continuation "
                           "(quote the '#', or put the word on one line)")
        return Word(text, None, "unparsed")
    if kind in INERT or kind == "variable_name":
        return Word(text, text)
    if kind in STRUCTURE:
        walker.walk(node, depth + 1)
        return Word(text, None, "expression")
    walker.problem(node, f"unsupported shell syntax in a word ({kind})")
    return Word(text, None, "unsupported")

def unquoted_word(text: str, home: str | None) -> Word:
    """An unquoted word's value (WordError for text bash would not read as one word)."""
    value, glob = unquoted(text)
    if BRACES.search(text):
        return Word(text, None, "brace expansion")
    if glob:
        return Word(text, None, "glob")
    if "=~" in text or ":~" in text:
        return Word(text, None, "tilde expansion")
    if value.startswith("~") and text.startswith("~"):
        return tilde(text, value, home)
    return Word(text, value)

def plain_word(walker: _Walker, node: Any, text: str) -> Word:
    """unquoted_word, with a problem for the line instead of WordError."""
    try:
        return unquoted_word(text, walker.home)
    except WordError as err:
        walker.problem(node, str(err))
        return Word(text, None, "unparsed")

def tilde(text: str, value: str, home: str | None) -> Word:
    head, sep, rest = value.partition("/")
    if head != "~" or home is None:
        return Word(text, None, "tilde expansion")
    return Word(text, home.rstrip("/") + sep + rest if sep else home)

def joined(walker: _Walker, node: Any, depth: int, *, quoted: bool) -> Word:
    """A quoted string or a concatenation: its parts' values joined, or why it is dynamic."""
    parts: list[str] = []
    prefix: str | None = None  # static text before the first dynamic part
    dynamic = ""
    braces = ""
    end = node.start_byte
    for child in node.children:
        if quoted and child.start_byte > end > node.start_byte:
            # blanks inside quotes that no token's span holds (`"<newline>/x"`, `"a<newline>"`):
            # literal text to bash, which tree-sitter's tokens leave out
            parts.append(walker.raw[end:child.start_byte].replace(b"\\\n", b"").decode("utf-8", "surrogateescape"))
        end = child.end_byte
        if quoted and child.type != "string_content" and child.start_byte > node.start_byte:
            # tree-sitter puts blanks inside quotes into the span of the token after
            # them unless other text joins them (`" "`, `" $a"`): they are literal text.
            child_text = text_of(child)
            lead = child_text[:len(child_text) - len(child_text.lstrip(" \t\n"))]
            if lead:
                parts.append(lead)
        if not child.is_named:
            if child.type == "$" and walker.raw[child.end_byte:child.end_byte + 2] == b"\\\n":
                # `"$\\<newline>(cmd)"`: bash removes the continuation first and runs cmd;
                # tree-sitter reads a lone `$` and the text `(cmd)`
                walker.problem(child, "a line continuation right after '$' (bash joins it to what "
                                    "follows: write them together)")
                continue
            if child.type == "$":
                part = dollar_token(child)  # `a$$` is a's text and the PID; `a$` keeps its `$`
                if part is None:
                    continue  # `$"..."`: bash's translated string, read as the string itself
                if part.value is None:
                    dynamic = dynamic or part.why_dynamic
                    if prefix is None:
                        prefix = "".join(parts)
                else:
                    parts.append(part.value)
            elif child.type != '"':
                walker.problem(child, f"unexpected token {child.type!r} in a word")
            continue
        if quoted and child.type == "string_content":
            part = Word(text_of(child), double_quoted(text_of(child)))
        else:
            part = word(walker, child, depth + 1)
        if child.type == "word":
            braces += text_of(child)
        if part.value is None:
            dynamic = dynamic or part.why_dynamic
            if prefix is None:
                prefix = "".join(parts) + part.prefix
        else:
            parts.append(part.value)
    if not quoted and BRACES.search(braces):
        dynamic = dynamic or "brace expansion"
        prefix = ""
    text = node.text.decode("utf-8", "surrogateescape")
    if dynamic:
        return Word(text, None, dynamic, prefix or "")
    return Word(text, "".join(parts))
