"""Noticing that a tor's control endpoint is there again, so a reconnect happens at once rather
than at the next backoff step: a control socket is watched with inotify on its directory (a new
socket file, or a directory that shows up again), a control port is tried every quarter second.

`observe()` takes a look now; `returns()` completes when the endpoint looks different and usable:
a socket file that is new (another inode, or created later) or a port that accepts connections
after it did not.
A tor that is there all along but refuses us (a wrong password) is no sign, so it costs no retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass

from installer_env.dirwatch import DirectoryChanges
from installer_env.tor.control import Endpoint

PORT_POLL = 0.25  # seconds between tries of a control port
DIRECTORY_POLL = 0.5  # seconds between looks for a socket directory that does not exist
WATCH_RECHECK = 2.0  # a watched directory is also looked at this often (a missed event costs no more)


@dataclass(frozen=True)
class Seen:
    """What the endpoint looked like: the socket file's identity, or whether the port answered."""

    socket_id: tuple[int, int, int] | None = None
    port_open: bool = False


def _socket_id(endpoint: Endpoint) -> tuple[int, int, int] | None:
    """Which socket file: an inode number freed by the old one is often reused at once, the time
    of its creation tells them apart."""
    assert endpoint.socket_path is not None
    try:
        st = os.stat(endpoint.socket_path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_ctime_ns


async def _port_open(port: int) -> bool:
    try:
        async with asyncio.timeout(1.0):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def observe(endpoint: Endpoint) -> Seen:
    if endpoint.socket_path is not None:
        return Seen(socket_id=_socket_id(endpoint))
    assert endpoint.port is not None
    return Seen(port_open=await _port_open(endpoint.port))


async def returns(endpoint: Endpoint, seen: Seen) -> None:
    """Completes when the endpoint is back, compared with `seen`."""
    if endpoint.socket_path is None:
        assert endpoint.port is not None
        was_open = seen.port_open
        while True:
            now_open = await _port_open(endpoint.port)
            if now_open and not was_open:
                return
            was_open = now_open
            await asyncio.sleep(PORT_POLL)
    directory = endpoint.socket_path.parent
    while True:
        current = _socket_id(endpoint)
        if current is not None and current != seen.socket_id:
            return
        try:
            changes = DirectoryChanges(directory)
        except OSError:  # no directory yet (systemd makes /run/tor when tor starts)
            await asyncio.sleep(DIRECTORY_POLL)
            continue
        try:
            while changes.alive:
                current = _socket_id(endpoint)  # after the watch is up: nothing is missed
                if current is not None and current != seen.socket_id:
                    return
                await changes.wait(timeout=WATCH_RECHECK)
        finally:
            changes.close()


async def appears(endpoint: Endpoint) -> None:
    """Completes when the endpoint exists (at once if it does): a socket file, a listening port."""
    await returns(endpoint, Seen())
