"""A hint for the Wi-Fi watcher: a network interface appearing or vanishing (a USB dongle).

iwd announces the same through InterfacesAdded/Removed; udev catches adapters iwd ignores.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable

log = logging.getLogger(__name__)


def watch_udev(changed: Callable[[], None]) -> Callable[[], None] | None:
    """Call `changed` on every net device event until the returned stop is called; None when
    there is no udev to listen to. Without udevd (minimal systems) the kernel's own events are used."""
    try:
        import pyudev

        context = pyudev.Context()
        source = "udev" if os.path.exists("/run/udev/control") else "kernel"
        monitor = pyudev.Monitor.from_netlink(context, source=source)
        monitor.filter_by(subsystem="net")
        monitor.start()
        loop = asyncio.get_running_loop()

        def readable() -> None:
            while monitor.poll(timeout=0) is not None:
                changed()

        fd = monitor.fileno()
        loop.add_reader(fd, readable)
    except Exception as e:  # no libudev, no permission for the netlink socket: go on without the hint
        log.debug("no udev hint for Wi-Fi adapters: %s", e)
        return None

    def stop() -> None:
        loop.remove_reader(fd)
        with contextlib.suppress(Exception):
            monitor.stop()

    return stop
