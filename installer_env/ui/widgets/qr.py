"""A QR code drawn with the core's half-block lines, two modules per character cell.

Its colours are fixed, not themed: every cell is bright white on black and the glyph says which
half is light (see installer_env.qr for why this beats a white background on a Linux VT).
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget

from installer_env import qr

QR_STYLE = Style(color="bright_white", bgcolor="black")


class QrView(Widget):
    """Shows a QR matrix at its natural size; `show` replaces the code or its quiet zone."""

    DEFAULT_CSS = """
    QrView { width: auto; height: auto; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._matrix: qr.Matrix | None = None
        self._quiet_zone = 0
        self._lines: list[str] = []

    @property
    def lines(self) -> list[str]:
        return list(self._lines)

    @property
    def quiet_zone(self) -> int:
        return self._quiet_zone

    def show(self, matrix: qr.Matrix | None, quiet_zone: int) -> None:
        if matrix == self._matrix and quiet_zone == self._quiet_zone:
            return
        self._matrix, self._quiet_zone = matrix, quiet_zone
        self._lines = qr.half_block_lines(matrix, quiet_zone) if matrix else []
        self.refresh(layout=True)

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return len(self._lines[0]) if self._lines else 0

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._lines)

    def render_line(self, y: int) -> Strip:
        if 0 <= y < len(self._lines):
            line = self._lines[y]
            return Strip([Segment(line, QR_STYLE)], len(line))
        return Strip.blank(self.size.width)
