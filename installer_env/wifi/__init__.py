"""The Wi-Fi helper, one concern a module; no textual here (the screen lives in installer_env.ui).

- `model.py`: the values views show (`WifiStatus`, ...) and `WifiError`.
- `errors.py`: iwd's and the bus's error names in words, one table.
- `parse.py`: `status_from_objects()`, iwd's objects as a `WifiStatus` (pure).
- `checks.py`: passphrase and network-name checks, before iwd sees them.
- `agent.py`: the passphrase agent iwd asks during a connect.
- `udev.py`: the adapter plugged in or out hint.
- `client.py`: `IwdClient`, the bus connection, watching and the operations.
- `source.py`: the session source (the only watcher) and the one-shot read for `status`.
"""

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
    from installer_env.wifi.checks import check_passphrase
    from installer_env.wifi.client import IwdClient
    from installer_env.wifi.source import follow, read_status

# dbus-fast comes with these: loaded when the Wi-Fi helper is first used, so a console with it off
# (and every `status` without it) never pays for it.
_LAZY = {"IwdClient": "client", "check_passphrase": "checks", "follow": "source", "read_status": "source"}


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
