"""The wired network screen through Pilot: the real app (`e` from the main screen), the real network
source on a namespace the test creates, changes applied there for real; DNS in a test file."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import screen_data
from netns import Namespace
from screen_tools import flat, screen_text, wait_for
from terminal_capture import Tmux, console_env
from test_ui_console import CP437
from textual.pilot import Pilot
from textual.widgets import Input

from installer_env import network, qr
from installer_env.netapply import Environment, NoDhcpClient, ResolvConfFile
from installer_env.network import Address, Hardware
from installer_env.session import Snapshot
from installer_env.ui.app import InstallerApp
from installer_env.ui.screens.confirm import ConfirmDialog
from installer_env.ui.screens.main import MainScreen
from installer_env.ui.screens.network import NetworkScreen
from installer_env.ui.screens.network_form import StaticForm
from installer_env.ui.widgets.qr import QrView

CONSOLE = (80, 25)
SnapCompare = Callable[..., bool]


@pytest.fixture
def wired(netns: Namespace) -> Namespace:
    netns.add_veth("eth0", "peer0")
    netns.ip("addr", "add", "198.51.100.1/24", "dev", "peer0")  # the router, on the other end
    return netns


@contextlib.asynccontextmanager
async def running(netns: Namespace, tmp_path: Path) -> AsyncIterator[tuple[InstallerApp, Pilot[None]]]:
    """The app at 80x25 with the network source following `netns`, changes applied there."""
    snap = screen_data.snapshot(network=network.read(netns.name))
    app = screen_data.app(snap, screen_data.config(tmp_path / "state"))
    app.network_environment = Environment(
        tmp_path / "state", netns.name, NoDhcpClient(), ResolvConfFile(tmp_path / "resolv.conf")
    )
    async with app.run_test(size=CONSOLE) as pilot:
        await wait_for(pilot, lambda: "x Quit" in screen_text(app))  # mounted, the footer drawn
        source = asyncio.create_task(network.follow(app.session, netns.name))
        try:
            yield app, pilot
        finally:
            source.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await source


def global_addresses(netns: Namespace) -> list[str]:
    data = json.loads(netns.ip("-j", "addr", "show", "dev", "eth0"))
    return [f"{a['local']}/{a['prefixlen']}" for a in data[0]["addr_info"] if a["scope"] == "global"]


async def open_form(app: InstallerApp, pilot: Pilot[None]) -> StaticForm:
    await pilot.press("e")
    await wait_for(pilot, lambda: isinstance(app.screen, NetworkScreen))
    await wait_for(pilot, lambda: "eth0" in screen_text(app))
    # The list shows eth0 and peer0 (both ends are here); pick eth0.
    while app.screen.interface is None or app.screen.interface.name != "eth0":  # type: ignore[attr-defined]
        await pilot.press("down")
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, StaticForm))
    assert isinstance(app.screen, StaticForm)
    return app.screen


async def fill(pilot: Pilot[None], form: StaticForm, **values: str) -> None:
    for name, value in values.items():
        form.query_one(f"#net-{name}", Input).value = value
    await pilot.pause()


async def test_the_key_is_in_the_footer_and_the_help(wired: Namespace, tmp_path: Path) -> None:
    async with running(wired, tmp_path) as (app, pilot):
        assert "e Wired" in screen_text(app)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: "wired network: addresses per interface" in screen_text(app))


async def test_the_screen_shows_each_wired_interface(wired: Namespace, tmp_path: Path) -> None:
    wired.ip("addr", "add", "203.0.113.5/24", "dev", "eth0")
    async with running(wired, tmp_path) as (app, pilot):
        await pilot.press("e")
        await wait_for(pilot, lambda: "203.0.113.5/24 (static)" in screen_text(app))
        text = screen_text(app)
        assert "Wired network" in text
        assert "cable in" in text
        assert "lo " not in text  # loopback is not a cable
        # The highlighted one in detail: hardware, link, each address with how it came.
        while app.screen.interface.name != "eth0":  # type: ignore[attr-defined]
            await pilot.press("down")
        await wait_for(pilot, lambda: "Hardware  virtual" in screen_text(app))
        text = screen_text(app)
        assert "MAC " in text
        assert "ssh: yes" in text
        assert "link-local" in text
        assert not {ch for ch in text.replace("\n", "") if ch not in CP437}
        # Unplugging the other end shows at once.
        wired.ip("link", "set", "peer0", "down")
        await wait_for(pilot, lambda: "no cable" in screen_text(app))


async def test_bad_input_is_said_under_its_field_and_nothing_changes(
    wired: Namespace, tmp_path: Path
) -> None:
    async with running(wired, tmp_path) as (app, pilot):
        form = await open_form(app, pilot)
        await fill(pilot, form, ipv4="198.51.100.10", gateway4="10.0.0.1", dns="198.51.100.53 x")
        form.query_one("#net-ipv4", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: "add the prefix length after a slash" in screen_text(app))
        text = flat(screen_text(app))
        assert flat("Not applied: see under the fields.") in text
        assert flat("'x' is not an IP address") in text
        assert global_addresses(wired) == []
        # Fixed prefix, gateway still outside: its own words, under the gateway.
        await fill(pilot, form, ipv4="198.51.100.10/24", dns="")
        await pilot.press("enter")
        await wait_for(pilot, lambda: flat("10.0.0.1 is outside 198.51.100.0/24") in flat(screen_text(app)))
        assert form.query_one("#net-gateway4", Input).has_focus
        assert form.query_one("#net-gateway4", Input).value == "10.0.0.1"  # what was typed stays
        assert global_addresses(wired) == []
        # The provider's word: on-link. F3 marks it, and then it applies, with an on-link route.
        await pilot.press("f3")
        assert flat("[x] F3: the gateway is on-link") in flat(screen_text(app))
        await pilot.press("up")
        assert form.query_one("#net-ipv4", Input).has_focus
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, NetworkScreen), timeout=15)
        assert global_addresses(wired) == ["198.51.100.10/24"]
        route = json.loads(wired.ip("-j", "route", "show", "default"))
        assert [(r["gateway"], r["flags"]) for r in route] == [("10.0.0.1", ["onlink"])]
        assert not {ch for ch in screen_text(app).replace("\n", "") if ch not in CP437}


async def test_static_applied_reaches_the_main_screen_and_the_qr_code(
    wired: Namespace, tmp_path: Path
) -> None:
    async with running(wired, tmp_path) as (app, pilot):
        form = await open_form(app, pilot)
        await fill(pilot, form, ipv4="198.51.100.10/24", gateway4="198.51.100.1", dns="198.51.100.53")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, NetworkScreen), timeout=15)
        await wait_for(pilot, lambda: "eth0: static 198.51.100.10/24 via 198.51.100.1" in screen_text(app))
        assert global_addresses(wired) == ["198.51.100.10/24"]
        assert (tmp_path / "resolv.conf").read_text().endswith("nameserver 198.51.100.53\n")
        await wait_for(pilot, lambda: flat("static, from this screen") in flat(screen_text(app)))

        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        await wait_for(pilot, lambda: "198.51.100.10" in screen_text(app))
        assert "198.51.100.10" in app.session.snapshot.network.offered  # type: ignore[union-attr]
        await pilot.press("q")
        await wait_for(pilot, lambda: bool(app.screen.query(QrView)))
        fitted = app.presentation.fit_qr()  # the code the QR screen draws
        assert isinstance(fitted, qr.Fitted)
        assert "198.51.100.10" in json.loads(fitted.code.payload)["addrs"]


async def test_losing_the_only_address_asks_first(wired: Namespace, tmp_path: Path) -> None:
    wired.ip("addr", "add", "203.0.113.5/24", "dev", "eth0")
    wired.ip("link", "set", "peer0", "down")  # peer0 must not offer an address of its own
    wired.ip("addr", "flush", "dev", "peer0")
    wired.ip("link", "set", "peer0", "up")
    async with running(wired, tmp_path) as (app, pilot):
        await wait_for(
            pilot,
            lambda: (
                "203.0.113.5"
                in (app.session.snapshot.network.offered if app.session.snapshot.network else ())
            ),
        )
        form = await open_form(app, pilot)
        assert form.query_one("#net-ipv4", Input).value == "203.0.113.5/24"  # a start: what it has now
        await fill(pilot, form, ipv4="198.51.100.10/24")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        text = flat(screen_text(app))
        assert flat("This removes 203.0.113.5, the only address ssh reaches this machine at") in text
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, StaticForm))
        assert global_addresses(wired) == ["203.0.113.5/24"]
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, NetworkScreen), timeout=15)
        assert global_addresses(wired) == ["198.51.100.10/24"]

        # Back to DHCP asks again: the static address is the only one.
        await wait_for(
            pilot,
            lambda: (
                "198.51.100.10"
                in (app.session.snapshot.network.offered if app.session.snapshot.network else ())
            ),
        )
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert flat("back to DHCP?") in flat(screen_text(app))
        await pilot.press("y")
        await wait_for(pilot, lambda: "no DHCP client runs here" in screen_text(app), timeout=15)
        assert global_addresses(wired) == []


# --- pictures: fixed content, no namespace, so a picture changes only when the screen does ----------

INTEL = Hardware(
    bus="pci",
    vendor="Intel Corporation",
    model="I211 Gigabit Network Connection",
    ids="8086:1539",
    driver="igb",
)
REALTEK = Hardware(bus="usb", vendor="Realtek", model="USB 10/100/1000 LAN", ids="0bda:8153", driver="r8152")


def picture_snapshot() -> Snapshot:
    def address(text: str, prefixlen: int, origin: str, scope: str = "global") -> Address:
        family = "ipv6" if ":" in text else "ipv4"
        return Address(text, prefixlen, family, scope, (), offered=scope == "global", origin=origin)

    eth0 = dataclasses.replace(
        screen_data.interface("enp3s0"),
        hardware=INTEL,
        addresses=(
            address("192.168.1.5", 24, "DHCP"),
            address("2001:db8:1::5", 64, "RA"),
            address("fe80::5054:ff:fe12:3456", 64, "link-local", "link"),
        ),
    )
    eth1 = dataclasses.replace(
        screen_data.interface("enx00e04c680001", index=3), hardware=REALTEK, carrier=False, addresses=()
    )
    return screen_data.snapshot(network=screen_data.network(eth0, eth1))


def picture_app() -> InstallerApp:
    return screen_data.app(picture_snapshot())


def test_picture_network_screen(snap_compare: SnapCompare) -> None:
    assert snap_compare(picture_app(), terminal_size=CONSOLE, press=["e"])


def test_picture_static_form_with_errors(snap_compare: SnapCompare) -> None:
    keys = ["e", "enter", "down", *"10.0.0.1", "down", *"2001:db8:1::5", "enter"]
    assert snap_compare(picture_app(), terminal_size=CONSOLE, press=keys)


async def test_a_hostile_interface_name_is_shown_escaped_and_refused(
    wired: Namespace, tmp_path: Path
) -> None:
    hostile = "x\x1b[2Jy"  # the kernel allows ESC in a name: it must never reach the terminal
    wired.ip("link", "add", hostile, "type", "veth", "peer", "name", "p9")
    async with running(wired, tmp_path) as (app, pilot):
        await pilot.press("e")
        await wait_for(pilot, lambda: "x\\x1b[2Jy" in screen_text(app))
        assert "\x1b" not in screen_text(app)
        while app.screen.interface.name != hostile:  # type: ignore[attr-defined]
            await pilot.press("down")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, StaticForm))
        form = app.screen
        assert isinstance(form, StaticForm)
        await fill(pilot, form, ipv4="192.0.2.10/24")
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: flat("Not applied: an interface name has no slashes, colons") in flat(screen_text(app)),
        )
        assert "inet " not in wired.ip("addr", "show", "dev", hostile)  # nothing was added


@pytest.mark.skipif(not shutil.which("tmux"), reason="needs tmux")
def test_keys_on_a_linux_console(wired: Namespace, tmp_path: Path) -> None:
    """The demo in tmux with TERM=linux, inside the test's namespace: `e`, the arrows, Enter and F3
    as a console sends them; the demo checks the form but applies nothing."""
    wired.ip("addr", "add", "203.0.113.5/24", "dev", "eth0")
    env = console_env(tmp_path)
    before = json.loads(wired.ip("-j", "route"))
    tmux = Tmux(f"installer-env-net-{os.getpid()}", *CONSOLE)
    try:
        command = [sys.executable, "-m", "installer_env", "demo", "--state-dir", str(tmp_path / "state")]
        tmux.start([*wired.enter(), *command], env)
        tmux.wait_for("e Wired")
        tmux.keys("e")
        tmux.wait_for("Wired network")
        if "─ eth0 ─" not in tmux.wait_for("Addresses"):
            tmux.keys("Down")
        tmux.wait_for("─ eth0 ─")
        tmux.keys("Enter")
        tmux.wait_for("Static address for eth0")
        assert "203.0.113.5/24" in tmux.capture()  # what eth0 has now, as a start
        wait_focused(tmux, "IPv4 address")
        tmux.keys("Down")
        wait_focused(tmux, "IPv4 gateway")
        tmux.keys("-l", "10.0.0.1")
        tmux.keys("Enter")
        tmux.wait_for("10.0.0.1 is outside 203.0.113.0/24")
        tmux.keys("F3")
        tmux.wait_for("[x] F3")
        tmux.keys("Enter")
        tmux.wait_for("demo: nothing is applied to this machine")
        assert json.loads(wired.ip("-j", "route")) == before
        tmux.keys("Escape")
        tmux.wait_for("Interfaces (Enter")
        tmux.keys("Escape")
        tmux.wait_for("n New password")
    finally:
        tmux.close()


def wait_focused(tmux: Tmux, label: str, timeout: float = 30.0) -> None:
    """Until the field after `label` has the focused colour (cyan): keys typed now go into it."""
    deadline = time.monotonic() + timeout
    while True:
        line = next((x for x in tmux.capture(colours=True).splitlines() if label in x), "")
        if "\x1b[46m" in line:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the {label} field never had the focus:\n{tmux.capture()}")
        time.sleep(0.1)
