"""The Wi-Fi screen: the device, the networks in range, the known ones; connect, scan, forget.

What it shows is `Snapshot.wifi`, like every view: the session's Wi-Fi source follows iwd live
(adapters plugged in or out, iwd restarting, scans, connection states). Its own client is only for
the operations a key starts and for the passphrase agent, which iwd asks on the connection that
called Connect(). Every call to iwd runs in a worker; the UI never waits for D-Bus. The addresses a
connection brings reach the main screen through the network source, like any other address.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from installer_env.session import Snapshot
from installer_env.textsafe import literal
from installer_env.ui.screens.wifi_connect import ConfirmDialog, ConnectDialog, failure_words
from installer_env.ui.widgets.footer import KeyBar
from installer_env.ui.widgets.status_line import show_status
from installer_env.ui.widgets.wifi_lists import (
    HIDDEN_OPTION,
    KNOWN_FIXED,
    MIN_SSID_WIDTH,
    KnownList,
    NetworkList,
    hidden_row,
    known_row,
    network_header,
    network_row,
    ssid_width,
)
from installer_env.wifi.client import IwdClient
from installer_env.wifi.model import (
    KnownNetwork,
    WifiDevice,
    WifiError,
    WifiErrorKind,
    WifiNetwork,
    WifiStatus,
)

LIST_CHROME = 4  # border and padding around a list's rows
PROBLEM_TITLES = {
    "no-adapter": "No Wi-Fi adapter",
    "not-running": "iwd is not running",
    "not-installed": "iwd is not installed",
    "no-permission": "No permission",
    "no-bus": "No system D-Bus",
}


class WifiScreen(Screen[None]):
    AUTO_FOCUS = "#wifi-networks"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", key_display="Esc"),
        Binding("r", "scan", "Scan"),
        Binding("h", "hidden", "Hidden"),
        Binding("d", "disconnect", "Disconnect"),
        Binding("f", "forget", "Forget"),
        Binding("p", "power_on", "Power on"),
        Binding("a", "next_device", "Next adapter"),
    ]

    def __init__(self, client: IwdClient | None = None) -> None:
        super().__init__()
        self.client = client or IwdClient()
        self.status: WifiStatus | None = None
        self.device_name: str | None = None  # the device the person works with
        self.busy: str | None = None  # what runs now: "scanning", "connecting", ...
        self._scanned = False
        self._rows: tuple[tuple[str | None, str], ...] = ()
        self._known_rows: tuple[tuple[str | None, str], ...] = ()
        self._activity = ("", "")

    def compose(self) -> ComposeResult:
        yield Static("Wi-Fi", id="title", markup=False)
        yield Static(id="wifi-device", markup=False)
        yield Static(id="wifi-activity", markup=False)
        with Vertical(id="wifi-problem") as problem:
            problem.border_title = "Wi-Fi"
            yield Static(id="wifi-problem-text", markup=False)
        with Vertical(id="wifi-networks-box") as box:
            box.border_title = "Networks"
            yield Static(id="wifi-header", markup=False)
            yield NetworkList(id="wifi-networks", markup=False)
        with Vertical(id="wifi-known-box") as known:
            known.border_title = "Known networks (Tab)"
            yield KnownList(id="wifi-known", markup=False)
        yield KeyBar(compact=True)  # one space less per key: the Wi-Fi keys fit 80 columns

    def on_mount(self) -> None:
        self.watch(self.app, "snapshot", self._follow, init=True)

    async def on_unmount(self) -> None:
        await self.client.close()

    def _follow(self, snap: Snapshot) -> None:
        if snap.wifi != self.status or self.status is None:
            self._show(snap.wifi)

    def on_resize(self, event: events.Resize) -> None:
        self._show(self.status)

    # ------------------------------------------------------------------ what is shown

    @property
    def device(self) -> WifiDevice | None:
        if self.status is None:
            return None
        for dev in self.status.devices:
            if dev.name == self.device_name:
                return dev
        return self.status.device

    def _show(self, status: WifiStatus | None) -> None:
        self.status = status
        device = self.device
        self.device_name = device.name if device else None
        problem = status.problem if status else None
        self.query_one("#wifi-problem").display = problem is not None
        self.query_one("#wifi-networks-box").display = problem is None
        self.query_one("#wifi-known-box").display = problem is None and bool(status and status.known_networks)
        if status is not None and status.problem is not None:
            self._show_problem(status)
        elif self.focused is None or not self.focused.display:
            self.query_one(NetworkList).focus()  # back from a problem screen: the keys work again
        self._show_device(status, device)
        self._show_networks(device)
        self._show_known(status)
        if status is not None and device is not None and device.has_station and not self._scanned:
            self._scanned = True  # one fresh scan when the screen opens; `r` for more
            if not device.scanning:
                self.action_scan()
        self._show_activity()
        self.refresh_bindings()

    def _show_problem(self, status: WifiStatus) -> None:
        kind = status.problem_kind.value if status.problem_kind else ""
        title = PROBLEM_TITLES.get(kind, "Wi-Fi cannot be used")
        self.query_one("#wifi-problem-text", Static).update(
            Text.assemble(
                (title, "bold bright_yellow"),
                "\n\n",
                literal(status.problem or ""),
                (
                    "\n\nThis screen follows the change by itself. Esc: back (then s for a shell)",
                    "white",  # light grey: 9:1 on the VT's black (dark grey is 2.8:1)
                ),
                end="",
            )
        )

    def _show_device(self, status: WifiStatus | None, device: WifiDevice | None) -> None:
        line = self.query_one("#wifi-device", Static)
        line.display = status is None or status.problem is None  # the problem box says it all
        if status is None:
            line.update(Text("Looking for iwd...", style="white", end=""))
            return
        if device is None:
            line.update(Text("No Wi-Fi device", style="bright_yellow", end=""))
            return
        adapter = literal(device.adapter)
        if device.adapter_model:
            adapter += f" ({literal(device.adapter_model)})"
        on = device.powered and device.adapter_powered and device.has_station
        state = literal(device.state)
        if device.connected_ssid:
            state = f"connected to {literal(device.connected_ssid)}"
        parts: list[str | tuple[str, str]] = [
            ("Device ", "bold"),
            (literal(device.name), "bold"),
            f"  adapter {adapter}  ",
            ("on" if on else "off", "bright_green" if on else "bold bright_yellow"),
        ]
        if device.has_station:
            parts += ["  ", (state, "bright_green" if device.state == "connected" else "")]
        if not on:
            parts.append(("  p: switch it on", "white"))
        others = len(status.devices) - 1
        if others > 0:
            parts.append((f"  (+{others} more, a: next)", "white"))
        line.update(Text.assemble(*parts, end=""))

    def _list_width(self) -> int:
        return max(0, self.size.width - LIST_CHROME)

    def _show_networks(self, device: WifiDevice | None) -> None:
        width = ssid_width(self._list_width())
        self.query_one("#wifi-header", Static).update(network_header(width))
        networks = device.networks if device else ()
        options = [Option(network_row(net, width), id=net.path) for net in networks]
        if device is not None and device.has_station:
            options.append(Option(hidden_row(), id=HIDDEN_OPTION))
        self._rows = self._set_options(self.query_one(NetworkList), options, self._rows)

    def _show_known(self, status: WifiStatus | None) -> None:
        known = status.known_networks if status else ()
        width = max(MIN_SSID_WIDTH, self._list_width() - KNOWN_FIXED)
        options = [Option(known_row(k, width), id=k.path) for k in known]
        self._known_rows = self._set_options(self.query_one(KnownList), options, self._known_rows)

    @staticmethod
    def _set_options(
        widget: OptionList, options: list[Option], before: tuple[tuple[str | None, str], ...]
    ) -> tuple[tuple[str | None, str], ...]:
        """Replace the rows only when they changed, keeping the highlight on the same network."""
        rows = tuple((o.id, str(o.prompt)) for o in options)
        if rows == before:
            return rows
        current = widget.highlighted_option.id if widget.highlighted_option else None
        widget.set_options(options)
        ids = [o.id for o in options]
        if options:
            # The hidden-network entry keeps the highlight only when it was chosen among networks.
            keep = current in ids and (current != HIDDEN_OPTION or len(before) > 1)
            widget.highlighted = ids.index(current) if keep else 0
        return rows

    def say(self, text: str, kind: str) -> None:
        """The line under the device: what runs now ("busy"), else the last result, kept until replaced."""
        self._activity = (text, kind)
        self._show_activity()

    def _show_activity(self) -> None:
        text, kind = self._activity
        device = self.device
        if self.busy is None and kind != "busy" and device is not None and device.scanning:
            text, kind = "Scanning...", "busy"  # iwd's own periodic scan
        show_status(self.query_one("#wifi-activity", Static), text, kind)

    # ------------------------------------------------------------------ the keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        device = self.device
        usable = self.status is not None and self.status.problem is None and device is not None
        if action in ("scan", "hidden"):
            return usable
        if action == "power_on":
            return usable and device is not None and not (device.has_station and device.powered)
        if action == "disconnect":
            return usable and device is not None and device.state in ("connected", "connecting", "roaming")
        if action == "forget":
            return self._forget_target() is not None
        if action == "next_device":
            return self.status is not None and len(self.status.devices) > 1
        return True

    def action_back(self) -> None:
        if self.busy == "connecting":
            self._cancel_connect()
            return
        self.app.pop_screen()

    def _run(self, busy: str, job: Callable[[], Awaitable[str]], progress: str | None = None) -> None:
        """Run one iwd operation in a worker; its result (or error) goes to the activity line."""
        if self.busy is not None:
            self.say(f"Wait: still {self.busy}.", "error")
            return
        self.busy = busy
        self.say(progress or busy[0].upper() + busy[1:] + "...", "busy")
        self.run_worker(self._operation(job), group="wifi-op", exit_on_error=False)

    async def _operation(self, job: Callable[[], Awaitable[str]]) -> None:
        try:
            self.say(await job(), "ok")
        finally:  # whatever happened, the keys work again (an error is told by `_worker_failed`)
            self.busy = None
            self.refresh_bindings()

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """The one place a worker's error is told: in words for a WifiError, else with its type
        (and the traceback in the log), never a frozen "still scanning"."""
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.say(failure_words(event.worker.error), "error")

    def action_scan(self) -> None:
        name = self.device_name

        async def scan() -> str:
            status = await self.client.scan(name)
            found = sum(len(d.networks) for d in status.devices if d.name == name or name is None)
            return f"Scan done: {found} network{'s' if found != 1 else ''} in range."

        self._run("scanning", scan)

    def action_power_on(self) -> None:
        name = self.device_name

        async def power_on() -> str:
            await self.client.power_on(name)
            self._scanned = False  # scan once it is on
            return "The Wi-Fi device is on."

        self._run("switching the device on", power_on)

    def action_next_device(self) -> None:
        if self.status is None or len(self.status.devices) < 2:
            return
        names = [d.name for d in self.status.devices]
        index = names.index(self.device_name) if self.device_name in names else -1
        self.device_name = names[(index + 1) % len(names)]
        self._show(self.status)

    def action_hidden(self) -> None:
        if self.busy is not None:
            self.say(f"Wait: still {self.busy}.", "error")
            return
        self.app.push_screen(ConnectDialog(self.client, None, self.device_name), self._connected)

    @on(OptionList.OptionSelected, "#wifi-networks")
    def _network_chosen(self, event: OptionList.OptionSelected) -> None:
        if event.option.id == HIDDEN_OPTION:
            self.action_hidden()
            return
        network = self._network(event.option.id)
        if network is None:
            return
        if network.connected:
            self.say(f"Already connected to {literal(network.ssid)}. d: disconnect", "ok")
            return
        if network.needs_passphrase:
            if self.busy is not None:
                self.say(f"Wait: still {self.busy}.", "error")
                return
            self.app.push_screen(ConnectDialog(self.client, network, self.device_name), self._connected)
            return

        async def connect() -> str:  # open, known, or a kind the client refuses in words
            try:
                status = await self.client.connect(network)
            except WifiError as e:
                if e.kind == WifiErrorKind.PASSPHRASE_REQUIRED:  # iwd no longer has the saved one
                    self.app.push_screen(
                        ConnectDialog(self.client, network, self.device_name), self._connected
                    )
                stale = e.kind in (WifiErrorKind.WRONG_PASSPHRASE, WifiErrorKind.FAILED)
                if stale and network.known and network.security == "psk":  # iwd used the saved one
                    hint = "If its passphrase changed: f forgets it, then Enter asks for the new one."
                    raise WifiError(e.kind, f"{e.message} {hint}") from None
                raise
            return f"Connected to {literal(status.connected.ssid if status.connected else network.ssid)}."

        self._run("connecting", connect, f"Connecting to {literal(network.ssid)}...  Esc: cancel")

    def _connected(self, result: str | None) -> None:
        if result:
            self.say(result, "ok")

    def _cancel_connect(self) -> None:
        self.say("Cancelling...", "busy")
        name = self.device_name

        async def cancel() -> None:
            await self.client.disconnect(name)

        self.run_worker(cancel(), group="wifi-cancel", exit_on_error=False)

    def action_disconnect(self) -> None:
        device = self.device
        if device is None:
            return
        if device.state == "connecting" and self.busy == "connecting":
            self._cancel_connect()
            return
        name = literal(device.connected_ssid or "")
        question = Text.assemble(
            "Disconnect from ",
            (name, "bold"),
            "?\nssh sessions over this Wi-Fi will drop.",
            end="",
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._run("disconnecting", disconnect)

        async def disconnect() -> str:
            await self.client.disconnect(device.name)
            return f"Disconnected from {name}."

        self.app.push_screen(ConfirmDialog(question), answered)

    def _network(self, option_id: str | None) -> WifiNetwork | None:
        device = self.device
        for net in device.networks if device else ():
            if net.path == option_id:
                return net
        return None

    def _forget_target(self) -> KnownNetwork | WifiNetwork | None:
        status = self.status
        if status is None or status.problem is not None:
            return None
        known_list = self.query_one(KnownList)
        if known_list.has_focus:
            option = known_list.highlighted_option
            return next((k for k in status.known_networks if option and k.path == option.id), None)
        option = self.query_one(NetworkList).highlighted_option
        network = self._network(option.id if option else None)
        return network if network is not None and network.known else None

    def action_forget(self) -> None:
        target = self._forget_target()
        if target is None:
            self.say("Nothing to forget here: pick a known network (Tab goes to the known ones).", "error")
            return
        name = literal(target.ssid)
        connected = self.status is not None and any(
            d.connected_ssid == target.ssid for d in self.status.devices
        )
        question = Text.assemble(
            "Forget ",
            (name, "bold"),
            "?\niwd deletes its saved passphrase",
            " and disconnects from it; ssh sessions over it will drop." if connected else ".",
            end="",
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._run("forgetting", forget)

        async def forget() -> str:
            await self.client.forget(target)
            return f"Forgot {name}."

        self.app.push_screen(ConfirmDialog(question), answered)
