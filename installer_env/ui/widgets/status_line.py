"""The one-line status of a screen or dialog: what runs ("busy"), an error, or a result ("ok").

One place for how the line looks: its text literal (no markup), the kind as the class the stylesheet
colours (`-busy`, `-error`, `-ok`), and hidden while there is nothing to say.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

KINDS = ("busy", "error", "ok")


def show_status(line: Static, text: str, kind: str) -> None:
    line.update(Text(text, end=""))
    for name in KINDS:
        line.set_class(kind == name, f"-{name}")
    line.display = bool(text)
