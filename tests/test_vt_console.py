"""The VT model the VM test compares against (tests/vt_console.py): it must see what it looks for."""

from __future__ import annotations

import struct

import pytest
from vt_console import Dump, Intended, chunks, differences, missing_glyphs, modules, quiet_zone

from installer_env import qr

COLUMNS, ROWS = 80, 25
WHITE_ON_BLACK = 0x0F


def dump_of(lines: list[str], attr: int = WHITE_ON_BLACK) -> Dump:
    lines = [line.ljust(COLUMNS)[:COLUMNS] for line in lines] + [" " * COLUMNS] * (ROWS - len(lines))
    vcsa = bytes([ROWS, COLUMNS, 0, 0]) + b"".join(bytes([0x20, attr]) for _ in range(ROWS * COLUMNS))
    vcsu = b"".join(struct.pack("<I", ord(ch)) for line in lines for ch in line)
    return Dump.parse(vcsa, vcsu)


@pytest.mark.parametrize("quiet", [0, 1, 2, 4])
def test_quiet_zone_is_measured_from_the_cells(quiet: int) -> None:
    _, _, matrix = qr.encode('{"pass":"a-b-c-d"}')
    lines = [" " * 3 + line for line in qr.half_block_lines(matrix, quiet)]
    measured = quiet_zone(modules(dump_of(lines)))
    # Half blocks: an odd number of module rows leaves a light half row below, never less.
    assert measured == quiet


def test_the_screens_output_is_replayed_and_compared_cell_by_cell() -> None:
    term = Intended(COLUMNS, ROWS)
    term.feed(
        "\x1b[?1049h\x1b[2J\x1b[1;3H\x1b[1;37mtitle\x1b[0m\x1b]0;x\x07\x1b[3;1Hrow ─ three\x1b[3;5H\x1b[K"
    )
    assert term.lines[0].rstrip() == "  title"
    assert term.lines[2].rstrip() == "row"
    assert not differences(term.lines, dump_of(term.lines))
    shown = [*term.lines]
    shown[0] = "  titl\ufffd"
    assert differences(term.lines, dump_of(shown)) == ["row 0 col 6: meant 'e' U+0065, VT holds '�' U+FFFD"]


def test_a_character_missing_from_the_font_is_named() -> None:
    lines = ["a▁"]
    unimap = [(ord("a"), 0x20)]  # the dump's glyph positions are all 0x20 here
    assert missing_glyphs(lines, dump_of(lines), unimap) == [
        "row 0 col 1: '▁' U+2581 is not in the console font"
    ]


def test_a_write_still_under_way_is_left_out() -> None:
    log = struct.pack("<I", 2) + b"ab" + struct.pack("<I", 5) + b"cd"
    assert list(chunks(log)) == ["ab"]
