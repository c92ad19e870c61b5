"""The Wi-Fi screen, driven by its keys against the fake iwd on a private dbus-daemon.

The app is the real one (`w` from the main screen); only the system bus is the test's own, through
DBUS_SYSTEM_BUS_ADDRESS, as on a machine whose iwd is the fake.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import screen_data
from conftest import HOME_PASSPHRASE
from fake_iwd import AccessPoint, FakeIwd, PrivateBus
from rich.cells import cell_len
from rich.color import Color, ColorType
from screen_tools import flat, screen_text, strips, wait_for
from terminal_capture import Tmux, console_env
from test_ui_console import CP437
from textual import events, on
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Input

from installer_env.session import Session
from installer_env.state import StateStore
from installer_env.ui import app as app_module
from installer_env.ui.app import InstallerApp
from installer_env.ui.screens.main import MainScreen
from installer_env.ui.screens.wifi import WifiScreen
from installer_env.ui.screens.wifi_connect import ConfirmDialog, ConnectDialog
from installer_env.ui.widgets.passphrase import PassphraseInput
from installer_env.ui.widgets.wifi_lists import KnownList, NetworkList, network_row, signal_bars
from installer_env.wifi import IwdClient, WifiNetwork
from installer_env.wifi.source import follow

SMALL, MEDIUM = (80, 24), (100, 37)
PASS = HOME_PASSPHRASE
MARKUP = "[bold red]x[/]"
ANSI = "\x1b[31mred"
OSC = "\x1b]0;pwned\x07"
RTL = "abc\u202edef"
LONG = "L" * 31 + "Z"  # 32 bytes, the longest SSID there is


@pytest.fixture
def system_bus(bus: PrivateBus, monkeypatch: pytest.MonkeyPatch) -> PrivateBus:
    """The private bus stands in for the system bus of the app under test."""
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address)
    return bus


def wifi_app() -> InstallerApp:
    return screen_data.app(cfg=screen_data.config(wifi_enabled=True))


def follow_wifi(app: App[Any], make: Callable[[], IwdClient] = IwdClient) -> None:
    """The session's Wi-Fi source, which the app of these tests does not start by itself (it runs
    no sources); the Wi-Fi screen shows what it publishes."""
    assert isinstance(app, InstallerApp)
    app.run_worker(follow(app.session, make, retry=0.2), group="wifi-source", exit_on_error=False)


async def open_wifi(pilot: Pilot[Any], scanned: int | None = 4) -> WifiScreen:
    """`w` from the main screen; with `scanned`, until the first scan found that many networks."""
    follow_wifi(pilot.app)
    await pilot.press("w")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, WifiScreen))
    screen = pilot.app.screen
    assert isinstance(screen, WifiScreen)
    if scanned is not None:
        words = f"Scan done: {scanned} network{'' if scanned == 1 else 's'} in range."
        await wait_for(pilot, lambda: words in screen_text(pilot.app))
        # The list is the snapshot's: the session's source brings the scan a moment later.
        await wait_for(pilot, lambda: screen.device is not None and len(screen.device.networks) == scanned)
    return screen


async def highlight(pilot: Pilot[Any], ssid: str) -> None:
    """Arrow keys down the network list until `ssid` is highlighted, as a person would."""
    screen = pilot.app.screen
    assert isinstance(screen, WifiScreen)
    networks = screen.query_one(NetworkList)
    await pilot.press("home")
    for _ in range(networks.option_count):
        option = networks.highlighted_option
        if option is not None and any(
            n.path == option.id and n.ssid == ssid for n in (screen.device.networks if screen.device else ())
        ):
            return
        await pilot.press("down")
    raise AssertionError(f"{ssid!r} is not in the list:\n{screen_text(pilot.app)}")


async def type_text(pilot: Pilot[Any], text: str) -> None:
    await pilot.press(*text)


async def submit_passphrase(pilot: Pilot[Any], ssid: str, passphrase: str) -> None:
    """Pick `ssid` in the list, type `passphrase` in the connect dialog and press Enter."""
    await highlight(pilot, ssid)
    await pilot.press("enter")
    await type_text(pilot, passphrase)
    await pilot.press("enter")


def dialog(app: App[Any]) -> ConnectDialog:
    assert isinstance(app.screen, ConnectDialog), screen_text(app)
    return app.screen


# ---------------------------------------------------------------- opening, scanning, the lists


async def test_w_opens_the_screen_which_scans_and_lists_networks(
    iwd: FakeIwd, system_bus: PrivateBus
) -> None:
    app = wifi_app()
    async with app.run_test(size=SMALL) as pilot:
        await open_wifi(pilot)
        text = screen_text(app)
        assert "Device wlan0  adapter phy0 (Fake 802.11 radio)  on  disconnected" in text
        lines = text.splitlines()
        rows = {line.split()[1]: line for line in lines if line.startswith("║ ") and "dBm" in line}
        assert f"WPA       {signal_bars(4)}  -45 dBm" in rows["home"]
        assert f"open      {signal_bars(2)}  -70 dBm" in rows["cafe"]
        assert f"802.1X    {signal_bars(3)}  -62 dBm" in rows["office"]
        assert f"WPA       {signal_bars(0)}  -90 dBm" in rows["far"]
        assert signal_bars(3) == "███░"
        # iwd's order (strongest first), then the way to a hidden network.
        order = [line.split()[1] for line in lines if line.startswith("║ ") and "dBm" in line]
        assert order == ["home", "office", "cafe", "far"]
        assert "Other network (hidden: type its name)..." in text
        assert iwd.state.calls.count("Scan") == 1
        footer = lines[-1]
        for key in ("Enter Connect", "Esc Back", "r Scan", "h Hidden", "? Help", "x Quit"):
            assert key in footer
        assert "New password" not in footer  # the main screen's keys are one Esc away
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_scan_shows_that_it_is_scanning(iwd: FakeIwd, system_bus: PrivateBus) -> None:
    app = wifi_app()
    async with app.run_test(size=SMALL) as pilot:
        await open_wifi(pilot)
        iwd.state.scan_delay = 1.0
        iwd.air.append(AccessPoint("new one", "open", signal_dbm=-30))
        await pilot.press("r")
        await wait_for(pilot, lambda: "Scanning..." in screen_text(app))
        assert "new one" not in screen_text(app)
        await wait_for(pilot, lambda: "Scan done: 5 networks in range." in screen_text(app))
        assert "Scanning..." not in screen_text(app)
        # The list is the snapshot's: the session's source brings the new scan a moment later.
        await wait_for(pilot, lambda: "new one" in screen_text(app))


async def test_wifi_helper_switched_off_says_so(system_bus: PrivateBus) -> None:
    app = screen_data.app(cfg=screen_data.config(wifi_enabled=False))
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("w")
        await wait_for(pilot, lambda: "The Wi-Fi helper is off" in screen_text(app))
        assert isinstance(app.screen, MainScreen)


async def test_the_screen_reads_the_snapshot_and_watches_nothing_itself(
    iwd: FakeIwd, system_bus: PrivateBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    watches = 0
    original = IwdClient.watch

    def counted(self: IwdClient, **kw: Any) -> Any:
        nonlocal watches
        watches += 1
        return original(self, **kw)

    monkeypatch.setattr(IwdClient, "watch", counted)
    app = wifi_app()
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_wifi(pilot)
        assert watches == 1  # the session's source; the screen has none of its own
        assert isinstance(app, InstallerApp)
        assert screen.status == app.snapshot.wifi
        iwd.add_adapter()
        await wait_for(pilot, lambda: flat("+1 more, a: next") in flat(screen_text(app)))
        assert screen.status == app.snapshot.wifi
        assert watches == 1


async def test_an_unexpected_error_in_an_operation_frees_the_keys(
    iwd: FakeIwd, system_bus: PrivateBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = wifi_app()
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_wifi(pilot)

        async def broken(*args: Any, **kw: Any) -> Any:
            raise RuntimeError("the bus library broke")

        monkeypatch.setattr(screen.client, "scan", broken)
        await pilot.press("r")
        await wait_for(pilot, lambda: "failed unexpectedly (RuntimeError" in screen_text(app))
        assert screen.busy is None
        monkeypatch.undo()
        await pilot.press("r")  # not "Wait: still scanning"
        await wait_for(pilot, lambda: "Scan done: 4 networks in range." in screen_text(app))


# ---------------------------------------------------------------- connecting


async def test_wpa_network_with_passphrase_masked_shown_and_connected(
    iwd: FakeIwd, system_bus: PrivateBus, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app = wifi_app()
    async with app.run_test(size=SMALL) as pilot:
        await open_wifi(pilot)
        await highlight(pilot, "home")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConnectDialog))
        assert "Network   home" in screen_text(app)
        assert f"Security  WPA   {signal_bars(4)} -45 dBm" in screen_text(app)
        await type_text(pilot, PASS)
        field = app.screen.query_one(PassphraseInput)
        assert field.value == PASS
        masked = "*" * len(PASS)
        assert masked in screen_text(app)
        assert PASS not in screen_text(app)
        assert "Passphrase (hidden: F2 shows it)" in screen_text(app)
        await pilot.press("f2")
        assert PASS in screen_text(app)
        assert "Passphrase (shown: F2 hides it)" in screen_text(app)
        await pilot.press("ctrl+t")
        assert PASS not in screen_text(app)
        assert masked in screen_text(app)
        assert PASS not in repr(field)
        assert PASS not in repr(PassphraseInput.Changed(field, PASS))
        assert PASS not in repr(PassphraseInput.Submitted(field, PASS))
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Connected to home." in screen_text(app))
        assert isinstance(app.screen, WifiScreen)
        # The device line and the lists are the snapshot's: they follow the result a moment later.
        await wait_for(pilot, lambda: "on  connected to home" in screen_text(app))
        await wait_for(pilot, lambda: "Known networks" in screen_text(app))
        text = screen_text(app)
        assert "connected" in next(line for line in text.splitlines() if "║ home" in line)
        assert "Known networks" in text
        assert iwd.state.passphrases_received == [PASS]
        # Gone with the dialog: not on the screen, not in the screen's state, not in the logs.
        assert PASS not in text
        assert masked not in text
        assert PASS not in repr(vars(app.screen))
        assert not app.screen.query(PassphraseInput)
    assert PASS not in caplog.text


async def test_too_short_passphrase_is_refused_before_anything_is_sent(
    iwd: FakeIwd, system_bus: PrivateBus
) -> None:
    app = wifi_app()
    async with app.run_test(size=SMALL) as pilot:
        await open_wifi(pilot)
        await submit_passphrase(pilot, "home", "short")
        await wait_for(
            pilot, lambda: flat("has 8 to 63 characters; this one has 5.") in flat(screen_text(app))
        )
        assert dialog(app).query_one(PassphraseInput).value == "short"
        assert "Connect" not in iwd.state.calls
        assert iwd.state.agent_requests == []


async def test_wrong_passphrase_says_so_and_keeps_the_dialog_and_what_was_typed(
    iwd: FakeIwd, system_bus: PrivateBus
) -> None:
    app = wifi_app()
    async with app.run_test(size=SMALL) as pilot:
        await open_wifi(pilot)
        await submit_passphrase(pilot, "home", "not the passphrase")
        await wait_for(pilot, lambda: "Wrong passphrase" in screen_text(app))
        assert flat("the network refused it (handshake failed)") in flat(screen_text(app))
        field = dialog(app).query_one(PassphraseInput)
        assert field.value == "not the passphrase"
        assert field.has_focus
        assert not field.disabled
        # The person clears it (Ctrl-U) and types the right one.
        await pilot.press("end", "ctrl+u")
        assert field.value == ""
        await type_text(pilot, PASS)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Connected to home." in screen_text(app))
        assert iwd.state.passphrases_received == ["not the passphrase", PASS]


async def test_open_network_connects_without_a_dialog(iwd: FakeIwd, system_bus: PrivateBus) -> None:
    app = wifi_app()
    async with app.run_test(size=SMALL) as pilot:
        await open_wifi(pilot)
        iwd.state.connect_delay = 2.0  # long enough to be seen on a busy machine
        await highlight(pilot, "cafe")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Connecting to cafe...  Esc: cancel" in screen_text(app))
        assert isinstance(app.screen, WifiScreen)
        await wait_for(pilot, lambda: "Connected to cafe." in screen_text(app))
        assert iwd.state.agent_requests == []
        await wait_for(pilot, lambda: "on  connected to cafe" in screen_text(app))


async def test_known_network_whose_passphrase_changed_says_how_to_go_on(
    iwd: FakeIwd, system_bus: PrivateBus
) -> None:
    iwd.add_known(iwd.air[0], "the old passphrase")
    app = wifi_app()
    async with app.run_test(size=SMALL) as pilot:
        await open_wifi(pilot)
        await highlight(pilot, "home")
        await pilot.press("enter")  # known: iwd uses the saved passphrase, no dialog
        await wait_for(pilot, lambda: "f forgets it" in screen_text(app))
        assert isinstance(app.screen, WifiScreen)
        assert iwd.state.agent_requests == []
        await pilot.press("f", "y")
        await wait_for(pilot, lambda: "Forgot home." in screen_text(app))
        await highlight(pilot, "home")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConnectDialog))
        await type_text(pilot, PASS)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Connected to home." in screen_text(app))


async def test_enterprise_network_is_refused_in_words(iwd: FakeIwd, system_bus: PrivateBus) -> None:
    app = wifi_app()
    async with app.run_test(size=SMALL) as pilot:
        await open_wifi(pilot)
        await highlight(pilot, "office")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "802.1X/enterprise" in screen_text(app))
        assert isinstance(app.screen, WifiScreen)
        assert "Connect" not in iwd.state.calls


async def test_hidden_network_by_name_from_the_key_and_from_the_list(
    iwd: FakeIwd, system_bus: PrivateBus
) -> None:
    iwd.air.append(AccessPoint("attic", "psk", "attic-secret", signal_dbm=-55, hidden=True))
    app = wifi_app()
    async with app.run_test(size=SMALL) as pilot:
        await open_wifi(pilot)
        assert "attic" not in screen_text(app)
        # The list's last entry opens the same dialog as `h`.
        await pilot.press("end", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConnectDialog))
        assert dialog(app).hidden
        await pilot.press("escape")
        assert isinstance(app.screen, WifiScreen)
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, ConnectDialog))
        assert "Network name (SSID)" in screen_text(app)
        await pilot.press("enter")  # no name yet
        await wait_for(pilot, lambda: "A network name has 1 to 32 bytes." in screen_text(app))
        await type_text(pilot, "cellar")
        await pilot.press("tab")
        await type_text(pilot, "attic-secret")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "not found" in screen_text(app))
        ssid = dialog(app).query_one("#wifi-ssid", Input)
        assert ssid.has_focus  # the name was wrong: back to it, the passphrase kept
        assert dialog(app).query_one(PassphraseInput).value == "attic-secret"
        await pilot.press(*["backspace"] * 6)
        await type_text(pilot, "attic")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Connected to attic." in screen_text(app))
        known = app.screen.query_one(KnownList)
        await wait_for(pilot, lambda: known.option_count == 1)
        assert "attic" in screen_text(app)
        assert "hidden" in screen_text(app)


async def test_keys_typed_ahead_land_in_the_fields_they_were_typed_for(
    iwd: FakeIwd, system_bus: PrivateBus
) -> None:
    """A slow machine reads a fast typist's keys in one go: Tab moves to the passphrase before the
    keys after it are handed on, so the passphrase never ends up in the name."""
    iwd.air.append(AccessPoint("attic", "psk", "attic-secret", signal_dbm=-55, hidden=True))
    app = wifi_app()
    async with app.run_test(size=SMALL) as pilot:
        await open_wifi(pilot)
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, ConnectDialog))
        driver = app._driver
        assert driver is not None
        for key in [*"attic", "tab", *"attic-secret", "shift+tab", "end", "down"]:
            event = events.Key(key, key if len(key) == 1 else None)  # one read of the terminal
            event.set_sender(app)
            driver.send_message(event)
        connect = dialog(app)
        await wait_for(pilot, lambda: connect.query_one(PassphraseInput).has_focus)
        await pilot.pause()
        assert connect.query_one("#wifi-ssid", Input).value == "attic"
        assert connect.query_one(PassphraseInput).value == "attic-secret"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Connected to attic." in screen_text(app))


async def test_forget_asks_first_then_forgets(iwd: FakeIwd, system_bus: PrivateBus) -> None:
    iwd.add_known(iwd.air[0], PASS)  # "home" was connected before
    app = wifi_app()
    async with app.run_test(size=SMALL) as pilot:
        await open_wifi(pilot)
        assert "Known networks" in screen_text(app)
        home_row = next(line for line in screen_text(app).splitlines() if "║ home" in line)
        assert "known" in home_row
        await pilot.press("tab")  # to the known networks
        assert app.screen.query_one(KnownList).has_focus
        assert "f Forget" in screen_text(app).splitlines()[-1]
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert "Forget home?" in screen_text(app)
        await pilot.press("n")
        assert isinstance(app.screen, WifiScreen)
        assert "Forget" not in iwd.state.calls
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: "Forgot home." in screen_text(app))
        assert iwd.state.calls.count("Forget") == 1
        assert iwd.known == {}
        await wait_for(pilot, lambda: "Known networks" not in screen_text(app))


async def test_forget_from_the_network_list_and_disconnect(iwd: FakeIwd, system_bus: PrivateBus) -> None:
    app = wifi_app()
    async with app.run_test(size=SMALL) as pilot:
        await open_wifi(pilot)
        await highlight(pilot, "cafe")
        assert "f Forget" not in screen_text(app).splitlines()[-1]  # not known: nothing to forget
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Connected to cafe." in screen_text(app))
        await highlight(pilot, "cafe")
        footer = screen_text(app).splitlines()[-1]
        assert "d Disconnect" in footer
        assert "f Forget" in footer
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert "ssh sessions over this Wi-Fi will drop" in screen_text(app)
        await pilot.press("y")
        await wait_for(pilot, lambda: "Disconnected from cafe." in screen_text(app))
        await wait_for(pilot, lambda: "on  disconnected" in screen_text(app))
        await highlight(pilot, "cafe")
        await pilot.press("f", "y")
        await wait_for(pilot, lambda: "Forgot cafe." in screen_text(app))
        assert iwd.known == {}


async def test_cancel_while_connecting(iwd: FakeIwd, system_bus: PrivateBus) -> None:
    app = wifi_app()
    async with app.run_test(size=SMALL) as pilot:
        await open_wifi(pilot)
        iwd.state.connect_delay = 10.0
        await submit_passphrase(pilot, "home", PASS)
        await wait_for(pilot, lambda: "Connecting to home...  Esc: cancel" in screen_text(app))
        assert dialog(app).query_one(PassphraseInput).disabled
        await pilot.press("escape")
        await wait_for(pilot, lambda: "The connection attempt was cancelled." in screen_text(app))
        assert "Disconnect" in iwd.state.calls
        assert dialog(app).query_one(PassphraseInput).value == PASS  # kept for another try
        await pilot.press("escape")
        assert isinstance(app.screen, WifiScreen)
        await wait_for(pilot, lambda: "on  disconnected" in screen_text(app))
        # An open network connects without the dialog: Esc on the screen cancels it.
        await highlight(pilot, "cafe")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Connecting to cafe" in screen_text(app))
        await pilot.press("escape")
        await wait_for(pilot, lambda: "The connection attempt was cancelled." in screen_text(app))
        assert isinstance(app.screen, WifiScreen)  # Esc cancelled; it did not leave
        assert iwd.known == {}


# ---------------------------------------------------------------- live changes and problems


async def test_adapter_plugged_in_and_out_while_the_screen_is_open(
    iwd: FakeIwd, system_bus: PrivateBus
) -> None:
    app = wifi_app()
    async with app.run_test(size=SMALL) as pilot:
        await open_wifi(pilot)
        dongle = iwd.add_adapter("wlx001122")
        await wait_for(pilot, lambda: "(+1more,a:next)" in flat(screen_text(app)))
        # The footer follows the new key a refresh later.
        await wait_for(pilot, lambda: "a Next adapter" in screen_text(app).splitlines()[-1])
        await pilot.press("a")
        await wait_for(pilot, lambda: "Device wlx001122" in screen_text(app))
        await pilot.press("r")
        await wait_for(pilot, lambda: "Scan done: 4 networks in range." in screen_text(app))
        iwd.remove_adapter(dongle)
        await wait_for(pilot, lambda: "Device wlan0" in screen_text(app))
        assert "more,a:next" not in flat(screen_text(app))
        iwd.remove_adapter(next(iter(iwd.stations.values())))
        await wait_for(pilot, lambda: "No Wi-Fi adapter" in screen_text(app))
        assert "Plug in a USB Wi-Fi adapter" in screen_text(app)
        assert "Networks" not in screen_text(app)
        iwd.add_adapter()
        await wait_for(pilot, lambda: "Device wlan" in screen_text(app) and "Networks" in screen_text(app))


async def test_power_on_when_the_device_is_off(iwd: FakeIwd, system_bus: PrivateBus) -> None:
    station = next(iter(iwd.stations.values()))
    station.set_powered(False)
    next(iter(iwd.adapters.values())).powered = False
    app = wifi_app()
    async with app.run_test(size=SMALL) as pilot:
        await open_wifi(pilot, scanned=None)
        await wait_for(pilot, lambda: "(Fake 802.11 radio)  off  p: switch it on" in screen_text(app))
        await wait_for(pilot, lambda: "p Power on" in screen_text(app).splitlines()[-1])
        assert "Scan" not in iwd.state.calls  # looking changes nothing
        await pilot.press("p")
        await wait_for(pilot, lambda: "Scan done: 4 networks in range." in screen_text(app))
        assert station.powered
        await wait_for(pilot, lambda: "p Power on" not in screen_text(app).splitlines()[-1])


async def test_iwd_restarting_is_followed(iwd: FakeIwd, system_bus: PrivateBus) -> None:
    app = wifi_app()
    async with app.run_test(size=SMALL) as pilot:
        await open_wifi(pilot)
        await iwd.stop()
        await wait_for(pilot, lambda: "iwd (the Wi-Fi service) is not" in screen_text(app))
        assert flat("Start it with: systemctl start iwd") in flat(screen_text(app))
        assert "Networks" not in screen_text(app)
        await iwd.start()
        await wait_for(pilot, lambda: "Device wlan0" in screen_text(app) and "Networks" in screen_text(app))
        await pilot.press("r")
        await wait_for(pilot, lambda: "Scan done: 4 networks in range." in screen_text(app))
        await submit_passphrase(pilot, "home", PASS)  # the agent registers again with the new iwd
        await wait_for(pilot, lambda: "Connected to home." in screen_text(app))


def client_screen(make: Callable[[], IwdClient]) -> Callable[[Pilot[Any]], Any]:
    """The Wi-Fi screen with the source and the screen's client both made by `make`."""

    async def push(pilot: Pilot[Any]) -> None:
        follow_wifi(pilot.app, make)
        await pilot.app.push_screen(WifiScreen(make()))

    return push


@pytest.mark.parametrize(
    ("where", "title", "words"),
    [
        ("no-iwd", "iwd is not installed", "networking.wireless.iwd.enable = true"),
        ("iwd-stopped", "iwd is not running", "Start it with: systemctl start iwd"),
        ("denied", "No permission", "run this as root"),
        ("no-bus", "No system D-Bus", "Is dbus running?"),
    ],
)
async def test_clear_screens_when_wifi_cannot_be_used(
    where: str, title: str, words: str, bus: PrivateBus, tmp_path: Path
) -> None:
    iwd_binary = tmp_path / "iwd"
    iwd_binary.write_text("")
    denying: PrivateBus | None = None
    fake: FakeIwd | None = None
    make: Callable[[], IwdClient]
    if where == "no-iwd":
        make = lambda: IwdClient(bus.address, iwd_paths=())  # noqa: E731
    elif where == "iwd-stopped":
        make = lambda: IwdClient(bus.address, iwd_paths=(str(iwd_binary),))  # noqa: E731
    elif where == "denied":
        (tmp_path / "deny").mkdir()
        denying = PrivateBus(tmp_path / "deny", deny_iwd=True)
        denying.start()
        fake = FakeIwd(denying.address)
        await fake.start()
        make = lambda: IwdClient(denying.address)  # noqa: E731
    else:
        make = lambda: IwdClient(f"unix:path={tmp_path}/no-such-socket")  # noqa: E731
    app = wifi_app()
    try:
        async with app.run_test(size=SMALL) as pilot:
            await client_screen(make)(pilot)
            await wait_for(pilot, lambda: title in screen_text(app))
            text = flat(screen_text(app))
            assert flat(words) in text
            assert "Esc: back" in screen_text(app)
            assert "Networks" not in screen_text(app)
            await wait_for(pilot, lambda: "Esc Back" in screen_text(app).splitlines()[-1])
            assert "r Scan" not in screen_text(app).splitlines()[-1]
            await pilot.press("r")  # disabled: nothing happens, nothing breaks
            await pilot.press("escape")
            assert isinstance(app.screen, MainScreen)
    finally:
        if fake is not None:
            await fake.stop()
        if denying is not None:
            denying.stop()


# ---------------------------------------------------------------- hostile names


HOSTILE = [MARKUP, ANSI, OSC, RTL, LONG]


@pytest.mark.parametrize("size", [SMALL, MEDIUM], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_hostile_ssids_are_shown_literally(
    size: tuple[int, int], iwd: FakeIwd, system_bus: PrivateBus
) -> None:
    iwd.air = [AccessPoint(ssid, "open", signal_dbm=-40 - i) for i, ssid in enumerate(HOSTILE)]
    iwd.air.append(AccessPoint(OSC + "psk", "psk", PASS, signal_dbm=-80))
    app = wifi_app()
    async with app.run_test(size=size) as pilot:
        await open_wifi(pilot, scanned=6)
        text = screen_text(app)
        for shown in (MARKUP, "\\x1b[31mred", "\\x1b]0;pwned\\x07", "abc\\u202edef", LONG):
            assert shown in text, shown
        for raw in ("\x1b", "\x07", "\u202e"):
            assert raw not in text
        assert len(text.splitlines()) == size[1]
        # Each row is one line, with its security and signal columns where they belong.
        rows = [line for line in text.splitlines() if "dBm" in line]
        assert len(rows) == 6
        assert len({line.index("dBm") for line in rows}) == 1
        # Connecting shows the name literally in the result, and the dialog does too.
        await highlight(pilot, MARKUP)
        await pilot.press("enter")
        await wait_for(pilot, lambda: f"Connected to {MARKUP}." in screen_text(app))
        await highlight(pilot, OSC + "psk")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConnectDialog))
        assert "Network   \\x1b]0;pwned\\x07psk" in screen_text(app)
        assert "\x1b" not in screen_text(app)


async def test_an_ssid_too_wide_for_its_column_is_cut_with_dots_and_whole_in_the_dialog(
    iwd: FakeIwd, system_bus: PrivateBus
) -> None:
    wide = "\x1b" * 16 + "end"  # 19 bytes, 67 characters once made visible
    iwd.air = [AccessPoint(wide, "psk", PASS, signal_dbm=-50)]
    app = wifi_app()
    async with app.run_test(size=SMALL) as pilot:
        await open_wifi(pilot, scanned=1)
        row = next(line for line in screen_text(app).splitlines() if "dBm" in line)
        assert "\\x1b\\x1b" in row
        assert "...  WPA" in row
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConnectDialog))
        assert "\\x1b" * 16 + "end" in flat(screen_text(app))


def test_rows_keep_their_columns_for_any_name() -> None:
    """Names D-Bus cannot carry still render safely: undecodable bytes (as surrogate escapes),
    wide characters, an empty name."""
    names = ["caf\udce9", "\u7121\u7dda" * 5, "", "x" * 80, MARKUP]
    rows = [
        network_row(WifiNetwork(f"/n/{i}", name, "psk", -61.0, False, False), 30).plain
        for i, name in enumerate(names)
    ]
    assert rows[0].startswith("caf\\udce9 ")
    assert rows[3].startswith("x" * 27 + "...")
    assert rows[4].startswith(MARKUP)
    assert {cell_len(row[: row.index("WPA")]) for row in rows} == {32}  # 30 + the gap, every row
    assert all(f"WPA       {signal_bars(3)}  -61 dBm" in row for row in rows)


# ---------------------------------------------------------------- console font and colours


def outside_the_console_font(app: App[Any]) -> set[str]:
    return {ch for ch in screen_text(app).replace("\n", "") if ch not in CP437}


def colours(app: App[Any]) -> set[Color]:
    found = set()
    for strip in strips(app):
        for segment in strip:
            if segment.style is not None:
                found |= {c for c in (segment.style.color, segment.style.bgcolor) if c is not None}
    return found


def non_ansi_colours(app: App[Any]) -> set[str]:
    """Colours that are not one of the 16 ANSI ones (or the terminal's default)."""
    assert any(c.type == ColorType.STANDARD for c in colours(app))  # the check sees colours at all
    return {str(c) for c in colours(app) if c.type not in (ColorType.DEFAULT, ColorType.STANDARD)}


VIEWS: dict[str, tuple[str, ...]] = {
    "list": (),
    "connect": ("home", "enter", "x", "y", "z"),
    "shown": ("home", "enter", "x", "y", "z", "f2"),
    "hidden": ("h",),
    "confirm": ("home", "enter", *PASS, "enter", "CONNECTED", "d"),
}


@pytest.mark.parametrize(
    "size", [(80, 24), (80, 25), (100, 37), (160, 50), (40, 12)], ids=lambda s: f"{s[0]}x{s[1]}"
)
@pytest.mark.parametrize("view", VIEWS)
async def test_every_glyph_is_in_the_console_font_and_every_colour_ansi(
    size: tuple[int, int], view: str, iwd: FakeIwd, system_bus: PrivateBus
) -> None:
    iwd.add_known(iwd.air[1], None)  # a known network for the known list
    app = wifi_app()
    async with app.run_test(size=size) as pilot:
        await open_wifi(pilot)
        for key in VIEWS[view]:
            if key == "home":
                await highlight(pilot, "home")
            elif key == "CONNECTED":
                await wait_for(pilot, lambda: "Connected to home." in screen_text(app))
            else:
                await pilot.press(key)
        await pilot.pause(0.1)
        assert not outside_the_console_font(app), f"{outside_the_console_font(app)!r}\n{screen_text(app)}"
        assert not non_ansi_colours(app), non_ansi_colours(app)
        assert len(strips(app)) == size[1]


@pytest.mark.parametrize("kind", ["no-iwd", "no-adapter"])
async def test_problem_screens_use_the_console_font(kind: str, bus: PrivateBus) -> None:
    fake = FakeIwd(bus.address)
    if kind == "no-adapter":
        await fake.start(adapters=0)
    app = wifi_app()
    try:
        async with app.run_test(size=SMALL) as pilot:
            await client_screen(lambda: IwdClient(bus.address, iwd_paths=()))(pilot)
            await wait_for(pilot, lambda: "Esc: back" in screen_text(app))
            assert not outside_the_console_font(app)
            assert not non_ansi_colours(app)
    finally:
        await fake.stop()


# ---------------------------------------------------------------- a real terminal


async def pane(tmux: Tmux, text: str, timeout: float = 20.0) -> str:
    """What the terminal shows once `text` is in it; waits without blocking the fake iwd's loop."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while text not in (shown := tmux.capture()):
        if loop.time() > deadline:
            raise AssertionError(f"{text!r} never appeared; the pane shows:\n{shown}")
        await asyncio.sleep(0.1)
    return shown


@pytest.mark.skipif(not shutil.which("tmux"), reason="needs tmux")
async def test_keys_on_a_linux_console(iwd: FakeIwd, bus: PrivateBus, tmp_path: Path) -> None:
    """The demo in tmux with TERM=linux: F2 and Ctrl-T as a console sends them, the passphrase only
    masked or on request, and nowhere once connected (screen, state directory)."""
    env = console_env(tmp_path, DBUS_SYSTEM_BUS_ADDRESS=bus.address, INSTALLER_ENV_WIFI_ENABLED="1")
    state_dir = tmp_path / "state"
    tmux = Tmux(f"installer-env-wifi-{os.getpid()}", *SMALL)
    try:
        tmux.start([sys.executable, "-m", "installer_env", "demo", "--state-dir", str(state_dir)], env)
        await pane(tmux, "x Quit")
        tmux.keys("w")
        await pane(tmux, "Scan done: 4 networks in range.")
        await pane(tmux, "║ home ")  # the list follows the scan's result a moment later
        tmux.keys("Enter")
        await pane(tmux, "Passphrase (hidden: F2 shows it)")
        tmux.keys("-l", PASS)
        assert PASS not in await pane(tmux, "*" * len(PASS))
        tmux.keys("F2")
        await pane(tmux, PASS)
        tmux.keys("C-t")
        await pane(tmux, "Passphrase (hidden: F2 shows it)")
        assert PASS not in tmux.capture()
        tmux.keys("Enter")
        shown = await pane(tmux, "Connected to home.")
        assert PASS not in shown
        assert "*" * len(PASS) not in shown
        assert iwd.state.passphrases_received == [PASS]
        for path in state_dir.rglob("*"):
            if path.is_file():
                assert PASS.encode() not in path.read_bytes(), path
        tmux.keys("Escape")
        await pane(tmux, "n New password")
    finally:
        tmux.close()


# ---------------------------------------------------------------- pictures


class FakeIwdApp(InstallerApp):
    """The app with a fake iwd living on its own event loop (snapshots run the app in a loop of theirs)."""

    CSS_PATH = str(Path(app_module.__file__).with_name("app.tcss"))  # relative paths follow the class
    fake: FakeIwd | None = None

    @on(events.Unmount)
    async def _stop_fake(self) -> None:  # beside the app's own Unmount handler (signal handlers back)
        if self.fake is not None:
            await self.fake.stop()


def picture_app() -> FakeIwdApp:
    cfg = screen_data.config(wifi_enabled=True)
    return FakeIwdApp(cfg, StateStore(cfg.state_dir), Session(screen_data.snapshot()), follow_sources=False)


def start_wifi(bus_address: str, *keys: str) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, FakeIwdApp)
        app.fake = FakeIwd(bus_address)
        app.fake.air = [
            AccessPoint("home", "psk", PASS, signal_dbm=-45),
            AccessPoint("cafe", "open", signal_dbm=-70),
            AccessPoint(MARKUP + ANSI, "open", signal_dbm=-74),
            AccessPoint("far away", "psk", "whatever1", signal_dbm=-90),
            AccessPoint("office", "8021x", signal_dbm=-62),
        ]
        await app.fake.start()
        await open_wifi(pilot, scanned=5)
        for key in keys:
            await pilot.press(key)
        await pilot.pause(0.1)
        for field in app.screen.query(Input):
            field.cursor_blink = False  # a still picture

    return run_before


SnapCompare = Callable[..., bool]


@pytest.mark.parametrize("size", [SMALL, MEDIUM], ids=lambda s: f"{s[0]}x{s[1]}")
def test_picture_network_list(
    snap_compare: SnapCompare, size: tuple[int, int], system_bus: PrivateBus
) -> None:
    assert snap_compare(picture_app(), terminal_size=size, run_before=start_wifi(system_bus.address, "down"))


@pytest.mark.parametrize("size", [SMALL, MEDIUM], ids=lambda s: f"{s[0]}x{s[1]}")
def test_picture_connect_dialog(
    snap_compare: SnapCompare, size: tuple[int, int], system_bus: PrivateBus
) -> None:
    keys = ("enter", *"not the passphrase", "enter")
    assert snap_compare(picture_app(), terminal_size=size, run_before=start_wifi(system_bus.address, *keys))
