"""The wired network screen: every wired interface, its hardware, link and addresses (and how they
came); for one of them, a static configuration or DHCP again.

What it shows comes from the session's network snapshot, the one the main screen and the QR code
use: an address applied here reaches them through netlink like any other. Applying runs in a
worker thread (netlink, the DHCP client, the resolver); the UI never waits for it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from installer_env import netapply
from installer_env.errors import NetworkConfigError
from installer_env.network import Interface, NetworkSnapshot, why_not_offered
from installer_env.textsafe import literal
from installer_env.ui.screens.confirm import ConfirmDialog
from installer_env.ui.screens.network_form import StaticForm
from installer_env.ui.widgets.footer import KeyBar
from installer_env.ui.widgets.status_line import show_status

if TYPE_CHECKING:
    from installer_env.netapply import Environment
    from installer_env.session import Snapshot

NAME_WIDTH = 15  # the kernel allows 15 bytes: whole names, e.g. enx00e04c680001
LINK_WIDTH = 14


def wired(snapshot: NetworkSnapshot | None) -> tuple[Interface, ...]:
    """The interfaces a cable can go into: not loopback, not Wi-Fi (the Wi-Fi screen has those)."""
    if snapshot is None:
        return ()
    return tuple(i for i in snapshot.interfaces if not i.loopback and not i.wireless)


def link_words(interface: Interface) -> str:
    if interface.state != "up":
        return "switched off"
    return "cable in" if interface.carrier else "no cable"


def address_summary(interface: Interface) -> str:
    shown = [a for a in interface.addresses if a.scope == "global"]
    if not shown:
        return "no address"
    first = shown[0]
    more = f" +{len(shown) - 1}" if len(shown) > 1 else ""
    return f"{first.address}/{first.prefixlen} ({first.origin}){more}"


def row(interface: Interface, width: int) -> Text:
    name = literal(interface.name)[:NAME_WIDTH].ljust(NAME_WIDTH)
    link = link_words(interface).ljust(LINK_WIDTH)
    rest = address_summary(interface)
    line = Text.assemble(
        (name, "bold"),
        " ",
        (link, "bright_green" if interface.carrier else "bright_yellow"),
        " ",
        rest,
        end="",
    )
    line.truncate(width)
    return line


def details(interface: Interface, static_here: bool) -> Text:
    hardware = literal(interface.hardware.description)
    parts: list[str | tuple[str, str]] = [
        ("Hardware  ", "bold"),
        hardware,
        "\n",
        ("MAC       ", "bold"),
        interface.mac or "none",
        "\n",
        ("Link      ", "bold"),
        (link_words(interface), "bright_green" if interface.carrier else "bright_yellow"),
        f" (kernel: {interface.operstate})",
        "\n",
        ("Set by    ", "bold"),
    ]
    origins = {a.origin for a in interface.addresses if a.scope == "global"}
    if static_here:
        parts.append(("static, from this screen or `installer-env net static`", "cyan"))
    elif origins:
        parts.append(", ".join(sorted(origins)))
    else:
        parts.append(("nothing yet: no DHCP answer? s sets a static address", "bright_yellow"))
    for i, address in enumerate(interface.addresses):
        label = "Addresses " if i == 0 else "          "
        why = why_not_offered(interface, address)
        ssh = "ssh: yes" if address.offered else f"not for ssh: {why}"
        parts += [
            "\n",
            (label, "bold"),
            f"{address.address}/{address.prefixlen}".ljust(30),
            f" {address.origin:<10} ",
            (ssh, "bright_green" if address.offered else "white"),
        ]
    if not interface.addresses:
        parts += ["\n", ("Addresses ", "bold"), ("none", "bright_yellow")]
    return Text.assemble(*parts, end="")


class NetworkScreen(Screen[None]):
    AUTO_FOCUS = "#net-interfaces"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", key_display="Esc"),
        Binding("s", "static", "Static address"),
        Binding("d", "dhcp", "DHCP"),
    ]

    def __init__(self, environment: Environment) -> None:
        super().__init__()
        self.environment = environment
        self.busy: str | None = None
        self._rows: tuple[tuple[str | None, str], ...] = ()
        self._activity = ("", "")

    def compose(self) -> ComposeResult:
        yield Static("Wired network", id="title", markup=False)
        yield Static(id="net-activity", markup=False)
        with Vertical(id="net-list-box") as box:
            box.border_title = "Interfaces (Enter: static address, d: DHCP)"
            yield OptionList(id="net-interfaces", markup=False)
        yield Static(id="net-details", markup=False)
        yield KeyBar(compact=True)

    def on_mount(self) -> None:
        self.watch(self.app, "snapshot", self._show_snapshot, init=True)
        self._show_activity()

    def on_resize(self, event: events.Resize) -> None:
        self._rows = ()
        self._show_snapshot(self._snapshot())

    def _snapshot(self) -> Snapshot:
        snap: Snapshot = self.app.snapshot  # type: ignore[attr-defined]
        return snap

    @property
    def interface(self) -> Interface | None:
        """The highlighted interface, from the newest snapshot."""
        option = self.query_one(OptionList).highlighted_option
        name = option.id if option else None
        return next((i for i in wired(self._snapshot().network) if i.name == name), None)

    def _show_snapshot(self, snap: Snapshot) -> None:
        interfaces = wired(snap.network)
        widget = self.query_one(OptionList)
        width = max(20, self.size.width - 4)
        options = [Option(row(i, width), id=i.name) for i in interfaces]
        rows = tuple((o.id, str(o.prompt)) for o in options)
        if rows != self._rows:
            current = widget.highlighted_option.id if widget.highlighted_option else None
            widget.set_options(options)
            ids = [o.id for o in options]
            if ids:
                widget.highlighted = ids.index(current) if current in ids else 0
            self._rows = rows
        self._show_details()
        if snap.network is not None and snap.network.problem:
            self.say(literal(snap.network.problem), "error")
        elif not interfaces:
            self.say("No wired interface found: plug in a cable or a USB network adapter.", "error")
        self.refresh_bindings()

    def _show_details(self) -> None:
        box = self.query_one("#net-details", Static)
        interface = self.interface
        box.display = interface is not None
        if interface is None:
            return
        box.border_title = literal(interface.name)
        static_here = interface.name in self.environment.static_interfaces()
        box.update(details(interface, static_here))

    @on(OptionList.OptionHighlighted)
    def _highlighted(self) -> None:
        self._show_details()
        self.refresh_bindings()

    @on(OptionList.OptionSelected)
    def _selected(self) -> None:
        self.action_static()

    def say(self, text: str, kind: str) -> None:
        """The line under the title: what runs ("busy"), else the last result ("ok", "error")."""
        self._activity = (text, kind)
        self._show_activity()

    def _show_activity(self) -> None:
        text, kind = self._activity
        show_status(self.query_one("#net-activity", Static), text, kind)

    # ------------------------------------------------------------------ keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("static", "dhcp"):
            return self.interface is not None
        return True

    def action_back(self) -> None:
        self.app.pop_screen()

    def _interface_to_change(self) -> Interface | None:
        """The interface a key acts on, or None (with why) while there is none or a change runs."""
        if self.interface is not None and self.busy:
            self.say(f"Wait: still {self.busy}.", "error")
            return None
        return self.interface

    def action_static(self) -> None:
        interface = self._interface_to_change()
        if interface is None:
            return
        self.app.push_screen(StaticForm(interface, self.environment), self._applied)

    def _applied(self, result: str | None) -> None:
        if result:
            self.say(result, "ok")
        self._show_details()

    def action_dhcp(self) -> None:
        interface = self._interface_to_change()
        if interface is None:
            return
        snap = self._snapshot().network
        lost = netapply.lost_on_dhcp(snap, interface.name) if snap else ()
        name = literal(interface.name)
        if not lost:
            self._run_dhcp(interface.name)
            return
        question = Text.assemble(
            "Hand ",
            (name, "bold"),
            " back to DHCP?\nThis removes ",
            (", ".join(lost), "bold"),
            ", the only address ssh reaches this machine at:\nssh sessions over it drop, "
            "and until a lease comes there is none.",
            end="",
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._run_dhcp(interface.name)

        self.app.push_screen(ConfirmDialog(question), answered)

    def _run_dhcp(self, name: str) -> None:
        self.busy = "switching to DHCP"
        self.say(f"{literal(name)}: back to DHCP...", "busy")
        self.run_worker(self._dhcp(name), group="net-dhcp", exit_on_error=False)

    async def _dhcp(self, name: str) -> None:
        try:
            outcome = await asyncio.to_thread(netapply.apply_dhcp, name, self.environment)
        except NetworkConfigError as e:
            self.say(str(e), "error")
        else:
            self.say("  ".join((outcome.summary, *outcome.notes)), "ok")
        finally:
            self.busy = None
            self._show_details()
