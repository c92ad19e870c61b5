"""Static addresses applied and reverted for real: netlink in namespaces the tests create, a real
DHCP server (dnsmasq) and the DHCP client NixOS runs (dhcpcd), DNS in a file the test owns."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dhcplan import (
    POOL,
    SERVER_V4,
    SERVER_V6,
    DhcpClient,
    DhcpServer,
    Networkd,
    cable,
    start_dhcpcd,
    start_dnsmasq,
    start_networkd,
    wait_for,
)
from netns import Namespace, create_namespace, delete_namespace

from installer_env import netapply, network, qr
from installer_env.errors import NetworkConfigError
from installer_env.netapply import Environment, NoDhcpClient, ResolvConfFile
from installer_env.netconfig import InvalidConfig, StaticFields

ORIGINAL_RESOLV = "# the image's own\nnameserver 10.77.0.254\n"


def addresses(netns: Namespace, interface: str) -> dict[str, network.Address]:
    snap = network.read(netns.name)
    found = next((i for i in snap.interfaces if i.name == interface), None)
    return {f"{a.address}/{a.prefixlen}": a for a in found.addresses} if found else {}


def default_routes(netns: Namespace, family: str) -> list[dict[str, object]]:
    routes: list[dict[str, object]] = json.loads(netns.ip("-j", f"-{family}", "route", "show", "default"))
    return routes


def route_to(netns: Namespace, destination: str) -> tuple[object, object]:
    route = json.loads(netns.ip("-j", "route", "get", destination))[0]
    return route.get("gateway"), route.get("dev")


def lease_addresses(netns: Namespace) -> list[str]:
    return [k for k, a in addresses(netns, "eth0").items() if a.origin == "DHCP"]


@pytest.fixture
def resolv_conf(tmp_path: Path) -> Path:
    path = tmp_path / "resolv.conf"
    path.write_text(ORIGINAL_RESOLV)
    return path


@pytest.fixture
def lan(tmp_path: Path) -> Iterator[tuple[Namespace, Namespace]]:
    """(client, server) namespaces joined by a cable: eth0 on the client, the router on the server."""
    client, server = create_namespace(), create_namespace()
    try:
        cable(client, server)
        yield client, server
    finally:
        delete_namespace(client)
        delete_namespace(server)


@pytest.fixture
def dhcp_lan(
    lan: tuple[Namespace, Namespace], tmp_path: Path
) -> Iterator[tuple[Namespace, DhcpServer, DhcpClient]]:
    client, server = lan
    dnsmasq = start_dnsmasq(server, tmp_path)
    try:
        dhcpcd = start_dhcpcd(client, tmp_path)
        try:
            yield client, dnsmasq, dhcpcd
        finally:
            dhcpcd.stop()
    finally:
        dnsmasq.stop()


def test_static_ipv4_and_ipv6_applied_and_reverted(
    lan: tuple[Namespace, Namespace], tmp_path: Path, resolv_conf: Path
) -> None:
    client, _server = lan
    env = Environment(tmp_path / "state", client.name, NoDhcpClient(), ResolvConfFile(resolv_conf))
    fields = StaticFields(
        "eth0",
        ipv4="10.77.0.10/24",
        gateway4=SERVER_V4,
        ipv6="2001:db8:77::10/64",
        gateway6=SERVER_V6,
        dns=f"{SERVER_V4} {SERVER_V6}",
    )
    outcome = netapply.apply_static(fields, env)
    assert outcome.summary.startswith(
        "eth0: static 10.77.0.10/24 via 10.77.0.1, 2001:db8:77::10/64 via 2001:db8:77::1"
    )

    now = addresses(client, "eth0")
    assert now["10.77.0.10/24"].origin == "static"
    assert now["2001:db8:77::10/64"].origin == "static"
    assert now["10.77.0.10/24"].offered
    assert now["2001:db8:77::10/64"].offered
    assert [(r["gateway"], r["dev"], r["protocol"]) for r in default_routes(client, "4")] == [
        (SERVER_V4, "eth0", "static")
    ]
    assert [(r["gateway"], r["dev"]) for r in default_routes(client, "6")] == [(SERVER_V6, "eth0")]
    assert resolv_conf.read_text().splitlines()[1:] == [f"nameserver {SERVER_V4}", f"nameserver {SERVER_V6}"]
    # Traffic to the rest of the world goes through the router.
    assert route_to(client, "198.51.100.7") == (SERVER_V4, "eth0")
    assert route_to(client, "2001:db8:99::7") == (SERVER_V6, "eth0")

    # The QR payload, from the same snapshot the screen shows, carries the new addresses.
    snap = network.read(client.name)
    code = qr.build("pass-word", None, snap.offered)
    assert json.loads(code.payload)["addrs"] == ["10.77.0.10", "[2001:db8:77::10]"]

    outcome = netapply.apply_dhcp("eth0", env)
    assert "static addresses removed" in outcome.summary
    now = addresses(client, "eth0")
    assert "10.77.0.10/24" not in now
    assert "2001:db8:77::10/64" not in now
    assert default_routes(client, "4") == []
    assert default_routes(client, "6") == []
    assert resolv_conf.read_text() == ORIGINAL_RESOLV
    assert not env.record_path("eth0").exists()


def test_a_gateway_outside_the_prefix_gets_an_on_link_route(
    lan: tuple[Namespace, Namespace], tmp_path: Path
) -> None:
    client, _server = lan
    env = Environment(
        tmp_path / "state", client.name, NoDhcpClient(), ResolvConfFile(tmp_path / "resolv.conf")
    )
    netapply.apply_static(StaticFields("eth0", ipv4="10.77.0.10/32", gateway4=SERVER_V4, onlink=True), env)
    routes = default_routes(client, "4")
    assert [(r["gateway"], r.get("flags")) for r in routes] == [(SERVER_V4, ["onlink"])]
    assert route_to(client, "198.51.100.7") == (SERVER_V4, "eth0")
    assert not (tmp_path / "resolv.conf").exists()  # no DNS given: the resolver is left alone


def snapshot_of(netns: Namespace) -> tuple[list[str], str, str]:
    """Addresses and routes a change would touch (not DAD's passing flags on link-local ones)."""
    global_addresses = [k for k in addresses(netns, "eth0") if not k.startswith("fe80")]
    return global_addresses, netns.ip("-j", "-4", "route"), netns.ip("-j", "-6", "route")


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        (StaticFields("eth0", ipv4="10.77.0.10"), "add the prefix length"),
        (StaticFields("eth0", ipv4="10.77.0.10/24", gateway4="10.78.0.1"), "outside 10.77.0.0/24"),
        (StaticFields("eth9", ipv4="10.77.0.10/24"), "there is no interface eth9"),
        (StaticFields("eth0;rm -rf", ipv4="10.77.0.10/24"), "no slashes, colons, spaces"),
        (StaticFields("lo", ipv4="127.0.0.1/8"), "loopback"),
    ],
)
def test_bad_input_changes_nothing(
    lan: tuple[Namespace, Namespace], tmp_path: Path, resolv_conf: Path, fields: StaticFields, words: str
) -> None:
    client, _server = lan
    env = Environment(tmp_path / "state", client.name, NoDhcpClient(), ResolvConfFile(resolv_conf))
    before = snapshot_of(client)
    with pytest.raises((InvalidConfig, NetworkConfigError)) as info:
        netapply.apply_static(fields, env)
    assert words in str(info.value)
    assert snapshot_of(client) == before
    assert resolv_conf.read_text() == ORIGINAL_RESOLV
    assert not (tmp_path / "state").exists()


def test_an_address_already_on_another_interface_is_refused(
    lan: tuple[Namespace, Namespace], tmp_path: Path
) -> None:
    client, _server = lan
    client.add_veth("va", "vb")
    client.ip("addr", "add", "10.77.0.10/24", "dev", "vb")
    env = Environment(
        tmp_path / "state", client.name, NoDhcpClient(), ResolvConfFile(tmp_path / "resolv.conf")
    )
    with pytest.raises(InvalidConfig) as info:
        netapply.apply_static(StaticFields("eth0", ipv4="10.77.0.10/24"), env)
    assert info.value.errors == {"ipv4": "10.77.0.10 is already on vb"}


def test_static_survives_dhcpcd_and_dhcp_comes_back(
    dhcp_lan: tuple[Namespace, DhcpServer, DhcpClient], tmp_path: Path, resolv_conf: Path
) -> None:
    client, dnsmasq, dhcpcd = dhcp_lan
    started = time.monotonic()
    wait_for(lambda: bool(lease_addresses(client)), "a DHCP lease on eth0")
    took = time.monotonic() - started
    lease = lease_addresses(client)[0]
    assert POOL[0] <= lease.split("/")[0] <= POOL[1]
    assert [r["protocol"] for r in default_routes(client, "4")] == ["dhcp"]

    env = Environment(
        tmp_path / "state", client.name, netapply.Dhcpcd(dhcpcd.control_socket), ResolvConfFile(resolv_conf)
    )
    outcome = netapply.apply_static(
        StaticFields("eth0", ipv4="10.77.0.10/24", gateway4=SERVER_V4, dns="10.77.0.53"), env
    )
    assert any("dhcpcd no longer configures eth0" in n for n in outcome.notes)
    wait_for(lambda: "control command: dhcpcd -k eth0" in dhcpcd.log_text(), "dhcpcd to take -k eth0")
    assert list(addresses(client, "eth0")) == [
        "10.77.0.10/24",
        *[k for k in addresses(client, "eth0") if k.startswith("fe80")],
    ]
    assert [(r["gateway"], r["protocol"]) for r in default_routes(client, "4")] == [(SERVER_V4, "static")]
    assert "nameserver 10.77.0.53" in resolv_conf.read_text()
    code = qr.build("pass-word", None, network.read(client.name).offered)
    assert json.loads(code.payload)["addrs"] == ["10.77.0.10"]

    # The cable pulled and plugged back (the router's end goes down): dhcpcd would ask for a lease
    # again if it still ran on eth0.

    def carrier() -> bool:
        return "LOWER_UP" in client.link("eth0")["flags"]

    dnsmasq.namespace.ip("link", "set", "srv0", "down")
    wait_for(lambda: not carrier(), "eth0 to lose carrier")
    dnsmasq.namespace.ip("link", "set", "srv0", "up")
    wait_for(carrier, "eth0 to have carrier again")
    window = time.monotonic() + max(3 * took, 8.0)
    while time.monotonic() < window:
        assert lease_addresses(client) == []
        assert "10.77.0.10/24" in addresses(client, "eth0")
        time.sleep(0.2)
    assert [r["gateway"] for r in default_routes(client, "4")] == [SERVER_V4]

    outcome = netapply.apply_dhcp("eth0", env)
    assert outcome.summary == "eth0: static addresses removed, dhcpcd asked for a lease"
    wait_for(lambda: "control command: dhcpcd -n eth0" in dhcpcd.log_text(), "dhcpcd to take -n eth0")
    wait_for(lambda: bool(lease_addresses(client)), "the DHCP lease back on eth0")
    assert "10.77.0.10/24" not in addresses(client, "eth0")
    assert [r["protocol"] for r in default_routes(client, "4")] == ["dhcp"]
    assert resolv_conf.read_text() == ORIGINAL_RESOLV
    code = qr.build("pass-word", None, network.read(client.name).offered)
    assert json.loads(code.payload)["addrs"] == [lease_addresses(client)[0].split("/")[0]]


@pytest.fixture
def networkd_lan(
    lan: tuple[Namespace, Namespace], tmp_path: Path
) -> Iterator[tuple[Namespace, Namespace, Networkd]]:
    client, server = lan
    dnsmasq = start_dnsmasq(server, tmp_path)
    try:
        networkd = start_networkd(client, tmp_path)
        try:
            yield client, server, networkd
        finally:
            networkd.stop()
    finally:
        dnsmasq.stop()


def test_networkd_that_does_not_set_the_static_configuration_in_time_gets_it_set_here(
    lan: tuple[Namespace, Namespace], tmp_path: Path, resolv_conf: Path
) -> None:
    """networkd is handed the configuration and awaited (changes made meanwhile raced it); one that
    has not set it within the wait (here: reload and reconfigure reach no networkd) does not leave
    the interface without it."""
    client, _server = lan
    dhcp = netapply.Networkd(tmp_path / "networkd", ("true",))
    env = Environment(tmp_path / "state", client.name, dhcp, ResolvConfFile(resolv_conf), release_wait=0.5)
    outcome = netapply.apply_static(StaticFields("eth0", ipv4="10.77.0.10/24", gateway4=SERVER_V4), env)
    assert "systemd-networkd had not set it within 0.5 s; set here" in outcome.notes
    assert "Address=10.77.0.10/24" in dhcp.unit_path("eth0").read_text()
    assert "10.77.0.10/24" in addresses(client, "eth0")
    assert [r["gateway"] for r in default_routes(client, "4")] == [SERVER_V4]


def test_static_survives_networkd_and_dhcp_comes_back(
    networkd_lan: tuple[Namespace, Namespace, Networkd], tmp_path: Path, resolv_conf: Path
) -> None:
    client, server, networkd = networkd_lan
    wait_for(lambda: bool(lease_addresses(client)), "a DHCP lease from networkd on eth0")
    dhcp = netapply.Networkd(networkd.runtime_dir, networkd.networkctl)
    env = Environment(tmp_path / "state", client.name, dhcp, ResolvConfFile(resolv_conf))
    outcome = netapply.apply_static(StaticFields("eth0", ipv4="10.77.0.10/24", gateway4=SERVER_V4), env)
    assert any("systemd-networkd no longer configures eth0" in n for n in outcome.notes)
    unit = (networkd.runtime_dir / "00-installer-env-eth0.network").read_text()
    assert "Address=10.77.0.10/24" in unit
    assert "DHCP=no" in unit
    # networkd applies the runtime file too: same address, and the lease stays away.
    wait_for(lambda: lease_addresses(client) == [], "networkd to drop its lease")
    # Reconfiguring the link, networkd removes the address it did not set and then adds it back
    # from the runtime file: for a moment it is not there.
    wait_for(lambda: "10.77.0.10/24" in addresses(client, "eth0"), "networkd to set the static address")
    wait_for(
        lambda: [r["gateway"] for r in default_routes(client, "4")] == [SERVER_V4], "the static default route"
    )
    # The cable pulled and plugged back: networkd configures the link again, from the runtime file.
    server.ip("link", "set", "srv0", "down")
    wait_for(lambda: "LOWER_UP" not in client.link("eth0")["flags"], "eth0 to lose carrier")
    server.ip("link", "set", "srv0", "up")
    wait_for(lambda: "LOWER_UP" in client.link("eth0")["flags"], "eth0 to have carrier again")
    deadline = time.monotonic() + 8.0
    while time.monotonic() < deadline:
        assert lease_addresses(client) == []
        time.sleep(0.2)
    wait_for(lambda: "10.77.0.10/24" in addresses(client, "eth0"), "the static address after the cable")

    outcome = netapply.apply_dhcp("eth0", env)
    assert outcome.summary == "eth0: static addresses removed, systemd-networkd asked for a lease"
    assert not (networkd.runtime_dir / "00-installer-env-eth0.network").exists()
    # networkd's DHCP client starts over with its own backoff: generous on a loaded machine.
    wait_for(lambda: bool(lease_addresses(client)), "the lease back from networkd", timeout=90)
    assert "10.77.0.10/24" not in addresses(client, "eth0")
