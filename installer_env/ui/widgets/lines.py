"""A label and its lines of literal text: the common shape of every status block on the main screen."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Static

from installer_env.presentation import Note, Tone

Part = str | tuple[str, str]  # plain text, or (text, style)

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


class LabelledBlock(Widget):
    """`label` in a narrow column, the lines beside it; long lines wrap inside their own column."""

    DEFAULT_CSS = """
    LabelledBlock { layout: horizontal; height: auto; }
    LabelledBlock > .label { width: 7; text-style: bold; }
    LabelledBlock > .body { width: 1fr; }
    """
    LABEL = ""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.body = Static(classes="body", markup=False)

    def compose(self) -> ComposeResult:
        yield Static(self.LABEL, classes="label", markup=False)
        yield self.body

    def set_lines(self, rows: Sequence[Sequence[Part]]) -> None:
        self.body.update(lines(rows))
