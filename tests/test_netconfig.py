"""Checking a static configuration, and `ip=` on the kernel's and dracut's documented forms."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from installer_env.netapply import Networkd, ResolvConfFile, Resolved, detect_resolver, networkd_unit
from installer_env.netconfig import (
    BootNetwork,
    InvalidConfig,
    StaticFields,
    check_static,
    fields_from_words,
    interface_name_problem,
    parse_cmdline,
    parse_ip_entry,
)
from installer_env.network import address_origin


def errors_of(fields: StaticFields, in_use: dict[str, str] | None = None) -> dict[str, str]:
    with pytest.raises(InvalidConfig) as info:
        check_static(fields, in_use)
    return info.value.errors


def test_a_full_dual_stack_configuration() -> None:
    config = check_static(
        StaticFields(
            "eth0",
            ipv4="192.0.2.10/24",
            gateway4="192.0.2.1",
            ipv6="2001:db8::10/64",
            gateway6="fe80::1",
            dns="192.0.2.53, 2001:db8::53",
        )
    )
    assert config.ipv4 == ipaddress.IPv4Interface("192.0.2.10/24")
    assert config.gateway4 == ipaddress.IPv4Address("192.0.2.1")
    assert config.gateway6 == ipaddress.IPv6Address("fe80::1")
    assert [str(d) for d in config.dns] == ["192.0.2.53", "2001:db8::53"]
    assert not config.onlink4
    assert not config.onlink6
    assert (
        config.describe()
        == "192.0.2.10/24 via 192.0.2.1, 2001:db8::10/64 via fe80::1, DNS 192.0.2.53 2001:db8::53"
    )


def test_a_netmask_after_the_slash_is_read_as_the_prefix() -> None:
    assert str(check_static(StaticFields("eth0", ipv4="10.1.2.3/255.255.0.0")).ipv4) == "10.1.2.3/16"


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        (StaticFields("eth0", ipv4="192.0.2.10"), "ipv4", "add the prefix length after a slash"),
        (StaticFields("eth0", ipv4="192.0.2.300/24"), "ipv4", "not an IPv4 address"),
        (StaticFields("eth0", ipv4="2001:db8::1/64"), "ipv4", "goes in the IPv6 field"),
        (StaticFields("eth0", ipv4="192.0.2.0/24"), "ipv4", "subnet's own address"),
        (StaticFields("eth0", ipv4="192.0.2.255/24"), "ipv4", "broadcast address"),
        (StaticFields("eth0", ipv4="127.0.0.5/8"), "ipv4", "loopback"),
        (StaticFields("eth0", ipv4="224.0.0.5/24"), "ipv4", "multicast"),
        (StaticFields("eth0", ipv4="192.0.2.10/0"), "ipv4", "prefix length of 0"),
        (StaticFields("eth0"), "ipv4", "give an IPv4 address"),
        (
            StaticFields("eth0", ipv4="192.0.2.10/24", gateway4="198.51.100.1"),
            "gateway4",
            "outside 192.0.2.0/24",
        ),
        (StaticFields("eth0", ipv4="192.0.2.10/24", gateway4="192.0.2.10"), "gateway4", "own address"),
        (StaticFields("eth0", ipv4="192.0.2.10/24", gateway4="192.0.2.1/24"), "gateway4", "without a prefix"),
        (
            StaticFields("eth0", ipv4="192.0.2.10/24", gateway4="192.0.2.255"),
            "gateway4",
            "not a host address",
        ),
        (StaticFields("eth0", ipv4="192.0.2.10/24", gateway4="fe80::1"), "gateway4", "IPv6 gateway field"),
        (
            StaticFields("eth0", ipv6="2001:db8::10/64", gateway4="192.0.2.1"),
            "gateway4",
            "needs an IPv4 address",
        ),
        (StaticFields("eth0", ipv6="2001:db8::10"), "ipv6", "add the prefix length"),
        (StaticFields("eth0", ipv6="::ffff:192.0.2.1/96"), "ipv6", "IPv4-mapped"),
        (StaticFields("eth0", ipv6="2001:db8::10/64", gateway6="2001:db9::1"), "gateway6", "outside"),
        (StaticFields("eth0", ipv4="192.0.2.10/24", dns="192.0.2.53 192.0.2.53"), "dns", "given twice"),
        (StaticFields("eth0", ipv4="192.0.2.10/24", dns="dns.example"), "dns", "not an IP address"),
        (
            StaticFields("eth0", ipv4="192.0.2.10/24", dns="1.1.1.1 8.8.8.8 9.9.9.9 1.0.0.1"),
            "dns",
            "at most 3",
        ),
        (StaticFields("", ipv4="192.0.2.10/24"), "interface", "no interface"),
        (StaticFields("eth0/../x", ipv4="192.0.2.10/24"), "interface", "no slashes"),
        (StaticFields("eth0\x1b[2J", ipv4="192.0.2.10/24"), "interface", "control characters"),
        (StaticFields("a" * 16, ipv4="192.0.2.10/24"), "interface", "at most 15 bytes"),
    ],
)
def test_bad_input_is_said_in_words_under_its_field(fields: StaticFields, field: str, words: str) -> None:
    errors = errors_of(fields)
    assert field in errors, errors
    assert words in errors[field]


def test_every_bad_field_is_reported_at_once() -> None:
    errors = errors_of(StaticFields("eth0", ipv4="192.0.2.10", ipv6="zz/64", dns="x"))
    assert set(errors) == {"ipv4", "ipv6", "dns"}


def test_a_gateway_outside_the_prefix_passes_when_marked_on_link() -> None:
    config = check_static(StaticFields("eth0", ipv4="203.0.113.7/32", gateway4="203.0.113.1", onlink=True))
    assert config.onlink4
    assert config.gateway4 == ipaddress.IPv4Address("203.0.113.1")


def test_an_address_another_interface_has_is_refused() -> None:
    errors = errors_of(StaticFields("eth0", ipv4="192.0.2.10/24"), {"192.0.2.10": "eth1"})
    assert errors == {"ipv4": "192.0.2.10 is already on eth1"}
    # The same interface keeping its address is no conflict.
    assert check_static(StaticFields("eth0", ipv4="192.0.2.10/24"), {"192.0.2.10": "eth0"}).ipv4


def test_command_line_words_are_sorted_by_family() -> None:
    fields = fields_from_words(
        "eth0", ["192.0.2.10/24", "2001:db8::10/64"], ["fe80::1", "192.0.2.1"], ["9.9.9.9"], False
    )
    assert fields == StaticFields(
        "eth0", "192.0.2.10/24", "192.0.2.1", "2001:db8::10/64", "fe80::1", "9.9.9.9"
    )
    with pytest.raises(InvalidConfig) as info:
        fields_from_words("eth0", ["192.0.2.10/24", "192.0.2.11/24"], [], [], False)
    assert "one per family" in info.value.errors["ipv4"]


@pytest.mark.parametrize("name", ["eth0", "enp3s0f1", "br-lan", "wan.100", "x" * 15])
def test_real_interface_names_pass(name: str) -> None:
    assert interface_name_problem(name) is None


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a:b", "a b", "a\nb", "x" * 16, "é" * 8])
def test_names_the_kernel_refuses_are_refused_first(name: str) -> None:
    assert interface_name_problem(name) is not None


# --- ip= -----------------------------------------------------------------------------------------


def static(value: str) -> StaticFields:
    entry = parse_ip_entry(value)
    assert entry.method == "static", entry
    assert entry.static is not None
    return entry.static


@pytest.mark.parametrize(
    ("value", "method", "interface"),
    [
        ("dhcp", "dhcp", None),
        ("on", "dhcp", None),
        ("any", "dhcp", None),
        ("bootp", "dhcp", None),
        ("both", "dhcp", None),
        ("off", "off", None),
        ("none", "off", None),
        ("dhcp6", "auto6", None),
        ("auto6", "auto6", None),
        ("either6", "auto6", None),
        ("eth0:dhcp", "dhcp", "eth0"),
        ("enp1s0:auto6", "auto6", "enp1s0"),
        ("::::::dhcp", "dhcp", None),  # the kernel's form with every field empty
        (":::::eth1:dhcp", "dhcp", "eth1"),
    ],
)
def test_autoconfiguration_forms(value: str, method: str, interface: str | None) -> None:
    entry = parse_ip_entry(value)
    assert (entry.method, entry.interface) == (method, interface)


def test_kernel_static_form_with_dns() -> None:
    # ip=<client-ip>:<server-ip>:<gw-ip>:<netmask>:<hostname>:<device>:<autoconf>
    #    :<dns0-ip>:<dns1-ip>:<ntp0-ip>
    entry = parse_ip_entry(
        "192.0.2.10::192.0.2.1:255.255.255.0:box:eth0:off:192.0.2.53:192.0.2.54:192.0.2.123"
    )
    assert entry == BootNetwork(
        source="ip=192.0.2.10::192.0.2.1:255.255.255.0:box:eth0:off:192.0.2.53:192.0.2.54:192.0.2.123",
        method="static",
        interface="eth0",
        static=StaticFields(
            "eth0", ipv4="192.0.2.10/255.255.255.0", gateway4="192.0.2.1", dns="192.0.2.53 192.0.2.54"
        ),
        hostname="box",
    )
    assert str(check_static(entry.static).ipv4) == "192.0.2.10/24"  # type: ignore[arg-type]


def test_kernel_static_form_with_server_and_no_autoconf_field() -> None:
    fields = static("10.0.0.5:10.0.0.1:10.0.0.1:255.0.0.0::eth0")
    assert (fields.ipv4, fields.gateway4) == ("10.0.0.5/255.0.0.0", "10.0.0.1")


def test_a_missing_netmask_is_the_address_class_as_the_kernel_does() -> None:
    assert static("10.0.0.5::10.0.0.1::::none").ipv4 == "10.0.0.5/8"
    assert static("172.16.0.5::172.16.0.1::::none").ipv4 == "172.16.0.5/16"
    assert static("192.0.2.10::192.0.2.1::::none").ipv4 == "192.0.2.10/24"


def test_dracut_ipv6_bracket_form() -> None:
    # ip=[2001:DB8::1]:[2001:DB8::2]:[2001:DB8::3]:64::eth0:none (dracut.cmdline(7))
    entry = parse_ip_entry("[2001:DB8::1]:[2001:DB8::2]:[2001:DB8::3]:64::eth0:none")
    assert entry.interface == "eth0"
    assert entry.static == StaticFields("eth0", ipv6="2001:DB8::1/64", gateway6="2001:DB8::3")
    config = check_static(entry.static)
    assert config.ipv6 == ipaddress.IPv6Interface("2001:db8::1/64")


def test_dracut_ipv6_with_prefix_in_the_address_and_bracketed_dns() -> None:
    fields = static("[2001:db8::10/64]::[fe80::1]:::ens3:none:[2001:db8::53]:192.0.2.53")
    assert (fields.ipv6, fields.gateway6, fields.dns) == (
        "2001:db8::10/64",
        "fe80::1",
        "2001:db8::53 192.0.2.53",
    )


def test_dracut_mtu_and_mac_after_autoconf() -> None:
    entry = parse_ip_entry("192.0.2.10::192.0.2.1:24::eth0:none:9000:52:54:00:12:34:56")
    assert (entry.mtu, entry.mac) == (9000, "52:54:00:12:34:56")
    assert entry.static is not None
    assert (entry.static.ipv4, entry.static.dns) == ("192.0.2.10/24", "")
    assert parse_ip_entry("eth0:dhcp:1400").mtu == 1400
    assert parse_ip_entry("eth0:dhcp::52:54:00:12:34:56").mac == "52:54:00:12:34:56"


def test_a_static_entry_without_device_leaves_the_choice_for_later() -> None:
    entry = parse_ip_entry("192.0.2.10::192.0.2.1:255.255.255.0")
    assert entry.interface is None
    assert entry.static is not None
    assert entry.static.interface == ""


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("sometimes", "not an autoconfiguration method"),
        ("192.0.2.10::192.0.2.1:24::eth0:maybe", "not an autoconfiguration method"),
        ("[2001:db8::1:::64::eth0:none", "no closing ]"),
        ("192.0.2.10::192.0.2.1:wide::eth0:none", "netmask"),
        ("192.0.2.10::192.0.2.1:24::eth0/x:none", "no slashes"),
        ("192.0.2.10::192.0.2.1:24::eth0:none:resolver.example", "neither an MTU nor a DNS server"),
        ("eth0:ibft", "not supported"),
    ],
)
def test_unreadable_entries_say_why(value: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_ip_entry(value)


def test_a_whole_command_line() -> None:
    cmdline = parse_cmdline(
        "BOOT_IMAGE=/bzImage init=/nix/store/x-init ip=192.0.2.10::192.0.2.1:24::eth0:none "
        "ip=eth1:dhcp nameserver=192.0.2.53 nameserver=[2001:db8::53] ip=bogus nameserver=x loglevel=4\n"
    )
    assert [(e.method, e.interface) for e in cmdline.entries] == [("static", "eth0"), ("dhcp", "eth1")]
    assert cmdline.nameservers == ("192.0.2.53", "2001:db8::53")
    assert len(cmdline.problems) == 2
    assert cmdline.problems[0].startswith("ip=bogus:")
    assert "nameserver=x" in cmdline.problems[1]


def test_a_command_line_without_ip_has_nothing_to_do() -> None:
    assert parse_cmdline("quiet splash") == parse_cmdline("")
    assert parse_cmdline("").entries == ()


# --- what the other parts of the system are told -------------------------------------------------


def test_networkd_gets_a_unit_that_keeps_the_static_configuration() -> None:
    config = check_static(
        StaticFields(
            "eth0",
            ipv4="203.0.113.7/32",
            gateway4="203.0.113.1",
            ipv6="2001:db8::7/64",
            dns="9.9.9.9",
            onlink=True,
        )
    )
    assert Networkd(Path("/run/systemd/network")).unit_path("eth0") == Path(
        "/run/systemd/network/00-installer-env-eth0.network"
    )
    assert networkd_unit(config).splitlines() == [
        "# written by installer-env net static",
        "[Match]",
        "Name=eth0",
        "",
        "[Network]",
        "DHCP=no",
        "IPv6AcceptRA=no",
        "Address=203.0.113.7/32",
        "Address=2001:db8::7/64",
        "DNS=9.9.9.9",
        "",
        "[Route]",
        "Gateway=203.0.113.1",
        "GatewayOnLink=yes",
    ]


def test_the_resolver_is_found_where_the_image_has_it(tmp_path: Path) -> None:
    plain = tmp_path / "resolv.conf"
    plain.write_text("nameserver 192.0.2.53\n")
    assert detect_resolver(plain) == ResolvConfFile(plain)
    stub = tmp_path / "stub-resolv.conf"
    stub.write_text("# This is /run/systemd/resolve/stub-resolv.conf\nnameserver 127.0.0.53\noptions edns0\n")
    assert isinstance(detect_resolver(stub), Resolved)
    assert isinstance(detect_resolver(tmp_path / "missing"), ResolvConfFile)


def test_a_plain_resolv_conf_is_put_back_as_it_was(tmp_path: Path) -> None:
    path, backup = tmp_path / "resolv.conf", tmp_path / "state" / "resolv.conf.before"
    path.write_text("search lan\nnameserver 192.0.2.1\n")
    resolver = ResolvConfFile(path)
    resolver.set("eth0", [ipaddress.ip_address("9.9.9.9")], backup)
    resolver.set("eth0", [ipaddress.ip_address("1.1.1.1")], backup)  # again: the first backup stays
    assert path.read_text() == "# written by installer-env net static\nnameserver 1.1.1.1\n"
    resolver.revert("eth0", backup)
    assert path.read_text() == "search lan\nnameserver 192.0.2.1\n"
    assert not backup.exists()


@pytest.mark.parametrize(
    ("family", "scope", "prefixlen", "flags", "proto", "origin"),
    [
        ("ipv4", "global", 24, ("permanent",), None, "static"),
        ("ipv4", "global", 24, (), None, "DHCP"),
        ("ipv6", "global", 64, ("mngtmpaddr",), None, "RA"),
        ("ipv6", "global", 64, ("temporary",), None, "RA"),
        ("ipv6", "global", 128, (), None, "DHCPv6"),
        ("ipv6", "global", 64, (), 2, "RA"),  # IFA_PROTO_KERNEL_RA
        ("ipv6", "link", 64, ("permanent",), None, "link-local"),
        ("ipv4", "host", 8, ("permanent",), 1, "kernel"),
    ],
)
def test_where_an_address_came_from(  # noqa: PLR0917 (one parameter per column of the table)
    family: str, scope: str, prefixlen: int, flags: tuple[str, ...], proto: int | None, origin: str
) -> None:
    assert address_origin(family, scope, prefixlen, flags, proto) == origin
