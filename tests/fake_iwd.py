"""A stand-in for iwd on a private dbus-daemon, following iwd's documented D-Bus API.

Object tree (doc/*-api.txt of iwd): ObjectManager on "/", AgentManager on /net/connman/iwd,
Adapter on /net/connman/iwd/<n>, Device + Station on /net/connman/iwd/<n>/<m>, Network on
<station>/<hex ssid>_<type>, KnownNetwork on /net/connman/iwd/<hex ssid>_<type>. Optional
properties (Station.ConnectedNetwork, Network.KnownNetwork, KnownNetwork.LastConnectedTime) are
absent when they do not apply, as in iwd. The access points "in range" are plain data the test sets.
"""

# No `from __future__ import annotations`: dbus-fast reads signatures from live annotations.
import asyncio
import os
import signal
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from dbus_fast import BusType, DBusError, Message, MessageType, NameFlag
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusBool, DBusObjectPath, DBusSignature, DBusStr
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import ServiceInterface, dbus_property, method

IWD = "net.connman.iwd"
ROOT = "/net/connman/iwd"

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>{listen}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    {extra}
  </policy>
</busconfig>
"""

# What the system bus of a distribution does for iwd: nobody but root may call it.
DENY_IWD = f'<deny send_destination="{IWD}"/>'


class PrivateBus:
    """A dbus-daemon of our own on a socket in a temp dir; killed by `stop()`."""

    def __init__(self, tmp: Path, *, deny_iwd: bool = False) -> None:
        self.socket = tmp / "bus.sock"
        self.config = tmp / "bus.conf"
        extra = DENY_IWD if deny_iwd else ""
        self.config.write_text(BUS_CONFIG.format(listen=f"unix:path={self.socket}", extra=extra))
        self.process: subprocess.Popen[str] | None = None
        self.address = ""

    def start(self) -> str:
        self.process = subprocess.Popen(
            ["dbus-daemon", f"--config-file={self.config}", "--nofork", "--print-address"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.address = self.process.stdout.readline().strip()
        assert self.address.startswith("unix:"), self.address
        return self.address

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            self.process.wait(5)


def _hex(ssid: str) -> str:
    return ssid.encode("utf-8").hex()


def _error(short: str, text: str) -> DBusError:
    return DBusError(f"{IWD}.{short}", text)


def _own_properties(iface: ServiceInterface) -> None:
    """Per-object copies of the property descriptors, so an optional property can come and go."""
    props = ServiceInterface._get_properties(iface)
    props[:] = [_clone(p) for p in props]


def _clone(prop: Any) -> Any:
    clone = type(prop)(prop.prop_getter, options=dict(prop.options))
    return clone.setter(prop.prop_setter) if prop.prop_setter is not None else clone


def _set_present(iface: ServiceInterface, name: str, present: bool) -> None:
    for prop in ServiceInterface._get_properties(iface):
        if prop.name == name:
            prop.disabled = not present


@dataclass
class AccessPoint:
    """A network in the air: what a scan can find."""

    ssid: str
    security: str = "psk"  # open, psk, 8021x, wep
    passphrase: str | None = None
    signal_dbm: int = -50
    hidden: bool = False


@dataclass
class FakeState:
    """Knobs a test turns: errors to return once, delays, what iwd saw."""

    fail_next: dict[str, str] = field(default_factory=dict)  # member -> iwd error short name
    connect_delay: float = 0.05
    scan_delay: float = 0.1
    passphrases_received: list[str] = field(default_factory=list)
    agent_requests: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)


class AgentManager(ServiceInterface):
    def __init__(self, iwd: "FakeIwd") -> None:
        super().__init__(f"{IWD}.AgentManager")
        self.iwd = iwd

    @method()
    def RegisterAgent(self, path: DBusObjectPath) -> None:
        sender = self.iwd.current_sender
        if self.iwd.agent is not None and self.iwd.agent == (sender, path):
            raise _error("AlreadyExists", "Object already exists")
        self.iwd.agent = (sender, path)

    @method()
    def UnregisterAgent(self, path: DBusObjectPath) -> None:
        if self.iwd.agent is None or self.iwd.agent[1] != path:
            raise _error("NotFound", "Object not found")
        self.iwd.agent = None


class Adapter(ServiceInterface):
    def __init__(self, iwd: "FakeIwd", name: str) -> None:
        super().__init__(f"{IWD}.Adapter")
        self.iwd, self.name_, self.powered = iwd, name, True

    @dbus_property(access=PropertyAccess.READWRITE)
    def Powered(self) -> DBusBool:
        return self.powered

    @Powered.setter  # type: ignore[no-redef]
    def Powered(self, value: DBusBool) -> None:
        self.powered = value
        self.emit_properties_changed({"Powered": value})

    @dbus_property(access=PropertyAccess.READ)
    def Name(self) -> DBusStr:
        return self.name_

    @dbus_property(access=PropertyAccess.READ)
    def Model(self) -> DBusStr:
        return "Fake 802.11 radio"

    @dbus_property(access=PropertyAccess.READ)
    def Vendor(self) -> DBusStr:
        return "Test"

    @dbus_property(access=PropertyAccess.READ)
    def SupportedModes(self) -> Annotated[list[str], DBusSignature("as")]:
        return ["station", "ap"]


class Device(ServiceInterface):
    def __init__(self, station: "Station") -> None:
        super().__init__(f"{IWD}.Device")
        self.station = station

    @dbus_property(access=PropertyAccess.READ)
    def Name(self) -> DBusStr:
        return self.station.ifname

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> DBusStr:
        return self.station.address

    @dbus_property(access=PropertyAccess.READWRITE)
    def Powered(self) -> DBusBool:
        return self.station.powered

    @Powered.setter  # type: ignore[no-redef]
    def Powered(self, value: DBusBool) -> None:
        self.station.set_powered(value)
        self.emit_properties_changed({"Powered": value})

    @dbus_property(access=PropertyAccess.READ)
    def Adapter(self) -> DBusObjectPath:
        return self.station.adapter_path

    @dbus_property(access=PropertyAccess.READ)
    def Mode(self) -> DBusStr:
        return "station"


class Network(ServiceInterface):
    def __init__(self, station: "Station", ap: AccessPoint) -> None:
        super().__init__(f"{IWD}.Network")
        _own_properties(self)
        self.station, self.ap = station, ap
        self.path = f"{station.path}/{_hex(ap.ssid)}_{ap.security}"
        self.connected = False
        self.known_path: str | None = None
        _set_present(self, "KnownNetwork", False)

    def set_known(self, path: str | None) -> None:
        self.known_path = path
        _set_present(self, "KnownNetwork", path is not None)
        if path is None:
            self.emit_properties_changed({}, ["KnownNetwork"])
        else:
            self.emit_properties_changed({"KnownNetwork": path})

    def set_connected(self, value: bool) -> None:
        self.connected = value
        self.emit_properties_changed({"Connected": value})

    @dbus_property(access=PropertyAccess.READ)
    def Name(self) -> DBusStr:
        return self.ap.ssid

    @dbus_property(access=PropertyAccess.READ)
    def Connected(self) -> DBusBool:
        return self.connected

    @dbus_property(access=PropertyAccess.READ)
    def Device(self) -> DBusObjectPath:
        return self.station.path

    @dbus_property(access=PropertyAccess.READ)
    def Type(self) -> DBusStr:
        return self.ap.security

    @dbus_property(access=PropertyAccess.READ)
    def KnownNetwork(self) -> DBusObjectPath:
        return self.known_path or "/"

    @method()
    async def Connect(self) -> None:
        await self.station.connect(self)


class KnownNetwork(ServiceInterface):
    def __init__(self, iwd: "FakeIwd", ap: AccessPoint, passphrase: str | None) -> None:
        super().__init__(f"{IWD}.KnownNetwork")
        self.iwd, self.ap, self.passphrase = iwd, ap, passphrase
        self.path = f"{ROOT}/{_hex(ap.ssid)}_{ap.security}"
        self.last_connected = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    @dbus_property(access=PropertyAccess.READ)
    def Name(self) -> DBusStr:
        return self.ap.ssid

    @dbus_property(access=PropertyAccess.READ)
    def Type(self) -> DBusStr:
        return self.ap.security

    @dbus_property(access=PropertyAccess.READ)
    def Hidden(self) -> DBusBool:
        return self.ap.hidden

    @dbus_property(access=PropertyAccess.READ)
    def AutoConnect(self) -> DBusBool:
        return True

    @dbus_property(access=PropertyAccess.READ)
    def LastConnectedTime(self) -> DBusStr:
        return self.last_connected

    @method()
    def Forget(self) -> None:
        self.iwd.state.calls.append("Forget")
        self.iwd.forget(self)


class Station(ServiceInterface):
    def __init__(self, iwd: "FakeIwd", adapter_path: str, path: str, ifname: str, address: str) -> None:
        super().__init__(f"{IWD}.Station")
        _own_properties(self)
        self.iwd, self.adapter_path, self.path = iwd, adapter_path, path
        self.ifname, self.address = ifname, address
        self.powered = True
        self.device = Device(self)
        self.state = "disconnected"
        self.scanning = False
        self.connected_network: Network | None = None
        self.networks: dict[str, Network] = {}
        self._abort: asyncio.Event | None = None
        _set_present(self, "ConnectedNetwork", False)

    # --- properties
    @dbus_property(access=PropertyAccess.READ)
    def State(self) -> DBusStr:
        return self.state

    @dbus_property(access=PropertyAccess.READ)
    def Scanning(self) -> DBusBool:
        return self.scanning

    @dbus_property(access=PropertyAccess.READ)
    def ConnectedNetwork(self) -> DBusObjectPath:
        return self.connected_network.path if self.connected_network else "/"

    def _set_state(self, state: str, network: Network | None) -> None:
        self.state = state
        old = self.connected_network
        self.connected_network = network
        _set_present(self, "ConnectedNetwork", network is not None)
        if network is not None:
            self.emit_properties_changed({"State": state, "ConnectedNetwork": network.path})
        else:
            self.emit_properties_changed({"State": state}, ["ConnectedNetwork"])
        if old is not None and old is not network:
            old.set_connected(False)
        if network is not None and not network.connected:
            network.set_connected(True)

    def set_powered(self, value: bool) -> None:
        """Like iwd: powering a device off removes its Station interface and its networks."""
        if value == self.powered:
            return
        self.powered = value
        bus = self.iwd.require_bus()
        if value:
            bus.export(self.path, self)
        else:
            for net in list(self.networks.values()):
                bus.unexport(net.path)
            self.networks.clear()
            self.connected_network = None
            self.state = "disconnected"
            bus.unexport(self.path, self)

    # --- methods
    @method()
    async def Scan(self) -> None:
        self.iwd.state.calls.append("Scan")
        self.iwd.maybe_fail("Scan")
        if self.scanning:
            raise _error("Busy", "Operation already in progress")
        self.scanning = True
        self.emit_properties_changed({"Scanning": True})
        asyncio.get_running_loop().call_later(self.iwd.state.scan_delay, self.finish_scan)

    def finish_scan(self) -> None:
        bus = self.iwd.bus
        if bus is None or not self.powered:
            return
        visible = {f"{self.path}/{_hex(ap.ssid)}_{ap.security}": ap for ap in self.iwd.air if not ap.hidden}
        for path in list(self.networks):
            if path not in visible and self.networks[path] is not self.connected_network:
                bus.unexport(path)
                del self.networks[path]
        for path, ap in visible.items():
            if path not in self.networks:
                self.add_network(ap)
        self.scanning = False
        self.emit_properties_changed({"Scanning": False})

    def add_network(self, ap: AccessPoint) -> "Network":
        net = Network(self, ap)
        known = self.iwd.known.get(f"{ROOT}/{_hex(ap.ssid)}_{ap.security}")
        if known is not None:
            net.known_path = known.path
            _set_present(net, "KnownNetwork", True)
        self.networks[net.path] = net
        self.iwd.require_bus().export(net.path, net)
        return net

    @method()
    def GetOrderedNetworks(self) -> Annotated[list[list[Any]], DBusSignature("a(on)")]:
        nets = sorted(self.networks.values(), key=lambda n: (not n.connected, -n.ap.signal_dbm))
        return [[n.path, n.ap.signal_dbm * 100] for n in nets]

    @method()
    async def Disconnect(self) -> None:
        self.iwd.state.calls.append("Disconnect")
        if self._abort is not None:
            self._abort.set()
            return
        if self.connected_network is None:
            raise _error("NotConnected", "Not connected")
        self._set_state("disconnecting", self.connected_network)
        self._set_state("disconnected", None)

    @method()
    async def ConnectHiddenNetwork(self, ssid: DBusStr) -> None:
        self.iwd.state.calls.append("ConnectHiddenNetwork")
        matches = [ap for ap in self.iwd.air if ap.ssid == ssid]
        if not matches:
            raise _error("NotFound", "Object not found")
        if not any(ap.hidden for ap in matches):
            raise _error("NotHidden", "Not hidden")
        ap = next(ap for ap in matches if ap.hidden)
        if f"{ROOT}/{_hex(ap.ssid)}_{ap.security}" in self.iwd.known:
            raise _error("AlreadyProvisioned", "Already provisioned")
        net = self.networks.get(f"{self.path}/{_hex(ap.ssid)}_{ap.security}") or self.add_network(ap)
        await self.connect(net)

    async def connect(self, net: "Network") -> None:
        state = self.iwd.state
        state.calls.append("Connect")
        self.iwd.maybe_fail("Connect")
        if self.state in ("connecting", "disconnecting"):
            raise _error("InProgress", "Operation already in progress")
        if net.ap not in self.iwd.air:
            raise _error("NotFound", "Object not found")
        if net.ap.security in ("8021x", "wep"):
            raise _error("NotSupported", "Operation not supported")
        if self.connected_network is not None:
            self._set_state("disconnected", None)
        self._abort = abort = asyncio.Event()
        self._set_state("connecting", net)
        try:
            passphrase = None
            if net.ap.security == "psk":
                known = self.iwd.known.get(f"{ROOT}/{_hex(net.ap.ssid)}_psk")
                passphrase = known.passphrase if known else await self.iwd.ask_agent(net.path)
            try:
                await asyncio.wait_for(abort.wait(), state.connect_delay)
            except TimeoutError:
                pass
            else:
                raise _error("Aborted", "Operation aborted")
            if net.ap.security == "psk" and passphrase != net.ap.passphrase:
                # iwd's answer to a failed 4-way handshake: nothing more specific than this.
                raise _error("Failed", "Operation failed")
        except BaseException:
            self._set_state("disconnected", None)
            raise
        finally:
            self._abort = None
        self._set_state("connected", net)
        if f"{ROOT}/{_hex(net.ap.ssid)}_{net.ap.security}" not in self.iwd.known:
            known = self.iwd.add_known(net.ap, passphrase)
            for station in self.iwd.stations.values():
                for other in station.networks.values():
                    if other.ap is net.ap:
                        other.set_known(known.path)


class FakeIwd:
    """iwd's D-Bus face: owns net.connman.iwd on a bus given by address, like the real daemon."""

    def __init__(self, bus_address: str) -> None:
        self.bus_address = bus_address
        self.bus: MessageBus | None = None
        self.state = FakeState()
        self.air: list[AccessPoint] = []
        self.stations: dict[str, Station] = {}
        self.adapters: dict[str, Adapter] = {}
        self.known: dict[str, KnownNetwork] = {}
        self.agent: tuple[str, str] | None = None
        self.current_sender = ""
        self._phy = 0

    def require_bus(self) -> MessageBus:
        assert self.bus is not None, "fake iwd is not running"
        return self.bus

    def _track_sender(self, msg: Message) -> None:
        if msg.message_type == MessageType.METHOD_CALL:
            self.current_sender = msg.sender or ""

    async def start(self, adapters: int = 1) -> None:
        self.bus = await MessageBus(bus_address=self.bus_address, bus_type=BusType.SYSTEM).connect()
        self.bus.add_message_handler(self._track_sender)
        self.bus.export(ROOT, AgentManager(self))
        for known in self.known.values():
            self.bus.export(known.path, known)
        for _ in range(adapters):
            self.add_adapter()
        await self.bus.request_name(IWD, NameFlag.DO_NOT_QUEUE)

    async def stop(self) -> None:
        """iwd exits: the name goes away, every object with it, agents are forgotten."""
        if self.bus is None:
            return
        bus, self.bus = self.bus, None
        bus.disconnect()
        await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]
        self.stations.clear()
        self.adapters.clear()
        self.agent = None
        self._phy = 0

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    def add_adapter(self, ifname: str | None = None) -> "Station":
        """A radio appears (a USB dongle plugged in): Adapter, then Device + Station."""
        bus = self.require_bus()
        phy = self._phy
        self._phy += 1
        adapter_path, path = f"{ROOT}/{phy}", f"{ROOT}/{phy}/{4 + phy}"
        adapter = Adapter(self, f"phy{phy}")
        station = Station(self, adapter_path, path, ifname or f"wlan{phy}", f"02:00:00:00:0{phy}:00")
        self.adapters[adapter_path] = adapter
        self.stations[path] = station
        bus.export(adapter_path, adapter)
        bus.export(path, station.device)
        bus.export(path, station)
        return station

    def remove_adapter(self, station: "Station") -> None:
        """The dongle is unplugged: its objects vanish (InterfacesRemoved)."""
        bus = self.require_bus()
        for net in station.networks.values():
            bus.unexport(net.path)
        bus.unexport(station.path)
        bus.unexport(station.adapter_path)
        del self.stations[station.path]
        del self.adapters[station.adapter_path]

    def add_known(self, ap: AccessPoint, passphrase: str | None) -> KnownNetwork:
        known = KnownNetwork(self, ap, passphrase)
        self.known[known.path] = known
        if self.bus is not None:
            self.bus.export(known.path, known)
        return known

    def forget(self, known: KnownNetwork) -> None:
        bus = self.require_bus()
        del self.known[known.path]
        for station in self.stations.values():
            for net in station.networks.values():
                if net.known_path == known.path:
                    net.set_known(None)
                    if station.connected_network is net:
                        station._set_state("disconnected", None)
        bus.unexport(known.path)

    def maybe_fail(self, member: str) -> None:
        short = self.state.fail_next.pop(member, None)
        if short is not None:
            raise _error(short, f"injected {short}")

    async def ask_agent(self, network_path: str) -> str:
        """RequestPassphrase to the registered agent; its refusal aborts the connection, as in iwd."""
        if self.agent is None:
            raise _error("NoAgent", "No Agent registered")
        owner, path = self.agent
        self.state.agent_requests.append(network_path)
        reply = await self.require_bus().call(
            Message(
                destination=owner,
                path=path,
                interface=f"{IWD}.Agent",
                member="RequestPassphrase",
                signature="o",
                body=[network_path],
            )
        )
        if reply.message_type == MessageType.ERROR:
            raise _error("Aborted", "Operation aborted")
        passphrase: Any = reply.body[0]
        self.state.passphrases_received.append(passphrase)
        return str(passphrase)
