"""What the Wi-Fi views show: frozen values built from iwd's objects, and errors in plain words."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from installer_env.errors import InstallerEnvError


class WifiErrorKind(enum.StrEnum):
    WRONG_PASSPHRASE = "wrong-passphrase"
    PASSPHRASE_REQUIRED = "passphrase-required"
    INVALID_PASSPHRASE = "invalid-passphrase"
    NOT_FOUND = "not-found"
    BUSY = "busy"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    NOT_SUPPORTED = "not-supported"
    RADIO_OFF = "radio-off"
    NO_ADAPTER = "no-adapter"
    NOT_RUNNING = "not-running"
    NOT_INSTALLED = "not-installed"
    NO_BUS = "no-bus"
    NO_PERMISSION = "no-permission"
    FAILED = "failed"


class WifiError(InstallerEnvError):
    """A Wi-Fi operation that did not work; `message` is a sentence for the screen (no SSID in it)."""

    def __init__(self, kind: WifiErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


# iwctl draws four stars at these limits; a network below the last one still shows as 0 bars.
_BAR_LIMITS_DBM = (-60.0, -67.0, -75.0, -85.0)


def signal_bars(dbm: float) -> int:
    """0 to 4 bars for a signal in dBm."""
    return sum(1 for limit in _BAR_LIMITS_DBM if dbm >= limit)


SECURITY_LABELS = {"open": "open", "psk": "WPA", "8021x": "802.1X", "wep": "WEP"}


@dataclass(frozen=True)
class WifiNetwork:
    """One network of the last scan, as iwd's Station.GetOrderedNetworks ranks it."""

    path: str
    ssid: str  # iwd's Network.Name: outside text, show it only through textsafe.literal()
    security: str  # iwd's Network.Type: "open", "psk", "8021x" or "wep"
    signal_dbm: float
    connected: bool
    known: bool

    @property
    def bars(self) -> int:
        return signal_bars(self.signal_dbm)

    @property
    def security_label(self) -> str:
        return SECURITY_LABELS.get(self.security, self.security)

    @property
    def needs_passphrase(self) -> bool:
        """True when connecting needs the user to type a passphrase first."""
        return self.security == "psk" and not self.known


@dataclass(frozen=True)
class KnownNetwork:
    path: str
    ssid: str
    security: str
    hidden: bool
    autoconnect: bool
    last_connected: str | None  # ISO 8601 from iwd, or None if never


@dataclass(frozen=True)
class WifiDevice:
    """A wireless interface with its adapter (phy) and, in station mode, its station state."""

    path: str
    name: str  # interface name, e.g. wlan0
    address: str
    powered: bool
    adapter: str  # phy name, e.g. phy0
    adapter_powered: bool
    adapter_model: str | None
    adapter_vendor: str | None
    mode: str  # "station", "ap", "ad-hoc"
    # "connected", "disconnected", "connecting", "disconnecting", "roaming", or "off" without a station.
    state: str
    scanning: bool
    connected_ssid: str | None
    networks: tuple[WifiNetwork, ...]

    @property
    def has_station(self) -> bool:
        return self.state != "off"


@dataclass(frozen=True)
class WifiStatus:
    """Everything about Wi-Fi at one moment. `problem` says why Wi-Fi cannot be used, if it cannot."""

    devices: tuple[WifiDevice, ...] = ()
    known_networks: tuple[KnownNetwork, ...] = ()
    problem: str | None = None
    problem_kind: WifiErrorKind | None = None

    @classmethod
    def unavailable(cls, error: WifiError) -> WifiStatus:
        return cls(problem=error.message, problem_kind=error.kind)

    @property
    def device(self) -> WifiDevice | None:
        """The device the screen works with: the first one in station mode, else the first one."""
        stations = [d for d in self.devices if d.has_station]
        candidates = stations or list(self.devices)
        return candidates[0] if candidates else None

    @property
    def connected(self) -> WifiNetwork | None:
        for dev in self.devices:
            for net in dev.networks:
                if net.connected:
                    return net
        return None
