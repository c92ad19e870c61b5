"""What a Linux VT holds and what the screen meant to draw, as grids of characters to compare.

- `Dump`: /dev/vcsa1 (rows, columns, cursor, then glyph + attribute per cell) with /dev/vcsu1 (the
  character of each cell, UCS-4), as the guest agent reads them.
- `Intended`: the screen's own output (the chunks tests/vm/vt_screen.py records) replayed on a small
  terminal model: cursor addressing, erasing, text. Colours and modes are not modelled; the VT's
  answer to them is what the comparison looks at.
- `modules`: the QR code's light and dark modules as the VT shows them (half blocks), to measure
  its quiet zone.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass

CSI = re.compile(r"\x1b\[([\x30-\x3f]*)([\x20-\x2f]*)([\x40-\x7e])")
OSC = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
OTHER_ESC = re.compile(r"\x1b[\x20-\x2f]*[\x30-\x7e]")


@dataclass(frozen=True)
class Dump:
    columns: int
    rows: int
    cursor: tuple[int, int]  # (x, y)
    chars: list[str]  # one string per row, from vcsu
    glyphs: list[list[int]]  # the font position per cell, from vcsa
    attrs: list[list[int]]  # VGA attribute per cell: foreground low nibble, background high

    @classmethod
    def parse(cls, vcsa: bytes, vcsu: bytes) -> Dump:
        rows, columns, x, y = vcsa[:4]
        cells = vcsa[4:]
        glyphs = [[cells[2 * (r * columns + c)] for c in range(columns)] for r in range(rows)]
        attrs = [[cells[2 * (r * columns + c) + 1] for c in range(columns)] for r in range(rows)]
        points = struct.unpack(f"<{rows * columns}I", vcsu[: 4 * rows * columns])
        chars = ["".join(chr(p) for p in points[r * columns : (r + 1) * columns]) for r in range(rows)]
        return cls(columns, rows, (x, y), chars, glyphs, attrs)

    def background(self, row: int, column: int) -> int:
        return (self.attrs[row][column] >> 4) & 0x07

    def foreground(self, row: int, column: int) -> int:
        return self.attrs[row][column] & 0x0F


def chunks(log: bytes) -> Iterator[str]:
    """The recorded writes, in order; a chunk still being written is left out."""
    pos = 0
    while pos + 4 <= len(log):
        (size,) = struct.unpack_from("<I", log, pos)
        if pos + 4 + size > len(log):
            return
        yield log[pos + 4 : pos + 4 + size].decode(errors="replace")
        pos += 4 + size


class Intended:
    """A terminal of columns x rows fed with the screen's output."""

    def __init__(self, columns: int, rows: int) -> None:
        self.columns, self.rows = columns, rows
        self.grid = [[" "] * columns for _ in range(rows)]
        self.x = self.y = 0

    @property
    def lines(self) -> list[str]:
        return ["".join(row) for row in self.grid]

    def feed(self, text: str) -> None:
        pos = 0
        while pos < len(text):
            ch = text[pos]
            if ch == "\x1b":
                for pattern in (CSI, OSC, OTHER_ESC):
                    m = pattern.match(text, pos)
                    if m:
                        if pattern is CSI:
                            self._csi(m.group(1), m.group(2), m.group(3))
                        pos = m.end()
                        break
                else:
                    pos += 1
                continue
            if ch == "\r":
                self.x = 0
            elif ch == "\n":
                self.y = min(self.y + 1, self.rows - 1)
            elif ch == "\b":
                self.x = max(0, self.x - 1)
            elif ch >= " ":
                if self.x < self.columns and self.y < self.rows:
                    self.grid[self.y][self.x] = ch
                self.x = min(self.x + 1, self.columns)
            pos += 1

    def _csi(self, params: str, intermediate: str, final: str) -> None:
        if params.startswith(("?", ">", "<", "=")) or intermediate:
            return  # modes, queries and keyboard protocols: nothing drawn
        numbers = [int(p) if p.isdigit() else 0 for p in params.split(";")] if params else []

        def arg(i: int, default: int) -> int:
            return numbers[i] if len(numbers) > i and numbers[i] else default

        if final in "Hf":
            self.y = min(arg(0, 1), self.rows) - 1
            self.x = min(arg(1, 1), self.columns) - 1
        elif final == "A":
            self.y = max(0, self.y - arg(0, 1))
        elif final == "B":
            self.y = min(self.rows - 1, self.y + arg(0, 1))
        elif final == "C":
            self.x = min(self.columns - 1, self.x + arg(0, 1))
        elif final == "D":
            self.x = max(0, self.x - arg(0, 1))
        elif final == "G":
            self.x = min(arg(0, 1), self.columns) - 1
        elif final == "d":
            self.y = min(arg(0, 1), self.rows) - 1
        elif final == "J":
            mode = arg(0, 0)
            for r in range(self.rows):
                if mode == 2 or (mode == 0 and r > self.y) or (mode == 1 and r < self.y):
                    self.grid[r] = [" "] * self.columns
            if mode in (0, 1):
                self._erase_line(mode)
        elif final == "K":
            self._erase_line(arg(0, 0))
        elif final == "X":
            for c in range(self.x, min(self.columns, self.x + arg(0, 1))):
                self.grid[self.y][c] = " "

    def _erase_line(self, mode: int) -> None:
        row = self.grid[min(self.y, self.rows - 1)]
        span = {0: range(self.x, self.columns), 1: range(self.x + 1), 2: range(self.columns)}[mode]
        for c in span:
            if c < self.columns:
                row[c] = " "


def replay(log: bytes, columns: int, rows: int) -> Iterator[list[str]]:
    """The screen as meant after each recorded write."""
    term = Intended(columns, rows)
    for chunk in chunks(log):
        term.feed(chunk)
        yield term.lines


def intended(log: bytes, columns: int, rows: int) -> list[str]:
    lines = [" " * columns] * rows
    for lines in replay(log, columns, rows):  # noqa: B007
        pass
    return lines


def differences(meant: list[str], dump: Dump, limit: int = 8) -> list[str]:
    """Cells where the VT holds another character than the screen wrote."""
    found = []
    for r, (want, got) in enumerate(zip(meant, dump.chars, strict=True)):
        for c, (a, b) in enumerate(zip(want, got, strict=True)):
            if a != b:
                found.append(f"row {r} col {c}: meant {a!r} U+{ord(a):04X}, VT holds {b!r} U+{ord(b):04X}")
                if len(found) >= limit:
                    return found
    return found


def missing_glyphs(meant: list[str], dump: Dump, unimap: list[tuple[int, int]]) -> list[str]:
    """Characters the console font cannot show, or cells showing another glyph than the font's."""
    positions: dict[int, set[int]] = {}
    for code, pos in unimap:
        positions.setdefault(code, set()).add(pos)
    found: list[str] = []
    for r, line in enumerate(meant):
        for c, ch in enumerate(line):
            if ch == " ":
                continue
            allowed = positions.get(ord(ch))
            if not allowed:
                found.append(f"row {r} col {c}: {ch!r} U+{ord(ch):04X} is not in the console font")
            elif dump.glyphs[r][c] not in allowed:
                found.append(f"row {r} col {c}: {ch!r} drawn with glyph {dump.glyphs[r][c]}")
    return sorted(set(found), key=found.index)[:8]


def _light(colour: int) -> bool:
    return colour & 0x07 == 0x07  # white or bright white (a VT's bright background is white too)


def modules(dump: Dump) -> list[list[bool]]:
    """Light (True) or dark per half cell: two module rows per text row, as half blocks draw them."""
    grid: list[list[bool]] = [[False] * dump.columns for _ in range(2 * dump.rows)]
    for r in range(dump.rows):
        for c in range(dump.columns):
            fg, bg, ch = _light(dump.foreground(r, c)), _light(dump.background(r, c)), dump.chars[r][c]
            top, bottom = {"▀": (fg, bg), "▄": (bg, fg), "█": (fg, fg)}.get(ch, (bg, bg))
            grid[2 * r][c], grid[2 * r + 1][c] = top, bottom
    return grid


def quiet_zone(grid: list[list[bool]]) -> int | None:
    """Light modules between the code (its dark modules) and the edge of the light area around it,
    the narrowest side; None when there is no light area at all."""
    light = [(y, x) for y, row in enumerate(grid) for x, v in enumerate(row) if v]
    if not light:
        return None
    top, bottom = min(y for y, _ in light), max(y for y, _ in light)
    left, right = min(x for _, x in light), max(x for _, x in light)
    dark = [(y, x) for y in range(top, bottom + 1) for x in range(left, right + 1) if not grid[y][x]]
    if not dark:
        return None
    return min(
        min(y for y, _ in dark) - top,
        bottom - max(y for y, _ in dark),
        min(x for _, x in dark) - left,
        right - max(x for _, x in dark),
    )
