"""The Wi-Fi helper: iwd over D-Bus (client.py), the values views show (model.py), and the
snapshot source (source.py). No textual here; the screen lives in installer_env.ui."""

import importlib
from typing import TYPE_CHECKING, Any

from installer_env.wifi.model import (
    KnownNetwork,
    WifiDevice,
    WifiError,
    WifiErrorKind,
    WifiNetwork,
    WifiStatus,
    signal_bars,
)

if TYPE_CHECKING:
    from installer_env.wifi.client import IwdClient, check_passphrase
    from installer_env.wifi.source import follow, read_status

# dbus-fast comes with these: loaded when the Wi-Fi helper is first used, so a console with it off
# (and every `status` without it) never pays for it.
_LAZY = {"IwdClient": "client", "check_passphrase": "client", "follow": "source", "read_status": "source"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "IwdClient",
    "KnownNetwork",
    "WifiDevice",
    "WifiError",
    "WifiErrorKind",
    "WifiNetwork",
    "WifiStatus",
    "check_passphrase",
    "follow",
    "read_status",
    "signal_bars",
]
