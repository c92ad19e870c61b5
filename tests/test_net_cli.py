"""`installer-env net static|dhcp|boot` as scripts and boot services run it, in a test's namespace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_runner import run_cli
from netns import Namespace

from installer_env import network


def addrs(netns: Namespace, name: str = "eth0") -> list[str]:
    data = json.loads(netns.ip("-j", "addr", "show", "dev", name))
    return [f"{a['local']}/{a['prefixlen']}" for a in data[0]["addr_info"] if a["scope"] == "global"]


def configuration(netns: Namespace) -> tuple[list[str], list[str], str, str]:
    """Addresses and routes that a change would touch (not DAD's passing flags on link-local ones)."""
    return (
        addrs(netns, "eth0"),
        addrs(netns, "peer0"),
        netns.ip("-j", "-4", "route"),
        netns.ip("-j", "-6", "route"),
    )


@pytest.fixture
def wired(netns: Namespace) -> Namespace:
    netns.add_veth("eth0", "peer0")
    return netns


def net(env: dict[str, str], netns: Namespace, resolv: Path, *args: str) -> tuple[int, str, str]:
    action, *rest = args
    result = run_cli(env, "net", action, "--netns", netns.name, "--resolv-conf", str(resolv), *rest)
    return result.returncode, result.stdout, result.stderr


def test_static_then_dhcp_from_the_command_line(
    isolated_env: dict[str, str], wired: Namespace, tmp_path: Path
) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 10.0.0.1\n")
    code, out, err = net(
        isolated_env,
        wired,
        resolv,
        "static",
        "eth0",
        "192.0.2.10/24",
        "2001:db8::10/64",
        "--gateway",
        "192.0.2.1",
        "--dns",
        "192.0.2.53,2001:db8::53",
    )
    assert (code, err) == (0, "")
    assert (
        out.splitlines()[0]
        == "eth0: static 192.0.2.10/24 via 192.0.2.1, 2001:db8::10/64, DNS 192.0.2.53 2001:db8::53"
    )
    assert addrs(wired) == ["192.0.2.10/24", "2001:db8::10/64"]
    assert "nameserver 2001:db8::53" in resolv.read_text()
    record = tmp_path / "state" / "network" / "eth0.json"
    assert record.stat().st_mode & 0o777 == 0o600

    code, out, err = net(isolated_env, wired, resolv, "dhcp", "eth0", "--yes")  # no lease comes here
    assert (code, err) == (0, "")
    assert "static addresses removed" in out
    assert addrs(wired) == []
    assert resolv.read_text() == "nameserver 10.0.0.1\n"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["eth0", "192.0.2.10"], "IPv4 address: add the prefix length after a slash, e.g. 192.0.2.10/24"),
        (
            ["eth0", "192.0.2.10/24", "--gateway", "10.1.1.1"],
            "IPv4 gateway: 10.1.1.1 is outside 192.0.2.0/24",
        ),
        (
            ["gone0", "192.0.2.10/24"],
            "there is no interface gone0 (unplugged or renamed?): nothing was changed",
        ),
        (["eth0\x1b]0;owned\x07", "192.0.2.10/24"], "interface: an interface name has no slashes"),
    ],
)
def test_bad_input_is_refused_in_words(
    isolated_env: dict[str, str], wired: Namespace, tmp_path: Path, args: list[str], words: str
) -> None:
    resolv = tmp_path / "resolv.conf"
    before = configuration(wired)
    code, out, err = net(isolated_env, wired, resolv, "static", *args)
    assert code == 7
    assert out == ""
    assert words in err
    assert "\x1b" not in err  # a hostile name is shown escaped
    assert configuration(wired) == before
    assert not resolv.exists()


def test_losing_the_only_reachable_address_needs_yes(
    isolated_env: dict[str, str], wired: Namespace, tmp_path: Path
) -> None:
    wired.ip("addr", "add", "198.51.100.5/24", "dev", "eth0")
    resolv = tmp_path / "resolv.conf"
    code, _out, err = net(isolated_env, wired, resolv, "static", "eth0", "192.0.2.10/24")
    assert code == 7
    assert "this removes 198.51.100.5, the only address ssh reaches this machine at" in err
    assert addrs(wired) == ["198.51.100.5/24"]
    code, _out, err = net(isolated_env, wired, resolv, "static", "eth0", "192.0.2.10/24", "--yes")
    assert (code, err) == (0, "")
    assert addrs(wired) == ["192.0.2.10/24"]
    assert network.read(wired.name).offered == ("192.0.2.10",)
    # Back to DHCP takes the only address too (no lease comes here): the same question.
    code, _out, err = net(isolated_env, wired, resolv, "dhcp", "eth0")
    assert code == 7
    assert "this removes 192.0.2.10, the only address ssh reaches this machine at until a lease comes" in err
    assert addrs(wired) == ["192.0.2.10/24"]
    code, _out, err = net(isolated_env, wired, resolv, "dhcp", "eth0", "--yes")
    assert (code, err) == (0, "")
    assert addrs(wired) == []


def test_boot_applies_ip_from_the_kernel_command_line(
    isolated_env: dict[str, str], wired: Namespace, tmp_path: Path
) -> None:
    cmdline = tmp_path / "cmdline"
    cmdline.write_text(
        "initrd=x ip=192.0.2.10::192.0.2.1:255.255.255.0:box:eth0:none:192.0.2.53 "
        "ip=[2001:db8::10]::[2001:db8::1]:64::eth0:none nameserver=2001:db8::53 ip=peer0:dhcp\n"
    )
    resolv = tmp_path / "resolv.conf"
    code, out, err = net(isolated_env, wired, resolv, "boot", "--cmdline", str(cmdline))
    assert (code, err) == (0, "")
    # One ip= for IPv4 and one for IPv6 on eth0 (dracut's way): one configuration with both.
    assert addrs(wired) == ["192.0.2.10/24", "2001:db8::10/64"]
    assert out.splitlines()[-1] == (
        "eth0: static 192.0.2.10/24 via 192.0.2.1, 2001:db8::10/64 via 2001:db8::1, "
        "DNS 192.0.2.53 2001:db8::53"
    )
    assert "ip=peer0:dhcp: dhcp, left to the DHCP client" in out
    assert resolv.read_text().splitlines()[1:] == ["nameserver 192.0.2.53", "nameserver 2001:db8::53"]
    assert json.loads((tmp_path / "state" / "network" / "eth0.json").read_text())["addresses"] == [
        "192.0.2.10/24",
        "2001:db8::10/64",
    ]


def test_boot_without_ip_does_nothing(isolated_env: dict[str, str], wired: Namespace, tmp_path: Path) -> None:
    cmdline = tmp_path / "cmdline"
    cmdline.write_text("quiet loglevel=4\n")
    code, out, err = net(isolated_env, wired, tmp_path / "resolv.conf", "boot", "--cmdline", str(cmdline))
    assert (code, out, err) == (0, "", "")
    assert addrs(wired) == []


def test_boot_reports_an_unreadable_entry_and_applies_the_rest(
    isolated_env: dict[str, str], wired: Namespace, tmp_path: Path
) -> None:
    cmdline = tmp_path / "cmdline"
    cmdline.write_text("ip=192.0.2.10::192.0.2.1:24::eth0:sometimes ip=192.0.2.11::192.0.2.1:24::eth0:off\n")
    code, _out, err = net(isolated_env, wired, tmp_path / "resolv.conf", "boot", "--cmdline", str(cmdline))
    assert code == 7
    assert "'sometimes' is not an autoconfiguration method" in err
    assert addrs(wired) == ["192.0.2.11/24"]


def test_demo_checks_but_applies_nothing(
    isolated_env: dict[str, str], wired: Namespace, tmp_path: Path
) -> None:
    before = configuration(wired)
    env = dict(isolated_env, INSTALLER_ENV_DEMO="1")
    code, out, err = net(
        env, wired, tmp_path / "resolv.conf", "static", "eth0", "192.0.2.10/24", "--dns", "9.9.9.9"
    )
    assert (code, out) == (7, "")
    assert "demo: nothing is applied to this machine (192.0.2.10/24, DNS 9.9.9.9 checked)" in err
    code, _out, err = net(env, wired, tmp_path / "resolv.conf", "static", "eth0", "192.0.2.10")
    assert "add the prefix length" in err
    assert configuration(wired) == before
    assert not (tmp_path / "resolv.conf").exists()
