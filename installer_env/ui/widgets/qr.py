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
    """Shows a fitted QR code at its natural size; `show` replaces the code or its quiet zone."""

    DEFAULT_CSS = """
    QrView { width: auto; height: auto; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._code: qr.Fitted | None = None
        self._lines: list[str] = []

    @property
    def lines(self) -> list[str]:
        return list(self._lines)

    @property
    def code(self) -> qr.Fitted | None:
        """What is drawn: the code and its quiet zone (None: nothing)."""
        return self._code

    @property
    def quiet_zone(self) -> int:
        return self._code.quiet_zone if self._code else 0

    def show(self, code: qr.Fitted | None) -> None:
        if code == self._code:
            return
        self._code = code
        self._lines = qr.half_block_lines(code.code.matrix, code.quiet_zone) if code else []
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
