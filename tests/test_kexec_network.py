"""The network of the old system as systemd-networkd units: recorded `ip --json` outputs in,
whole unit files out (tests/data/kexec_network/<case>/expected/).

Cases: vm-static-and-dhcp was recorded in the networkd VM test's guest (Debian's iproute2):
several addresses, a point-to-point peer, noprefixroute/nodad, default routes, onlink, an IPv4
route via an IPv6 gateway, a VLAN, a DHCP lease with SLAAC. bridge-tunnel-multipath was recorded in
a network namespace here: a bridge, a tun device without MAC, multipath, blackhole and DHCP routes.
bond-vlan-slaac and bond-without-details follow iproute2's output for what namespaces here cannot
make: bonds (with and without --details), a VLAN on a bond, privacy (temporary) and mngtmpaddr
SLAAC addresses, WireGuard, an interface with only a link-local address, a docker-style bridge.
"""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest

from installer_env import kexec_network
from installer_env.errors import KexecStateError

DATA = Path(__file__).resolve().parent / "data" / "kexec_network"
CASES = sorted(p.name for p in DATA.iterdir() if p.is_dir())


@pytest.mark.parametrize("case", CASES)
def test_units_are_exactly_the_expected_files(case: str) -> None:
    result = kexec_network.plan_from_dir(DATA / case)
    expected = DATA / case / "expected"
    want = {p.name: p.read_text() for p in sorted(expected.glob("*.network"))}
    assert {u.name: u.text for u in result.units} == want
    not_restored = [f"{s.what}: {s.reason}" for s in result.skipped]
    assert not_restored == (expected / "not-restored.txt").read_text().splitlines()


def test_every_case_has_units() -> None:
    assert len(CASES) == 4
    for case in CASES:
        assert list((DATA / case / "expected").glob("*.network")), case


def _plan(addr_info: list[dict[str, object]], routes4: list[dict[str, object]] | None = None) -> str:
    link = {"ifname": "eth0", "link_type": "ether", "address": "52:54:00:00:00:01", "addr_info": addr_info}
    result = kexec_network.plan([link], routes4 or [], [])
    return "".join(u.text for u in result.units)


def test_link_local_temporary_and_host_addresses_never_become_static() -> None:
    text = _plan(
        [
            {"family": "inet6", "local": "fe80::1", "prefixlen": 64, "scope": "link"},
            {"family": "inet", "local": "169.254.3.4", "prefixlen": 16, "scope": "link"},
            {
                "family": "inet6",
                "local": "2001:db8::abcd",
                "prefixlen": 64,
                "scope": "global",
                "temporary": True,
            },
            {"family": "inet", "local": "127.0.0.2", "prefixlen": 8, "scope": "host"},
        ]
    )
    assert "[Address]" not in text
    assert "DHCP=yes\nIPv6AcceptRA=yes" in text  # the privacy address means router advertisements


def test_only_link_local_means_no_unit() -> None:
    assert _plan([{"family": "inet6", "local": "fe80::1", "prefixlen": 64, "scope": "link"}]) == ""


V4 = {"family": "inet", "local": "192.0.2.1", "prefixlen": 24, "scope": "global"}


@pytest.mark.parametrize(
    ("addr_info", "routes", "words"),
    [
        (
            [{"family": "inet", "local": "192.0.2.1\n[Network]", "prefixlen": 24, "scope": "global"}],
            [],
            "not an IP",
        ),
        (
            [{"family": "inet", "local": "192.0.2.1", "prefixlen": "24", "scope": "global"}],
            [],
            "prefix length",
        ),
        (
            [{"family": "inet", "local": "2001:db8::1", "prefixlen": 64, "scope": "global"}],
            [],
            "listed as IPv4",
        ),
        ([], [{"dst": "default", "gateway": "192.0.2.1\nDNS=1.1.1.1", "dev": "eth0"}], "gateway"),
        ([], [{"dst": "10.0.0.0/8 x", "dev": "eth0"}], "destination"),
        ([], [{"dst": "default", "gateway": 3232235777, "dev": "eth0"}], "gateway"),
        ([], [{"gateway": "192.0.2.1", "dev": "eth0"}], "no destination"),
    ],
)
def test_bad_input_is_refused_with_what_is_wrong(
    addr_info: list[dict[str, object]], routes: list[dict[str, object]], words: str
) -> None:
    with pytest.raises(KexecStateError, match=words):
        _plan(addr_info, routes)


def test_hostile_interface_name_is_refused() -> None:
    link = {"ifname": "eth0\n[Match]", "address": "52:54:00:00:00:01", "addr_info": []}
    with pytest.raises(KexecStateError, match="interface name"):
        kexec_network.plan([link], [], [])


def test_not_a_list_is_refused() -> None:
    with pytest.raises(KexecStateError, match="not a list"):
        kexec_network.plan({"ifname": "eth0"}, [], [])  # type: ignore[arg-type]


def test_unreadable_json_names_the_file(tmp_path: Path) -> None:
    (tmp_path / kexec_network.ADDRS_FILE).write_text("[{")
    with pytest.raises(KexecStateError, match=r"addrs\.json"):
        kexec_network.plan_from_dir(tmp_path)


def test_write_replaces_only_its_own_units_and_leaves_a_summary(tmp_path: Path) -> None:
    saved = tmp_path / "saved"
    shutil.copytree(DATA / "vm-static-and-dhcp", saved, ignore=shutil.ignore_patterns("expected"))
    units = tmp_path / "units"
    units.mkdir()
    (units / "10-mine.network").write_text("[Match]\nName=x\n")
    (units / f"{kexec_network.UNIT_PREFIX}gone.network").write_text("old")
    result = kexec_network.plan_from_dir(saved)
    kexec_network.write(result, units, saved)
    names = sorted(p.name for p in units.iterdir())
    assert names == sorted(["10-mine.network", *(u.name for u in result.units)])
    for unit in result.units:
        assert (units / unit.name).read_text() == unit.text
        assert stat.S_IMODE((units / unit.name).stat().st_mode) == 0o644
    summary = kexec_network.read_summary(saved)
    assert summary is not None
    assert summary.restored == result.restored
    assert summary.skipped == result.skipped
    assert json.loads((saved / kexec_network.SUMMARY_FILE).read_text())["units"] == [
        u.name for u in result.units
    ]


def test_write_to_a_read_only_place_says_so(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(KexecStateError, match="cannot write the network units"):
        kexec_network.write(kexec_network.Plan((), ()), blocker / "units", tmp_path)
