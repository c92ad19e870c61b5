"""The Linux VT's 16 colours (the kernel's default palette) and WCAG contrast between two of them."""

from __future__ import annotations

# drivers/tty/vt/vt.c default_red/grn/blu, in ANSI order: black, red, green, brown, blue, magenta,
# cyan, light grey, then the bright ones.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (0x00, 0x00, 0x00),
    (0xAA, 0x00, 0x00),
    (0x00, 0xAA, 0x00),
    (0xAA, 0x55, 0x00),
    (0x00, 0x00, 0xAA),
    (0xAA, 0x00, 0xAA),
    (0x00, 0xAA, 0xAA),
    (0xAA, 0xAA, 0xAA),
    (0x55, 0x55, 0x55),
    (0xFF, 0x55, 0x55),
    (0x55, 0xFF, 0x55),
    (0xFF, 0xFF, 0x55),
    (0x55, 0x55, 0xFF),
    (0xFF, 0x55, 0xFF),
    (0x55, 0xFF, 0xFF),
    (0xFF, 0xFF, 0xFF),
)
WCAG_AA = 4.5  # normal text


def _luminance(colour: int) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in PALETTE[colour])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(foreground: int, background: int) -> float:
    """WCAG contrast ratio of two of the VT's colours (0-15); the VT has only 8 backgrounds."""
    a, b = _luminance(foreground), _luminance(background & 0x07)
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)
