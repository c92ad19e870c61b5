"""The main screen: QR code, password, how to log in (ssh, Tor), sshd and Wi-Fi, all kept live."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import Container, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from installer_env import qr
from installer_env.config import Config
from installer_env.session import Snapshot
from installer_env.textsafe import literal
from installer_env.ui import layout, view
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
        self._code: qr.QrCode | None = None

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
        self.watch(self.app, "snapshot", self.show, init=True)
        self.watch(self.app, "message", self._show_message, init=True)

    def on_resize(self, event: events.Resize) -> None:
        self._relayout()

    def show(self, snap: Snapshot) -> None:
        config = self.config
        user = view.user(snap)
        name = literal(snap.hostname)
        demo = "  (demo: nothing is applied to this machine)" if config.demo else ""
        self.query_one("#title", Static).update(f"installer-env on {name}{demo}")
        # With no password at all, why this login could not make one says more than "none yet".
        self.query_one(PasswordBox).show(snap.password, snap.rotation_problem or snap.password_problem)
        self.query_one(AddressList).show(
            user, view.hosts(snap), snap.mdns_name, view.network_problem(snap), view.interface_of(snap)
        )
        self.query_one(TorLine).show(user, view.tor(snap), config.tor_enabled)
        self.query_one(SshState).show(snap.ssh)
        self.query_one(WifiLine).show(view.wifi(snap), config.wifi_enabled)
        self._code = view.qr_code(snap, self.config.qr_max_addrs)
        self._relayout()

    def _show_message(self, message: str) -> None:
        widget = self.query_one("#message", Static)
        widget.update(literal(message))
        widget.display = bool(message)

    def _relayout(self) -> None:
        code = self._code
        chosen = layout.choose(self.size.width, self.size.height, code.modules if code else None)
        for kind in layout.Kind:
            self.set_class(chosen.kind is kind, f"-{kind.value}")
        shown = code.matrix if code and chosen.kind is not layout.Kind.SMALL else None
        self.query_one(QrView).show(shown, chosen.quiet_zone)
        self.query_one("#qr-hint").display = chosen.kind is layout.Kind.SMALL and code is not None
