"""Textual's own floor: the smallest app like the screen (a line of half blocks, a static text, a
footer with one key), run by bench/screen.py on the same pty as the screen. Its first frame and
idle RSS are what any Textual app pays here, beyond `import textual.app`."""

from __future__ import annotations

from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer, Static


class Floor(App[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("x", "quit", "Quit")]

    def compose(self) -> ComposeResult:
        yield Static("\u2580\u2584" * 20)
        yield Static("Password     amber-otter-quilt-lantern\nLog in with: ssh root@192.0.2.5")
        yield Footer()


if __name__ == "__main__":
    Floor().run()
