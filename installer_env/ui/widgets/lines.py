"""A label and its lines of literal text: the common shape of every status block on the main screen."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.content import Content
from textual.geometry import Size
from textual.widget import Widget
from textual.widgets import Static

from installer_env.presentation import Note, Tone
from installer_env.wrapping import Part, wrap

__all__ = ["TONE_STYLES", "LabelledBlock", "Part", "WrappedLines", "lines", "styled"]

# The screen's colours for what the presentation's lines mean.
TONE_STYLES = {
    Tone.NORMAL: "",
    Tone.MUTED: "$text-muted",
    Tone.GOOD: "$success",
    Tone.WARN: "$warning",
    Tone.BAD: "bold $error",
    Tone.ACCENT: "$accent",
}


def styled(note: Note) -> tuple[str, str]:
    return note.text, TONE_STYLES[note.tone]


def lines(rows: Sequence[Sequence[Part]]) -> Content:
    """Rows of parts as one Content. Texts are taken literally, never as markup; callers pass outside
    text through textsafe.literal() first so control characters become visible escapes."""
    parts: list[str | tuple[str, str]] = []
    for i, row in enumerate(rows):
        if i:
            parts.append("\n")
        parts.extend(row)
    return Content.assemble(*parts)


class WrappedLines(Widget):
    """Rows of parts broken to the widget's width by the core's wrap(): never inside an address,
    an onion address or a fingerprint (Textual's own wrapping folds long words anywhere)."""

    DEFAULT_CSS = """
    WrappedLines { height: auto; text-wrap: nowrap; }
    """

    def __init__(self, *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self._rows: list[list[Part]] = []

    @property
    def rows(self) -> list[list[Part]]:
        return self._rows

    def show(self, rows: Sequence[Sequence[Part]]) -> None:
        self._rows = [list(row) for row in rows]
        self.refresh(layout=True)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(wrap(self._rows, width))

    def render(self) -> Content:
        return lines(wrap(self._rows, self.content_size.width))


class LabelledBlock(Widget):
    """`label` in a narrow column, the lines beside it; long lines wrap inside their own column."""

    DEFAULT_CSS = """
    LabelledBlock { layout: horizontal; height: auto; }
    LabelledBlock > .label { width: 6; text-style: bold; }
    LabelledBlock > .body { width: 1fr; }
    """
    LABEL = ""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.body = WrappedLines(classes="body")

    def compose(self) -> ComposeResult:
        yield Static(self.LABEL, classes="label", markup=False)
        yield self.body

    def set_lines(self, rows: Sequence[Sequence[Part]]) -> None:
        self.body.show(rows)
