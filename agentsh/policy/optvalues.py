"""The values of chosen options, read the way getopt_long reads a command line."""

from __future__ import annotations

from ..parse import Word


def option_values(args: tuple[Word, ...], shorts: str, longs: tuple[str, ...], shorts_taking: str, *,
                  optional: str = "", longs_taking: tuple[str, ...] = (), permute: bool = True,
                  first_only: bool = False) -> list[Word]:
    """The values of the options `shorts` (letters) and `longs` (any prefix of four or more
    characters), glued or in the next word, in order.

    `shorts_taking` are the program's other letters that take a value, which end a cluster,
    and `optional` those whose value can only be glued (they end it too); `longs_taking`
    the other long options whose value may be the next word.  With `permute` (GNU getopt)
    options after operands count until `--`; without it they end at the first operand;
    `first_only` reads the first word alone (`go -C DIR`)."""
    found: list[Word] = []
    i = 0
    while i < len(args):
        word = args[i]
        value = word.value
        i += 1
        if value == "--" or (not permute and value is not None and (value[:1] != "-" or value == "-")):
            break
        if value is None or value[:1] != "-" or value == "-":
            continue
        if value.startswith("--"):
            name, eq, rest = value.partition("=")
            if len(name) >= 4 and any(option.startswith(name) for option in longs):
                if eq:
                    found.append(Word(word.text, rest))
                elif i < len(args):
                    found.append(args[i])
                    i += 1
            elif not eq and len(name) >= 4 and any(option.startswith(name) for option in longs_taking):
                i += 1  # its value, the next word
        else:
            for at, letter in enumerate(value[1:], start=2):
                if letter in optional:
                    break
                if letter in shorts or letter in shorts_taking:
                    if at < len(value):
                        taken = Word(word.text, value[at:])
                    elif i < len(args):
                        taken, i = args[i], i + 1
                    else:
                        break
                    if letter in shorts:
                        found.append(taken)
                    break
        if first_only:
            break
    return found
