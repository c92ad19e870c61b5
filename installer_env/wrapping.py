"""Lines of styled text broken to a width, never inside a word.

What a person re-types from the console (an address, `root@<onion>.onion`, a host-key fingerprint)
has no spaces in it, so lines break only at spaces and a word stays whole on one line. A word wider
than the whole line is cut with CONTINUED at the end of each piece but the last: a mark in every
console font that none of those words contains.
"""

from __future__ import annotations

from collections.abc import Sequence

Part = str | tuple[str, str]  # plain text, or (text, style)
CONTINUED = "»"  # CP437 175: in the VGA font and every Linux console font

_Cell = tuple[str, str]  # (character, style)


def _cells(row: Sequence[Part]) -> list[_Cell]:
    cells: list[_Cell] = []
    for part in row:
        text, style = (part, "") if isinstance(part, str) else part
        cells += [(ch, style) for ch in text]
    return cells


def _words(cells: list[_Cell]) -> list[tuple[list[_Cell], list[_Cell]]]:
    """(spaces before, word) pairs; a trailing run of spaces is dropped."""
    words: list[tuple[list[_Cell], list[_Cell]]] = []
    spaces: list[_Cell] = []
    word: list[_Cell] = []
    for cell in cells:
        if cell[0] == " ":
            if word:
                words.append((spaces, word))
                spaces, word = [], []
            spaces.append(cell)
        else:
            word.append(cell)
    if word:
        words.append((spaces, word))
    return words


def _parts(cells: list[_Cell]) -> list[Part]:
    parts: list[Part] = []
    for ch, style in cells:
        last = parts[-1] if parts else None
        if isinstance(last, tuple) and last[1] == style:
            parts[-1] = (last[0] + ch, style)
        elif isinstance(last, str) and not style:
            parts[-1] = last + ch
        else:
            parts.append((ch, style) if style else ch)
    return parts


def wrap_row(row: Sequence[Part], width: int) -> list[list[Part]]:
    """One row of parts as lines of at most `width` characters, broken only at spaces."""
    width = max(width, 2)
    lines: list[list[_Cell]] = [[]]
    for gap, whole in _words(_cells(row)):
        spaces, word = gap, whole
        if lines[-1] and len(lines[-1]) + len(spaces) + len(word) > width:
            lines.append([])
            spaces = []  # the break takes the spaces' place
        line = lines[-1]
        line += spaces
        while len(line) + len(word) > width:
            room = width - len(line) - 1
            if room >= 1:  # else not even one character and the mark fit after the spaces
                line += [*word[:room], (CONTINUED, word[room - 1][1])]
                word = word[room:]
            lines.append([])
            line = lines[-1]
        line += word
    return [_parts(line) for line in lines]


def wrap(rows: Sequence[Sequence[Part]], width: int) -> list[list[Part]]:
    """Every row wrapped to `width`, in order."""
    return [line for row in rows for line in wrap_row(row, width)]
