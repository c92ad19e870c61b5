"""Network interfaces and the addresses offered for ssh: netlink (pyroute2) for links and addresses,
udev (pyudev) for what the hardware is and for NICs being plugged in or out.

`read()` is the one-shot view for `status`; `watch()` turns netlink and udev events into snapshots,
debounced, with no polling. Both take `netns` (a name under /run/netns) so tests can point them at
a namespace they create. pyroute2 is imported by them, not with this module: only the submodules
used (`leanimport`), and of its rtnetlink only the link and address messages (about 30 ms and
3.5 MiB, a quarter of the whole package), which the screen pays on its first snapshot's thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import ipaddress
import logging
import socket
import threading
from collections.abc import AsyncGenerator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from installer_env.leanimport import lean_import

if TYPE_CHECKING:
    import pyudev

    from installer_env.session import Session

log = logging.getLogger(__name__)

DEBOUNCE_SECONDS = 0.05  # a DHCP lease or a plugged NIC is a burst of events a few ms apart
NETNS_DIR = Path("/run/netns")
T = TypeVar("T")

# linux/if.h and linux/if_addr.h
IFF_UP = 0x1
IFF_LOOPBACK = 0x8
IFF_LOWER_UP = 0x10000
_ADDRESS_FLAGS = (
    (0x01, "secondary"),  # IPv4: a second address in a subnet; IPv6: a temporary privacy address
    (0x02, "nodad"),
    (0x04, "optimistic"),
    (0x08, "dadfailed"),
    (0x10, "homeaddress"),
    (0x20, "deprecated"),
    (0x40, "tentative"),
    (0x80, "permanent"),
    (0x100, "mngtmpaddr"),
    (0x200, "noprefixroute"),
    (0x400, "mcautojoin"),
    (0x800, "stable-privacy"),
)
_NOT_OFFERED_FLAGS = frozenset({"tentative", "dadfailed", "deprecated", "temporary"})
_SCOPES = {0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere"}
_FAMILIES = {2: "ipv4", 10: "ipv6"}  # AF_INET, AF_INET6
_DUMP_ATTEMPTS = 5


@dataclass(frozen=True)
class Address:
    address: str  # "192.0.2.5", "2001:db8::5" (no brackets, no prefix)
    prefixlen: int
    family: str  # "ipv4" or "ipv6"
    scope: str  # "global", "site", "link", "host", "nowhere" (or the kernel's number)
    flags: tuple[str, ...]  # "permanent", "tentative", "deprecated", "temporary", "dadfailed", ...
    offered: bool  # in `NetworkSnapshot.offered` (and so usable for ssh and the QR code)
    origin: str = "unknown"  # how it came: "static", "DHCP", "DHCPv6", "RA", "link-local", "kernel"

    @property
    def host(self) -> str:
        """As it goes after `root@`: IPv6 in brackets."""
        return f"[{self.address}]" if self.family == "ipv6" else self.address


@dataclass(frozen=True)
class Hardware:
    bus: str | None  # "usb", "pci", "virtual", another bus name (e.g. "sdio"), or None if unknown
    vendor: str | None  # from the udev hardware database or the device itself; None if unknown
    model: str | None
    ids: str | None  # "vendor:product" in hex, e.g. "8086:1539"
    driver: str | None  # kernel driver, e.g. "igb", "r8152"

    @property
    def description(self) -> str:
        """One line a person can tell ports apart by, e.g. "Intel Corporation I211 (PCI, igb)"."""
        if self.bus == "virtual":
            return f"virtual {self.model}" if self.model else "virtual"
        name = " ".join(p for p in (self.vendor, self.model) if p) or (self.ids or "")
        detail = ", ".join(p for p in ((self.bus or "").upper() or None, self.driver) if p)
        if name and detail:
            return f"{name} ({detail})"
        return name or detail or "unknown hardware"


UNKNOWN_HARDWARE = Hardware(bus=None, vendor=None, model=None, ids=None, driver=None)
VIRTUAL_HARDWARE = Hardware(bus="virtual", vendor=None, model=None, ids=None, driver=None)


@dataclass(frozen=True)
class Interface:
    name: str  # from the kernel; may hold odd characters: show it with textsafe.literal
    index: int
    state: str  # "up" or "down": whether it is switched on
    carrier: bool  # a cable or Wi-Fi association is there (the kernel's LOWER_UP)
    operstate: str  # the kernel's view: "up", "down", "dormant", "unknown", ...
    mac: str | None
    kind: str | None  # link kind for virtual links ("veth", "bridge", "wireguard", ...), else None
    loopback: bool
    wireless: bool
    hardware: Hardware
    addresses: tuple[Address, ...]


@dataclass(frozen=True)
class NetworkSnapshot:
    interfaces: tuple[Interface, ...]
    offered: tuple[str, ...]  # hosts for `ssh root@<host>` and the QR code: IPv4 first, IPv6 in brackets
    problem: str | None = None  # why nothing could be read, else None


def _text(value: Any) -> str | None:
    # pyroute2 hands over bytes when they are not UTF-8 (interface names may be any bytes).
    if isinstance(value, bytes):
        value = value.split(b"\0", 1)[0].decode("utf-8", errors="backslashreplace")
    return value if isinstance(value, str) and value else None


def _flag_names(bits: int, family: str) -> tuple[str, ...]:
    names = []
    for bit, name in _ADDRESS_FLAGS:
        if bits & bit:
            names.append("temporary" if name == "secondary" and family == "ipv6" else name)
    return tuple(names)


def reachable_for_ssh(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether another machine can `ssh root@` this address: the rule the screen and the QR share."""
    if ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        # Global unicast and unique local only: no deprecated site-local, no IPv4-mapped, no scope.
        return not ip.is_site_local and ip.ipv4_mapped is None and not ip.scope_id
    return True


def _offerable(address: str, flags: Iterable[str]) -> bool:
    if _NOT_OFFERED_FLAGS.intersection(flags):
        return False
    try:
        return reachable_for_ssh(ipaddress.ip_address(address))
    except ValueError:
        return False


def offered_hosts(interfaces: Iterable[Interface]) -> tuple[str, ...]:
    """IPv4 hosts first, then IPv6, each once, in interface order."""
    offered = [a for i in interfaces for a in i.addresses if a.offered]
    ordered = sorted(offered, key=lambda a: a.family != "ipv4")  # stable: keeps interface order
    return tuple(dict.fromkeys(a.host for a in ordered))


def why_not_offered(interface: Interface, address: Address) -> str | None:
    """A few words on why an address is not offered for ssh ("link-local", "tentative", ...)."""
    if address.offered:
        return None
    for flag in ("dadfailed", "tentative", "deprecated", "temporary"):
        if flag in address.flags:
            return "duplicate address" if flag == "dadfailed" else flag
    try:
        ip = ipaddress.ip_address(address.address)
    except ValueError:
        return "not an IP address"
    if ip.is_loopback or interface.loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if interface.state != "up":
        return "interface down"
    if not interface.carrier:
        return "no carrier"
    return "not routable"


# IFA_PROTO (Linux 6.1+): who made the address, when the kernel made it itself.
_KERNEL_ORIGINS = {1: "kernel", 2: "RA", 3: "link-local"}


def address_origin(family: str, scope: str, prefixlen: int, flags: tuple[str, ...], proto: int | None) -> str:
    """How an address came, from what netlink tells: DHCP clients (dhcpcd, networkd) give leases a
    lifetime, an address set by hand or by `installer-env net static` has none ("permanent")."""
    if proto in _KERNEL_ORIGINS:
        return _KERNEL_ORIGINS[proto]
    if scope == "link":
        return "link-local"
    if scope == "host":
        return "kernel"
    if "permanent" in flags:
        return "static"
    if family == "ipv6":
        # SLAAC from router advertisements makes /64s (and temporary ones); DHCPv6 hands out /128s.
        return "DHCPv6" if prefixlen == 128 and "mngtmpaddr" not in flags else "RA"
    return "DHCP"


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) else None


def _address(msg: Any, reachable: bool) -> Address | None:
    family = _FAMILIES.get(msg.get("family"))
    # IFA_ADDRESS is the peer on point-to-point links; IFA_LOCAL is then our own address.
    text = _text(msg.get_attr("IFA_LOCAL")) or _text(msg.get_attr("IFA_ADDRESS"))
    if family is None or text is None:
        return None
    flags_attr = msg.get_attr("IFA_FLAGS")  # all 32 bits; the message header holds only 8
    flags = _flag_names(flags_attr if isinstance(flags_attr, int) else int(msg.get("flags") or 0), family)
    scope = int(msg.get("scope") or 0)
    scope_name = _SCOPES.get(scope, str(scope))
    prefixlen = int(msg.get("prefixlen") or 0)
    proto = msg.get_attr("IFA_PROTO")
    return Address(
        address=text,
        prefixlen=prefixlen,
        family=family,
        scope=scope_name,
        flags=flags,
        offered=reachable and _offerable(text, flags),
        origin=address_origin(family, scope_name, prefixlen, flags, _int_or_none(proto)),
    )


def _link_kind(link: Any) -> str | None:
    info = link.get_attr("IFLA_LINKINFO")
    return _text(info.get_attr("IFLA_INFO_KIND")) if info is not None else None


def _interfaces(links: list[Any], addrs: list[Any], hardware: HardwareCache) -> tuple[Interface, ...]:
    by_index: dict[int, list[Any]] = {}
    for msg in addrs:
        by_index.setdefault(int(msg.get("index") or 0), []).append(msg)
    result = []
    for link in sorted(links, key=lambda m: int(m.get("index") or 0)):
        index = int(link.get("index") or 0)
        name = _text(link.get_attr("IFLA_IFNAME")) or f"#{index}"
        flags = int(link.get("flags") or 0)
        up, carrier, loopback = bool(flags & IFF_UP), bool(flags & IFF_LOWER_UP), bool(flags & IFF_LOOPBACK)
        kind = _link_kind(link)
        described, wireless = hardware.lookup(index, name, kind)
        addresses = tuple(
            a
            for a in (_address(m, up and carrier and not loopback) for m in by_index.get(index, []))
            if a is not None
        )
        result.append(
            Interface(
                name=name,
                index=index,
                state="up" if up else "down",
                carrier=carrier,
                operstate=(_text(link.get_attr("IFLA_OPERSTATE")) or "unknown").lower(),
                mac=_text(link.get_attr("IFLA_ADDRESS")) if not loopback else None,
                kind=kind,
                loopback=loopback,
                wireless=wireless,
                hardware=VIRTUAL_HARDWARE if loopback else described,
                addresses=addresses,
            )
        )
    return tuple(result)


# --- hardware descriptions (udev) ------------------------------------------------------------------


def _attribute(device: pyudev.Device, name: str) -> str | None:
    try:
        value = device.attributes.asstring(name).strip()
    except (KeyError, UnicodeDecodeError, OSError):
        return None
    return value[:80] or None  # strings from a USB device's descriptors: bounded, shown with literal()


def _hex_id(device: pyudev.Device, vendor_attr: str, product_attr: str) -> str | None:
    vendor, product = _attribute(device, vendor_attr), _attribute(device, product_attr)
    if vendor is None or product is None:
        return None
    return f"{vendor.removeprefix('0x')}:{product.removeprefix('0x')}"


def describe(device: pyudev.Device, kind: str | None) -> tuple[Hardware, bool]:
    """(hardware, wireless) for a net device; udevd's hardware database names it when it runs."""
    props = device.properties
    wireless = device.device_type == "wlan" or Path(device.sys_path, "wireless").exists()
    parent = device.parent
    driver = parent.driver if parent is not None else None
    vendor = _text(props.get("ID_VENDOR_FROM_DATABASE"))
    model = _text(props.get("ID_MODEL_FROM_DATABASE"))
    usb = device.find_parent("usb", "usb_device")
    if usb is not None:
        return Hardware(
            bus="usb",
            vendor=vendor or _attribute(usb, "manufacturer"),
            model=model or _attribute(usb, "product"),
            ids=_hex_id(usb, "idVendor", "idProduct"),
            driver=driver,
        ), wireless
    pci = device.find_parent("pci")
    if pci is not None:
        return Hardware(
            bus="pci", vendor=vendor, model=model, ids=_hex_id(pci, "vendor", "device"), driver=driver
        ), wireless
    if parent is None or "/devices/virtual/" in device.sys_path:
        return Hardware(bus="virtual", vendor=None, model=kind, ids=None, driver=None), wireless
    return Hardware(bus=parent.subsystem, vendor=vendor, model=model, ids=None, driver=driver), wireless


class HardwareCache:
    """Hardware descriptions by interface, read from sysfs once and again after a udev event.

    Inside another network namespace this process's /sys still shows its own namespace's devices,
    so there only the netlink link kind tells virtual from not.
    """

    def __init__(self, use_udev: bool) -> None:
        self._context: pyudev.Context | None = None
        self._use_udev = use_udev
        self._known: dict[tuple[int, str], tuple[Hardware, bool]] = {}

    def forget(self) -> None:
        self._known.clear()

    def lookup(self, index: int, name: str, kind: str | None) -> tuple[Hardware, bool]:
        key = (index, name)
        if key not in self._known:
            self._known[key] = self._read(name, kind)
        return self._known[key]

    def _read(self, name: str, kind: str | None) -> tuple[Hardware, bool]:
        fallback = (VIRTUAL_HARDWARE if kind else UNKNOWN_HARDWARE, False)
        if not self._use_udev:
            return fallback
        try:
            import pyudev

            if self._context is None:
                self._context = pyudev.Context()
            device = pyudev.Devices.from_name(self._context, "net", name)
            return describe(device, kind)
        except Exception as e:  # no sysfs, a device that vanished meanwhile: not worth more than a log line
            log.debug("no hardware description for %r: %s", name, e)
            return fallback


# --- one-shot read -------------------------------------------------------------------------------


def _link_addr_socket(netns: str | None) -> Any:
    """A pyroute2 rtnetlink socket that knows link and address messages alone.

    pyroute2's own rtnetlink sockets parse with a marshal that imports every message class it has
    (traffic control, neighbours, routes, ...; and `unittest.mock` for its mock netlink): about
    30 ms and 3 MiB more than the two classes read here. flags=0: never create `netns`.
    """
    netlink = lean_import("pyroute2.netlink")
    nlsocket = lean_import("pyroute2.netlink.nlsocket")
    rtnl = lean_import("pyroute2.netlink.rtnl")
    ifinfmsg = lean_import("pyroute2.netlink.rtnl.ifinfmsg").ifinfmsg
    ifaddrmsg = lean_import("pyroute2.netlink.rtnl.ifaddrmsg").ifaddrmsg

    messages = {
        rtnl.RTM_NEWLINK: ifinfmsg,
        rtnl.RTM_DELLINK: ifinfmsg,
        rtnl.RTM_NEWADDR: ifaddrmsg,
        rtnl.RTM_DELADDR: ifaddrmsg,
    }
    marshal = type("LinkAddrMarshal", (nlsocket.Marshal,), {"msg_map": messages})
    socket_class = type("LinkAddrSocket", (nlsocket.AsyncNetlinkSocket,), {"marshal_class": marshal})
    _check_netns(netns)
    return socket_class(family=netlink.NETLINK_ROUTE, netns=netns, flags=0)


async def _dump_all(requests: Any, what: str) -> list[Any]:
    """Every link or address; asked again when the kernel says a change interrupted the dump."""
    netlink = lean_import("pyroute2.netlink")
    rtnl = lean_import("pyroute2.netlink.rtnl")
    if what == "link":
        message, request = lean_import("pyroute2.netlink.rtnl.ifinfmsg").ifinfmsg, rtnl.RTM_GETLINK
    else:
        message, request = lean_import("pyroute2.netlink.rtnl.ifaddrmsg").ifaddrmsg, rtnl.RTM_GETADDR

    for _ in range(_DUMP_ATTEMPTS):
        messages = [m async for m in await requests.nlm_request(message(), request)]
        if not any(int(m["header"]["flags"]) & netlink.NLM_F_DUMP_INTR for m in messages):
            return messages
    raise ConnectionError(f"the kernel kept interrupting the {what} dump")


async def _dump(requests: Any, hardware: HardwareCache) -> NetworkSnapshot:
    interfaces = _interfaces(await _dump_all(requests, "link"), await _dump_all(requests, "addr"), hardware)
    return NetworkSnapshot(interfaces=interfaces, offered=offered_hosts(interfaces))


def _problem(e: BaseException, netns: str | None) -> NetworkSnapshot:
    where = f" in network namespace {netns!r}" if netns else ""
    return NetworkSnapshot(interfaces=(), offered=(), problem=f"cannot read network interfaces{where}: {e}")


def _check_netns(netns: str | None) -> None:
    # Entering a missing namespace fails anyway, but deep inside pyroute2: say which one.
    if netns is not None and not (NETNS_DIR / netns).exists():
        raise FileNotFoundError(f"no network namespace {netns!r} in {NETNS_DIR}")


async def read_async(netns: str | None = None) -> NetworkSnapshot:
    try:
        async with _link_addr_socket(netns) as requests:
            await requests.setup_endpoint()
            return await _dump(requests, HardwareCache(use_udev=netns is None))
    except Exception as e:  # netlink refused or the namespace is gone: shown, not raised
        return _problem(e, netns)


def read(netns: str | None = None) -> NetworkSnapshot:
    """Interfaces and offered hosts now. Never raises for a netlink failure: see `problem`."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(read_async(netns))
    # Called on a thread whose event loop runs: pyroute2 gets a loop of its own on another thread.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, read_async(netns)).result()


# --- live -----------------------------------------------------------------------------------------


def in_namespace(netns: str, make: Callable[[], T]) -> T:
    """`make()` run on a thread of its own inside a network namespace: a socket made there stays in it.

    Entering a namespace switches only the calling thread, which ends right after.
    """
    namespaces = lean_import("pyroute2.netns")

    _check_netns(netns)
    result: list[T | BaseException] = []

    def run() -> None:
        try:
            namespaces.setns(netns, flags=0)
            result.append(make())
        except BaseException as e:
            result.append(e)

    thread = threading.Thread(target=run, name="netns")
    thread.start()
    thread.join()
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


def udev_source() -> str:
    """'udev' (events after udevd named and described the device) when udevd runs, else 'kernel'.

    Without udevd a 'udev' monitor receives nothing at all, so raw kernel events are the fallback.
    """
    return "udev" if Path("/run/udev/control").exists() else "kernel"


def open_udev_monitor(netns: str | None = None) -> pyudev.Monitor:
    """A started monitor for net add/remove events; in `netns`, where that namespace's events go."""
    import pyudev

    def start() -> pyudev.Monitor:
        # Kernel events of a namespace's net devices go only to sockets opened in that namespace.
        source = udev_source() if netns is None else "kernel"
        monitor = pyudev.Monitor.from_netlink(pyudev.Context(), source=source)
        monitor.filter_by("net")
        monitor.start()
        return monitor

    return start() if netns is None else in_namespace(netns, start)


def _open_events(netns: str | None) -> socket.socket:
    """A netlink socket told of every link and IPv4/IPv6 address change (made in `netns` by
    pyroute2's namespace helper).

    Its messages are never parsed: that something changed is all the reader needs, the next dump
    has the rest. It stays outside asyncio (the event loop only watches its descriptor), and a burst
    that overflows it (ENOBUFS) is one more dump, not a broken socket.
    """
    rtnl = lean_import("pyroute2.netlink.rtnl")
    netns_helper = lean_import("pyroute2.netns")

    _check_netns(netns)
    events: socket.socket = netns_helper.create_socket(
        netns=netns, family=socket.AF_NETLINK, socket_type=socket.SOCK_DGRAM, proto=0, flags=0
    )
    try:
        events.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)  # room for a burst of addresses
        events.bind((0, rtnl.RTMGRP_LINK | rtnl.RTMGRP_IPV4_IFADDR | rtnl.RTMGRP_IPV6_IFADDR))
        events.setblocking(False)
    except BaseException:
        events.close()
        raise
    return events


@dataclass
class _Changes:
    """What happened since the last snapshot: set by the event readers, cleared by the reader."""

    event: asyncio.Event = field(default_factory=asyncio.Event)
    hardware: bool = False
    failure: BaseException | None = None  # the netlink event socket broke: raised by watch()


def _drain_netlink(events: socket.socket, changes: _Changes) -> None:
    try:
        while events.recv(65536):  # what changed is not needed: the next dump has it all
            changes.event.set()
    except BlockingIOError:
        pass
    except OSError as e:
        if e.errno != errno.ENOBUFS:
            changes.failure = e
        changes.event.set()  # ENOBUFS: events were lost while we were busy; the next dump has them all


def _drain_udev(monitor: pyudev.Monitor, changes: _Changes, on_event: Callable[[str, str], None]) -> None:
    while (device := monitor.poll(timeout=0)) is not None:
        changes.hardware = True
        changes.event.set()
        on_event(device.action or "", device.sys_name)


async def watch(
    netns: str | None = None,
    debounce: float = DEBOUNCE_SECONDS,
    on_udev_event: Callable[[str, str], None] | None = None,
) -> AsyncGenerator[NetworkSnapshot, None]:
    """The current snapshot, then a new one after each burst of link, address or udev events.

    `on_udev_event(action, name)` is told of each udev net event (for tests and logs).
    """
    changes = _Changes()
    hardware = HardwareCache(use_udev=netns is None)
    loop = asyncio.get_running_loop()
    events = _open_events(netns)
    try:
        async with _link_addr_socket(netns) as requests:
            await requests.setup_endpoint()
            monitor: pyudev.Monitor | None = None
            try:
                monitor = open_udev_monitor(netns)
            except Exception as e:  # netlink still covers links and addresses; only descriptions go stale
                log.warning("no udev events for network devices: %s", e)
            loop.add_reader(events.fileno(), _drain_netlink, events, changes)
            if monitor is not None:
                loop.add_reader(monitor.fileno(), _drain_udev, monitor, changes, on_udev_event or _log_udev)
            try:
                last = await _dump(requests, hardware)
                yield last
                while True:
                    await changes.event.wait()
                    if changes.failure is not None:
                        raise ConnectionError(f"netlink event stream broke: {changes.failure}")
                    await asyncio.sleep(debounce)
                    changes.event.clear()  # events from here on lead to one more dump
                    if changes.hardware:
                        changes.hardware = False
                        hardware.forget()
                    snap = await _dump(requests, hardware)
                    if snap != last:
                        last = snap
                        yield snap
            finally:
                if monitor is not None:
                    loop.remove_reader(monitor.fileno())
                loop.remove_reader(events.fileno())
    finally:
        events.close()


def _log_udev(action: str, name: str) -> None:
    log.debug("udev: %s %r", action, name)


async def follow(session: Session, netns: str | None = None, debounce: float = DEBOUNCE_SECONDS) -> None:
    """Keep `session.snapshot.network` current until cancelled."""
    async for snap in watch(netns, debounce):
        session.publish(snap)
