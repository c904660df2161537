"""The parts of a command's argument that may name a file: an option's value after `=` or
glued to a short option, curl's `@file`, `key=@file`, what follows `NAME=` in either."""

from __future__ import annotations


def arg_candidates(value: str) -> list[str]:
    """The parts of an argument that may name a file (`--file=X`, `-I/x`, `-fdir/x`, curl's
    `@X`, `k=@X`)."""
    if value.startswith("-"):
        out = []
        if "=" in value:
            out.append(value.split("=", 1)[1])
        elif "/" in value and value[1:2] == "-":
            out.append(value[value.index("/"):])
        if value[1:2] != "-":
            out.extend(glued_values(value))
            out = list(dict.fromkeys(out))
    else:
        out = [value]
        if "=@" in value:
            out.append(value.split("=@", 1)[1])
    # A value may itself be `NAME=FILE`: kubectl's `-o jsonpath-file=FILE` (and
    # `--output=go-template-file=FILE`) prints the file in its error, so what follows each `=`
    # may name a file too.
    # (str.find from `=` to `=`: a loop over every character cost ~1 µs an option word)
    after = []
    for candidate in out:
        i = candidate.find("=")
        while i >= 0:
            if candidate[i + 1:] not in out:
                after.append(candidate[i + 1:])
            i = candidate.find("=", i + 1)
    out += after
    return [c[1:] if c.startswith("@") else c for c in out if c and c != "@"]


def glued_values(value: str) -> list[str]:
    """What may be a file name glued to a short option (`-fsecrets/key`, `-nf.env`): getopt
    takes the rest of the word after an option that takes a value, and which letter of a
    cluster that is only the program knows, so each rest that starts at or before the first
    `/` and names a path (it has a `/`, or starts with `.`) is a candidate.  Taking only the
    part from the `/` read `-fsecrets/key` as `/key`: `date -fsecrets/key` printed the key
    in its error message.  A plain name (`-fkey`) is not taken: a flag cluster names no file."""
    slash = value.find("/")
    end = slash if slash >= 0 else len(value)
    # Only letters and digits lead up to a value: `-Wl,-rpath,/x` has none after the comma
    # but the part from the `/`; a dotfile's value follows a letter (`-k1.2` holds none).
    lead = 2
    while lead < end and value[lead - 1].isalnum():
        lead += 1
    found = [value[k:] for k in range(min(2, end), lead)
             if slash >= 0 or (value[k] == "." and value[k - 1].isalpha())]
    if slash >= 0:
        found.append(value[slash:])
    return found
