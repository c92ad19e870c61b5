"""The connect dialog (passphrase, or name and passphrase of a hidden network).

The dialog stays open until the connection works or the person leaves it: a wrong passphrase is
said in words under the field, which keeps what was typed. The passphrase lives only in the field
and in the one connect call; it is never put in a message, a log or the screen behind the dialog.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from installer_env.textsafe import literal
from installer_env.ui.screens.confirm import ConfirmDialog
from installer_env.ui.widgets.passphrase import NO_CONTROL, PassphraseInput
from installer_env.ui.widgets.status_line import show_status
from installer_env.ui.widgets.wifi_lists import signal_bars
from installer_env.wifi.checks import MAX_SSID_BYTES, check_passphrase, check_ssid
from installer_env.wifi.model import WifiError, WifiErrorKind

if TYPE_CHECKING:
    from installer_env.wifi.client import IwdClient
    from installer_env.wifi.model import WifiNetwork

KEYS = "Enter: connect   F2 or Ctrl-T: show/hide   Esc: cancel"
log = logging.getLogger(__name__)


def failure_words(error: BaseException) -> str:
    """What a failed Wi-Fi worker says on screen: a WifiError's sentence, else its type (and the
    traceback in the log)."""
    if isinstance(error, WifiError):
        return error.message
    log.error("Wi-Fi operation failed", exc_info=error)
    return f"The Wi-Fi operation failed unexpectedly ({type(error).__name__}: {error}). Try again."


class ConnectDialog(ModalScreen[str | None]):
    """Connects to `network` (None: a hidden network, named here); dismisses with the result line."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", key_display="Esc"),
        Binding("f2,ctrl+t", "toggle_shown", "Show/hide", key_display="F2", priority=True),
        # Priority, as in the wired form: the field changes the moment the key is read, so a
        # passphrase typed ahead of a slow machine (read in one go with the name) goes where it was
        # meant, not into the name field.
        Binding("tab,down", "app.focus_next", "Next field", show=False, priority=True),
        Binding("shift+tab,up", "app.focus_previous", "Previous field", show=False, priority=True),
    ]

    def __init__(self, client: IwdClient, network: WifiNetwork | None, device: str | None) -> None:
        super().__init__()
        self.client = client
        self.network = network
        self.device = device
        self._attempt: Worker[None] | None = None
        self._cancelling = False

    @property
    def hidden(self) -> bool:
        return self.network is None

    @property
    def busy(self) -> bool:
        return self._attempt is not None and not self._attempt.is_finished

    def compose(self) -> ComposeResult:
        with Vertical(id="wifi-dialog") as box:
            box.border_title = "Hidden network" if self.hidden else "Connect"
            if self.network is not None:
                net = self.network
                yield Static(
                    Text.assemble(("Network   ", "bold"), literal(net.ssid), end=""),
                    id="wifi-dialog-network",
                    markup=False,
                )
                yield Static(
                    Text.assemble(
                        ("Security  ", "bold"),
                        f"{net.security_label}   {signal_bars(net.bars)} {net.signal_dbm:.0f} dBm",
                        end="",
                    ),
                    id="wifi-dialog-security",
                    markup=False,
                )
            else:
                yield Static("Network name (SSID), as the access point spells it", markup=False)
                yield Input(
                    id="wifi-ssid", placeholder="network name", restrict=NO_CONTROL, max_length=MAX_SSID_BYTES
                )
            yield Static(id="wifi-passphrase-label", markup=False)
            yield PassphraseInput(
                id="wifi-passphrase",
                placeholder="empty for an open network" if self.hidden else "8 to 63 characters",
            )
            yield Static(id="wifi-dialog-status", markup=False)
            yield Static(KEYS, id="wifi-dialog-keys", markup=False)

    def on_mount(self) -> None:
        self._label_passphrase()
        self._say("", "")
        self.query_one("#wifi-ssid" if self.hidden else "#wifi-passphrase").focus()

    def _label_passphrase(self) -> None:
        shown = self.query_one(PassphraseInput).shown
        self.query_one("#wifi-passphrase-label", Static).update(
            "Passphrase (shown: F2 hides it)" if shown else "Passphrase (hidden: F2 shows it)"
        )

    def _say(self, text: str, kind: str) -> None:
        """One status line: progress ("busy"), an error ("error"), or nothing."""
        show_status(self.query_one("#wifi-dialog-status", Static), text, kind)

    def action_toggle_shown(self) -> None:
        self.query_one(PassphraseInput).toggle_shown()
        self._label_passphrase()

    @on(Input.Submitted)
    def _submit(self) -> None:
        if self.busy:
            return
        passphrase = self.query_one(PassphraseInput).value
        ssid = self.query_one("#wifi-ssid", Input).value if self.hidden else None
        try:
            if ssid is not None:
                try:
                    check_ssid(ssid)
                except WifiError:
                    self.query_one("#wifi-ssid").focus()
                    raise
            if passphrase or not self.hidden:  # a hidden open network has no passphrase
                check_passphrase(passphrase)
        except WifiError as e:
            self._say(e.message, "error")
            return
        name = ssid if ssid is not None else self.network.ssid if self.network else ""
        self._cancelling = False
        self._set_inputs_enabled(False)
        self._say(f"Connecting to {literal(name)}...  Esc: cancel", "busy")
        self._attempt = self.run_worker(
            self._connect(ssid, passphrase or None), group="connect", exit_on_error=False
        )

    async def _connect(self, ssid: str | None, passphrase: str | None) -> None:
        try:
            if ssid is not None:
                status = await self.client.connect_hidden(ssid, passphrase, device=self.device)
            else:
                assert self.network is not None
                status = await self.client.connect(self.network, passphrase)
        except WifiError as e:
            self._set_inputs_enabled(True)
            retry = "" if e.kind == WifiErrorKind.CANCELLED else "  Enter: try again"
            self._say(e.message + retry, "error")
            wrong_name = ssid is not None and e.kind == WifiErrorKind.NOT_FOUND
            self.query_one("#wifi-ssid" if wrong_name else "#wifi-passphrase").focus()
            return
        connected = status.connected
        name = connected.ssid if connected else ssid or (self.network.ssid if self.network else "")
        self.dismiss(f"Connected to {literal(name)}.")

    def _set_inputs_enabled(self, enabled: bool) -> None:
        for field in self.query(Input):
            field.disabled = not enabled

    def action_cancel(self) -> None:
        if not self.busy:
            self.dismiss(None)
            return
        if self._cancelling:
            return
        self._cancelling = True
        self._say("Cancelling...", "busy")
        self.run_worker(self._disconnect(), group="cancel", exit_on_error=False)

    async def _disconnect(self) -> None:
        await self.client.disconnect(self.device)

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """The one place this dialog's worker errors are told; the fields work again after any."""
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self._set_inputs_enabled(True)
            self._cancelling = False
            self._say(failure_words(event.worker.error), "error")


__all__ = ["ConfirmDialog", "ConnectDialog"]
