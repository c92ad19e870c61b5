"""Waiting between retries, for everything that reconnects or restarts (tor, a crashed source).

Delays double from `first` to `maximum` and start again at `first` after a run that lasted
`healthy_after` (a tor that ran for an hour and then restarted is not a tor that keeps failing).
A wait can be cut short by a `back` awaitable that completes when the thing waited for shows it is
back (a control socket created again): the retry then happens at once instead of up to `maximum`
seconds later, and the delay still grows for failures that do not come with such a sign.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Backoff:
    def __init__(
        self,
        first: float = 1.0,
        maximum: float = 30.0,
        healthy_after: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < first <= maximum:
            raise ValueError(f"backoff needs 0 < first <= maximum, not {first} and {maximum}")
        self.first = first
        self.maximum = maximum
        self.healthy_after = healthy_after
        self._clock = clock
        self._delay = first
        self._run_started: float | None = None

    def started(self) -> None:
        """A run (a connection, a source) begins now; how long it lasts decides the next delay."""
        self._run_started = self._clock()

    def next_delay(self) -> float:
        """The delay before the next attempt; each call doubles the one after it."""
        if self._run_started is not None and self._clock() - self._run_started >= self.healthy_after:
            self._delay = self.first
        self._run_started = None
        delay = self._delay
        self._delay = min(self._delay * 2, self.maximum)
        return delay

    async def wait(self, back: Callable[[], Awaitable[object]] | None = None) -> bool:
        """Sleep the next delay; True when `back()` completed first (retry now), else False.

        `back()` failing is logged and the full delay waited: a broken sign never speeds retries up.
        """
        delay = self.next_delay()
        if back is None:
            await asyncio.sleep(delay)
            return False
        loop = asyncio.get_running_loop()
        until = loop.time() + delay
        sign = asyncio.ensure_future(back())
        try:
            done, _ = await asyncio.wait({sign}, timeout=delay)
            if sign in done and sign.exception() is None:
                return True
            if sign in done:
                log.warning("waiting for a retry: %s", sign.exception())
                await asyncio.sleep(max(0.0, until - loop.time()))
            return False
        finally:
            if not sign.done():
                sign.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await sign
