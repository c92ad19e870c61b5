"""A static wired configuration, checked before anything is applied, and `ip=` from the kernel command line.

Pure functions only: the screen, `installer-env net static` and the boot-time `ip=` all check
their input here, so one rule gives one message in words, per field, wherever it is typed.
Applying it is `netapply`'s job.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_DNS = 3  # the resolver reads only the first three nameserver lines (glibc MAXNS)
IFNAMSIZ = 16  # the kernel's limit, with its terminating NUL

# The fields of the form and of `net static`, in the order a person fills them in.
FIELDS = ("interface", "ipv4", "gateway4", "ipv6", "gateway6", "dns")


@dataclass(frozen=True)
class StaticFields:
    """What was typed, as typed: the form, the command line and `ip=` all make one of these."""

    interface: str
    ipv4: str = ""  # "192.0.2.10/24" (a netmask after the slash works too)
    gateway4: str = ""
    ipv6: str = ""  # "2001:db8::10/64"
    gateway6: str = ""
    dns: str = ""  # addresses separated by spaces or commas
    onlink: bool = False  # a gateway outside the prefix is reachable on this link anyway


@dataclass(frozen=True)
class StaticConfig:
    """A checked configuration: at least one address; every gateway reachable."""

    interface: str
    ipv4: ipaddress.IPv4Interface | None
    gateway4: ipaddress.IPv4Address | None
    ipv6: ipaddress.IPv6Interface | None
    gateway6: ipaddress.IPv6Address | None
    dns: tuple[IPAddress, ...]
    onlink4: bool = False  # the IPv4 gateway lies outside the prefix: its route is marked on-link
    onlink6: bool = False

    @property
    def addresses(self) -> tuple[ipaddress.IPv4Interface | ipaddress.IPv6Interface, ...]:
        return tuple(a for a in (self.ipv4, self.ipv6) if a is not None)

    @property
    def gateways(self) -> tuple[tuple[IPAddress, bool], ...]:
        """(gateway, whether its route is on-link) for each family that has one."""
        pairs = ((self.gateway4, self.onlink4), (self.gateway6, self.onlink6))
        return tuple((gateway, onlink) for gateway, onlink in pairs if gateway is not None)

    def describe(self) -> str:
        """One line for messages: "192.0.2.10/24 via 192.0.2.1, DNS 192.0.2.53"."""
        parts = []
        for address, gateway in ((self.ipv4, self.gateway4), (self.ipv6, self.gateway6)):
            if address is not None:
                parts.append(f"{address}" + (f" via {gateway}" if gateway else ""))
        if self.dns:
            parts.append("DNS " + " ".join(str(d) for d in self.dns))
        return ", ".join(parts)


class InvalidConfig(ValueError):
    """Per-field messages in words; nothing was applied."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


# --- interface names -------------------------------------------------------------------------------


def interface_name_problem(name: str) -> str | None:
    """Why the kernel would refuse `name` (or why we do), else None. Checked before any syscall."""
    if not name:
        return "no interface given"
    if len(name.encode("utf-8", errors="surrogateescape")) >= IFNAMSIZ:
        return f"an interface name has at most {IFNAMSIZ - 1} bytes"
    if name in (".", ".."):
        return "not an interface name"
    if any(ch in "/:" or ch.isspace() or not ch.isprintable() for ch in name):
        return "an interface name has no slashes, colons, spaces or control characters"
    return None


# --- addresses --------------------------------------------------------------------------------------


def _unusable(ip: IPAddress) -> str | None:
    if ip.is_unspecified:
        return "is the unspecified address"
    if ip.is_loopback:
        return "is a loopback address"
    if ip.is_multicast:
        return "is a multicast address"
    if (
        isinstance(ip, ipaddress.IPv4Address)
        and ip.is_reserved
        and ip != ipaddress.IPv4Address("255.255.255.255")
    ):
        return "is in the reserved range 240.0.0.0/4"
    if isinstance(ip, ipaddress.IPv4Address) and ip == ipaddress.IPv4Address("255.255.255.255"):
        return "is the broadcast address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return "is an IPv4-mapped address: type the IPv4 address in the IPv4 field"
    return None


def _interface_address(
    text: str, version: int
) -> tuple[ipaddress.IPv4Interface | ipaddress.IPv6Interface | None, str | None]:
    text = text.strip()
    if not text:
        return None, None
    example = "192.0.2.10/24" if version == 4 else "2001:db8::10/64"
    other = "IPv6" if version == 4 else "IPv4"
    if "/" not in text:
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            return None, f"not an IPv{version} address: type it as {example}"
        if ip.version != version:
            return None, f"that is an {other} address: it goes in the {other} field"
        return None, f"add the prefix length after a slash, e.g. {example}"
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError:
        return None, f"not an IPv{version} address with prefix: type it as {example}"
    if iface.version != version:
        return None, f"that is an {other} address: it goes in the {other} field"
    problem = _unusable(iface.ip)
    if problem:
        return None, f"{iface.ip} {problem}"
    if iface.network.prefixlen == 0:
        return None, "a prefix length of 0 takes in every address: give the subnet's, e.g. /24"
    if version == 4 and iface.network.prefixlen < 31:
        if iface.ip == iface.network.network_address:
            return None, f"{iface.ip} is the subnet's own address in {iface.network}: pick a host address"
        if iface.ip == iface.network.broadcast_address:
            return None, f"{iface.ip} is the broadcast address of {iface.network}: pick a host address"
    return iface, None


def _gateway(
    text: str,
    version: int,
    address: ipaddress.IPv4Interface | ipaddress.IPv6Interface | None,
    onlink: bool,
) -> tuple[IPAddress | None, bool, str | None]:
    """(gateway, marked on-link, problem)."""
    text = text.strip()
    if not text:
        return None, False, None
    other = "IPv6" if version == 4 else "IPv4"
    if "/" in text:
        return None, False, "a gateway is one address, without a prefix length"
    try:
        gateway = ipaddress.ip_address(text)
    except ValueError:
        return None, False, f"not an IPv{version} address"
    if gateway.version != version:
        return None, False, f"that is an {other} address: it goes in the {other} gateway field"
    problem = _unusable(gateway)
    if problem:
        return None, False, f"{gateway} {problem}"
    if address is None:
        return None, False, f"a gateway needs an IPv{version} address on this interface: fill that in first"
    if gateway == address.ip:
        return None, False, "the gateway is this machine's own address: type the router's"
    if gateway.is_link_local and version == 6:
        return gateway, False, None  # fe80:: routers are on every link by definition
    if gateway in address.network:
        net = address.network
        if version == 4 and net.prefixlen < 31 and gateway in (net.network_address, net.broadcast_address):
            return None, False, f"{gateway} is not a host address in {net}"
        return gateway, False, None
    if onlink:
        return gateway, True, None
    return (
        None,
        False,
        f"{gateway} is outside {address.network}: check the prefix length, "
        "or mark the gateway on-link if the provider says so",
    )


def _dns(text: str) -> tuple[tuple[IPAddress, ...], str | None]:
    servers: list[IPAddress] = []
    for word in (w for w in re.split(r"[\s,;]+", text.strip()) if w):
        try:
            ip = ipaddress.ip_address(word)
        except ValueError:
            return (), f"{word!r} is not an IP address (DNS servers are addresses, not names)"
        problem = _unusable(ip) if not ip.is_loopback else None  # a local resolver (127.0.0.53) is fine
        if problem:
            return (), f"{ip} {problem}"
        if ip in servers:
            return (), f"{ip} is given twice"
        servers.append(ip)
    if len(servers) > MAX_DNS:
        return (), f"at most {MAX_DNS} servers: the resolver ignores the rest"
    return tuple(servers), None


def check_static(fields: StaticFields, in_use: Mapping[str, str] | None = None) -> StaticConfig:
    """The checked configuration, or InvalidConfig with a message per field.

    `in_use` maps addresses already on this machine to their interface, so an address that is
    already someone else's is refused before it breaks two interfaces at once.
    """
    errors: dict[str, str] = {}
    name_problem = interface_name_problem(fields.interface)
    if name_problem:
        errors["interface"] = name_problem
    ipv4, problem = _interface_address(fields.ipv4, 4)
    if problem:
        errors["ipv4"] = problem
    ipv6, problem = _interface_address(fields.ipv6, 6)
    if problem:
        errors["ipv6"] = problem
    if not fields.ipv4.strip() and not fields.ipv6.strip():
        errors["ipv4"] = "give an IPv4 address with its prefix, e.g. 192.0.2.10/24 (or an IPv6 one)"
    for key, address in (("ipv4", ipv4), ("ipv6", ipv6)):
        owner = (in_use or {}).get(str(address.ip)) if address is not None else None
        if address is not None and owner is not None and owner != fields.interface:
            errors[key] = f"{address.ip} is already on {owner}"
    gateway4, onlink4, problem = _gateway(fields.gateway4, 4, ipv4, fields.onlink)
    if problem and "ipv4" not in errors:
        errors["gateway4"] = problem
    gateway6, onlink6, problem = _gateway(fields.gateway6, 6, ipv6, fields.onlink)
    if problem and "ipv6" not in errors:
        errors["gateway6"] = problem
    dns, problem = _dns(fields.dns)
    if problem:
        errors["dns"] = problem
    if errors:
        raise InvalidConfig(errors)
    assert ipv4 is None or isinstance(ipv4, ipaddress.IPv4Interface)
    assert ipv6 is None or isinstance(ipv6, ipaddress.IPv6Interface)
    assert gateway4 is None or isinstance(gateway4, ipaddress.IPv4Address)
    assert gateway6 is None or isinstance(gateway6, ipaddress.IPv6Address)
    return StaticConfig(
        interface=fields.interface,
        ipv4=ipv4,
        gateway4=gateway4,
        ipv6=ipv6,
        gateway6=gateway6,
        dns=dns,
        onlink4=onlink4,
        onlink6=onlink6,
    )


def fields_from_words(
    interface: str, addresses: Iterable[str], gateways: Iterable[str], dns: Iterable[str], onlink: bool
) -> StaticFields:
    """The command line's words sorted into the form's fields by address family.

    A word that is no address at all goes to the IPv4 field, where the check says what is wrong.
    """
    values: dict[str, list[str]] = {"ipv4": [], "ipv6": [], "gateway4": [], "gateway6": []}
    for kind, words in (("", addresses), ("gateway", gateways)):
        for word in words:
            family = "6" if ":" in word else "4"
            values[(kind or "ipv") + family].append(word)
    errors = {
        k: f"more than one given ({', '.join(v)}): one per family" for k, v in values.items() if len(v) > 1
    }
    if errors:
        raise InvalidConfig(errors)
    return StaticFields(
        interface=interface,
        **{k: v[0] if v else "" for k, v in values.items()},
        dns=" ".join(dns),
        onlink=onlink,
    )


# --- ip= on the kernel command line -----------------------------------------------------------------
#
# The kernel (Documentation/admin-guide/nfs/nfsroot.rst):
#   ip=<client-ip>:<server-ip>:<gw-ip>:<netmask>:<hostname>:<device>:<autoconf>:<dns0-ip>:<dns1-ip>:<ntp0-ip>
#   ip=off|none|on|any|dhcp|bootp|rarp|both
# dracut.cmdline(7) adds:
#   ip={dhcp|on|any|dhcp6|auto6|either6|link6|single-dhcp}
#   ip=<interface>:{dhcp|on|any|dhcp6|auto6|link6}[:[<mtu>][:<macaddr>]]
#   ip=<client-IP>:[<peer>]:<gateway-IP>:<netmask>:<client_hostname>:<interface>:<autoconf>
#      followed by [:[<mtu>][:<macaddr>]] or by [:[<dns1>][:<dns2>]]
#   IPv6 addresses in brackets ([2001:db8::1]); the netmask of IPv6 is a prefix length;
#   nameserver=<IP> adds DNS servers; ip= may be given once per interface.

DHCP_METHODS = frozenset({"dhcp", "on", "any", "bootp", "rarp", "both", "single-dhcp", "dhcp4"})
IPV6_AUTO_METHODS = frozenset({"dhcp6", "auto6", "either6"})
STATIC_METHODS = frozenset({"off", "none", ""})
IGNORED_METHODS = frozenset({"link6", "link-local", "ibft"})
_MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")


@dataclass(frozen=True)
class BootNetwork:
    """One `ip=` entry: `method` is "static", "dhcp", "auto6" (RA/DHCPv6) or "off"."""

    source: str  # the entry as written, for messages
    method: str
    interface: str | None  # None: the kernel's "any suitable device"
    static: StaticFields | None = None  # method "static" only; interface filled in later if None
    hostname: str | None = None
    mtu: int | None = None
    mac: str | None = None


@dataclass(frozen=True)
class BootCommandLine:
    entries: tuple[BootNetwork, ...]
    nameservers: tuple[str, ...]  # from dracut's nameserver=, added to every static entry
    problems: tuple[str, ...] = field(default=())  # entries that could not be read, in words


def _split_fields(value: str) -> list[str]:
    """Split at colons outside [brackets]; the brackets are removed from bracketed fields."""
    parts: list[str] = []
    current = ""
    depth = 0
    for ch in value:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth = max(0, depth - 1)
        if ch == ":" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    if depth:
        raise ValueError("an opening [ has no closing ]")
    return [p[1:-1] if p.startswith("[") and p.endswith("]") else p for p in parts]


def _natural_prefix(ip: ipaddress.IPv4Address) -> int:
    """The kernel's default netmask when none is given: the address class."""
    first = int(ip) >> 24
    return 8 if first < 128 else 16 if first < 192 else 24


def _address_with_prefix(client: str, netmask: str) -> str:
    if "/" in client or not client:
        return client
    try:
        ip = ipaddress.ip_address(client)
    except ValueError:
        return client  # the check says what is wrong with it
    if netmask:
        if ip.version == 4 and "." in netmask:
            return f"{client}/{netmask}"
        if netmask.isdigit():
            return f"{client}/{netmask}"
        raise ValueError(f"netmask {netmask!r} is neither a dotted mask nor a prefix length")
    if isinstance(ip, ipaddress.IPv6Address):
        return f"{client}/64"  # dracut's default
    return f"{client}/{_natural_prefix(ip)}"


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _tail(parts: list[str]) -> tuple[int | None, str | None, list[str]]:
    """What follows autoconf: (mtu, mac, dns servers), in dracut's and the kernel's forms."""
    if not parts:
        return None, None, []
    if len(parts) >= 7 and _MAC.match(":".join(parts[1:7])):
        mtu = parts[0]
        if mtu and not mtu.isdigit():
            raise ValueError(f"MTU {mtu!r} is not a number")
        return (int(mtu) if mtu else None), ":".join(parts[1:7]), []
    if parts[0].isdigit():
        return int(parts[0]), None, []
    servers = [p for p in parts[:2] if p]
    for server in servers:
        if not _is_address(server):
            raise ValueError(f"{server!r} is neither an MTU nor a DNS server address")
    return None, None, servers  # a third field is the kernel's NTP server: not ours to set


def parse_ip_entry(value: str) -> BootNetwork:
    """One `ip=` value; ValueError in words for what cannot be read."""
    source = f"ip={value}"
    if ":" not in value.replace("[", "").replace("]", "") or (value.startswith("[") and value.endswith("]")):
        method = value.strip().lower()
        if method in DHCP_METHODS:
            return BootNetwork(source, "dhcp", None)
        if method in IPV6_AUTO_METHODS:
            return BootNetwork(source, "auto6", None)
        if method in ("off", "none"):
            return BootNetwork(source, "off", None)
        raise ValueError(f"{source}: {value!r} is not an autoconfiguration method (dhcp, on, off, ...)")
    parts = _split_fields(value)
    if (
        len(parts) >= 2
        and not _is_address(parts[0])
        and "/" not in parts[0]
        and parts[1].lower() in (DHCP_METHODS | IPV6_AUTO_METHODS | IGNORED_METHODS)
    ):
        # ip=<interface>:<autoconf>[:[<mtu>][:<macaddr>]]
        name, method = parts[0], parts[1].lower()
        problem = interface_name_problem(name)
        if problem:
            raise ValueError(f"{source}: {problem}")
        mtu, mac, _ = _tail(parts[2:])
        kind = "dhcp" if method in DHCP_METHODS else "auto6" if method in IPV6_AUTO_METHODS else "ignored"
        if kind == "ignored":
            raise ValueError(f"{source}: {method} is not supported here")
        return BootNetwork(source, kind, name, mtu=mtu, mac=mac)
    parts += [""] * (7 - len(parts))
    client, _peer, gateway, netmask, hostname, device, autoconf = parts[:7]
    method = autoconf.lower()
    interface: str | None = device or None
    if interface is not None:
        problem = interface_name_problem(interface)
        if problem:
            raise ValueError(f"{source}: {problem}")
    mtu, mac, dns = _tail(parts[7:])
    if method in DHCP_METHODS:
        return BootNetwork(source, "dhcp", interface, hostname=hostname or None, mtu=mtu, mac=mac)
    if method in IPV6_AUTO_METHODS:
        return BootNetwork(source, "auto6", interface, hostname=hostname or None, mtu=mtu, mac=mac)
    if method not in STATIC_METHODS:
        raise ValueError(f"{source}: {autoconf!r} is not an autoconfiguration method")
    if not client:
        return BootNetwork(source, "off", interface)
    address = _address_with_prefix(client, netmask)
    v6 = ":" in address
    static = StaticFields(
        interface=interface or "",
        ipv4="" if v6 else address,
        ipv6=address if v6 else "",
        gateway4="" if v6 else gateway,
        gateway6=gateway if v6 else "",
        dns=" ".join(dns),
    )
    return BootNetwork(source, "static", interface, static, hostname or None, mtu, mac)


def parse_cmdline(cmdline: str) -> BootCommandLine:
    """Every `ip=` and `nameserver=` of a kernel command line (as in /proc/cmdline)."""
    entries: list[BootNetwork] = []
    nameservers: list[str] = []
    problems: list[str] = []
    for word in cmdline.split():
        key, sep, value = word.partition("=")
        if not sep:
            continue
        if key == "ip":
            try:
                entries.append(parse_ip_entry(value))
            except ValueError as e:
                problems.append(str(e) if str(e).startswith("ip=") else f"ip={value}: {e}")
        elif key == "nameserver":
            server = value[1:-1] if value.startswith("[") and value.endswith("]") else value
            if _is_address(server):
                nameservers.append(server)
            else:
                problems.append(f"nameserver={value}: not an IP address")
    return BootCommandLine(tuple(entries), tuple(nameservers), tuple(problems))
