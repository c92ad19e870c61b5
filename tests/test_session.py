"""Session: one snapshot, every change to every view (latest wins), sources supervised."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import pytest
from conftest import MakeConfig

from installer_env.session import PasswordReading, Session, Snapshot, collect, supervise
from installer_env.state import StateStore
from installer_env.tor import TorStatus


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
