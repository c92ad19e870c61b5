"""The machine's host name, as text every view can carry."""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from installer_env.config import Config


def read() -> str:
    """The host name; bytes that are not UTF-8 become \\xNN escapes.

    The kernel takes any bytes (a DHCP server can hand out anything) and Python decodes them with
    surrogates, which a strict JSON parser rejects in `status --json`: so they are made text here,
    where the name is read, once for every view.
    """
    raw = os.fsencode(socket.gethostname())
    return raw.decode("utf-8", errors="backslashreplace")


def names(config: Config) -> tuple[str, str | None]:
    """This machine's host name, and its mDNS name when that is announced."""
    name = read()
    return name, f"{name}.local" if config.mdns else None
