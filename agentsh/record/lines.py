"""Cut an event into asciicast lines that each sit inside one 4 KiB page of the file.

Why: Linux copies a buffered write(2) into the page cache one page (folio) at a time and
checks for a fatal signal between pages.  A SIGKILL that lands while a 70 KB event line
is being copied leaves the first pages of the line in the file: a torn last line, which
asciinema 2.4 (`cat`, `play`) refuses with a JSONDecodeError.  A write that does not cross
a page boundary is copied in one step, so it is in the file whole or not at all.

So an event's JSON string is cut (never inside an escape or a UTF-8 character, never between
the two halves of a surrogate pair) into several events of the same time and code, each line
no longer than the room left in the current page.  When too little room is left to be worth a piece, the page
is filled with an empty "o" event padded with spaces (JSON allows whitespace before `]`),
and a line that would leave a sliver of room is padded to the page end, so every line
starts with either a fresh page or at least MIN_ROOM bytes of room.  Markers and resizes
are never cut (that would repeat them); only one longer than a page can still be torn.
The recorder writes all the lines of an event in one write(2): the kernel can only cut it
short at a page boundary, and every page boundary falls between two lines.
"""

from __future__ import annotations

PAGE = 4096  # also right for larger pages: a 4 KiB-aligned span never crosses a larger boundary
MIN_ROOM = 64  # room a padding line always fits in (the time takes at most ~24 characters)
MIN_PIECE = 64  # escaped characters worth starting a piece for
SPLITTABLE = frozenset("oi")  # output and input may become several events; markers and resizes not


def safe_cut(body: bytes, pos: int, end: int) -> int:
    """The largest cut <= end in the escaped JSON string body that splits no escape, surrogate
    pair or UTF-8 character (non-ASCII text is kept as UTF-8)."""
    if end >= len(body):
        return len(body)
    while end > pos and body[end] & 0xC0 == 0x80:  # a continuation byte: cut before its character
        end -= 1
    # The longest escape, a surrogate pair as \\uXXXX\\uXXXX, is 12 characters: one that starts
    # before end - 12 has ended by end.
    while end > pos:
        k = body.rfind(b"\\", max(pos, end - 12), end)
        if k < 0:
            return end
        run = k
        while run > pos and body[run - 1] == 0x5C:  # backslash
            run -= 1
        if (k - run) % 2:  # body[k] closes an escaped backslash, which ends at k + 1 <= end
            return end
        size = 2
        if body.startswith(b"\\u", k):
            size = 12 if b"d800" <= body[k + 2:k + 6].lower() < b"dc00" else 6
        if k + size <= end:
            return end
        end = k  # cut before this escape, then look again: a low surrogate's high half comes first
    return end


Part = bytes | memoryview


def page_lines(when: str, code: str, body: bytes, offset: int) -> list[bytes]:
    """The lines, in order, that write event (when, code, body) at file offset `offset`.

    `when` is the time as JSON, `body` the JSON-escaped string without its quotes (UTF-8)."""
    return [b"".join(parts) for parts in page_parts(when, code, body, offset)]


def page_parts(when: str, code: str, body: bytes, offset: int) -> list[tuple[Part, ...]]:
    """page_lines(), each line as the buffers it is made of (for writev: no copy of the body)."""
    head = f'[{when}, "{code}", "'.encode()
    fixed = len(head) + 3  # the closing '"]\n'
    if fixed + len(body) + MIN_ROOM <= PAGE - offset % PAGE:  # the common small event: one line, no padding
        return [(head, body, _CLOSE)]
    view = memoryview(body)
    lines: list[tuple[Part, ...]] = []
    pos = 0
    while True:
        room = PAGE - offset % PAGE
        rest = len(body) - pos
        if fixed + rest <= room or (room == PAGE and code not in SPLITTABLE):
            lines.append(_fill(head, view[pos:], room))  # the last piece, or a marker bigger than a page
            return lines
        cut = safe_cut(body, pos, pos + room - fixed) if code in SPLITTABLE and room - fixed >= MIN_PIECE else pos
        if cut > pos:  # (MIN_PIECE exceeds the longest escape, so a cut is always found)
            line = _fill(head, view[pos:cut], room)
            pos = cut
        elif room >= MIN_ROOM:  # not worth a piece, or a marker that fits on the next page: pad this one
            line = _fill(f'[{when}, "o", "'.encode(), b"", room)
        else:  # a file written by someone else left a sliver: nothing fits, write across the boundary
            lines.append(_fill(head, view[pos:], room + PAGE))
            return lines
        lines.append(line)
        offset += len(head) + len(line[1]) + len(line[2])  # (a padding line's head is as long)


_CLOSE = b'"]\n'


def _fill(head: bytes, piece: Part, room: int) -> tuple[Part, ...]:
    """One line; padded to the page end (spaces before `]`) when it would leave less than MIN_ROOM."""
    left = room - len(head) - len(piece) - 3
    return (head, piece, b'"' + b" " * left + b"]\n" if 0 < left < MIN_ROOM else _CLOSE)
