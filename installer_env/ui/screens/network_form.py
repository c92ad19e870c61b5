"""The static configuration form of one wired interface: addresses, gateways, DNS.

Everything typed is checked (netconfig) before anything changes; each problem is said in words
under its field, and what was typed stays. Losing the only address ssh can reach asks first.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from installer_env import netapply
from installer_env.errors import NetworkConfigError
from installer_env.netconfig import InvalidConfig, StaticFields, check_static
from installer_env.textsafe import literal
from installer_env.ui.screens.confirm import ConfirmDialog
from installer_env.ui.widgets.status_line import show_status

if TYPE_CHECKING:
    from installer_env.netapply import Environment
    from installer_env.network import Interface
    from installer_env.session import Snapshot

# (field, label, placeholder)
FORM = (
    ("ipv4", "IPv4 address", "192.0.2.10/24"),
    ("gateway4", "IPv4 gateway", "192.0.2.1 (optional)"),
    ("ipv6", "IPv6 address", "2001:db8::10/64 (optional)"),
    ("gateway6", "IPv6 gateway", "fe80::1 (optional)"),
    ("dns", "DNS servers", "192.0.2.53 2001:db8::53 (optional)"),
)
ADDRESS_CHARACTERS = r"[0-9A-Fa-f.:/ ,\[\]%]*"  # what addresses, prefixes and lists are made of
KEYS = "Enter: apply   Tab or arrows: next field   F3: on-link   Esc: cancel"


def prefilled(interface: Interface, environment: Environment) -> StaticFields:
    """What was applied before on this interface, else its current IPv4 address as a start."""
    record = environment.read_record(interface.name)
    if record is not None:
        values: dict[str, str] = {}
        for text in record.addresses:
            values["ipv6" if ":" in text else "ipv4"] = text
        onlink = False
        for gateway, on_link in record.gateways:
            values["gateway6" if ":" in gateway else "gateway4"] = gateway
            onlink = onlink or on_link
        return StaticFields(interface.name, **values, dns=" ".join(record.dns), onlink=onlink)
    ipv4 = next(
        (
            f"{a.address}/{a.prefixlen}"
            for a in interface.addresses
            if a.family == "ipv4" and a.scope == "global"
        ),
        "",
    )
    return StaticFields(interface.name, ipv4=ipv4)


class StaticForm(ModalScreen[str | None]):
    """Dismisses with the result line once the configuration is applied, None when cancelled."""

    AUTO_FOCUS = "#net-ipv4"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", key_display="Esc"),
        Binding("f3", "toggle_onlink", "On-link", priority=True),
        # Priority: the field changes the moment the key is read, not once the field it was typed
        # in gets to it, so keys typed ahead of a slow machine (read in one go) go where they were
        # meant; as an ordinary binding, Tab waited behind them and they landed in the old field.
        Binding("tab,down", "app.focus_next", "Next field", show=False, priority=True),
        Binding("shift+tab,up", "app.focus_previous", "Previous field", show=False, priority=True),
    ]

    def __init__(self, interface: Interface, environment: Environment) -> None:
        super().__init__()
        self.interface = interface
        self.environment = environment
        self.start = prefilled(interface, environment)
        self.onlink = self.start.onlink
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical(id="net-form") as box:
            box.border_title = f"Static address for {literal(self.interface.name)}"
            yield Static(
                Text.assemble(("Hardware ", "bold"), literal(self.interface.hardware.description), end=""),
                id="net-form-hardware",
                markup=False,
            )
            for name, label, placeholder in FORM:
                with Horizontal(classes="net-field"):
                    yield Static(label, classes="net-label", markup=False)
                    yield Input(
                        getattr(self.start, name),
                        id=f"net-{name}",
                        placeholder=placeholder,
                        restrict=ADDRESS_CHARACTERS,
                        max_length=200,
                    )
                yield Static(id=f"net-{name}-error", classes="net-error", markup=False)
            yield Static(id="net-onlink", markup=False)
            yield Static(id="net-form-status", markup=False)
            yield Static(KEYS, id="net-form-keys", markup=False)

    def on_mount(self) -> None:
        self._show_onlink()
        self._show_errors({})
        self._say("", "")

    def _snapshot(self) -> Snapshot:
        snap: Snapshot = self.app.snapshot  # type: ignore[attr-defined]
        return snap

    def _show_onlink(self) -> None:
        mark = "x" if self.onlink else " "
        self.query_one("#net-onlink", Static).update(
            f"[{mark}] F3: the gateway is on-link even outside the prefix (e.g. a /32)"
        )

    def _show_errors(self, errors: dict[str, str]) -> None:
        for name, _label, _placeholder in FORM:
            line = self.query_one(f"#net-{name}-error", Static)
            line.update(Text(literal(errors.get(name, "")), end=""))
            line.display = name in errors

    def _not_applied(self, errors: dict[str, str]) -> None:
        self._show_errors(errors)
        if "interface" in errors:  # no field of its own: the name came from the kernel
            self._say(f"Not applied: {literal(errors['interface'])}", "error")
        else:
            self._say("Not applied: see under the fields.", "error")

    def _say(self, text: str, kind: str) -> None:
        show_status(self.query_one("#net-form-status", Static), text, kind)

    def fields(self) -> StaticFields:
        values = {name: self.query_one(f"#net-{name}", Input).value for name, _l, _p in FORM}
        return StaticFields(self.interface.name, **values, onlink=self.onlink)

    def action_toggle_onlink(self) -> None:
        self.onlink = not self.onlink
        self._show_onlink()

    def action_cancel(self) -> None:
        if not self.busy:
            self.dismiss(None)

    @on(Input.Submitted)
    def _submit(self) -> None:
        if self.busy:
            return
        fields = self.fields()
        network = self._snapshot().network
        try:
            config = check_static(fields, netapply.in_use(network) if network else None)
        except InvalidConfig as e:
            self._not_applied(e.errors)
            first = next((name for name, _l, _p in FORM if name in e.errors), None)
            if first is not None:
                self.query_one(f"#net-{first}", Input).focus()
            return
        self._show_errors({})
        keep = [str(a.ip) for a in config.addresses]
        lost = netapply.lost_hosts(network, self.interface.name, keep) if network else ()
        if not lost:
            self._apply(fields)
            return
        question = Text.assemble(
            "Apply ",
            (config.describe(), "bold"),
            " to ",
            (literal(self.interface.name), "bold"),
            "?\nThis removes ",
            (", ".join(lost), "bold"),
            ", the only address ssh reaches this machine at:\nssh sessions over it drop.",
            end="",
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._apply(fields)
            else:
                self._say("Not applied.", "")

        self.app.push_screen(ConfirmDialog(question), answered)

    def _apply(self, fields: StaticFields) -> None:
        self.busy = True
        for field in self.query(Input):
            field.disabled = True
        self._say("Applying...", "busy")
        self.run_worker(self._applying(fields), group="net-apply", exit_on_error=False)

    async def _applying(self, fields: StaticFields) -> None:
        try:
            outcome = await asyncio.to_thread(netapply.apply_static, fields, self.environment)
        except InvalidConfig as e:  # the machine changed since the check (an address taken meanwhile)
            self._not_applied(e.errors)
        except NetworkConfigError as e:
            self._say(str(e), "error")
        else:
            self.dismiss("  ".join((outcome.summary, *outcome.notes)))
            return
        finally:
            self.busy = False
        for field in self.query(Input):
            field.disabled = False
