"""The main screen: QR code, password, how to log in (ssh, Tor), sshd and Wi-Fi, all kept live."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import Container, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from installer_env.config import Config
from installer_env.presentation import Presentation
from installer_env.textsafe import literal
from installer_env.ui import layout
from installer_env.ui.widgets.addresses import AddressList
from installer_env.ui.widgets.footer import KeyFooter
from installer_env.ui.widgets.password import PasswordBox
from installer_env.ui.widgets.qr import QrView
from installer_env.ui.widgets.ssh import SshState
from installer_env.ui.widgets.tor import TorLine
from installer_env.ui.widgets.wifi import WifiLine

QR_HINT = "Press q to show the QR code full screen."


class MainScreen(Screen[None]):
    AUTO_FOCUS = "#details"  # the arrow keys scroll the details when they do not fit

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = config
        self._shown: Presentation | None = None
        self._layout: tuple[layout.Layout, bool] | None = None  # and whether the hint shows

    def compose(self) -> ComposeResult:
        yield Static(id="title", markup=False)
        with Container(id="body"):
            with Container(id="qr-box"):
                yield QrView(id="qr")
            with Vertical(id="info"):
                yield PasswordBox(id="password")
                with VerticalScroll(id="details", can_focus=True):
                    yield AddressList(id="addresses")
                    yield TorLine(id="tor")
                    yield SshState(id="ssh")
                    yield WifiLine(id="wifi")
                yield Static(QR_HINT, id="qr-hint", markup=False)
                yield Static(id="message", markup=False)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.watch(self.app, "presentation", self.show, init=True)
        self.watch(self.app, "message", self._show_message, init=True)

    def on_resize(self, event: events.Resize) -> None:
        self._relayout()

    def show(self, p: Presentation) -> None:
        self._shown = p
        demo = "  (demo: nothing is applied to this machine)" if self.config.demo else ""
        self.query_one("#title", Static).update(p.title + demo)
        self.query_one(PasswordBox).show(p.password)
        self.query_one(AddressList).show(p.logins, p.logins_note, p.network_problem)
        self.query_one(TorLine).show(p.tor)
        self.query_one(SshState).show(p.ssh)
        self.query_one(WifiLine).show(p.wifi)
        self._relayout()

    def _show_message(self, message: str) -> None:
        widget = self.query_one("#message", Static)
        widget.update(literal(message))
        widget.display = bool(message)

    def _relayout(self) -> None:
        p = self._shown
        fit = p.fit_qr if p is not None and p.scannable else None
        chosen = layout.choose(self.size.width, self.size.height, fit)
        hint = chosen.kind is layout.Kind.SMALL and fit is not None
        if (chosen, hint) == self._layout:
            return  # a class changed on the screen restyles every widget on it: only when needed
        if self._layout is None or chosen.kind is not self._layout[0].kind:
            for kind in layout.Kind:
                self.set_class(chosen.kind is kind, f"-{kind.value}")
        self._layout = (chosen, hint)
        self.query_one(QrView).show(chosen.code)
        self.query_one("#qr-hint").display = hint
