"""The QR code alone, centred, with the largest quiet zone that fits: for phones and `clan --png`.

Fitted by the same rule as every view: addresses dropped from the end of the code's order until it
fits with a quiet zone of 2; never less.
"""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Middle
from textual.screen import Screen
from textual.widgets import Static

from installer_env import qr
from installer_env.config import Config
from installer_env.presentation import Presentation
from installer_env.ui import layout
from installer_env.ui.widgets.qr import QrView

CAPTION = "Scan it to install this machine.  Esc: back"


class QrScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,f", "app.pop_screen", "Back")]

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = config
        self._shown: Presentation | None = None

    def compose(self) -> ComposeResult:
        with Middle(), Center():
            yield QrView(id="qr-full")
        yield Static(CAPTION, id="qr-caption", markup=False)
        yield Static(id="qr-too-small", markup=False)

    def on_mount(self) -> None:
        self.watch(self.app, "presentation", self.show, init=True)

    def on_resize(self, event: events.Resize) -> None:
        self._relayout()

    def show(self, p: Presentation) -> None:
        self._shown = p
        self._relayout()

    def _relayout(self) -> None:
        width, height = self.size.width, self.size.height
        widget = self.query_one(QrView)
        caption = self.query_one("#qr-caption", Static)
        too_small = self.query_one("#qr-too-small", Static)
        p = self._shown
        if p is None or not p.scannable:
            widget.show(None)
            caption.display = False
            too_small.update("Nothing to scan yet: there is no password. Esc: back")
            too_small.display = True
            return
        fitted, with_caption = layout.fullscreen(width, height, p.fit_qr)
        if isinstance(fitted, qr.TooSmall):
            widget.show(None)
            caption.display = False
            too_small.update(
                f"The QR code needs {fitted.columns}x{fitted.rows} characters; this terminal has "
                f"{width}x{height}. Enlarge it, or type the password from the main screen. Esc: back"
            )
            too_small.display = True
            return
        caption.display = with_caption
        too_small.display = False
        widget.show(fitted)
