"""Readings where bash and tree-sitter part ways, found by the differential fuzzer
(tests/parse_fuzz.py): small tests the walker asks of a node or a command's words."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from .model import Word

_ASSIGNMENT_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\[.*\])?\+?=", re.S)
# In a regex token, what bash would expand by running something: backticks, $( ${ $[ $' $"
# (a quoted piece may hide backticks), <( >(.
_REGEX_RUNS = re.compile(rb"`|\$[({\['\"]|[<>]\(")


def regex_runs(text: bytes) -> bool:
    """Does the text of a `[[ =~ ]]` regex or an extglob pattern hold something bash runs?
    tree-sitter keeps it as one opaque token (`[[ a =~ <(cmd) ]]` ran cmd)."""
    return _REGEX_RUNS.search(text) is not None


def keyword_after_time(argv: list[Word], keywords: Collection[str]) -> bool:
    """Whether the first word after `time`, its options (bash takes -p and --) and further
    `time`s is NAME=... or a reserved word: `time` is a keyword to bash, a command to
    tree-sitter (`time x=1 cmd` runs cmd; the check saw the program `x=1`)."""
    for word in argv[1:]:
        if word.text not in ("-p", "--", "time"):
            return word.text in keywords or _ASSIGNMENT_WORD.match(word.text) is not None
    return False


def in_backticks(node: Any) -> bool:
    """Is the node inside a backtick command substitution (where bash removes `\\<newline>`
    before it parses the text)?"""
    parent = node.parent
    while parent is not None:
        if parent.type == "command_substitution" and parent.children and parent.children[0].type == "`":
            return True
        parent = parent.parent
    return False


def dollar_token(node: Any) -> Word | None:
    """The meaning of a `$` or `$$` token tree-sitter leaves anonymous inside a word: `$$` is
    the shell's PID (only known at run time: `> "f"$$` writes f1234, not f); a `$` before a
    string starts a translated string (None: the string is read on its own); any other `$`
    is itself (`a$` is `a$`)."""
    text = node.text.decode("utf-8", "surrogateescape")
    if text == "$$":
        return Word(text, None, "expansion")
    following = node.next_sibling
    if text == "$" and following is not None and following.type == "string" and \
            following.start_byte == node.end_byte:
        return None
    return Word(text, text)


def comment_starts_here(raw: bytes, node: Any) -> bool:
    """Does bash start a comment at this `#` (a comment node)?  Only at the start of a word:
    after a blank, a newline or an operator character; glued to a word (`]#c`) it is part of
    that word.  A `)` ends a word, except the one closing an array assignment: `a=(x)#a cmd`
    is to bash the word `a=(x)#a`, a plain assignment for cmd, which runs."""
    start = node.start_byte
    if start == 0:
        return True
    if raw[start - 1:start] == b")":
        return not _ends_in_array(node.prev_sibling, start)
    return raw[start - 1:start] in (b" ", b"\t", b"\n", b";", b"&", b"|", b"(", b"<", b">")


def _ends_in_array(node: Any, end: int) -> bool:
    """Does node, or its last descendant ending at `end`, close an array `(...)`?"""
    while node is not None and node.end_byte == end:
        if node.type == "array":
            return True
        node = node.children[-1] if node.children else None
    return False



# Unicode blanks: word characters to bash, but tree-sitter ends a quoted word or an
# expansion before one (`>"f5"\u2028c7` wrote the file `f5\u2028c7`; tree-sitter read a
# write to f5 and a command named `\u2028c7`).
_UNICODE_BLANK = re.compile("[^\\x00-\\x7f]")


def unicode_blank_splits(root: Any, source: str) -> Any | None:
    """The first node tree-sitter starts at a Unicode blank glued to the node before it."""
    if not any(ch.isspace() for ch in _UNICODE_BLANK.findall(source)):
        return None
    stack = [root]
    while stack:
        node = stack.pop()
        previous = node.prev_sibling
        if previous is not None and previous.is_named and previous.end_byte == node.start_byte and \
                node.text[:1] >= b"\x80" and \
                node.text.decode("utf-8", "replace")[:1].isspace():
            return node
        stack.extend(node.children)
    return None



# Nodes whose word children are separate bash words, and the kinds of those children: two of
# them with no blank between are one word to bash that tree-sitter split in two.
_WORD_LISTS = frozenset({"command", "declaration_command", "unset_command", "array", "for_statement"})
# The kinds of node tree-sitter makes one whole bash word of.
WORD_KINDS = frozenset({
    "word", "string", "raw_string", "ansi_c_string", "concatenation", "number", "simple_expansion", "expansion",
    "command_substitution", "arithmetic_expansion", "process_substitution", "brace_expression", "translated_string",
})
GLUED_KINDS = WORD_KINDS | {"variable_assignment", "command_name", "variable_name"}
_REDIRECTIONS = frozenset({"file_redirect", "heredoc_redirect", "herestring_redirect"})
GLUED_WORDS = ("one word to bash that the parser split in two (at a backslash after a quote, an expansion or a "
               "`{`): quote the whole word")
ASSIGNMENT_AS_NAME = ("an assignment the parser read as the program name (after a line continuation): bash "
                      "reads it as an assignment and runs the word after it")
LONE_DOLLAR = ("a '$' before a blank that the parser joined to the word after it (`<<<$ a` read as `$a`): "
               "to bash the `$` is plain text and the word after it an argument; quote the '$'")
DETACHED_DESCRIPTOR = ("a descriptor number the parser read as an argument (after a line continuation): bash "
                       "reads it as the redirection's descriptor")


def split_words(root: Any) -> tuple[Any, str] | None:
    """The first place where tree-sitter ends a word that bash reads on, and why:

    - a word starting right where the word before it ends, with no blank between (GLUED_WORDS):
      `{\\,a}` is `{,a}` to bash, tree-sitter read `{` and `,a}` (`cat {\\,/.ssh/id_rsa`
      was checked as two harmless names); `TERM="xterm"\\ls tee FILE` is one assignment word
      and `tee FILE` to bash, the assignment `TERM="xterm"` and `ls tee FILE` to tree-sitter;
    - a redirection glued to a number that tree-sitter left in the command before it
      (DETACHED_DESCRIPTOR): after a line continuation (`cmd a\\<newline> 2>f`) it read the
      argument `2` and a redirection of stdout, bash reads `2>f`.  (Inside a command's own
      words the walker's `_glued_number` sees this; here the redirection is a sibling of the
      command, or of the whole list: `[[ a ]] && cmd 2` then `>f`.);
    - an assignment word tree-sitter took for the program (ASSIGNMENT_AS_NAME): `x=\\|\\<newline>
      y=1 cmd` runs cmd, tree-sitter read the program `y=1`;
    - a `$` before a blank that tree-sitter joined to the next word as a variable (LONE_DOLLAR):
      `cmd <<<$ a` is the here-string `$` and the argument `a` to bash, `<<<$a` to tree-sitter."""
    stack = [root]
    while stack:
        node = stack.pop()
        kind = node.type
        if kind in _WORD_LISTS:
            previous = None
            for child in node.children:
                if child.type not in GLUED_KINDS:
                    previous = None
                    continue
                if previous is not None and previous.end_byte == child.start_byte:
                    return child, GLUED_WORDS
                previous = child
        elif kind == "command_name" and _ASSIGNMENT_WORD.match(node.text.decode("utf-8", "surrogateescape")):
            return node, ASSIGNMENT_AS_NAME
        elif kind == "simple_expansion" and any(c in node.text for c in b" \t\n") and \
                (node.parent is None or node.parent.type != "string"):  # `"$ a"` is only dynamic text
            return node, LONE_DOLLAR
        elif kind in _REDIRECTIONS and node.parent is not None and node.parent.type != "command" and \
                (last := node.prev_sibling) is not None:
            while last.children:  # the last word before it
                last = last.children[-1]
            if last.end_byte == node.start_byte and last.type in ("number", "word") and last.text.isdigit() and \
                    last.parent is not None and last.parent.type == "command":
                return node, DETACHED_DESCRIPTOR
        stack.extend(node.children)
    return None
