"""An asyncio client for iwd (net.connman.iwd) on the system D-Bus.

One bus connection per client: the passphrase agent is exported on the same connection that calls
Network.Connect(), because iwd asks the agent of the caller first. Every public operation raises
only `WifiError` (a sentence for the screen); `status()` never raises and reports problems inside
the returned `WifiStatus` instead.

The passphrase lives only in memory, inside the agent, for the duration of one connect call.
"""

# No `from __future__ import annotations`: dbus-fast reads the D-Bus signatures of the agent's
# methods from their live annotations, and a string "None" would not parse.
import asyncio
import contextlib
import logging
import os
import shutil
from collections.abc import AsyncGenerator, Callable
from typing import Any

from dbus_fast import BusType, DBusError, Message, MessageFlag, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusObjectPath, DBusStr
from dbus_fast.service import ServiceInterface, method

from installer_env.wifi.model import (
    KnownNetwork,
    WifiDevice,
    WifiError,
    WifiErrorKind,
    WifiNetwork,
    WifiStatus,
)

log = logging.getLogger(__name__)

IWD = "net.connman.iwd"
IWD_ROOT = "/net/connman/iwd"
ADAPTER = f"{IWD}.Adapter"
DEVICE = f"{IWD}.Device"
STATION = f"{IWD}.Station"
NETWORK = f"{IWD}.Network"
KNOWN_NETWORK = f"{IWD}.KnownNetwork"
AGENT_MANAGER = f"{IWD}.AgentManager"
AGENT = f"{IWD}.Agent"
AGENT_CANCELED = f"{IWD}.Agent.Error.Canceled"
AGENT_PATH = "/org/installer_env/wifi_agent"
BUS = "org.freedesktop.DBus"
PROPERTIES = "org.freedesktop.DBus.Properties"
OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"
SYSTEM_BUS_SOCKET = "/run/dbus/system_bus_socket"

# Where iwd's daemon lives (Debian/Fedora, NixOS, Arch): tells "not installed" from "not running".
DEFAULT_IWD_PATHS = (
    "/usr/libexec/iwd",
    "/run/current-system/sw/libexec/iwd",
    "/usr/lib/iwd/iwd",
)

_MATCH_RULES = (
    f"type='signal',sender='{IWD}',interface='{OBJECT_MANAGER}'",
    f"type='signal',sender='{IWD}',interface='{PROPERTIES}',member='PropertiesChanged'",
    f"type='signal',sender='{BUS}',interface='{BUS}',member='NameOwnerChanged',arg0='{IWD}'",
)

_HOW_TO_START = "Start it with: systemctl start iwd"
MSG_NO_PERMISSION = (
    "Not allowed to talk to iwd: run this as root (or as a member of the netdev or wheel group)."
)
MSG_NO_ADAPTER = "No Wi-Fi adapter found. Plug in a USB Wi-Fi adapter: it shows up here by itself."
MSG_BUSY = "Wi-Fi is busy with another operation. Try again in a moment."
MSG_GONE = "The network is no longer in range. Scan again."
MSG_IWD_TIMEOUT = "iwd did not answer in time."
MSG_BUS_LOST = "The connection to the system D-Bus was lost."
MSG_CANCELLED = "The connection attempt was cancelled."
MSG_NEEDS_PASSPHRASE = "This network needs a passphrase."

MIN_PASSPHRASE, MAX_PASSPHRASE = 8, 63


MAX_SSID_BYTES = 32


def check_passphrase(passphrase: str) -> None:
    """WPA passphrases are 8 to 63 characters (or exactly 64 hex digits, a raw key)."""
    size = len(passphrase.encode("utf-8"))
    raw_key = size == 64 and all(c in "0123456789abcdefABCDEF" for c in passphrase)
    if not raw_key and not MIN_PASSPHRASE <= size <= MAX_PASSPHRASE:
        raise WifiError(
            WifiErrorKind.INVALID_PASSPHRASE,
            f"A Wi-Fi passphrase has {MIN_PASSPHRASE} to {MAX_PASSPHRASE} characters; this one has {size}.",
        )


def check_ssid(ssid: str) -> None:
    """A network name (for a hidden network, typed by hand) is 1 to 32 bytes."""
    if not 1 <= len(ssid.encode("utf-8")) <= MAX_SSID_BYTES:
        raise WifiError(WifiErrorKind.NOT_FOUND, f"A network name has 1 to {MAX_SSID_BYTES} bytes.")


class _PassphraseAgent(ServiceInterface):
    """iwd's Agent: hands over the passphrase the user typed for the one network being connected."""

    def __init__(self) -> None:
        super().__init__(AGENT)
        self._network: str | None = None
        self._passphrase: str | None = None
        self.asked = False
        self.cancel_reason: str | None = None

    def offer(self, network: str | None, passphrase: str | None) -> None:
        """Answer the next request for `network` (any network when None: hidden ones have no path yet)."""
        self._network, self._passphrase = network, passphrase
        self.asked, self.cancel_reason = False, None

    def withdraw(self) -> None:
        self._network = self._passphrase = None

    @method()
    def Release(self) -> None:
        self.withdraw()

    @method()
    def RequestPassphrase(self, network: DBusObjectPath) -> DBusStr:
        self.asked = True
        if self._passphrase is None or (self._network is not None and network != self._network):
            raise DBusError(AGENT_CANCELED, "no passphrase was given for this network")
        return self._passphrase

    @method()
    def RequestPrivateKeyPassphrase(self, network: DBusObjectPath) -> DBusStr:
        raise DBusError(AGENT_CANCELED, "802.1X is not supported here")

    @method()
    def RequestUserPassword(self, network: DBusObjectPath, user: DBusStr) -> DBusStr:
        raise DBusError(AGENT_CANCELED, "802.1X is not supported here")

    @method()
    def Cancel(self, reason: DBusStr) -> None:
        self.cancel_reason = reason


async def _disconnected(bus: MessageBus) -> None:
    # Shielded: cancelling our wait must not cancel the bus's own disconnect future.
    await asyncio.shield(bus.wait_for_disconnect())  # type: ignore[no-untyped-call]


def _unwrap(value: Any) -> Any:
    return value.value if isinstance(value, Variant) else value


class IwdClient:
    """Talks to iwd. Use as `async with IwdClient() as wifi:`; `bus_address` None = the system bus."""

    def __init__(
        self,
        bus_address: str | None = None,
        *,
        call_timeout: float = 10.0,
        iwd_paths: tuple[str, ...] = DEFAULT_IWD_PATHS,
    ) -> None:
        self._bus_address = bus_address
        self._call_timeout = call_timeout
        self._iwd_paths = iwd_paths
        self._bus: MessageBus | None = None
        self._agent = _PassphraseAgent()
        self._changed = asyncio.Event()
        self._subscribed = False
        self._connecting = asyncio.Lock()

    # ------------------------------------------------------------------ connection

    async def open(self) -> None:
        if self._bus is not None and self._bus.connected:
            return
        where = self._bus_address or os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") or SYSTEM_BUS_SOCKET
        try:
            bus = MessageBus(bus_address=self._bus_address, bus_type=BusType.SYSTEM)
            # asyncio.timeout, not wait_for, here and below: on 3.11 wait_for can lose a
            # cancellation that arrives as the result does.
            async with asyncio.timeout(self._call_timeout):
                self._bus = await bus.connect()
        except PermissionError:
            raise WifiError(WifiErrorKind.NO_PERMISSION, MSG_NO_PERMISSION) from None
        except (OSError, EOFError, TimeoutError, ValueError) as e:
            reasons: dict[type[Exception], str] = {
                FileNotFoundError: "it does not exist",
                ConnectionRefusedError: "nothing answers there",
                TimeoutError: "no answer in time",
            }
            why = reasons.get(type(e), str(e) or type(e).__name__)
            raise WifiError(
                WifiErrorKind.NO_BUS, f"Cannot reach the system D-Bus at {where} ({why}). Is dbus running?"
            ) from None
        except Exception as e:  # authentication and protocol errors of dbus-fast
            raise WifiError(WifiErrorKind.NO_BUS, f"Cannot use the system D-Bus ({where}): {e}") from None
        self._bus.export(AGENT_PATH, self._agent)
        self._bus.add_message_handler(self._on_message)

    async def close(self) -> None:
        bus, self._bus = self._bus, None
        self._subscribed = False
        if bus is None:
            return
        bus.remove_message_handler(self._on_message)
        if bus.connected:
            bus.disconnect()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await _disconnected(bus)

    async def __aenter__(self) -> "IwdClient":
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _require_bus(self) -> MessageBus:
        if self._bus is None or not self._bus.connected:
            raise WifiError(WifiErrorKind.NO_BUS, MSG_BUS_LOST)
        return self._bus

    async def _call(
        self,
        path: str,
        interface: str,
        member: str,
        signature: str = "",
        body: list[Any] | None = None,
        *,
        destination: str = IWD,
        timeout: float | None = None,
    ) -> list[Any]:
        """One method call; a D-Bus error comes back as DBusError, a lost bus as WifiError.
        Connects first when there is no connection yet (an operation before any look)."""
        if self._bus is None:
            await self.open()
        bus = self._require_bus()
        msg = Message(
            destination=destination,
            path=path,
            interface=interface,
            member=member,
            signature=signature,
            body=body or [],
            # Never start iwd by D-Bus activation as a side effect: a status look changes nothing.
            flags=MessageFlag.NO_AUTOSTART,
        )
        try:
            async with asyncio.timeout(timeout or self._call_timeout):
                reply = await bus.call(msg)
        except TimeoutError:
            raise WifiError(WifiErrorKind.TIMEOUT, MSG_IWD_TIMEOUT) from None
        except (OSError, EOFError) as e:
            raise WifiError(WifiErrorKind.NO_BUS, f"The system D-Bus connection failed: {e}") from None
        if reply.message_type == MessageType.ERROR:
            text = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
            raise DBusError(reply.error_name or "org.freedesktop.DBus.Error.Failed", text, reply)
        return list(reply.body)

    async def _iwd_call(self, path: str, interface: str, member: str, *args: Any, **kw: Any) -> list[Any]:
        """A call to iwd whose errors are all turned into WifiError (by the generic translation)."""
        try:
            return await self._call(path, interface, member, *args, **kw)
        except DBusError as e:
            raise await self._translate(e) from None

    # ------------------------------------------------------------------ errors

    async def _not_running(self) -> WifiError:
        activatable = False
        with contextlib.suppress(DBusError, WifiError):
            (names,) = await self._call("/org/freedesktop/DBus", BUS, "ListActivatableNames", destination=BUS)
            activatable = IWD in names
        installed = activatable or shutil.which("iwd") is not None
        installed = installed or any(os.path.exists(p) for p in self._iwd_paths)
        if installed:
            return WifiError(
                WifiErrorKind.NOT_RUNNING, f"iwd (the Wi-Fi service) is not running. {_HOW_TO_START}"
            )
        return WifiError(
            WifiErrorKind.NOT_INSTALLED,
            "iwd (the Wi-Fi service) is not installed. On NixOS set networking.wireless.iwd.enable = true; "
            f"elsewhere install the iwd package. {_HOW_TO_START}",
        )

    async def _translate(self, e: DBusError, context: str = "") -> WifiError:
        """iwd's and the bus's error names, in words a person can act on."""
        name = e.type
        short = name.rsplit(".", 1)[-1]
        if name in (f"{BUS}.Error.ServiceUnknown", f"{BUS}.Error.NameHasNoOwner"):
            return await self._not_running()
        if name == f"{BUS}.Error.AccessDenied":
            return WifiError(WifiErrorKind.NO_PERMISSION, MSG_NO_PERMISSION)
        if name in (f"{BUS}.Error.NoReply", f"{BUS}.Error.Timeout", f"{BUS}.Error.TimedOut"):
            return WifiError(WifiErrorKind.TIMEOUT, MSG_IWD_TIMEOUT)
        if name in (f"{BUS}.Error.UnknownObject", f"{BUS}.Error.UnknownMethod"):
            return WifiError(WifiErrorKind.NOT_FOUND, MSG_GONE)
        if name == AGENT_CANCELED or short == "Aborted":
            return WifiError(WifiErrorKind.CANCELLED, MSG_CANCELLED)
        if short in ("Busy", "InProgress"):
            return WifiError(WifiErrorKind.BUSY, MSG_BUSY)
        if short == "NotFound":
            return WifiError(
                WifiErrorKind.NOT_FOUND, "The network was not found: out of range or gone. Scan again."
            )
        if short == "Timeout":
            return WifiError(WifiErrorKind.TIMEOUT, "The network did not answer in time.")
        if short in ("NotSupported", "NotConfigured", "NotImplemented"):
            return WifiError(
                WifiErrorKind.NOT_SUPPORTED,
                "This kind of network cannot be set up here (WEP or 802.1X/enterprise): "
                "provision it with a file in /var/lib/iwd or use iwctl.",
            )
        if short == "NotAvailable":
            return WifiError(
                WifiErrorKind.RADIO_OFF,
                "The Wi-Fi radio is switched off (rfkill or a hardware switch). Try: rfkill unblock wifi",
            )
        if short in ("InvalidFormat", "InvalidArguments", "InvalidArgs"):
            return WifiError(
                WifiErrorKind.INVALID_PASSPHRASE, "iwd refused the passphrase or network name as invalid."
            )
        if short == "NoAgent":
            return WifiError(WifiErrorKind.FAILED, "iwd could not ask for the passphrase. Try again.")
        if short == "ServiceSetOverlap":
            return WifiError(
                WifiErrorKind.FAILED, "Both an open and a protected hidden network use this name."
            )
        if short == "AlreadyProvisioned":
            return WifiError(
                WifiErrorKind.FAILED, "This hidden network is already known: pick it from the list."
            )
        if short == "NotHidden":
            return WifiError(WifiErrorKind.FAILED, "This network is not hidden: pick it from the list.")
        what = context or "The Wi-Fi operation"
        return WifiError(WifiErrorKind.FAILED, f"{what} failed ({short}).")

    # ------------------------------------------------------------------ reading

    async def _objects(self) -> dict[str, dict[str, dict[str, Any]]]:
        (raw,) = await self._iwd_call("/", OBJECT_MANAGER, "GetManagedObjects")
        return {
            path: {iface: {k: _unwrap(v) for k, v in props.items()} for iface, props in ifaces.items()}
            for path, ifaces in raw.items()
        }

    async def _ordered_networks(self, station: str) -> list[tuple[str, float]]:
        try:
            (pairs,) = await self._call(station, STATION, "GetOrderedNetworks")
        except DBusError:
            return []  # the station went away between the two calls; the next change refreshes
        return [(str(path), int(signal) / 100.0) for path, signal in pairs]

    async def _read(self) -> WifiStatus:
        objects = await self._objects()
        devices: list[WifiDevice] = []
        for path, ifaces in objects.items():
            dev = ifaces.get(DEVICE)
            if dev is None:
                continue
            adapter = objects.get(str(dev.get("Adapter", "")), {}).get(ADAPTER, {})
            station = ifaces.get(STATION)
            networks: list[WifiNetwork] = []
            connected_ssid = None
            if station is not None:
                for net_path, dbm in await self._ordered_networks(path):
                    net = objects.get(net_path, {}).get(NETWORK)
                    if net is None:
                        continue
                    item = WifiNetwork(
                        path=net_path,
                        ssid=str(net.get("Name", "")),
                        security=str(net.get("Type", "")),
                        signal_dbm=dbm,
                        connected=bool(net.get("Connected", False)),
                        known="KnownNetwork" in net,
                    )
                    networks.append(item)
                cn = station.get("ConnectedNetwork")
                if cn:
                    connected_ssid = str(objects.get(str(cn), {}).get(NETWORK, {}).get("Name", "")) or None
            devices.append(
                WifiDevice(
                    path=path,
                    name=str(dev.get("Name", "")),
                    address=str(dev.get("Address", "")),
                    powered=bool(dev.get("Powered", False)),
                    adapter=str(adapter.get("Name", "")),
                    adapter_powered=bool(adapter.get("Powered", False)),
                    adapter_model=adapter.get("Model"),
                    adapter_vendor=adapter.get("Vendor"),
                    mode=str(dev.get("Mode", "")),
                    state=str(station.get("State", "")) if station is not None else "off",
                    scanning=bool(station.get("Scanning", False)) if station is not None else False,
                    connected_ssid=connected_ssid,
                    networks=tuple(networks),
                )
            )
        known = [
            KnownNetwork(
                path=path,
                ssid=str(kn.get("Name", "")),
                security=str(kn.get("Type", "")),
                hidden=bool(kn.get("Hidden", False)),
                autoconnect=bool(kn.get("AutoConnect", True)),
                last_connected=kn.get("LastConnectedTime"),
            )
            for path, ifaces in objects.items()
            if (kn := ifaces.get(KNOWN_NETWORK)) is not None
        ]
        known.sort(key=lambda k: (k.last_connected or "", k.ssid), reverse=True)
        devices.sort(key=lambda d: d.name)
        if not devices:
            return WifiStatus(
                known_networks=tuple(known), problem=MSG_NO_ADAPTER, problem_kind=WifiErrorKind.NO_ADAPTER
            )
        return WifiStatus(devices=tuple(devices), known_networks=tuple(known))

    async def status(self) -> WifiStatus:
        """Everything iwd knows right now; problems (no iwd, no adapter, no permission) are inside."""
        try:
            if self._bus is None:
                await self.open()
            return await self._read()
        except WifiError as e:
            return WifiStatus.unavailable(e)

    # ------------------------------------------------------------------ live changes

    def _on_message(self, msg: Message) -> None:
        if msg.message_type == MessageType.SIGNAL and msg.interface in (OBJECT_MANAGER, PROPERTIES, BUS):
            self._changed.set()

    async def _subscribe(self) -> None:
        if self._subscribed:
            return
        for rule in _MATCH_RULES:
            try:
                await self._call("/org/freedesktop/DBus", BUS, "AddMatch", "s", [rule], destination=BUS)
            except DBusError as e:
                raise WifiError(WifiErrorKind.FAILED, f"Cannot follow iwd's changes: {e.text}") from None
        self._subscribed = True

    async def watch(
        self, *, udev_hint: bool = True, refresh: float = 30.0
    ) -> AsyncGenerator[WifiStatus, None]:
        """The status now, then again after every change: adapters plugged in or out, iwd
        restarting, scans and connection states. Raises WifiError only when the bus itself is lost."""
        await self.open()
        await self._subscribe()
        bus = self._require_bus()
        disconnected = asyncio.ensure_future(_disconnected(bus))
        disconnected.add_done_callback(lambda _: self._changed.set())
        stop_udev = _watch_udev(self._changed.set) if udev_hint else None
        last: WifiStatus | None = None
        try:
            while True:
                self._changed.clear()
                if disconnected.done():
                    raise WifiError(WifiErrorKind.NO_BUS, MSG_BUS_LOST)
                current = await self.status()
                if current != last:
                    last = current
                    yield current
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(refresh):
                        await self._changed.wait()
                # A scan or a restart changes many objects at once: take them in one read.
                await asyncio.sleep(0.05)
        finally:
            disconnected.cancel()
            if stop_udev is not None:
                stop_udev()

    # ------------------------------------------------------------------ operations

    async def _station(self, device: WifiDevice | str | None) -> str:
        """The station's object path (by interface name, as iwd recreates paths), powered on if needed."""
        objects = await self._objects()
        name = device.name if isinstance(device, WifiDevice) else device
        candidates = [
            (path, ifaces)
            for path, ifaces in objects.items()
            if DEVICE in ifaces and name in (None, ifaces[DEVICE].get("Name"))
        ]
        if not candidates:
            raise WifiError(WifiErrorKind.NO_ADAPTER, MSG_NO_ADAPTER)
        candidates.sort(key=lambda c: (STATION not in c[1], str(c[1][DEVICE].get("Name"))))
        path, ifaces = candidates[0]
        if STATION not in ifaces:
            await self._power_on(path, objects)
            await self._wait_for_station(path)
        return path

    async def _power_on(self, device_path: str, objects: dict[str, dict[str, dict[str, Any]]]) -> None:
        dev = objects[device_path][DEVICE]
        adapter_path = str(dev.get("Adapter", ""))
        adapter = objects.get(adapter_path, {}).get(ADAPTER)
        if adapter is not None and not adapter.get("Powered", False):
            log.info("powering on Wi-Fi adapter %s", adapter_path)
            await self._iwd_call(
                adapter_path, PROPERTIES, "Set", "ssv", [ADAPTER, "Powered", Variant("b", True)]
            )
        if not dev.get("Powered", False):
            log.info("powering on Wi-Fi device %s", device_path)
            await self._iwd_call(
                device_path, PROPERTIES, "Set", "ssv", [DEVICE, "Powered", Variant("b", True)]
            )
        if dev.get("Mode", "station") != "station":
            await self._iwd_call(
                device_path, PROPERTIES, "Set", "ssv", [DEVICE, "Mode", Variant("s", "station")]
            )

    async def _wait_for_station(self, path: str, timeout: float = 10.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            objects = await self._objects()
            if STATION in objects.get(path, {}):
                return
            if asyncio.get_running_loop().time() > deadline:
                raise WifiError(
                    WifiErrorKind.RADIO_OFF, "The Wi-Fi device did not switch on. Try: rfkill unblock wifi"
                )
            await asyncio.sleep(0.1)

    async def power_on(self, device: WifiDevice | str | None = None) -> WifiStatus:
        """Switch the adapter and device on (if off) and into station mode."""
        await self._station(device)
        return await self.status()

    async def scan(self, device: WifiDevice | str | None = None, *, timeout: float = 30.0) -> WifiStatus:
        """Scan and wait until it is done; while it runs, `WifiDevice.scanning` is True."""
        station = await self._station(device)
        try:
            await self._call(station, STATION, "Scan")
        except DBusError as e:
            err = await self._translate(e, "Scanning")
            if err.kind != WifiErrorKind.BUSY:  # busy = a scan is already running: wait for that one
                raise err from None
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            (scanning,) = await self._iwd_call(station, PROPERTIES, "Get", "ss", [STATION, "Scanning"])
            if not _unwrap(scanning):
                return await self.status()
            if asyncio.get_running_loop().time() > deadline:
                raise WifiError(WifiErrorKind.TIMEOUT, f"The scan did not finish within {timeout:g} seconds.")
            await asyncio.sleep(0.1)

    async def _device_name_of(self, network_path: str) -> str | None:
        """The interface a listed network was seen on, so a second adapter's network is not looked
        for on the first one; None if iwd no longer has that object."""
        objects = await self._objects()
        device_path = objects.get(network_path, {}).get(NETWORK, {}).get("Device")
        name = objects.get(str(device_path), {}).get(DEVICE, {}).get("Name")
        return str(name) if name else None

    async def _find_network(self, network: WifiNetwork | str, station: str) -> tuple[str, dict[str, Any]]:
        objects = await self._objects()
        if isinstance(network, WifiNetwork):
            props = objects.get(network.path, {}).get(NETWORK)
            if props is not None and props.get("Device") == station:
                return network.path, props
            ssid, security = network.ssid, network.security
        else:
            ssid, security = network, None
        for path, ifaces in objects.items():
            props = ifaces.get(NETWORK)
            if (
                props is not None
                and props.get("Device") == station
                and props.get("Name") == ssid
                and security in (None, props.get("Type"))
            ):
                return path, props
        raise WifiError(
            WifiErrorKind.NOT_FOUND, "The network is not in range (not in the last scan). Scan again."
        )

    async def connect(
        self,
        network: WifiNetwork | str,
        passphrase: str | None = None,
        *,
        device: WifiDevice | str | None = None,
        timeout: float = 60.0,
    ) -> WifiStatus:
        """Connect to a network from the scan (a WifiNetwork, or an SSID). A protected network that
        iwd does not know yet needs `passphrase`; known and open networks connect without one."""
        if device is None and isinstance(network, WifiNetwork):
            device = await self._device_name_of(network.path)
        station = await self._station(device)
        path, props = await self._find_network(network, station)
        security = str(props.get("Type", ""))
        known = "KnownNetwork" in props
        if security in ("8021x", "wep"):
            raise WifiError(
                WifiErrorKind.NOT_SUPPORTED,
                "This network uses WEP or 802.1X/enterprise login, which cannot be set up here: "
                "provision it with a file in /var/lib/iwd or use iwctl.",
            )
        if security == "psk":
            if passphrase is None and not known:
                raise WifiError(WifiErrorKind.PASSPHRASE_REQUIRED, MSG_NEEDS_PASSPHRASE)
            if passphrase is not None:
                check_passphrase(passphrase)
        return await self._connect_with_agent(
            path if security == "psk" else None,
            passphrase,
            lambda: self._call(path, NETWORK, "Connect", timeout=timeout + 5),
            station,
            timeout,
        )

    async def connect_hidden(
        self,
        ssid: str,
        passphrase: str | None = None,
        *,
        device: WifiDevice | str | None = None,
        timeout: float = 60.0,
    ) -> WifiStatus:
        """Connect to a network that does not broadcast its name (first time; later it is known)."""
        check_ssid(ssid)
        if passphrase is not None:
            check_passphrase(passphrase)
        station = await self._station(device)
        return await self._connect_with_agent(
            None,
            passphrase,
            lambda: self._call(station, STATION, "ConnectHiddenNetwork", "s", [ssid], timeout=timeout + 5),
            station,
            timeout,
        )

    async def _connect_with_agent(
        self,
        network_path: str | None,
        passphrase: str | None,
        start: Callable[[], Any],
        station: str,
        timeout: float,
    ) -> WifiStatus:
        async with self._connecting:
            # Registered per attempt: a restarted iwd has forgotten earlier registrations.
            try:
                await self._call(IWD_ROOT, AGENT_MANAGER, "RegisterAgent", "o", [AGENT_PATH])
            except DBusError as e:
                if not e.type.endswith(".AlreadyExists"):
                    raise await self._translate(e, "Registering the passphrase agent") from None
            self._agent.offer(network_path, passphrase)
            try:
                async with asyncio.timeout(timeout):
                    await start()
            except TimeoutError:
                await self._abort(station)
                raise WifiError(
                    WifiErrorKind.TIMEOUT, f"No connection within {timeout:g} seconds. Try again."
                ) from None
            except WifiError as e:
                if e.kind == WifiErrorKind.TIMEOUT:
                    await self._abort(station)
                raise
            except asyncio.CancelledError:
                await asyncio.shield(self._abort(station))
                raise
            except DBusError as e:
                raise self._connect_error(e, passphrase) or await self._translate(e, "Connecting") from None
            finally:
                self._agent.withdraw()
        return await self.status()

    def _connect_error(self, e: DBusError, passphrase: str | None) -> WifiError | None:
        """Errors whose meaning depends on what the agent saw during this attempt."""
        short = e.type.rsplit(".", 1)[-1]
        reason = self._agent.cancel_reason
        if self._agent.asked and passphrase is None:
            return WifiError(WifiErrorKind.PASSPHRASE_REQUIRED, MSG_NEEDS_PASSPHRASE)
        if short == "Failed" and self._agent.asked:
            # iwd says only "Failed" when the 4-way handshake fails after our answer: the key was wrong.
            return WifiError(
                WifiErrorKind.WRONG_PASSPHRASE,
                "Wrong passphrase: the network refused it (handshake failed). Check it and try again.",
            )
        if reason == "out-of-range":
            return WifiError(WifiErrorKind.NOT_FOUND, MSG_GONE)
        if reason == "timed-out":
            return WifiError(WifiErrorKind.TIMEOUT, "The passphrase was not given in time.")
        if reason in ("user-canceled", "shutdown"):
            return WifiError(WifiErrorKind.CANCELLED, MSG_CANCELLED)
        if short == "Failed":
            return WifiError(
                WifiErrorKind.FAILED,
                "The connection failed: the network did not accept this device or stopped answering.",
            )
        return None

    async def _abort(self, station: str) -> None:
        with contextlib.suppress(DBusError, WifiError):
            await self._call(station, STATION, "Disconnect", timeout=5.0)

    async def disconnect(self, device: WifiDevice | str | None = None) -> WifiStatus:
        """Disconnect, or cancel a connection in progress (its connect() raises CANCELLED)."""
        station = await self._station(device)
        try:
            await self._call(station, STATION, "Disconnect")
        except DBusError as e:
            if not e.type.endswith(".NotConnected"):
                raise await self._translate(e, "Disconnecting") from None
        return await self.status()

    async def forget(self, network: KnownNetwork | WifiNetwork | str) -> WifiStatus:
        """Remove a known network (and its saved passphrase); disconnects if it is connected."""
        objects = await self._objects()
        if isinstance(network, KnownNetwork) and KNOWN_NETWORK in objects.get(network.path, {}):
            path = network.path
        else:
            ssid = network if isinstance(network, str) else network.ssid
            security = None if isinstance(network, str) else network.security
            paths = [
                p
                for p, ifaces in objects.items()
                if (kn := ifaces.get(KNOWN_NETWORK)) is not None
                and kn.get("Name") == ssid
                and security in (None, kn.get("Type"))
            ]
            if not paths:
                raise WifiError(
                    WifiErrorKind.NOT_FOUND, "This network is not a known network (nothing to forget)."
                )
            path = paths[0]
        await self._iwd_call(path, KNOWN_NETWORK, "Forget")
        return await self.status()


def _watch_udev(changed: Callable[[], None]) -> Callable[[], None] | None:
    """A hint only: a network interface appearing or vanishing (a USB dongle) triggers a re-read.

    iwd announces the same through InterfacesAdded/Removed; udev catches adapters iwd ignores.
    Without udevd (minimal systems) the kernel's own events are used.
    """
    try:
        import pyudev

        context = pyudev.Context()
        source = "udev" if os.path.exists("/run/udev/control") else "kernel"
        monitor = pyudev.Monitor.from_netlink(context, source=source)
        monitor.filter_by(subsystem="net")
        monitor.start()
        loop = asyncio.get_running_loop()

        def readable() -> None:
            while monitor.poll(timeout=0) is not None:
                changed()

        fd = monitor.fileno()
        loop.add_reader(fd, readable)
    except Exception as e:  # no libudev, no permission for the netlink socket: go on without the hint
        log.debug("no udev hint for Wi-Fi adapters: %s", e)
        return None

    def stop() -> None:
        loop.remove_reader(fd)
        with contextlib.suppress(Exception):
            monitor.stop()

    return stop
