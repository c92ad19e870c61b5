"""The QR code alone, centred, with the largest quiet zone that fits: for phones and `clan --png`."""

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
from installer_env.session import Snapshot
from installer_env.ui import layout, view
from installer_env.ui.widgets.qr import QrView

CAPTION = "Scan it to install this machine.  Esc: back"


class QrScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,f", "app.pop_screen", "Back")]

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = config
        self._code: qr.QrCode | None = None

    def compose(self) -> ComposeResult:
        with Middle(), Center():
            yield QrView(id="qr-full")
        yield Static(CAPTION, id="qr-caption", markup=False)
        yield Static(id="qr-too-small", markup=False)

    def on_mount(self) -> None:
        self.watch(self.app, "snapshot", self.show, init=True)

    def on_resize(self, event: events.Resize) -> None:
        self._relayout()

    def show(self, snap: Snapshot) -> None:
        self._code = view.qr_code(snap, self.config.qr_max_addrs)
        self._relayout()

    def _relayout(self) -> None:
        width, height = self.size.width, self.size.height
        widget = self.query_one(QrView)
        caption = self.query_one("#qr-caption", Static)
        too_small = self.query_one("#qr-too-small", Static)
        if self._code is None:
            widget.show(None, 0)
            caption.display = False
            too_small.update("Nothing to scan yet: there is no password. Esc: back")
            too_small.display = True
            return
        modules = self._code.modules
        # The caption only when it does not cost quiet zone the code needs.
        quiet_zone = layout.fullscreen_quiet_zone(width, height - 1, modules)
        with_caption = quiet_zone is not None and quiet_zone >= layout.MIN_QUIET_ZONE
        if not with_caption:
            quiet_zone = layout.fullscreen_quiet_zone(width, height, modules)
        caption.display = with_caption
        if quiet_zone is None:
            widget.show(None, 0)
            columns, rows = layout.qr_cells(modules, layout.MIN_QUIET_ZONE)
            too_small.update(
                f"The QR code needs {columns}x{rows} characters; this terminal has {width}x{height}. "
                "Enlarge it, or type the password from the main screen. Esc: back"
            )
            too_small.display = True
            return
        too_small.display = False
        widget.show(self._code.matrix, quiet_zone)
