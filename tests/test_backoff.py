"""The one backoff of the project: delays, the reset after a healthy run, and the early wake-up."""

from __future__ import annotations

import asyncio

import pytest

from installer_env.backoff import Backoff


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_delays_double_up_to_the_maximum() -> None:
    backoff = Backoff(first=1.0, maximum=30.0)
    assert [backoff.next_delay() for _ in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]


def test_a_healthy_run_starts_the_delays_again_and_a_short_one_does_not() -> None:
    clock = Clock()
    backoff = Backoff(first=1.0, maximum=30.0, healthy_after=60.0, clock=clock)
    for _ in range(4):
        backoff.next_delay()
    backoff.started()
    clock.now += 59
    assert backoff.next_delay() == 16  # a run of 59 s: still failing
    backoff.started()
    clock.now += 60
    assert backoff.next_delay() == 1
    assert backoff.next_delay() == 2


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="first <= maximum"):
        Backoff(first=5.0, maximum=1.0)
    with pytest.raises(ValueError, match="0 < first"):
        Backoff(first=0.0)


async def test_wait_sleeps_the_delay_without_a_sign() -> None:
    loop = asyncio.get_running_loop()
    backoff = Backoff(first=0.2, maximum=1.0)
    started = loop.time()
    assert await backoff.wait() is False
    assert loop.time() - started >= 0.19


async def test_a_sign_that_the_thing_is_back_ends_the_wait_at_once() -> None:
    loop = asyncio.get_running_loop()
    backoff = Backoff(first=30.0, maximum=30.0)
    back = asyncio.Event()
    loop.call_later(0.1, back.set)
    started = loop.time()
    assert await backoff.wait(back.wait) is True
    assert loop.time() - started < 5  # not the 30 s of the delay
    assert backoff.next_delay() == 30  # the delays go on growing meanwhile


async def test_a_sign_that_fails_costs_the_full_delay_and_is_cleaned_up() -> None:
    loop = asyncio.get_running_loop()
    backoff = Backoff(first=0.3, maximum=1.0)

    async def broken() -> None:
        raise OSError("no inotify")

    started = loop.time()
    assert await backoff.wait(broken) is False
    assert loop.time() - started >= 0.29

    pending: list[asyncio.Task[None]] = []

    async def never() -> None:
        pending.append(asyncio.current_task())  # type: ignore[arg-type]
        await asyncio.Event().wait()

    assert await backoff.wait(never) is False
    assert pending
    assert pending[0].cancelled()
