"""Session: one snapshot, every change to every view (latest wins), sources supervised."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from typing import TypeVar

import pytest
from conftest import MakeConfig

from installer_env.session import PasswordReading, Session, Snapshot, collect, supervise
from installer_env.state import StateStore
from installer_env.tor import TorStatus

T = TypeVar("T")


@pytest.fixture
def first(make_config: MakeConfig) -> Snapshot:
    config = make_config(sshd="/nonexistent")
    return collect(config, StateStore(config.state_dir))


async def test_every_subscriber_sees_each_change(first: Snapshot) -> None:
    session = Session(first)
    a, b = session.snapshots(), session.snapshots()
    assert await anext(a) == first
    assert await anext(b) == first
    session.publish(TorStatus(bootstrap_percent=1))
    assert (await anext(a)).tor == TorStatus(bootstrap_percent=1)
    assert (await anext(b)).tor == TorStatus(bootstrap_percent=1)
    await a.aclose()
    await b.aclose()


async def test_a_slow_view_skips_to_the_newest_snapshot(first: Snapshot) -> None:
    session = Session(first)
    view = session.snapshots()
    await anext(view)
    for percent in (1, 2, 3):
        session.publish(TorStatus(bootstrap_percent=percent))
    assert (await anext(view)).tor == TorStatus(bootstrap_percent=3)
    assert session.snapshot.tor == TorStatus(bootstrap_percent=3)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(view), 0.1)  # nothing stale queued behind it
    await view.aclose()


async def test_an_unchanged_update_is_not_delivered(first: Snapshot) -> None:
    session = Session(first)
    view = session.snapshots()
    await anext(view)
    session.publish(PasswordReading(first.password, first.password_problem))
    session.publish(first.ssh)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(view), 0.1)
    await view.aclose()


async def test_a_closed_view_stops_receiving(first: Snapshot) -> None:
    session = Session(first)
    view = session.snapshots()
    await anext(view)
    await view.aclose()
    session.publish(TorStatus(error="after"))  # must not fail or keep a queue for the closed view
    assert session.snapshot.tor == TorStatus(error="after")
    later = session.snapshots()
    assert (await anext(later)).tor == TorStatus(error="after")
    await later.aclose()


async def test_a_crashing_source_is_restarted_and_the_others_go_on(
    first: Snapshot, caplog: pytest.LogCaptureFixture
) -> None:
    session = Session(first)
    runs = 0

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise RuntimeError("boom")
        session.publish(TorStatus(error="recovered"))

    async def steady() -> None:
        session.replace(dataclasses.replace(session.snapshot, mdns_name="steady.local"))

    with caplog.at_level(logging.ERROR, logger="installer_env.session"):
        async with asyncio.timeout(10):
            await asyncio.gather(supervise("flaky", flaky), supervise("steady", steady))
    assert runs == 2
    assert session.snapshot.tor == TorStatus(error="recovered")
    assert session.snapshot.mdns_name == "steady.local"
    assert "source flaky failed" in caplog.text


def _noting_intervals(monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[str, float, float]]:
    """Where and when `sshd.status` (which runs `sshd -T`) and the netlink read run in `collect`."""
    import threading
    import time

    from installer_env import network, sshd

    seen: dict[str, tuple[str, float, float]] = {}

    def noting(name: str, real: Callable[..., T]) -> Callable[..., T]:
        def run(*args: object, **kwargs: object) -> T:
            start = time.monotonic()
            try:
                return real(*args, **kwargs)
            finally:
                seen[name] = (threading.current_thread().name, start, time.monotonic())

        return run

    monkeypatch.setattr(sshd, "status", noting("sshd", sshd.status))
    monkeypatch.setattr(network, "read", noting("netlink", network.read))
    return seen


def test_sshd_runs_beside_the_netlink_read_when_a_cpu_is_spare(
    make_config: MakeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _noting_intervals(monkeypatch)
    config = make_config()
    snap = collect(config, StateStore(config.state_dir))
    assert snap.ssh.port_known
    assert snap.network is not None
    assert snap.network.interfaces
    assert seen["sshd"][0].startswith("collect-sshd")
    assert seen["netlink"][0] == "MainThread"


def test_without_a_spare_cpu_sshd_runs_before_the_netlink_read_not_beside_it(
    make_config: MakeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the screen's first snapshot is collected: beside the process importing textual, where a
    third process (`sshd -T`) would take turns with both."""
    seen = _noting_intervals(monkeypatch)
    config = make_config()
    snap = collect(config, StateStore(config.state_dir), live=True, spare_cpu=False)
    assert snap.ssh.port_known
    assert snap.network is not None
    assert snap.network.interfaces
    assert seen["sshd"][0] == seen["netlink"][0] == "MainThread"
    assert seen["sshd"][2] <= seen["netlink"][1]
