"""The network of the system that ran kexec/run, as systemd-networkd units for the installer.

kexec/run saves `ip --details --json addr` and `ip -4/-6 --json route` on the old system. Here,
pure functions turn those into one .network unit per interface, matched by MAC address (interface
names can change across kernels), and `write` puts them where networkd reads them.

What is restored, and why:
- global addresses that were not dynamic, as static addresses (flags kept: noprefixroute, nodad,
  a point-to-point peer);
- an interface that had any dynamic address (DHCP, SLAAC, privacy addresses) gets DHCP and accepts
  router advertisements, and asks for the same IPv4 lease again;
- routes someone configured (protocol boot or static): default routes, gateways, `onlink`, IPv4
  routes via an IPv6 gateway, metrics, preferred sources. Routes the kernel, DHCP or router
  advertisements made come back by themselves.
Never restored: link-local, host-scope and temporary addresses; interfaces without a MAC address
(loopback, tunnels, WireGuard). Bonds and bridges are not recreated: the installer has only the
bare interfaces, so their configuration goes to the port that carries the same MAC address (a
bridge or bond takes one of its ports'). VLANs are not recreated either; both are listed as notes.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from installer_env.errors import KexecStateError, os_error_words

# The files kexec/run saves, inside the state directory the image moves them to.
ADDRS_FILE = "addrs.json"
ROUTES_V4_FILE = "routes-v4.json"
ROUTES_V6_FILE = "routes-v6.json"
# What `restore-network` did, for `installer-env status`.
SUMMARY_FILE = "network-restored.json"
# Before the image's own catch-all units (99-*.network): networkd uses the first unit that matches.
UNIT_PREFIX = "00-installer-env-kexec-"
UNIT_HEADER = "# Restored by installer-env from {name} ({mac}) of the system that ran kexec/run.\n"

_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
# The kernel refuses '/', ':' and white space in interface names (dev_valid_name).
_IFNAME = re.compile(r"[^\s/:]{1,15}")
# Routes a person or a configuration tool set up; "boot" is `ip route add`'s default and is omitted
# from the JSON. kernel, dhcp, ra, ... routes are made again by whatever made them.
_CONFIGURED_PROTOCOLS = frozenset({"boot", "static"})


@dataclass(frozen=True)
class Unit:
    name: str  # file name, e.g. 00-installer-env-kexec-eth0.network
    text: str


@dataclass(frozen=True)
class RestoredInterface:
    name: str  # on the old system
    mac: str
    static_addresses: tuple[str, ...]
    dhcp: bool
    routes: tuple[str, ...]  # "default via 192.0.2.1", "203.0.113.0/24 via 172.31.1.1 onlink"
    note: str | None = None  # e.g. how a bridge's configuration reaches a port


@dataclass(frozen=True)
class Skipped:
    what: str  # an interface name or a route
    reason: str


@dataclass(frozen=True)
class Plan:
    units: tuple[Unit, ...]
    restored: tuple[RestoredInterface, ...]
    skipped: tuple[Skipped, ...] = field(default=())


@dataclass
class _Iface:
    name: str
    mac: str
    mtu: int | None
    static: list[list[str]] = field(default_factory=list)  # [Address] section lines
    shown: list[str] = field(default_factory=list)
    dynamic_v4: str | None = None
    dynamic: bool = False
    routes: list[list[str]] = field(default_factory=list)
    route_texts: list[str] = field(default_factory=list)
    note: str | None = None


def _bad(what: str) -> KexecStateError:
    return KexecStateError(f"the saved network state is not what `ip --json` writes: {what}")


def _list(value: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _bad(f"{what} is not a list of objects")
    return value


def _kind(link: Mapping[str, Any]) -> str | None:
    info = link.get("linkinfo")
    kind = info.get("info_kind") if isinstance(info, dict) else None
    return kind if isinstance(kind, str) else None


def _port_mac(link: Mapping[str, Any]) -> str | None:
    """The MAC a port has after a reboot: a bond gives its ports its own, so the permanent one counts."""
    info = link.get("linkinfo")
    slave = info.get("info_slave_data") if isinstance(info, dict) else None
    for mac in (
        link.get("permaddr"),
        slave.get("perm_hwaddr") if isinstance(slave, dict) else None,
        link.get("address"),
    ):
        if isinstance(mac, str):
            return mac.lower()
    return None


def _address_section(info: Mapping[str, Any], family: int) -> tuple[list[str], str]:
    """The [Address] lines and the address as text."""
    local = info.get("local")
    prefix = info.get("prefixlen")
    if not isinstance(local, str) or not isinstance(prefix, int) or isinstance(prefix, bool):
        raise _bad(f"address {info!r} has no local address and prefix length")
    try:
        iface = ipaddress.ip_interface(f"{local}/{prefix}")
    except ValueError:
        raise _bad(f"{local}/{prefix} is not an IP address") from None
    if iface.version != family:
        raise _bad(f"{local} is listed as IPv{family}")
    lines = [f"Address={iface.with_prefixlen}"]
    peer = info.get("address")
    if isinstance(peer, str) and peer != local:
        try:
            lines.append(f"Peer={ipaddress.ip_interface(f'{peer}/{prefix}').with_prefixlen}")
        except ValueError:
            raise _bad(f"peer {peer!r} is not an IP address") from None
    if info.get("noprefixroute"):
        lines.append("AddPrefixRoute=no")
    if info.get("nodad"):
        lines.append("DuplicateAddressDetection=none")
    return lines, iface.with_prefixlen


def _route_section(route: Mapping[str, Any], family: int) -> tuple[list[str], str]:
    dst = route.get("dst")
    lines: list[str] = []
    words: list[str] = []
    if dst == "default":
        words.append("default")
    elif isinstance(dst, str):
        try:
            net = ipaddress.ip_network(dst, strict=False)
        except ValueError:
            raise _bad(f"route destination {dst!r}") from None
        if net.version != family:
            raise _bad(f"route {dst} is listed as IPv{family}")
        lines.append(f"Destination={net.with_prefixlen}")
        words.append(net.with_prefixlen)
    else:
        raise _bad(f"route {route!r} has no destination")
    gateway = route.get("gateway")
    via = route.get("via")
    if gateway is None and isinstance(via, dict):
        gateway = via.get("host")  # an IPv4 route via an IPv6 gateway (RFC 5549)
    if gateway is not None:
        try:
            if not isinstance(gateway, str):
                raise ValueError
            gw = ipaddress.ip_address(gateway)
        except ValueError:
            raise _bad(f"gateway {gateway!r}") from None
        lines.append(f"Gateway={gw}")
        words.append(f"via {gw}")
    flags = route.get("flags")
    if isinstance(flags, list) and "onlink" in flags:
        lines.append("GatewayOnLink=yes")
        words.append("onlink")
    scope = route.get("scope")
    if family == 4 and scope in ("link", "host"):
        lines.append(f"Scope={scope}")
    prefsrc = route.get("prefsrc")
    if isinstance(prefsrc, str):
        try:
            lines.append(f"PreferredSource={ipaddress.ip_address(prefsrc)}")
        except ValueError:
            raise _bad(f"preferred source {prefsrc!r}") from None
    metric = route.get("metric")
    if isinstance(metric, int) and not isinstance(metric, bool):
        lines.append(f"Metric={metric}")
    mtu = route.get("mtu")
    if isinstance(mtu, int) and not isinstance(mtu, bool):
        lines.append(f"MTUBytes={mtu}")
    return lines, " ".join(words)


def _interfaces(addrs: list[dict[str, Any]]) -> tuple[dict[str, _Iface], list[Skipped], dict[str, str]]:
    """The interfaces that get a unit (by old name), what was left out, and ports -> their master."""
    by_name: dict[str, dict[str, Any]] = {}
    for link in addrs:
        name = link.get("ifname")
        if not isinstance(name, str) or not _IFNAME.fullmatch(name):
            raise _bad(f"interface name {name!r}")
        by_name[name] = link
    masters = {n: str(link["master"]) for n, link in by_name.items() if isinstance(link.get("master"), str)}
    ports_of: dict[str, list[str]] = {}
    for port, master in masters.items():
        ports_of.setdefault(master, []).append(port)

    chosen: dict[str, _Iface] = {}
    skipped: list[Skipped] = []
    for name, link in by_name.items():
        mac = link.get("address")
        mac = mac.lower() if isinstance(mac, str) else None
        raw_flags = link.get("flags")
        flags: list[Any] = raw_flags if isinstance(raw_flags, list) else []
        if link.get("link_type") == "loopback" or "LOOPBACK" in flags:
            continue  # the loopback interface comes up by itself
        if mac is None or not _MAC.fullmatch(mac) or mac == "00:00:00:00:00:00":
            skipped.append(Skipped(name, "no MAC address (a tunnel or WireGuard): cannot be matched"))
            continue
        if name in masters:
            skipped.append(Skipped(name, f"port of {masters[name]}: its configuration comes with it"))
            continue
        parent = link.get("link")
        parent_link = by_name.get(parent) if isinstance(parent, str) else None
        if _kind(link) == "vlan" or (
            _kind(link) is None
            and parent_link is not None
            and str(parent_link.get("address", "")).lower() == mac
        ):
            skipped.append(Skipped(name, f"VLAN on {parent or '?'}: not recreated"))
            continue
        mtu = link.get("mtu")
        iface = _Iface(name, mac, mtu if isinstance(mtu, int) and not isinstance(mtu, bool) else None)
        is_master = _kind(link) in ("bond", "bridge", "team") or "MASTER" in flags or name in ports_of
        if is_master:
            carrier = [p for p in ports_of.get(name, []) if _port_mac(by_name[p]) == mac]
            kind = _kind(link) or ("bond" if "MASTER" in flags else "bridge")
            if not carrier:
                skipped.append(Skipped(name, f"{kind} not recreated, and none of its ports has its MAC"))
                continue
            iface.note = f"{kind} not recreated: its configuration goes to its port {carrier[0]} (same MAC)"
        chosen[name] = iface
    return chosen, skipped, masters


def _add_addresses(iface: _Iface, link: Mapping[str, Any]) -> None:
    for info in _list(link.get("addr_info", []), f"addr_info of {iface.name}"):
        family = {"inet": 4, "inet6": 6}.get(str(info.get("family")))
        if family is None:
            continue
        if info.get("temporary"):
            iface.dynamic = True  # privacy addresses come from router advertisements
            continue
        if info.get("scope") != "global":
            continue  # link-local and host addresses are made by the kernel
        lines, shown = _address_section(info, family)
        if info.get("dynamic"):
            iface.dynamic = True
            if family == 4 and iface.dynamic_v4 is None:
                iface.dynamic_v4 = str(ipaddress.ip_address(info["local"]))
            continue
        iface.static.append(lines)
        iface.shown.append(shown)


def _unit_text(iface: _Iface) -> str:
    out = [UNIT_HEADER.format(name=iface.name, mac=iface.mac), "[Match]", f"MACAddress={iface.mac}", ""]
    if iface.mtu is not None and iface.mtu != 1500 and not iface.dynamic:
        out += ["[Link]", f"MTUBytes={iface.mtu}", ""]
    out += ["[Network]"]
    out += ["DHCP=yes", "IPv6AcceptRA=yes"] if iface.dynamic else ["DHCP=no", "IPv6AcceptRA=no"]
    out.append("")
    if iface.dynamic_v4 is not None:
        out += ["[DHCPv4]", f"RequestAddress={iface.dynamic_v4}", ""]
    for section in iface.static:
        out += ["[Address]", *section, ""]
    for section in iface.routes:
        out += ["[Route]", *section, ""]
    return "\n".join(out).rstrip("\n") + "\n"


def _unit_name(old_name: str) -> str:
    return UNIT_PREFIX + re.sub(r"[^A-Za-z0-9_.-]", "_", old_name) + ".network"


def plan(addrs: Sequence[Any], routes_v4: Sequence[Any], routes_v6: Sequence[Any]) -> Plan:
    """The units for the saved `ip --json` documents (already parsed), and what was left out."""
    links = _list(addrs, "the address list")
    chosen, skipped, masters = _interfaces(links)
    for link in links:
        if link.get("ifname") in chosen:
            _add_addresses(chosen[link["ifname"]], link)
    for family, routes in ((4, routes_v4), (6, routes_v6)):
        for route in _list(routes, f"the IPv{family} routes"):
            if str(route.get("protocol", "boot")) not in _CONFIGURED_PROTOCOLS:
                continue
            lines, text = _route_section(route, family)
            kind = route.get("type", "unicast")
            dev = route.get("dev")
            if kind != "unicast" or "nexthops" in route:
                what = "multipath route" if "nexthops" in route else f"{kind} route"
                skipped.append(Skipped(text, f"{what}: not restored"))
                continue
            owner = masters.get(dev, dev) if isinstance(dev, str) else None
            if owner not in chosen:
                skipped.append(Skipped(text, f"its interface {dev or '?'} is not restored"))
                continue
            chosen[owner].routes.append(lines)
            chosen[owner].route_texts.append(text)
    units: list[Unit] = []
    restored: list[RestoredInterface] = []
    for iface in chosen.values():
        if not (iface.static or iface.dynamic or iface.routes):
            skipped.append(Skipped(iface.name, "had no address to restore"))
            continue
        units.append(Unit(_unit_name(iface.name), _unit_text(iface)))
        restored.append(
            RestoredInterface(
                iface.name,
                iface.mac,
                tuple(iface.shown),
                iface.dynamic,
                tuple(iface.route_texts),
                iface.note,
            )
        )
    return Plan(tuple(units), tuple(restored), tuple(skipped))


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []  # an old `ip` that printed nothing for a family: nothing to restore from it
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise KexecStateError(f"cannot read the saved network state {path}: {e}") from None


def plan_from_dir(state_dir: Path) -> Plan:
    return plan(
        _load(state_dir / ADDRS_FILE), _load(state_dir / ROUTES_V4_FILE), _load(state_dir / ROUTES_V6_FILE)
    )


def _write_atomically(path: Path, text: str, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    tmp.replace(path)


def write(result: Plan, units_dir: Path, state_dir: Path) -> None:
    """The units into networkd's directory (ours only are replaced), the summary beside the state."""
    try:
        units_dir.mkdir(parents=True, exist_ok=True)
        for old in units_dir.glob(UNIT_PREFIX + "*.network"):
            old.unlink()
        for unit in result.units:
            _write_atomically(units_dir / unit.name, unit.text, 0o644)
        _write_atomically(state_dir / SUMMARY_FILE, summary_json(result), 0o644)
    except OSError as e:
        raise KexecStateError(f"cannot write the network units to {units_dir}: {os_error_words(e)}") from None


def summary_json(result: Plan) -> str:
    return json.dumps(
        {
            "units": [u.name for u in result.units],
            "restored": [asdict(r) for r in result.restored],
            "skipped": [asdict(s) for s in result.skipped],
        },
        indent=1,
    )


def read_summary(state_dir: Path) -> Plan | None:
    """What `restore-network` wrote (without the unit texts), or None if it has not run."""
    try:
        raw = json.loads((state_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
        return Plan(
            units=tuple(Unit(str(n), "") for n in raw["units"]),
            restored=tuple(
                RestoredInterface(
                    name=str(r["name"]),
                    mac=str(r["mac"]),
                    static_addresses=tuple(map(str, r["static_addresses"])),
                    dhcp=bool(r["dhcp"]),
                    routes=tuple(map(str, r["routes"])),
                    note=None if r.get("note") is None else str(r["note"]),
                )
                for r in raw["restored"]
            ),
            skipped=tuple(Skipped(str(s["what"]), str(s["reason"])) for s in raw["skipped"]),
        )
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None
