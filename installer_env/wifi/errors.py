"""iwd's and the bus's error names, in words a person can act on: one table, one lookup.

Every failure of the client reaches the screen as a `WifiError` made here (a kind to act on and a
sentence without any SSID in it), so the same D-Bus error always reads the same.
"""

from __future__ import annotations

from installer_env.wifi.model import WifiError, WifiErrorKind
from installer_env.wifi.names import AGENT_CANCELED, BUS

HOW_TO_START = "Start it with: systemctl start iwd"
MSG_NO_PERMISSION = (
    "Not allowed to talk to iwd: run this as root (or as a member of the netdev or wheel group)."
)
MSG_NO_ADAPTER = "No Wi-Fi adapter found. Plug in a USB Wi-Fi adapter: it shows up here by itself."
MSG_BUSY = "Wi-Fi is busy with another operation. Try again in a moment."
MSG_GONE = "The network is no longer in range. Scan again."
MSG_IWD_TIMEOUT = "iwd did not answer in time."
MSG_BUS_LOST = "The connection to the system D-Bus was lost."
MSG_CANCELLED = "The connection attempt was cancelled."
MSG_NEEDS_PASSPHRASE = "This network needs a passphrase."
MSG_NOT_SUPPORTED = (
    "This kind of network cannot be set up here (WEP or 802.1X/enterprise): "
    "provision it with a file in /var/lib/iwd or use iwctl."
)

K = WifiErrorKind

# The bus's own errors, by their full name.
_BY_NAME: dict[str, tuple[WifiErrorKind, str]] = {
    f"{BUS}.Error.AccessDenied": (K.NO_PERMISSION, MSG_NO_PERMISSION),
    f"{BUS}.Error.NoReply": (K.TIMEOUT, MSG_IWD_TIMEOUT),
    f"{BUS}.Error.Timeout": (K.TIMEOUT, MSG_IWD_TIMEOUT),
    f"{BUS}.Error.TimedOut": (K.TIMEOUT, MSG_IWD_TIMEOUT),
    f"{BUS}.Error.UnknownObject": (K.NOT_FOUND, MSG_GONE),
    f"{BUS}.Error.UnknownMethod": (K.NOT_FOUND, MSG_GONE),
    AGENT_CANCELED: (K.CANCELLED, MSG_CANCELLED),
}

# iwd's errors (net.connman.iwd.<Short>), by the last part of the name.
_BY_SHORT: dict[str, tuple[WifiErrorKind, str]] = {
    "Aborted": (K.CANCELLED, MSG_CANCELLED),
    "Busy": (K.BUSY, MSG_BUSY),
    "InProgress": (K.BUSY, MSG_BUSY),
    "NotFound": (K.NOT_FOUND, "The network was not found: out of range or gone. Scan again."),
    "Timeout": (K.TIMEOUT, "The network did not answer in time."),
    "NotSupported": (K.NOT_SUPPORTED, MSG_NOT_SUPPORTED),
    "NotConfigured": (K.NOT_SUPPORTED, MSG_NOT_SUPPORTED),
    "NotImplemented": (K.NOT_SUPPORTED, MSG_NOT_SUPPORTED),
    "NotAvailable": (
        K.RADIO_OFF,
        "The Wi-Fi radio is switched off (rfkill or a hardware switch). Try: rfkill unblock wifi",
    ),
    "InvalidFormat": (K.INVALID_PASSPHRASE, "iwd refused the passphrase or network name as invalid."),
    "InvalidArguments": (K.INVALID_PASSPHRASE, "iwd refused the passphrase or network name as invalid."),
    "InvalidArgs": (K.INVALID_PASSPHRASE, "iwd refused the passphrase or network name as invalid."),
    "NoAgent": (K.FAILED, "iwd could not ask for the passphrase. Try again."),
    "ServiceSetOverlap": (K.FAILED, "Both an open and a protected hidden network use this name."),
    "AlreadyProvisioned": (K.FAILED, "This hidden network is already known: pick it from the list."),
    "NotHidden": (K.FAILED, "This network is not hidden: pick it from the list."),
}

# What iwd's Cancel(reason) to the agent means for the connect call that was waiting.
_CANCEL_REASONS: dict[str, tuple[WifiErrorKind, str]] = {
    "out-of-range": (K.NOT_FOUND, MSG_GONE),
    "timed-out": (K.TIMEOUT, "The passphrase was not given in time."),
    "user-canceled": (K.CANCELLED, MSG_CANCELLED),
    "shutdown": (K.CANCELLED, MSG_CANCELLED),
}

# iwd is not on the bus: whether it is installed decides the words (see `not_running`).
SERVICE_ABSENT = frozenset({f"{BUS}.Error.ServiceUnknown", f"{BUS}.Error.NameHasNoOwner"})


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def translate(name: str, context: str = "") -> WifiError:
    """The error for a D-Bus error name; `context` names the operation for an unknown one."""
    entry = _BY_NAME.get(name) or _BY_SHORT.get(_short(name))
    if entry is not None:
        return WifiError(*entry)
    return WifiError(K.FAILED, f"{context or 'The Wi-Fi operation'} failed ({_short(name)}).")


def not_running(installed: bool) -> WifiError:
    if installed:
        return WifiError(K.NOT_RUNNING, f"iwd (the Wi-Fi service) is not running. {HOW_TO_START}")
    return WifiError(
        K.NOT_INSTALLED,
        "iwd (the Wi-Fi service) is not installed. On NixOS set networking.wireless.iwd.enable = true; "
        f"elsewhere install the iwd package. {HOW_TO_START}",
    )


def connect_error(
    name: str, *, asked: bool, passphrase_given: bool, cancel_reason: str | None
) -> WifiError | None:
    """Errors of a connect call whose meaning depends on what the agent saw during it; None when
    the generic `translate` says it."""
    if asked and not passphrase_given:
        return WifiError(K.PASSPHRASE_REQUIRED, MSG_NEEDS_PASSPHRASE)
    short = _short(name)
    if short == "Failed" and asked:
        # iwd says only "Failed" when the 4-way handshake fails after our answer: the key was wrong.
        return WifiError(
            K.WRONG_PASSPHRASE,
            "Wrong passphrase: the network refused it (handshake failed). Check it and try again.",
        )
    if cancel_reason in _CANCEL_REASONS:
        return WifiError(*_CANCEL_REASONS[cancel_reason])
    if short == "Failed":
        return WifiError(
            K.FAILED, "The connection failed: the network did not accept this device or stopped answering."
        )
    return None
