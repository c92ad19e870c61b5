"""The Wi-Fi client against a fake iwd on a private dbus-daemon (real D-Bus, iwd's documented API)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TypeVar

import pytest
import status_schema
from conftest import HOME_PASSPHRASE, MakeConfig
from fake_iwd import AccessPoint, FakeIwd, PrivateBus
from netns import Namespace

from installer_env import status as status_view
from installer_env.config import Config
from installer_env.session import Session, Snapshot, collect
from installer_env.state import StateStore
from installer_env.wifi import (
    IwdClient,
    WifiError,
    WifiErrorKind,
    WifiStatus,
    follow,
    read_status,
    signal_bars,
)

PASS = HOME_PASSPHRASE  # the `bus` and `iwd` fixtures (conftest.py) put "home" in the air with it
HOSTILE = "[bold]x[/]\x1b[31m$(reboot)"


@pytest.fixture
async def client(bus: PrivateBus) -> AsyncIterator[IwdClient]:
    wifi = IwdClient(bus.address, iwd_paths=(), call_timeout=5.0)
    await wifi.open()
    yield wifi
    await wifi.close()


T = TypeVar("T")


async def next_matching(statuses: AsyncIterator[T], want: Callable[[T], object], timeout: float = 5.0) -> T:
    """The first item from `watch()` (or `snapshots()`) for which want(item) is true."""

    async def find() -> T:
        async for st in statuses:
            if want(st):
                return st
        raise AssertionError("watch() ended")

    return await asyncio.wait_for(find(), timeout)


def ssids(st: WifiStatus) -> list[str]:
    assert st.device is not None
    return [n.ssid for n in st.device.networks]


# ---------------------------------------------------------------- reading and scanning


async def test_scan_lists_networks_strongest_first_with_signal_and_security(
    iwd: FakeIwd, client: IwdClient
) -> None:
    before = await client.status()
    assert before.problem is None
    dev = before.device
    assert dev is not None
    assert (dev.name, dev.adapter, dev.powered, dev.state, dev.networks) == (
        "wlan0",
        "phy0",
        True,
        "disconnected",
        (),
    )

    after = await client.scan()
    assert ssids(after) == ["home", "office", "cafe", "far away"]
    assert after.device is not None
    home, office, cafe, far = after.device.networks
    assert (home.signal_dbm, home.bars, home.security, home.security_label) == (-45.0, 4, "psk", "WPA")
    assert (cafe.bars, cafe.security, cafe.needs_passphrase) == (2, "open", False)
    assert (office.bars, office.security_label) == (3, "802.1X")
    assert (far.bars, far.needs_passphrase, far.known) == (0, True, False)
    assert home.path.endswith("/" + b"home".hex() + "_psk")
    assert iwd.state.calls.count("Scan") == 1


def test_signal_bars_limits() -> None:
    assert [signal_bars(d) for d in (-30, -60, -61, -67, -75, -85, -86, -100)] == [4, 4, 3, 3, 2, 1, 0, 0]


async def test_watch_shows_the_scanning_state(iwd: FakeIwd, client: IwdClient) -> None:
    iwd.state.scan_delay = 0.5
    statuses = client.watch(udev_hint=False)
    first = await anext(statuses)
    assert first.device is not None
    assert not first.device.scanning
    scan = asyncio.create_task(client.scan())
    during = await next_matching(statuses, lambda s: s.device and s.device.scanning)
    assert during.device is not None
    assert during.device.networks == ()
    done = await next_matching(statuses, lambda s: s.device and not s.device.scanning)
    assert "home" in ssids(done)
    await scan
    await statuses.aclose()


async def until(condition: Callable[[], object], timeout: float = 10.0) -> None:
    """Wait for a condition, not for a time."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_scan_while_a_scan_runs_waits_for_it(iwd: FakeIwd, client: IwdClient) -> None:
    iwd.state.scan_delay = 0.3
    first = asyncio.create_task(client.scan())
    await until(lambda: "Scan" in iwd.state.calls)  # the first scan runs in iwd
    second = await client.scan()  # iwd answers Busy: the client waits for the running scan
    assert "home" in ssids(second)
    await first


async def test_hostile_ssid_is_kept_exactly_and_shown_literally(iwd: FakeIwd, client: IwdClient) -> None:
    iwd.air.append(AccessPoint(HOSTILE, "open", signal_dbm=-20))
    st = await client.scan()
    assert ssids(st)[0] == HOSTILE
    assert st.device is not None
    await client.connect(st.device.networks[0])
    snap_text = status_view.to_text(
        collect_with_wifi(await client.status())  # the text view goes through textsafe.literal()
    )
    assert "\x1b" not in snap_text
    assert "[bold]x[/]\\x1b[31m$(reboot)" in snap_text


def collect_with_wifi(wifi: WifiStatus) -> Snapshot:
    """A snapshot of this machine with the given Wi-Fi status, for the status views."""
    config = Config(state_dir=Path("/nonexistent/installer-env-test"), tor_enabled=False, wifi_enabled=False)
    return dataclasses.replace(collect(config, StateStore(config.state_dir)), wifi=wifi)


# ---------------------------------------------------------------- connecting


async def test_connect_answers_the_agent_with_the_typed_passphrase(
    iwd: FakeIwd, client: IwdClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    scanned = await client.scan()
    home = next(n for n in scanned.device.networks if n.ssid == "home")  # type: ignore[union-attr]
    st = await client.connect(home, PASS)
    assert iwd.state.passphrases_received == [PASS]
    assert iwd.state.agent_requests == [home.path]
    assert st.connected is not None
    assert st.connected.ssid == "home"
    assert st.device is not None
    assert (st.device.state, st.device.connected_ssid) == ("connected", "home")
    assert [k.ssid for k in st.known_networks] == ["home"]
    assert st.connected.known
    # The passphrase is nowhere but in iwd: not in logs, not in what views render.
    assert PASS not in caplog.text
    assert PASS not in repr(st)
    assert PASS not in status_view.to_json(collect_with_wifi(st))


async def test_known_network_reconnects_without_asking(iwd: FakeIwd, client: IwdClient) -> None:
    await client.scan()
    await client.connect("home", PASS)
    await client.disconnect()
    st = await client.connect("home")  # known: no passphrase needed, iwd uses the saved one
    assert st.connected is not None
    assert st.connected.ssid == "home"
    assert iwd.state.agent_requests == [iwd.stations[st.device.path].networks[st.connected.path].path]  # type: ignore[union-attr]


async def test_wrong_passphrase_says_so(iwd: FakeIwd, client: IwdClient) -> None:
    await client.scan()
    with pytest.raises(WifiError) as err:
        await client.connect("home", "not the passphrase")
    assert err.value.kind == WifiErrorKind.WRONG_PASSPHRASE
    assert "Wrong passphrase" in err.value.message
    st = await client.status()
    assert st.device is not None
    assert st.device.state == "disconnected"
    assert st.connected is None
    assert st.known_networks == ()


async def test_open_network_connects_without_the_agent(iwd: FakeIwd, client: IwdClient) -> None:
    await client.scan()
    st = await client.connect("cafe")
    assert st.connected is not None
    assert st.connected.ssid == "cafe"
    assert iwd.state.agent_requests == []


async def test_protected_network_needs_a_passphrase_before_anything_is_sent(
    iwd: FakeIwd, client: IwdClient
) -> None:
    await client.scan()
    with pytest.raises(WifiError) as err:
        await client.connect("home")
    assert err.value.kind == WifiErrorKind.PASSPHRASE_REQUIRED
    with pytest.raises(WifiError) as err:
        await client.connect("home", "short")
    assert err.value.kind == WifiErrorKind.INVALID_PASSPHRASE
    assert "8 to 63" in err.value.message
    assert "Connect" not in iwd.state.calls


async def test_enterprise_network_is_refused_in_words(iwd: FakeIwd, client: IwdClient) -> None:
    await client.scan()
    with pytest.raises(WifiError) as err:
        await client.connect("office", "whatever1")
    assert err.value.kind == WifiErrorKind.NOT_SUPPORTED
    assert "802.1X" in err.value.message


async def test_network_out_of_range(iwd: FakeIwd, client: IwdClient) -> None:
    await client.scan()
    with pytest.raises(WifiError) as err:
        await client.connect("nowhere", PASS)
    assert err.value.kind == WifiErrorKind.NOT_FOUND
    scanned = await client.status()
    home = next(n for n in scanned.device.networks if n.ssid == "home")  # type: ignore[union-attr]
    iwd.air = [ap for ap in iwd.air if ap.ssid != "home"]  # walked away; the object is still listed
    with pytest.raises(WifiError) as err:
        await client.connect(home, PASS)
    assert err.value.kind == WifiErrorKind.NOT_FOUND
    assert "Scan again" in err.value.message


async def test_busy_iwd(iwd: FakeIwd, client: IwdClient) -> None:
    await client.scan()
    iwd.state.fail_next["Connect"] = "InProgress"
    with pytest.raises(WifiError) as err:
        await client.connect("cafe")
    assert err.value.kind == WifiErrorKind.BUSY
    assert "busy" in err.value.message


async def test_cancel_a_connection_in_progress(iwd: FakeIwd, client: IwdClient) -> None:
    await client.scan()
    iwd.state.connect_delay = 5.0
    attempt = asyncio.create_task(client.connect("home", PASS))
    await until(lambda: "Connect" in iwd.state.calls)  # iwd is connecting
    await client.disconnect()
    with pytest.raises(WifiError) as err:
        await attempt
    assert err.value.kind == WifiErrorKind.CANCELLED
    assert (await client.status()).connected is None


async def test_connect_timeout_gives_up_and_disconnects(iwd: FakeIwd, client: IwdClient) -> None:
    await client.scan()
    iwd.state.connect_delay = 5.0
    with pytest.raises(WifiError) as err:
        await client.connect("cafe", timeout=0.3)
    assert err.value.kind == WifiErrorKind.TIMEOUT
    assert "Disconnect" in iwd.state.calls


async def test_hidden_network_by_name(iwd: FakeIwd, client: IwdClient) -> None:
    iwd.air.append(AccessPoint("attic", "psk", "attic-secret", signal_dbm=-55, hidden=True))
    st = await client.scan()
    assert "attic" not in ssids(st)
    with pytest.raises(WifiError) as err:
        await client.connect_hidden("cellar", "attic-secret")
    assert err.value.kind == WifiErrorKind.NOT_FOUND
    with pytest.raises(WifiError) as err:
        await client.connect_hidden("home", PASS)
    assert "not hidden" in err.value.message
    st = await client.connect_hidden("attic", "attic-secret")
    assert st.connected is not None
    assert st.connected.ssid == "attic"
    assert [(k.ssid, k.hidden) for k in st.known_networks] == [("attic", True)]
    assert iwd.state.passphrases_received == ["attic-secret"]


async def test_hidden_network_wrong_passphrase(iwd: FakeIwd, client: IwdClient) -> None:
    iwd.air.append(AccessPoint("attic", "psk", "attic-secret", hidden=True))
    with pytest.raises(WifiError) as err:
        await client.connect_hidden("attic", "wrong-secret")
    assert err.value.kind == WifiErrorKind.WRONG_PASSPHRASE


async def test_forget_a_known_network(iwd: FakeIwd, client: IwdClient) -> None:
    await client.scan()
    st = await client.connect("home", PASS)
    (known,) = st.known_networks
    st = await client.forget(known)
    assert st.known_networks == ()
    assert st.connected is None
    assert st.device is not None
    assert not any(n.known for n in st.device.networks)
    with pytest.raises(WifiError) as err:
        await client.forget("home")
    assert err.value.kind == WifiErrorKind.NOT_FOUND


async def test_powered_off_device_is_switched_on_to_scan(iwd: FakeIwd, client: IwdClient) -> None:
    station = next(iter(iwd.stations.values()))
    station.set_powered(False)
    adapter = next(iter(iwd.adapters.values()))
    adapter.powered = False
    st = await client.status()
    assert st.device is not None
    assert (st.device.state, st.device.powered) == ("off", False)
    st = await client.scan()
    assert adapter.powered
    assert station.powered
    assert "home" in ssids(st)


# ---------------------------------------------------------------- live changes


async def test_usb_adapter_plugged_in_and_out(iwd: FakeIwd, client: IwdClient) -> None:
    statuses = client.watch(udev_hint=False)
    await anext(statuses)
    dongle = iwd.add_adapter("wlx001122")
    two = await next_matching(statuses, lambda s: len(s.devices) == 2)
    assert sorted(d.name for d in two.devices) == ["wlan0", "wlx001122"]
    iwd.remove_adapter(dongle)
    one = await next_matching(statuses, lambda s: len(s.devices) == 1)
    assert one.devices[0].name == "wlan0"
    iwd.remove_adapter(next(iter(iwd.stations.values())))
    none = await next_matching(statuses, lambda s: s.problem is not None)
    assert none.problem_kind == WifiErrorKind.NO_ADAPTER
    assert "Plug in" in (none.problem or "")
    await statuses.aclose()


async def test_iwd_restart_is_followed(iwd: FakeIwd, client: IwdClient) -> None:
    statuses = client.watch(udev_hint=False)
    await anext(statuses)
    await iwd.stop()
    gone = await next_matching(statuses, lambda s: s.problem is not None)
    assert gone.problem_kind == WifiErrorKind.NOT_INSTALLED  # iwd_paths=() in this client
    await iwd.start()
    back = await next_matching(statuses, lambda s: s.problem is None and s.devices)
    assert back.devices[0].name == "wlan0"
    await statuses.aclose()
    # The agent registration died with the old iwd; connecting registers it again.
    await client.scan()
    st = await client.connect("home", PASS)
    assert st.connected is not None


async def test_state_changes_are_followed(iwd: FakeIwd, client: IwdClient) -> None:
    await client.scan()
    statuses = client.watch(udev_hint=False)
    await anext(statuses)
    iwd.state.connect_delay = 0.5
    attempt = asyncio.create_task(client.connect("cafe"))
    await next_matching(statuses, lambda s: s.device and s.device.state == "connecting")
    connected = await next_matching(statuses, lambda s: s.device and s.device.state == "connected")
    assert connected.connected is not None
    assert connected.connected.ssid == "cafe"
    await attempt
    await statuses.aclose()


# ---------------------------------------------------------------- no iwd, no bus, no permission


async def test_no_iwd_at_all(bus: PrivateBus, tmp_path: Path) -> None:
    async with IwdClient(bus.address, iwd_paths=()) as wifi:
        st = await wifi.status()
        assert st.problem_kind == WifiErrorKind.NOT_INSTALLED
        assert "not installed" in (st.problem or "")
        assert "systemctl start iwd" in (st.problem or "")
        with pytest.raises(WifiError) as err:
            await wifi.scan()
        assert err.value.kind == WifiErrorKind.NOT_INSTALLED
    fake_binary = tmp_path / "iwd"
    fake_binary.write_text("")
    async with IwdClient(bus.address, iwd_paths=(str(fake_binary),)) as wifi:
        st = await wifi.status()
        assert st.problem_kind == WifiErrorKind.NOT_RUNNING
        assert st.problem == "iwd (the Wi-Fi service) is not running. Start it with: systemctl start iwd"


async def test_no_bus(tmp_path: Path) -> None:
    wifi = IwdClient(f"unix:path={tmp_path}/no-such-socket")
    st = await wifi.status()
    assert st.problem_kind == WifiErrorKind.NO_BUS
    with pytest.raises(WifiError) as err:
        await wifi.scan()
    assert err.value.kind == WifiErrorKind.NO_BUS
    await wifi.close()


async def test_no_permission(tmp_path: Path) -> None:
    denying = PrivateBus(tmp_path, deny_iwd=True)
    denying.start()
    fake = FakeIwd(denying.address)
    try:
        await fake.start()
        async with IwdClient(denying.address) as wifi:
            st = await wifi.status()
        assert st.problem_kind == WifiErrorKind.NO_PERMISSION
        assert "root" in (st.problem or "")
    finally:
        await fake.stop()
        denying.stop()


# ---------------------------------------------------------------- snapshot and status views


async def test_one_shot_read_and_status_views(
    iwd: FakeIwd, bus: PrivateBus, make_config: MakeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with IwdClient(bus.address) as wifi:
        await wifi.scan()
        await wifi.connect("home", PASS)
    st = await asyncio.to_thread(read_status, bus.address)
    assert st.connected is not None
    assert st.connected.ssid == "home"

    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address)
    config = make_config(wifi_enabled=True)
    snap = await asyncio.to_thread(collect, config, StateStore(config.state_dir))
    doc = json.loads(status_view.to_json(snap))
    status_schema.validate(doc)
    assert doc["wifi"]["devices"][0]["state"] == "connected"
    assert doc["wifi"]["connected_ssid"] == "home"
    assert doc["wifi"]["devices"][0]["networks"][0] == {
        "ssid": "home",
        "security": "psk",
        "signal_dbm": -45.0,
        "bars": 4,
        "connected": True,
        "known": True,
    }
    assert "Wi-Fi        connected to home on wlan0" in status_view.to_text(snap)

    off = make_config(wifi_enabled=False)
    snap = collect(off, StateStore(off.state_dir))
    assert snap.wifi is None
    assert json.loads(status_view.to_json(snap))["wifi"] is None


async def test_follow_keeps_the_snapshot_current(
    iwd: FakeIwd, bus: PrivateBus, make_config: MakeConfig
) -> None:
    config = make_config()
    session = Session(collect(config, StateStore(config.state_dir)))
    task = asyncio.create_task(follow(session, lambda: IwdClient(bus.address), retry=0.1))
    try:
        snaps = session.snapshots()
        await next_matching(snaps, lambda s: s.wifi is not None and s.wifi.devices)
        await iwd.stop()
        snap = await next_matching(snaps, lambda s: s.wifi is not None and s.wifi.problem)
        assert snap.wifi is not None
        assert snap.wifi.problem_kind in (WifiErrorKind.NOT_RUNNING, WifiErrorKind.NOT_INSTALLED)
        await iwd.start()
        await next_matching(snaps, lambda s: s.wifi is not None and s.wifi.devices)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_bus_that_is_not_there_is_asked_less_and_less_often(
    tmp_path: Path, make_config: MakeConfig
) -> None:
    config = make_config()
    session = Session(collect(config, StateStore(config.state_dir)))
    attempts = 0

    def make() -> IwdClient:
        nonlocal attempts
        attempts += 1
        return IwdClient(f"unix:path={tmp_path / 'no-bus'}")

    task = asyncio.create_task(follow(session, make, retry=0.05, retry_max=0.4))
    try:
        await asyncio.sleep(2.0)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert session.snapshot.wifi is not None
    assert session.snapshot.wifi.problem_kind is WifiErrorKind.NO_BUS
    # 0.05, 0.1, 0.2, then every 0.4 s: about 7 attempts in 2 s; every 0.05 s it was about 40.
    assert 3 <= attempts <= 12, attempts


async def test_network_of_a_second_adapter_connects_on_that_adapter(iwd: FakeIwd, client: IwdClient) -> None:
    iwd.add_adapter("wlx001122")
    st = await client.scan(device="wlx001122")
    dongle = next(d for d in st.devices if d.name == "wlx001122")
    home = next(n for n in dongle.networks if n.ssid == "home")
    st = await client.connect(home, PASS)
    by_name = {d.name: d for d in st.devices}
    assert by_name["wlx001122"].state == "connected"
    assert by_name["wlan0"].state == "disconnected"


UDEV_PROBE = """
import asyncio
from installer_env.wifi.udev import watch_udev as _watch_udev

async def main() -> None:
    seen = asyncio.Event()
    print("watching" if _watch_udev(seen.set) else "no monitor", flush=True)
    await asyncio.wait_for(seen.wait(), 10)
    print("interface event", flush=True)

asyncio.run(main())
"""


def test_udev_hint_sees_an_interface_appear(netns: Namespace) -> None:
    """A USB dongle is a new net device: the hint fires. Checked in a network namespace of our own."""
    probe = subprocess.Popen(
        [*netns.with_own_sys(), sys.executable, "-c", UDEV_PROBE],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert probe.stdout is not None
        assert probe.stdout.readline().strip() == "watching"
        netns.ip("link", "add", "dongle0", "type", "veth", "peer", "name", "dongle1")
        assert probe.stdout.readline().strip() == "interface event"
        assert probe.wait(10) == 0
    finally:
        probe.kill()
        probe.wait()


# ---------------------------------------------------------------- without a bus


def test_status_from_objects_without_a_bus() -> None:
    from installer_env.wifi.names import ADAPTER, DEVICE, KNOWN_NETWORK, NETWORK, STATION
    from installer_env.wifi.parse import status_from_objects

    objects = {
        "/phy0": {ADAPTER: {"Name": "phy0", "Powered": True, "Model": "Radio"}},
        "/phy0/wlan0": {
            DEVICE: {
                "Name": "wlan0",
                "Address": "02:00:00:00:00:00",
                "Powered": True,
                "Adapter": "/phy0",
                "Mode": "station",
            },
            STATION: {"State": "connected", "Scanning": False, "ConnectedNetwork": "/net/home"},
        },
        "/net/home": {
            NETWORK: {"Name": "home", "Type": "psk", "Connected": True, "KnownNetwork": "/known/home"}
        },
        "/net/cafe": {NETWORK: {"Name": "cafe", "Type": "open", "Connected": False}},
        "/known/home": {
            KNOWN_NETWORK: {
                "Name": "home",
                "Type": "psk",
                "Hidden": False,
                "LastConnectedTime": "2026-11-26T09:12:00Z",
            }
        },
    }
    ordered = {"/phy0/wlan0": [("/net/home", -45.0), ("/net/gone", -50.0), ("/net/cafe", -70.0)]}
    status = status_from_objects(objects, ordered)
    assert status.problem is None
    (device,) = status.devices
    assert (device.name, device.adapter, device.adapter_model, device.state) == (
        "wlan0",
        "phy0",
        "Radio",
        "connected",
    )
    assert [(n.ssid, n.security, n.connected, n.known) for n in device.networks] == [
        ("home", "psk", True, True),
        ("cafe", "open", False, False),
    ]  # a network gone between the two calls is left out
    assert device.connected_ssid == "home"
    assert status.connected is not None
    assert status.connected.ssid == "home"
    assert [k.ssid for k in status.known_networks] == ["home"]
    empty = status_from_objects({"/known/home": objects["/known/home"]}, {})
    assert empty.problem_kind is WifiErrorKind.NO_ADAPTER
    assert [k.ssid for k in empty.known_networks] == ["home"]


def test_one_table_words_every_error() -> None:
    from installer_env.wifi import errors

    assert errors.translate("net.connman.iwd.Busy").kind is WifiErrorKind.BUSY
    assert errors.translate("org.freedesktop.DBus.Error.AccessDenied").kind is WifiErrorKind.NO_PERMISSION
    assert errors.translate("net.connman.iwd.Agent.Error.Canceled").kind is WifiErrorKind.CANCELLED
    unknown = errors.translate("net.connman.iwd.SomethingNew", "Scanning")
    assert (unknown.kind, unknown.message) == (WifiErrorKind.FAILED, "Scanning failed (SomethingNew).")
    wrong = errors.connect_error(
        "net.connman.iwd.Failed", asked=True, passphrase_given=True, cancel_reason=None
    )
    assert wrong is not None
    assert wrong.kind is WifiErrorKind.WRONG_PASSPHRASE
    gone = errors.connect_error(
        "net.connman.iwd.Aborted", asked=False, passphrase_given=True, cancel_reason="out-of-range"
    )
    assert gone is not None
    assert gone.kind is WifiErrorKind.NOT_FOUND
    assert (
        errors.connect_error("net.connman.iwd.Busy", asked=False, passphrase_given=True, cancel_reason=None)
        is None
    )
    assert errors.not_running(installed=False).kind is WifiErrorKind.NOT_INSTALLED
