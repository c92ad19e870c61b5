"""Session: one snapshot, every change to every view (latest wins), sources supervised."""

from __future__ import annotations

import asyncio
import logging

import pytest
from conftest import MakeConfig

from installer_env.session import Session, Snapshot, collect, supervise
from installer_env.state import StateStore


@pytest.fixture
def first(make_config: MakeConfig) -> Snapshot:
    config = make_config(sshd="/nonexistent")
    return collect(config, StateStore(config.state_dir))


async def test_every_subscriber_sees_each_change(first: Snapshot) -> None:
    session = Session(first)
    a, b = session.snapshots(), session.snapshots()
    assert await anext(a) == first
    assert await anext(b) == first
    session.update(hostname="one")
    assert (await anext(a)).hostname == "one"
    assert (await anext(b)).hostname == "one"
    await a.aclose()
    await b.aclose()


async def test_a_slow_view_skips_to_the_newest_snapshot(first: Snapshot) -> None:
    session = Session(first)
    view = session.snapshots()
    await anext(view)
    for name in ("one", "two", "three"):
        session.update(hostname=name)
    assert (await anext(view)).hostname == "three"
    assert session.snapshot.hostname == "three"
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(view), 0.1)  # nothing stale queued behind it
    await view.aclose()


async def test_an_unchanged_update_is_not_delivered(first: Snapshot) -> None:
    session = Session(first)
    view = session.snapshots()
    await anext(view)
    session.update(hostname=first.hostname, mdns_name=first.mdns_name)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(view), 0.1)
    await view.aclose()


async def test_a_closed_view_stops_receiving(first: Snapshot) -> None:
    session = Session(first)
    view = session.snapshots()
    await anext(view)
    await view.aclose()
    session.update(hostname="after")  # must not fail or keep a queue for the closed view
    assert session.snapshot.hostname == "after"
    later = session.snapshots()
    assert (await anext(later)).hostname == "after"
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
        session.update(hostname="recovered")

    async def steady() -> None:
        session.update(mdns_name="steady.local")

    with caplog.at_level(logging.ERROR, logger="installer_env.session"):
        async with asyncio.timeout(10):
            await asyncio.gather(supervise("flaky", flaky), supervise("steady", steady))
    assert runs == 2
    assert (session.snapshot.hostname, session.snapshot.mdns_name) == ("recovered", "steady.local")
    assert "source flaky failed" in caplog.text
