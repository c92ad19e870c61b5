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
from installer_env.ui.widgets.footer import KeyBar
from installer_env.ui.widgets.password import PasswordBox
from installer_env.ui.widgets.qr import QrView
from installer_env.ui.widgets.ssh import SshState
from installer_env.ui.widgets.tor import TorLine
from installer_env.ui.widgets.wifi import WifiLine

QR_HINT = "Press q to show the QR code full screen."


class MainScreen(Screen[None]):
    AUTO_FOCUS = "#details"  # the arrow keys scroll the details when they do not fit

    def __init__(self, config: Config, first: Presentation) -> None:
        """`first`: what the first frame shows (the app's presentation, followed once mounted)."""
        super().__init__()
        self.config = config
        self._shown = first
        self._layout: tuple[layout.Layout, bool] | None = None  # and whether the hint shows
        self._code = QrView(id="qr")
        self._qr_hint = Static(QR_HINT, id="qr-hint", markup=False)

    def compose(self) -> ComposeResult:
        # The layout for the terminal's size is set before the widgets mount, so that they are
        # styled once, with it: a class set on the screen later restyles every widget on it.
        self._relayout()
        yield Static(id="title", markup=False)
        with Container(id="body"):
            with Container(id="qr-box"):
                yield self._code
            with Vertical(id="info"):
                yield PasswordBox(id="password")
                with VerticalScroll(id="details", can_focus=True):
                    yield AddressList(id="addresses")
                    yield TorLine(id="tor")
                    yield SshState(id="ssh")
                    yield WifiLine(id="wifi")
                yield self._qr_hint
                yield Static(id="message", markup=False)
        yield KeyBar()

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

    def _choose(self) -> tuple[layout.Layout, bool]:
        """The layout for the terminal's size and the code shown, and whether the hint shows."""
        p = self._shown
        fit = p.fit_qr if p.scannable else None
        size = self.app.size  # the screen's own, which is not known before it is laid out
        chosen = layout.choose(size.width, size.height, fit)
        return chosen, chosen.kind is layout.Kind.SMALL and fit is not None

    def _relayout(self) -> None:
        chosen, hint = self._choose()
        if (chosen, hint) == self._layout:
            return  # a class changed on the screen restyles every widget on it: only when needed
        if self._layout is None or chosen.kind is not self._layout[0].kind:
            for kind in layout.Kind:  # before mounting (compose) nothing is styled yet to restyle
                self.set_class(chosen.kind is kind, f"-{kind.value}", update=self.is_mounted)
        self._layout = (chosen, hint)
        self._code.show(chosen.code)
        self._qr_hint.display = hint
