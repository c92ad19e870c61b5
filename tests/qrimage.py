"""Turn terminal output back into pixels, the way a screen shows it, and read it with zbarimg.

Each character cell is drawn as the Linux VT draws it: 8x16 pixels from the glyph bitmaps of the
VGA/CP437 font, in the colours the SGR sequences in the text select (the VT palette, where
background colours 100-107 fall back to 40-47). Anything the model does not know (another glyph,
another escape sequence) raises, so a renderer that starts emitting something new fails the tests
instead of being drawn optimistically.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

CELL_WIDTH, CELL_HEIGHT = 8, 16

# VGA 8x16 glyphs (one byte per pixel row, most significant bit leftmost).
_GLYPHS: dict[str, tuple[int, ...]] = {
    " ": (0x00,) * 16,
    "\u2588": (0xFF,) * 16,  # full block
    "\u2580": (0xFF,) * 8 + (0x00,) * 8,  # upper half block
    "\u2584": (0x00,) * 8 + (0xFF,) * 8,  # lower half block
    "#": (0, 0, 0, 0x6C, 0x6C, 0xFE, 0x6C, 0x6C, 0x6C, 0xFE, 0x6C, 0x6C, 0, 0, 0, 0),
}

# Grey level (ITU-R 601 luma) of the 16 VT colours: 8 normal, then 8 bright.
_RGB = (
    (0, 0, 0), (170, 0, 0), (0, 170, 0), (170, 85, 0),
    (0, 0, 170), (170, 0, 170), (0, 170, 170), (170, 170, 170),
    (85, 85, 85), (255, 85, 85), (85, 255, 85), (255, 255, 85),
    (85, 85, 255), (255, 85, 255), (85, 255, 255), (255, 255, 255),
)  # fmt: skip
_GREY = tuple(round(0.299 * r + 0.587 * g + 0.114 * b) for r, g, b in _RGB)
_SGR = re.compile(r"\x1b\[([0-9;]*)m")


@dataclass(frozen=True)
class Theme:
    """A terminal's default colours (palette indices), used where the text sets none."""

    foreground: int
    background: int


LIGHT_THEME = Theme(foreground=0, background=15)  # black on white
DARK_THEME = Theme(foreground=7, background=0)  # the VT's own: light grey on black


@dataclass
class _Pen:
    fg: int
    bg: int


def _apply_sgr(params: str, pen: _Pen, theme: Theme) -> None:
    codes = [int(p) for p in params.split(";") if p] or [0]
    for code in codes:
        if code == 0:
            pen.fg, pen.bg = theme.foreground, theme.background
        elif 30 <= code <= 37:
            pen.fg = code - 30
        elif 90 <= code <= 97:
            pen.fg = code - 90 + 8
        elif 40 <= code <= 47 or 100 <= code <= 107:  # the VT has no bright backgrounds
            pen.bg = code % 10
        elif code == 39:
            pen.fg = theme.foreground
        elif code == 49:
            pen.bg = theme.background
        else:
            raise ValueError(f"the raster model does not know SGR {code}")


def cells(lines: list[str], theme: Theme) -> list[list[tuple[str, int, int]]]:
    """(glyph, fg grey, bg grey) per character cell; every line starts with the theme's colours."""
    grid = []
    for line in lines:
        pen = _Pen(theme.foreground, theme.background)
        row = []
        pos = 0
        while pos < len(line):
            if (match := _SGR.match(line, pos)) is not None:
                _apply_sgr(match.group(1), pen, theme)
                pos = match.end()
                continue
            char = line[pos]
            if char not in _GLYPHS:
                raise ValueError(f"the raster model has no glyph for {char!r}")
            row.append((char, _GREY[pen.fg], _GREY[pen.bg]))
            pos += 1
        grid.append(row)
    return grid


def rasterize(lines: list[str], theme: Theme) -> list[list[int]]:
    grid = cells(lines, theme)
    width = max(len(row) for row in grid)
    pixels = []
    for row in grid:
        padded = row + [(" ", _GREY[theme.foreground], _GREY[theme.background])] * (width - len(row))
        for y in range(CELL_HEIGHT):
            out = []
            for glyph, fg, bg in padded:
                bits = _GLYPHS[glyph][y]
                out += [fg if bits & (0x80 >> x) else bg for x in range(CELL_WIDTH)]
            pixels.append(out)
    return pixels


def _box(pixels: list[list[int]], size: int, step: int) -> list[list[int]]:
    """Mean over `size` x `size` squares, sampled every `step` pixels."""
    height, width = len(pixels), len(pixels[0])
    # Summed-area table keeps this linear in the image size.
    table = [[0] * (width + 1) for _ in range(height + 1)]
    for y in range(height):
        acc = 0
        for x in range(width):
            acc += pixels[y][x]
            table[y + 1][x + 1] = table[y][x + 1] + acc
    out = []
    for y in range(0, height - size + 1, step):
        row = []
        for x in range(0, width - size + 1, step):
            total = table[y + size][x + size] - table[y][x + size] - table[y + size][x] + table[y][x]
            row.append(total // (size * size))
        out.append(row)
    return out


def blur(pixels: list[list[int]], size: int) -> list[list[int]]:
    """What a camera a little out of focus sees: two box blurs of `size` pixels (one module), a
    smooth spread over about two modules, sampled at a quarter module."""
    step = max(1, size // 4)
    return _box(_box(pixels, size, step), size // step, 1)


def write_pgm(pixels: list[list[int]], path: Path) -> None:
    height, width = len(pixels), len(pixels[0])
    body = bytes(v for row in pixels for v in row)
    path.write_bytes(b"P5\n%d %d\n255\n" % (width, height) + body)


def zbar_decode(path: Path) -> bytes:
    """What `clan machines install --png` gets: zbarimg --quiet --raw, without the final newline."""
    result = subprocess.run(
        ["zbarimg", "--quiet", "--raw", str(path)], capture_output=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"zbarimg found no QR code in {path} (exit code {result.returncode})")
    return result.stdout.removesuffix(b"\n")


def decode_text(lines: list[str], theme: Theme, path: Path, blur_size: int = 0) -> bytes:
    pixels = rasterize(lines, theme)
    if blur_size:
        pixels = blur(pixels, blur_size)
    write_pgm(pixels, path)
    return zbar_decode(path)


def decode_half_blocks(lines: list[str]) -> str:
    """The payload of the screen's colour-free half-block lines, drawn as it draws them (bright
    white on black), read back by zbarimg."""
    import tempfile

    from installer_env import qr

    with tempfile.TemporaryDirectory() as tmp:
        drawn = [f"{qr.SGR_LIGHT_ON_DARK}{line}{qr.SGR_RESET}" for line in lines]
        return decode_text(drawn, LIGHT_THEME, Path(tmp) / "screen.pgm").decode("ascii")
