"""Wi-Fi as a snapshot source: a one-shot read for `status`, and a follower for the screen."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import TYPE_CHECKING

from installer_env.backoff import Backoff
from installer_env.wifi.client import IwdClient
from installer_env.wifi.errors import MSG_IWD_TIMEOUT
from installer_env.wifi.model import WifiError, WifiErrorKind, WifiStatus

if TYPE_CHECKING:
    from installer_env.session import Session


def read_status(bus_address: str | None = None, timeout: float = 3.0) -> WifiStatus:
    """One look at iwd, for one-shot views. Never starts iwd and never changes anything.

    Runs its own event loop in a worker thread, so it works inside and outside a running loop.
    """

    async def once() -> WifiStatus:
        client = IwdClient(bus_address, call_timeout=timeout)
        try:
            await client.open()
            async with asyncio.timeout(timeout):  # not wait_for: it can lose a cancellation on 3.11
                return await client.status()
        except WifiError as e:
            return WifiStatus.unavailable(e)
        except TimeoutError:
            return WifiStatus.unavailable(WifiError(WifiErrorKind.TIMEOUT, MSG_IWD_TIMEOUT))
        finally:
            await client.close()

    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="wifi-status") as pool:
        return pool.submit(asyncio.run, once()).result()


async def follow(
    session: Session, make: Callable[[], IwdClient] = IwdClient, retry: float = 5.0, retry_max: float = 60.0
) -> None:
    """Keep `Snapshot.wifi` current; iwd restarting is followed live, a lost bus is retried.
    The only watcher of iwd: every view, the Wi-Fi screen included, reads what it publishes.

    Only a bus that cannot be reached is retried (iwd coming and going is watched on the bus):
    after `retry` seconds, then twice as long each time up to `retry_max`, so a machine without a
    system bus is not asked every few seconds for as long as the screen runs."""
    backoff = Backoff(first=retry, maximum=max(retry, retry_max))
    while True:
        client = make()
        backoff.started()
        try:
            async for status in client.watch():
                session.publish(status)
        except WifiError as e:
            session.publish(WifiStatus.unavailable(e))
        finally:
            await client.close()
        await backoff.wait()
