"""An asyncio client for iwd (net.connman.iwd) on the system D-Bus: the connection, reading,
watching, and the operations (scan, connect, disconnect, forget, power on).

One bus connection per client: the passphrase agent (agent.py) is exported on the same connection
that calls Network.Connect(), because iwd asks the agent of the caller first. Every public operation
raises only `WifiError`, worded by the one table in errors.py; `status()` never raises and reports
problems inside the returned `WifiStatus` (built by parse.py) instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections.abc import AsyncGenerator, Callable
from typing import Any

from dbus_fast import BusType, DBusError, Message, MessageFlag, MessageType, Variant
from dbus_fast.aio import MessageBus

from installer_env.wifi import errors
from installer_env.wifi.agent import AGENT_PATH, PassphraseAgent
from installer_env.wifi.checks import check_passphrase, check_ssid
from installer_env.wifi.errors import (
    MSG_BUS_LOST,
    MSG_IWD_TIMEOUT,
    MSG_NEEDS_PASSPHRASE,
    MSG_NO_ADAPTER,
    MSG_NO_PERMISSION,
)
from installer_env.wifi.model import (
    KnownNetwork,
    WifiDevice,
    WifiError,
    WifiErrorKind,
    WifiNetwork,
    WifiStatus,
)
from installer_env.wifi.names import (
    ADAPTER,
    AGENT_MANAGER,
    BUS,
    DEVICE,
    IWD,
    IWD_ROOT,
    KNOWN_NETWORK,
    NETWORK,
    OBJECT_MANAGER,
    PROPERTIES,
    STATION,
)
from installer_env.wifi.parse import status_from_objects
from installer_env.wifi.udev import watch_udev

log = logging.getLogger(__name__)

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
        self._agent = PassphraseAgent()
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

    async def __aenter__(self) -> IwdClient:
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
        return errors.not_running(installed)

    async def _translate(self, e: DBusError, context: str = "") -> WifiError:
        if e.type in errors.SERVICE_ABSENT:
            return await self._not_running()
        return errors.translate(e.type, context)

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
        ordered = {
            path: await self._ordered_networks(path)
            for path, ifaces in objects.items()
            if DEVICE in ifaces and STATION in ifaces
        }
        return status_from_objects(objects, ordered)

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
        stop_udev = watch_udev(self._changed.set) if udev_hint else None
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
            raise WifiError(WifiErrorKind.NOT_SUPPORTED, errors.MSG_NOT_SUPPORTED)
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
                agent = self._agent
                known = errors.connect_error(
                    e.type,
                    asked=agent.asked,
                    passphrase_given=passphrase is not None,
                    cancel_reason=agent.cancel_reason,
                )
                raise known or await self._translate(e, "Connecting") from None
            finally:
                self._agent.withdraw()
        return await self.status()

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
