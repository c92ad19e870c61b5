"""Putting a checked static configuration on a wired interface, and handing it back to DHCP.

Addresses and routes go over netlink (pyroute2, like the rest of the network code); DNS goes where
the installer's resolver reads it. The DHCP client of the image is told first, so it neither takes
the static address away nor fights over the default route:
- dhcpcd (NixOS scripted networking, the default) runs one manager process for every interface;
  its control socket takes `-k IFACE` (release and stop on that interface only) and `-n IFACE`
  (start it again). `dhcpcd -k IFACE` on the command line would not do: dhcpcd 9 looks for a
  per-interface process first and gives up.
- systemd-networkd (`networking.useNetworkd`) gets a runtime .network file that sorts before the
  image's own and matches only that interface, then `networkctl reload` and `reconfigure`.

What was applied is written to `<state_dir>/network/<interface>.json`, so `net dhcp` (from any
console, later) removes exactly that and nothing the DHCP client or a person set.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from installer_env import network
from installer_env.errors import NetworkConfigError, os_error_words
from installer_env.leanimport import lean_import
from installer_env.netconfig import (
    IPAddress,
    StaticConfig,
    StaticFields,
    check_static,
    interface_name_problem,
)
from installer_env.textsafe import literal

log = logging.getLogger(__name__)

AF_INET, AF_INET6 = 2, 10
RTPROT_STATIC = 4
RTNH_F_ONLINK = 4
IFA_F_NODAD = 0x02  # a configured address is used at once: duplicate detection would hold it back 1-2 s
RELEASE_WAIT_SECONDS = 5.0
DHCPCD_SOCKET = Path("/run/dhcpcd/sock")
NETWORKD_RUNTIME_DIR = Path("/run/systemd/network")
RESOLV_CONF = Path("/etc/resolv.conf")
MARK = "# written by installer-env net static"


# --- the DHCP client of the image ----------------------------------------------------------------


class DhcpClient(Protocol):
    @property
    def name(self) -> str: ...

    def release(self, interface: str, config: StaticConfig) -> None:
        """Stop configuring `interface` (its lease addresses and routes go)."""

    def resume(self, interface: str) -> None:
        """Configure `interface` by DHCP again."""

    @property
    def applies_static(self) -> bool:
        """Whether `release` hands the client the static configuration, which it then sets itself."""


@dataclass(frozen=True)
class Dhcpcd:
    """dhcpcd's manager process, told through its control socket (the same words its CLI sends)."""

    control_socket: Path = DHCPCD_SOCKET
    name: str = "dhcpcd"
    applies_static: ClassVar[bool] = False

    def running(self) -> bool:
        return self.control_socket.is_socket()

    def _send(self, *args: str) -> None:
        # The protocol is argv as NUL-terminated strings; dhcpcd parses it like its command line.
        message = b"".join(a.encode() + b"\0" for a in ("dhcpcd", *args))
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(5)
                sock.connect(str(self.control_socket))
                sock.sendall(message)
        except OSError as e:
            raise NetworkConfigError(
                f"cannot tell dhcpcd ({self.control_socket}): {os_error_words(e)}"
            ) from None

    def release(self, interface: str, config: StaticConfig) -> None:
        self._send("-k", interface)

    def resume(self, interface: str) -> None:
        self._send("-n", interface)


@dataclass(frozen=True)
class Networkd:
    """systemd-networkd: a runtime .network file for one interface wins over the image's (it sorts first)."""

    runtime_dir: Path = NETWORKD_RUNTIME_DIR
    networkctl: tuple[str, ...] = ("networkctl",)
    name: str = "systemd-networkd"
    # It sets the runtime file's addresses and routes on its own reconfigure, first removing what
    # it did not set: changes made meanwhile raced it (a route refused as unreachable while it had
    # the address away, the link left failed).
    applies_static: ClassVar[bool] = True

    def unit_path(self, interface: str) -> Path:
        return self.runtime_dir / f"00-installer-env-{interface}.network"

    def release(self, interface: str, config: StaticConfig) -> None:
        path = self.unit_path(interface)
        try:
            self.runtime_dir.mkdir(parents=True, exist_ok=True)
            _write_atomically(path, networkd_unit(config), 0o644)
        except OSError as e:
            raise NetworkConfigError(f"cannot write {path}: {os_error_words(e)}") from None
        self._networkctl("reload")
        self._networkctl("reconfigure", interface)

    def resume(self, interface: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.unit_path(interface).unlink()
        self._networkctl("reload")
        self._networkctl("reconfigure", interface)

    def _networkctl(self, *args: str) -> None:
        _run([*self.networkctl, *args], "networkctl")


def networkd_unit(config: StaticConfig) -> str:
    """The .network file that keeps networkd from taking the static configuration away."""
    lines = [
        MARK,
        "[Match]",
        f"Name={config.interface}",
        "",
        "[Network]",
        "DHCP=no",
        # Router advertisements still give IPv6 when no static IPv6 is set, as before.
        f"IPv6AcceptRA={'no' if config.ipv6 else 'yes'}",
    ]
    lines += [f"Address={a}" for a in config.addresses]
    lines += [f"DNS={d}" for d in config.dns]
    for gateway, onlink in config.gateways:
        lines += ["", "[Route]", f"Gateway={gateway}"] + (["GatewayOnLink=yes"] if onlink else [])
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class NoDhcpClient:
    name: str = "none"
    applies_static: ClassVar[bool] = False

    def release(self, interface: str, config: StaticConfig) -> None:
        pass

    def resume(self, interface: str) -> None:
        pass  # apply_dhcp says that no lease will come


def _networkd_running(proc: Path = Path("/proc")) -> bool:
    for comm in proc.glob("[0-9]*/comm"):
        with contextlib.suppress(OSError):
            if comm.read_text().strip() == "systemd-network":  # comm is cut at 15 characters
                return True
    return False


def detect_dhcp_client() -> DhcpClient:
    """The DHCP client of this system: networkd when it runs, else dhcpcd's manager, else none."""
    if _networkd_running() and shutil.which("networkctl"):
        return Networkd()
    dhcpcd = Dhcpcd()
    if dhcpcd.running():
        return dhcpcd
    return NoDhcpClient()


# --- DNS -------------------------------------------------------------------------------------------


class Resolver(Protocol):
    @property
    def name(self) -> str: ...

    def set(self, interface: str, servers: Sequence[IPAddress], backup: Path) -> None: ...

    def revert(self, interface: str, backup: Path) -> None: ...


def resolv_conf_text(servers: Sequence[IPAddress]) -> str:
    return f"{MARK}\n" + "".join(f"nameserver {s}\n" for s in servers)


@dataclass(frozen=True)
class ResolvConfFile:
    """A plain resolv.conf: replaced, the one before kept to put back."""

    path: Path = RESOLV_CONF
    name: str = "resolv.conf"

    def set(self, interface: str, servers: Sequence[IPAddress], backup: Path) -> None:
        try:
            if not backup.exists():
                backup.parent.mkdir(parents=True, exist_ok=True)
                try:
                    _write_atomically(backup, self.path.read_text(), 0o644)
                except FileNotFoundError:
                    _write_atomically(backup, "", 0o644)
            _write_atomically(self.path, resolv_conf_text(servers), 0o644)
        except OSError as e:
            raise NetworkConfigError(f"cannot write {self.path}: {os_error_words(e)}") from None

    def revert(self, interface: str, backup: Path) -> None:
        try:
            _write_atomically(self.path, backup.read_text(), 0o644)
            backup.unlink()
        except FileNotFoundError:
            return
        except OSError as e:
            raise NetworkConfigError(f"cannot put back {self.path}: {os_error_words(e)}") from None


@dataclass(frozen=True)
class Resolvconf:
    """resolvconf (openresolv on NixOS): one record per interface, merged into /etc/resolv.conf."""

    command: str = "resolvconf"
    name: str = "resolvconf"

    def _record(self, interface: str) -> str:
        return f"{interface}.installer-env"

    def set(self, interface: str, servers: Sequence[IPAddress], backup: Path) -> None:
        argv = [self.command, "-m", "0", "-a", self._record(interface)]
        _run(argv, "resolvconf", resolv_conf_text(servers))

    def revert(self, interface: str, backup: Path) -> None:
        _run([self.command, "-f", "-d", self._record(interface)], "resolvconf")


@dataclass(frozen=True)
class Resolved:
    """systemd-resolved: per-link servers."""

    command: str = "resolvectl"
    name: str = "systemd-resolved"

    def set(self, interface: str, servers: Sequence[IPAddress], backup: Path) -> None:
        _run([self.command, "dns", interface, *(str(s) for s in servers)], "resolvectl")

    def revert(self, interface: str, backup: Path) -> None:
        _run([self.command, "revert", interface], "resolvectl")


def detect_resolver(resolv_conf: Path = RESOLV_CONF) -> Resolver:
    """Where this image's resolver takes its servers from."""
    try:
        target = os.path.realpath(resolv_conf)
        text = resolv_conf.read_text(errors="replace")
    except OSError:
        target, text = str(resolv_conf), ""
    if target.startswith("/run/systemd/resolve/") or "nameserver 127.0.0.53" in text:
        return Resolved()
    if shutil.which("resolvconf") and ("resolvconf" in text or Path("/etc/resolvconf.conf").exists()):
        return Resolvconf()
    return ResolvConfFile(resolv_conf)


# --- what was applied ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    """The record of one `net static`: enough to take exactly it away again."""

    interface: str
    addresses: tuple[str, ...]  # "192.0.2.10/24"
    gateways: tuple[tuple[str, bool], ...]  # (gateway, on-link)
    dns: tuple[str, ...]
    dhcp_client: str
    resolver: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "interface": self.interface,
                "addresses": list(self.addresses),
                "gateways": [list(g) for g in self.gateways],
                "dns": list(self.dns),
                "dhcp_client": self.dhcp_client,
                "resolver": self.resolver,
            },
            indent=1,
        )

    @staticmethod
    def from_json(text: str) -> Applied:
        data = json.loads(text)
        return Applied(
            interface=str(data["interface"]),
            addresses=tuple(str(a) for a in data["addresses"]),
            gateways=tuple((str(g), bool(o)) for g, o in data["gateways"]),
            dns=tuple(str(d) for d in data["dns"]),
            dhcp_client=str(data["dhcp_client"]),
            resolver=str(data["resolver"]),
        )


@dataclass(frozen=True)
class Environment:
    """Where changes go: this system's by default; a test's namespace, files and clients otherwise."""

    state_dir: Path
    netns: str | None = None
    dhcp: DhcpClient | None = None  # None: detected when needed
    resolver: Resolver | None = None
    release_wait: float = RELEASE_WAIT_SECONDS
    demo: bool = False  # `installer-env demo`: everything is checked, nothing is applied

    @property
    def records(self) -> Path:
        return self.state_dir / "network"

    def record_path(self, interface: str) -> Path:
        return self.records / f"{interface}.json"

    def dns_backup(self) -> Path:
        return self.records / "resolv.conf.before"

    def dhcp_client(self) -> DhcpClient:
        if self.dhcp is not None:
            return self.dhcp
        # This system's DHCP client does not serve another namespace's interfaces: never tell it.
        return NoDhcpClient() if self.netns is not None else detect_dhcp_client()

    def dns_target(self) -> Resolver:
        if self.resolver is not None:
            return self.resolver
        if self.netns is not None:  # this system's resolver is not the namespace's
            raise NetworkConfigError("DNS for another network namespace needs a resolv.conf of its own")
        return detect_resolver()

    def read_record(self, interface: str) -> Applied | None:
        try:
            return Applied.from_json(self.record_path(interface).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("unreadable record of %r: %s", interface, e)
            return None

    def static_interfaces(self) -> frozenset[str]:
        try:
            return frozenset(p.stem for p in self.records.glob("*.json"))
        except OSError:
            return frozenset()


# --- helpers -------------------------------------------------------------------------------------


def _run(argv: list[str], what: str, stdin: str | None = None) -> None:
    try:
        result = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise NetworkConfigError(f"{what} failed: {e}") from None
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        reason = detail[-1] if detail else f"exit status {result.returncode}"
        raise NetworkConfigError(f"{what} failed: {reason}")


def _write_atomically(path: Path, text: str, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.installer-env-tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def _netlink(netns: str | None) -> Iterator[Any]:
    IPRoute = lean_import("pyroute2.iproute.linux").IPRoute  # not the whole package

    network._check_netns(netns)
    with IPRoute(netns=netns, flags=0, groups=0) as ipr:
        yield ipr


def _index(ipr: Any, interface: str) -> int:
    found = ipr.link_lookup(ifname=interface)
    if not found:
        raise NetworkConfigError(
            f"there is no interface {literal(interface)} (unplugged or renamed?): nothing was changed"
        )
    return int(found[0])


def _netlink_words(e: BaseException) -> str:
    code = getattr(e, "code", None)
    if isinstance(code, int) and code > 0:
        return os.strerror(code)
    return str(e)


def in_use(snapshot: network.NetworkSnapshot) -> dict[str, str]:
    """Every address on this machine and its interface."""
    return {a.address: i.name for i in snapshot.interfaces for a in i.addresses}


def lost_hosts(
    snapshot: network.NetworkSnapshot, interface: str, keep: Sequence[str] = ()
) -> tuple[str, ...]:
    """The offered hosts that go away when `interface` changes, if no other interface offers any.

    Empty when nothing would be lost or when another interface still carries ssh: then an ssh
    session over this interface may drop, but the machine stays reachable.
    """
    here = [a for i in snapshot.interfaces if i.name == interface for a in i.addresses if a.offered]
    elsewhere = [a for i in snapshot.interfaces if i.name != interface for a in i.addresses if a.offered]
    if elsewhere:
        return ()
    return tuple(a.host for a in here if a.address not in keep)


def lost_on_dhcp(snapshot: network.NetworkSnapshot, interface: str) -> tuple[str, ...]:
    """`lost_hosts` of handing `interface` back to DHCP: its static addresses go, leases stay."""
    here = [a for i in snapshot.interfaces if i.name == interface for a in i.addresses]
    return lost_hosts(snapshot, interface, [a.address for a in here if a.origin != "static"])


# --- apply and revert ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What happened, in words for the screen or the terminal."""

    summary: str
    notes: tuple[str, ...] = field(default=())


def check(fields: StaticFields, env: Environment) -> StaticConfig:
    """The checked configuration against this machine's interfaces now (InvalidConfig if not)."""
    snapshot = network.read(env.netns)
    return check_static(fields, in_use(snapshot))


def _within(wait: float, done: Callable[[], bool]) -> bool:
    """Whether `done()` came true within `wait` seconds (asked every 50 ms)."""
    deadline = time.monotonic() + wait
    while not done():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _address_text(msg: Any) -> str:
    """An address message as `str(ip_interface(...))` writes it: `10.0.0.5/24`."""
    return f"{msg.get_attr('IFA_LOCAL') or msg.get_attr('IFA_ADDRESS')}/{msg.get('prefixlen')}"


def _released(ipr: Any, index: int) -> bool:
    """Whether the DHCP client's lease addresses (IPv4 with a lifetime) are gone."""
    return not any(
        m.get("family") == AF_INET and not (int(m.get_attr("IFA_FLAGS") or m.get("flags") or 0) & 0x80)
        for m in ipr.addr("dump", index=index)
    )


def _configured(ipr: Any, index: int, config: StaticConfig) -> bool:
    """Whether the interface has all of `config`'s addresses and default routes."""
    present = {_address_text(m) for m in ipr.addr("dump", index=index)}
    if not {str(a) for a in config.addresses} <= present:
        return False
    return all(
        any(r.get_attr("RTA_GATEWAY") == str(gateway) for r in _default_routes(ipr, index, _family(gateway)))
        for gateway, _onlink in config.gateways
    )


def _family(address: IPAddress) -> int:
    return AF_INET if address.version == 4 else AF_INET6


def _flush_family(ipr: Any, index: int, family: int, keep: set[str]) -> None:
    """Global addresses of one family on the interface go (link-local ones stay: IPv6 needs them)."""
    for msg in ipr.addr("dump", index=index):
        if msg.get("family") != family or int(msg.get("scope") or 0) != 0 or _address_text(msg) in keep:
            continue
        with contextlib.suppress(Exception):  # already gone (the DHCP client was quicker)
            address = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
            ipr.addr("del", index=index, address=address, prefixlen=int(msg.get("prefixlen") or 0))


def _set_static(ipr: Any, index: int, config: StaticConfig) -> None:
    """`config`'s addresses (other global ones of their families go) and default routes."""
    keep = {str(a) for a in config.addresses}
    if config.ipv4 is not None:
        _flush_family(ipr, index, AF_INET, keep)
    if config.ipv6 is not None:
        _flush_family(ipr, index, AF_INET6, keep)
    for address in config.addresses:
        ipr.addr(
            "replace",
            index=index,
            address=str(address.ip),
            prefixlen=address.network.prefixlen,
            **({"flags": IFA_F_NODAD} if address.version == 6 else {}),
        )
    for gateway, onlink in config.gateways:
        _add_default(ipr, index, gateway, onlink)


def _default_routes(ipr: Any, index: int, family: int) -> list[Any]:
    return [
        r
        for r in ipr.route("dump", family=family)
        if int(r.get("dst_len") or 0) == 0 and r.get_attr("RTA_OIF") == index and r.get("table") == 254
    ]


def _delete_default(ipr: Any, index: int, family: int, route: Any) -> None:
    """Remove one default route of `_default_routes`; one already gone is no error."""
    with contextlib.suppress(Exception):
        ipr.route(
            "del",
            family=family,
            dst_len=0,
            oif=index,
            gateway=route.get_attr("RTA_GATEWAY"),
            priority=route.get_attr("RTA_PRIORITY"),
            proto=route.get("proto"),
        )


def _add_default(ipr: Any, index: int, gateway: IPAddress, onlink: bool) -> None:
    family = _family(gateway)
    for route in _default_routes(ipr, index, family):
        _delete_default(ipr, index, family, route)
    dst = "0.0.0.0/0" if family == AF_INET else "::/0"
    ipr.route(
        "replace",
        dst=dst,
        gateway=str(gateway),
        oif=index,
        proto=RTPROT_STATIC,
        flags=RTNH_F_ONLINK if onlink else 0,
    )


def apply_static(fields: StaticFields, env: Environment) -> Outcome:
    """Check, tell the DHCP client, then set addresses, routes and DNS. Bad input changes nothing."""
    problem = interface_name_problem(fields.interface)
    if problem:
        raise NetworkConfigError(f"{problem}: nothing was changed")
    config = check(fields, env)
    interface = config.interface
    if env.demo:
        raise NetworkConfigError(f"demo: nothing is applied to this machine ({config.describe()} checked)")
    resolver = env.dns_target() if config.dns else None  # before any change: it may refuse
    notes: list[str] = []
    try:
        with _netlink(env.netns) as ipr:
            index = _index(ipr, interface)  # before anything changes: a vanished interface changes nothing
            dhcp = env.dhcp_client()
            dhcp.release(interface, config)
            if dhcp.name != "none" and not _within(env.release_wait, lambda: _released(ipr, index)):
                notes.append(f"{dhcp.name} kept its lease address for {env.release_wait:.0f} s; removed it")
            ipr.link("set", index=index, state="up")
            if not dhcp.applies_static:
                _set_static(ipr, index, config)
            # A client handed the configuration sets it itself: changes made here meanwhile race it.
            elif not _within(env.release_wait, lambda: _configured(ipr, index, config)):
                notes.append(f"{dhcp.name} had not set it within {env.release_wait:g} s; set here")
                _set_static(ipr, index, config)
    except NetworkConfigError:
        raise
    except Exception as e:  # netlink refused: the kernel's reason, and where it stopped
        raise NetworkConfigError(f"{literal(interface)}: the kernel refused: {_netlink_words(e)}") from None
    if resolver is not None:
        resolver.set(interface, config.dns, env.dns_backup())
    record = Applied(
        interface=interface,
        addresses=tuple(str(a) for a in config.addresses),
        gateways=tuple((str(gateway), onlink) for gateway, onlink in config.gateways),
        dns=tuple(str(d) for d in config.dns),
        dhcp_client=dhcp.name,
        resolver=resolver.name if resolver is not None else "",
    )
    try:
        env.records.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_atomically(env.record_path(interface), record.to_json(), 0o600)
    except OSError as e:
        notes.append(f"could not note what was applied ({os_error_words(e)}): net dhcp will not remove it")
    if dhcp.name != "none":
        notes.append(
            f"{dhcp.name} no longer configures {literal(interface)}; `installer-env net dhcp` hands it back"
        )
    return Outcome(f"{literal(interface)}: static {config.describe()}", tuple(notes))


def apply_dhcp(interface: str, env: Environment) -> Outcome:
    """Remove what `apply_static` set on `interface` and let the DHCP client configure it again."""
    problem = interface_name_problem(interface)
    if problem:
        raise NetworkConfigError(f"{problem}: nothing was changed")
    if env.demo:
        raise NetworkConfigError("demo: nothing is applied to this machine")
    record = env.read_record(interface)
    try:
        with _netlink(env.netns) as ipr:
            index = _index(ipr, interface)
            ipr.link("set", index=index, state="up")
            for text in record.addresses if record else ():
                address = ipaddress.ip_interface(text)
                with contextlib.suppress(Exception):
                    ipr.addr("del", index=index, address=str(address.ip), prefixlen=address.network.prefixlen)
            for gateway, _onlink in record.gateways if record else ():
                family = AF_INET if ":" not in gateway else AF_INET6
                for route in _default_routes(ipr, index, family):
                    if route.get_attr("RTA_GATEWAY") == gateway and route.get("proto") == RTPROT_STATIC:
                        _delete_default(ipr, index, family, route)
    except NetworkConfigError:
        raise
    except Exception as e:
        raise NetworkConfigError(f"{literal(interface)}: the kernel refused: {_netlink_words(e)}") from None
    notes: list[str] = []
    if record is not None and record.dns:
        try:
            env.dns_target().revert(interface, env.dns_backup())
        except NetworkConfigError as e:
            notes.append(str(e))
    with contextlib.suppress(FileNotFoundError):
        env.record_path(interface).unlink()
    dhcp = env.dhcp_client()
    dhcp.resume(interface)
    was = "static addresses removed, " if record else ""
    if dhcp.name == "none":
        return Outcome(
            f"{literal(interface)}: {was}but no DHCP client runs here (neither dhcpcd nor systemd-networkd)",
            tuple(notes),
        )
    return Outcome(f"{literal(interface)}: {was}{dhcp.name} asked for a lease", tuple(notes))
