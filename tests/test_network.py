"""Interfaces and offered addresses, live from netlink and udev, in a network namespace per test."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from netns import Namespace
from qrimage import LIGHT_THEME, decode_text

from installer_env import network, qr, sshd, status
from installer_env.network import Interface, NetworkSnapshot
from installer_env.session import Session, Snapshot
from installer_env.wording import present

TIMEOUT = 10.0  # generous: DAD takes a second or two, and the machine is shared


class Follower:
    """Runs `network.watch` on a namespace and lets a test wait for the snapshot it expects."""

    def __init__(self, namespace: Namespace) -> None:
        self.namespace = namespace
        self.history: list[NetworkSnapshot] = []
        self.udev_events: list[tuple[str, str]] = []
        self._changed = asyncio.Event()

    @property
    def latest(self) -> NetworkSnapshot:
        return self.history[-1]

    def _on_udev(self, action: str, name: str) -> None:
        self.udev_events.append((action, name))
        self._changed.set()

    async def _run(self) -> None:
        async for snap in network.watch(self.namespace.name, on_udev_event=self._on_udev):
            self.history.append(snap)
            self._changed.set()

    async def until(self, predicate: Callable[[NetworkSnapshot], bool], what: str) -> NetworkSnapshot:
        async def wait() -> NetworkSnapshot:
            while True:
                if self.history and predicate(self.latest):
                    return self.latest
                self._changed.clear()
                await self._changed.wait()

        try:
            return await asyncio.wait_for(wait(), TIMEOUT)
        except TimeoutError:
            raise AssertionError(f"no snapshot with {what}; the last was {self.history[-1:]}") from None

    async def udev(self, event: tuple[str, str]) -> None:
        async def wait() -> None:
            while event not in self.udev_events:
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(wait(), TIMEOUT)
        except TimeoutError:
            raise AssertionError(f"no udev event {event}; got {self.udev_events}") from None


@contextlib.asynccontextmanager
async def following(namespace: Namespace) -> AsyncIterator[Follower]:
    follower = Follower(namespace)
    task = asyncio.create_task(follower._run())
    try:
        await follower.until(lambda s: True, "anything")
        yield follower
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert task.cancelled(), "the follower stopped by itself"


def bare_snapshot(net: NetworkSnapshot | None = None) -> Snapshot:
    """A session snapshot with nothing but `net`: no password, no sshd."""
    return Snapshot(
        hostname="test",
        mdns_name=None,
        password=None,
        password_problem=None,
        ssh=sshd.SshdStatus(installed=False, running=False, listening=False, port=22),
        network=net,
    )


def iface(snap: NetworkSnapshot, name: str) -> Interface | None:
    return next((i for i in snap.interfaces if i.name == name), None)


def has_carrier(name: str) -> Callable[[NetworkSnapshot], bool]:
    def check(snap: NetworkSnapshot) -> bool:
        found = iface(snap, name)
        return found is not None and found.carrier

    return check


def addresses(snap: NetworkSnapshot, name: str) -> dict[str, network.Address]:
    found = iface(snap, name)
    return {a.address: a for a in found.addresses} if found else {}


def never_offered_link_local(history: list[NetworkSnapshot]) -> None:
    for snap in history:
        for host in snap.offered:
            ip = ipaddress.ip_address(host.strip("[]"))
            assert not ip.is_link_local, snap
            assert not ip.is_loopback, snap


async def test_addresses_come_and_go_ipv4_first(netns: Namespace) -> None:
    netns.add_veth("va", "vb")
    async with following(netns) as f:
        snap = await f.until(has_carrier("va"), "va up with carrier")
        va = iface(snap, "va")
        assert va is not None
        link = netns.link("va")
        assert (va.index, va.mac, va.state, va.kind) == (link["ifindex"], link["address"], "up", "veth")
        assert va.hardware.bus == "virtual"
        assert not va.wireless
        assert snap.offered == ()

        netns.ip("addr", "add", "192.0.2.10/24", "dev", "va")
        snap = await f.until(lambda s: s.offered == ("192.0.2.10",), "the IPv4 address offered")
        added = addresses(snap, "va")["192.0.2.10"]
        assert (added.prefixlen, added.family, added.scope, added.offered) == (24, "ipv4", "global", True)
        assert "permanent" in added.flags

        netns.ip("addr", "add", "2001:db8:1::10/64", "dev", "va", "nodad")
        netns.ip("addr", "add", "fd00:1::10/64", "dev", "vb", "nodad")
        netns.ip("addr", "add", "198.51.100.10/24", "dev", "vb")
        by_index = sorted(["va", "vb"], key=lambda n: netns.link(n)["ifindex"])
        v4 = {"va": "192.0.2.10", "vb": "198.51.100.10"}
        v6 = {"va": "[2001:db8:1::10]", "vb": "[fd00:1::10]"}
        expected = tuple(v4[n] for n in by_index) + tuple(v6[n] for n in by_index)
        snap = await f.until(lambda s: s.offered == expected, f"offered {expected}")
        assert addresses(snap, "va")["2001:db8:1::10"].family == "ipv6"

        netns.ip("addr", "del", "192.0.2.10/24", "dev", "va")
        netns.ip("addr", "del", "2001:db8:1::10/64", "dev", "va")
        snap = await f.until(
            lambda s: s.offered == ("198.51.100.10", "[fd00:1::10]"), "the removed addresses gone"
        )
        assert "192.0.2.10" not in addresses(snap, "va")

        # Both ends got a link-local address when they came up: listed, never offered.
        snap = await f.until(
            lambda s: any(a.startswith("fe80:") for a in addresses(s, "va")), "a link-local address"
        )
        link_local = next(a for a in iface(snap, "va").addresses if a.address.startswith("fe80:"))  # type: ignore[union-attr]
        assert (link_local.scope, link_local.offered) == ("link", False)
    never_offered_link_local(f.history)


async def test_link_down_and_up_and_carrier(netns: Namespace) -> None:
    netns.add_veth("va", "vb")
    netns.ip("addr", "add", "192.0.2.20/24", "dev", "va")
    async with following(netns) as f:
        await f.until(lambda s: s.offered == ("192.0.2.20",), "the address offered")

        netns.ip("link", "set", "va", "down")
        snap = await f.until(lambda s: iface(s, "va").state == "down", "va down")  # type: ignore[union-attr]
        va = iface(snap, "va")
        assert va is not None
        assert not va.carrier
        assert snap.offered == ()
        kept = addresses(snap, "va")["192.0.2.20"]  # the kernel keeps IPv4 addresses on a down link
        assert network.why_not_offered(va, kept) == "interface down"

        netns.ip("link", "set", "va", "up")
        await f.until(lambda s: s.offered == ("192.0.2.20",), "offered again after up")

        # The far end going down takes the carrier away: switched on, but unreachable.
        netns.ip("link", "set", "vb", "down")
        snap = await f.until(lambda s: not iface(s, "va").carrier, "va without carrier")  # type: ignore[union-attr]
        va = iface(snap, "va")
        assert va is not None
        assert va.state == "up"
        assert snap.offered == ()
        assert network.why_not_offered(va, addresses(snap, "va")["192.0.2.20"]) == "no carrier"

        netns.ip("link", "set", "vb", "up")
        await f.until(lambda s: s.offered == ("192.0.2.20",), "offered again with carrier")


async def test_link_local_and_loopback_are_never_offered(netns: Namespace) -> None:
    netns.add_veth("va", "vb")
    netns.ip("addr", "add", "169.254.7.7/16", "dev", "va")
    netns.ip("addr", "add", "fe80::7/64", "dev", "va", "nodad")
    netns.ip("addr", "add", "127.0.0.2/8", "dev", "lo")
    async with following(netns) as f:
        snap = await f.until(
            lambda s: {"169.254.7.7", "fe80::7"} <= set(addresses(s, "va")) and has_carrier("va")(s),
            "the link-local addresses",
        )
        assert snap.offered == ()
        va = iface(snap, "va")
        assert va is not None
        assert network.why_not_offered(va, addresses(snap, "va")["169.254.7.7"]) == "link-local"
        lo = iface(snap, "lo")
        assert lo is not None
        assert lo.loopback
        assert not any(a.offered for a in lo.addresses)
        netns.ip("addr", "add", "192.0.2.7/24", "dev", "va")
        await f.until(lambda s: s.offered == ("192.0.2.7",), "only the routable address")
    never_offered_link_local(f.history)


async def test_tentative_address_is_offered_only_after_dad(netns: Namespace) -> None:
    netns.add_veth("va", "vb")
    netns.sysctl("net.ipv6.conf.va.dad_transmits", "3")  # about 3 s of duplicate address detection
    async with following(netns) as f:
        await f.until(has_carrier("va"), "va up")
        netns.ip("addr", "add", "2001:db8:3::30/64", "dev", "va")
        snap = await f.until(lambda s: "2001:db8:3::30" in addresses(s, "va"), "the new address")
        fresh = addresses(snap, "va")["2001:db8:3::30"]
        assert "tentative" in fresh.flags
        assert not fresh.offered
        assert snap.offered == ()
        snap = await f.until(lambda s: s.offered == ("[2001:db8:3::30]",), "offered after DAD")
        assert "tentative" not in addresses(snap, "va")["2001:db8:3::30"].flags


async def test_duplicate_address_is_not_offered(netns: Namespace) -> None:
    netns.add_veth("va", "vb")
    async with following(netns) as f:
        await f.until(lambda s: has_carrier("va")(s) and has_carrier("vb")(s), "both ends up")
        netns.ip("addr", "add", "2001:db8:4::40/64", "dev", "vb", "nodad")
        netns.ip("addr", "add", "2001:db8:4::40/64", "dev", "va")  # vb answers va's DAD probe
        snap = await f.until(
            lambda s: "dadfailed" in getattr(addresses(s, "va").get("2001:db8:4::40"), "flags", ()),
            "DAD failing on va",
        )
        va = iface(snap, "va")
        assert va is not None
        duplicate = addresses(snap, "va")["2001:db8:4::40"]
        assert not duplicate.offered
        assert network.why_not_offered(va, duplicate) == "duplicate address"
        assert snap.offered == ("[2001:db8:4::40]",)  # vb's own copy is fine


async def test_deprecated_addresses_are_not_offered(netns: Namespace) -> None:
    netns.add_veth("va", "vb")
    netns.ip("addr", "add", "2001:db8:5::50/64", "dev", "va", "nodad", "preferred_lft", "0")
    netns.ip("addr", "add", "192.0.2.50/24", "dev", "va", "preferred_lft", "0")
    netns.ip("addr", "add", "192.0.2.51/24", "dev", "va")
    netns.ip("addr", "add", "2001:db8:5::51/64", "dev", "va", "nodad")
    async with following(netns) as f:
        snap = await f.until(
            lambda s: s.offered == ("192.0.2.51", "[2001:db8:5::51]"), "only the preferred addresses"
        )
        for old in ("2001:db8:5::50", "192.0.2.50"):
            assert "deprecated" in addresses(snap, "va")[old].flags
            assert not addresses(snap, "va")[old].offered


async def test_udev_reports_net_devices_added_and_removed(netns: Namespace) -> None:
    async with following(netns) as f:
        netns.add_veth("vc", "vd", up=False)
        await f.udev(("add", "vc"))
        await f.udev(("add", "vd"))
        await f.until(lambda s: iface(s, "vc") is not None and iface(s, "vd") is not None, "vc and vd")
        netns.ip("link", "del", "vc")
        await f.udev(("remove", "vc"))
        await f.udev(("remove", "vd"))
        await f.until(lambda s: iface(s, "vc") is None and iface(s, "vd") is None, "vc and vd gone")


async def test_follow_keeps_the_session_current(netns: Namespace) -> None:
    netns.add_veth("va", "vb")
    start = bare_snapshot()
    session = Session(start)
    task = asyncio.create_task(network.follow(session, netns.name))
    try:
        seen = session.snapshots()
        netns.ip("addr", "add", "192.0.2.77/24", "dev", "va")
        async with asyncio.timeout(TIMEOUT):
            async for snap in seen:
                if snap.network is not None and snap.network.offered == ("192.0.2.77",):
                    break
        await seen.aclose()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_read_once(netns: Namespace) -> None:
    netns.add_veth("va", "vb")
    netns.ip("addr", "add", "192.0.2.88/24", "dev", "va")
    snap = network.read(netns.name)
    assert snap.problem is None
    assert snap.offered == ("192.0.2.88",)
    assert {i.name for i in snap.interfaces} == {"lo", "va", "vb"}


def test_missing_namespace_is_a_problem_not_a_new_namespace() -> None:
    snap = network.read("ie-test-does-not-exist")
    assert snap.interfaces == ()
    assert snap.problem is not None
    assert "ie-test-does-not-exist" in snap.problem
    assert not Path("/run/netns/ie-test-does-not-exist").exists()


def test_hostile_interface_names_stay_literal(netns: Namespace, tmp_path: Path) -> None:
    hostile = ["\x1b[31mred", "a'b\"c;$(x)", "\u202eabc", "\\e]0;x\\a"]
    netns.ip("link", "add", hostile[0], "type", "veth", "peer", "name", hostile[1])
    netns.ip("link", "add", hostile[2], "type", "veth", "peer", "name", hostile[3])
    for name in hostile:
        netns.ip("link", "set", name, "up")
    netns.ip("addr", "add", "192.0.2.99/24", "dev", hostile[0])
    snap = network.read(netns.name)
    assert {i.name for i in snap.interfaces} >= set(hostile)
    assert snap.offered == ("192.0.2.99",)
    view = bare_snapshot(snap)
    text = status.to_text(view)
    assert "\x1b" not in text
    assert "\u202e" not in text
    assert "\\x1b[31mred" in text
    assert "ssh root@192.0.2.99" in text
    document = status.to_json(view)
    assert document.isascii()
    names = {i["name"] for i in json.loads(document)["network"]["interfaces"]}
    assert names >= set(hostile)  # JSON keeps the exact names, escaped
    code = qr.build(None, None, view.network.offered if view.network else ())
    assert json.loads(document)["qr"]["payload"] == code.payload
    assert json.loads(code.payload, strict=True)["addrs"] == ["192.0.2.99"]
    assert decode_text(qr.render_half_blocks(code.matrix), LIGHT_THEME, tmp_path / "q.pgm") == (
        code.payload.encode()
    )


def test_non_utf8_interface_name_is_shown_escaped(netns: Namespace) -> None:
    import subprocess

    subprocess.run(
        [*(a.encode() for a in netns.enter()), b"ip", b"link", b"add", b"\xff\xfe", b"type", b"veth"],
        check=True,
    )
    names = {i.name for i in network.read(netns.name).interfaces}
    assert "\\xff\\xfe" in names


@pytest.mark.parametrize("count", [50])
def test_fifty_addresses(netns: Namespace, count: int, tmp_path: Path) -> None:
    netns.add_veth("va", "vb")
    batch = tmp_path / "batch"
    v4 = [f"10.1.{i // 200}.{i % 200 + 1}" for i in range(count // 2)]
    v6 = [f"2001:db8:50::{i + 1:x}" for i in range(count - count // 2)]
    lines = [f"addr add {a}/16 dev va" for a in v4] + [f"addr add {a}/64 dev va nodad" for a in v6]
    batch.write_text("\n".join(lines) + "\n")
    netns.ip("-batch", str(batch))
    snap = network.read(netns.name)
    assert snap.offered[: len(v4)] == tuple(v4)  # IPv4 first, in the kernel's order
    assert sorted(snap.offered[len(v4) :]) == sorted(f"[{a}]" for a in v6)  # IPv6: newest first
    view = bare_snapshot(snap)
    fitted = present(view).fit_qr()
    assert isinstance(fitted, qr.Fitted)
    code = fitted.code
    assert code.addrs == tuple(v4[: qr.DEFAULT_MAX_ADDRS])
    assert fitted.omitted == count - qr.DEFAULT_MAX_ADDRS
    assert decode_text(qr.render_half_blocks(code.matrix), LIGHT_THEME, tmp_path / "q.pgm") == (
        code.payload.encode()
    )
    text = status.to_text(view)
    assert all(f"ssh root@{host}" in text for host in snap.offered)  # the text lists every address


def test_offer_rules_for_temporary_addresses() -> None:
    """Privacy addresses need a router's advertisements to appear; the rule itself, directly."""
    up = Interface(
        name="eth0",
        index=2,
        state="up",
        carrier=True,
        operstate="up",
        mac=None,
        kind=None,
        loopback=False,
        wireless=False,
        hardware=network.UNKNOWN_HARDWARE,
        addresses=(),
    )
    temporary = network.Address("2001:db8::abcd", 64, "ipv6", "global", ("temporary",), offered=False)
    assert network.why_not_offered(up, temporary) == "temporary"
    assert network._flag_names(0x01, "ipv6") == ("temporary",)
    assert network._flag_names(0x01, "ipv4") == ("secondary",)  # a second IPv4 address is fine
    assert network._offerable("192.0.2.1", ("secondary", "permanent"))
    assert not network._offerable("2001:db8::1", ("temporary",))
    assert not network._offerable("fec0::1", ())  # site-local, long deprecated
    assert not network._offerable("::ffff:192.0.2.1", ())
