"""The Wi-Fi helper: iwd over D-Bus (client.py), the values views show (model.py), and the
snapshot source (source.py). No textual here; the screen lives in installer_env.ui."""

from installer_env.wifi.client import IwdClient, check_passphrase
from installer_env.wifi.model import (
    KnownNetwork,
    WifiDevice,
    WifiError,
    WifiErrorKind,
    WifiNetwork,
    WifiStatus,
    signal_bars,
)
from installer_env.wifi.source import follow, read_status

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
