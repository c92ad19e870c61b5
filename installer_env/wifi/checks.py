"""What a person types for Wi-Fi, checked before iwd sees it: passphrases and hidden network names."""

from __future__ import annotations

from installer_env.wifi.model import WifiError, WifiErrorKind

MIN_PASSPHRASE, MAX_PASSPHRASE = 8, 63
MAX_SSID_BYTES = 32


def check_passphrase(passphrase: str) -> None:
    """WPA passphrases are 8 to 63 characters (or exactly 64 hex digits, a raw key)."""
    size = len(passphrase.encode("utf-8"))
    raw_key = size == 64 and all(c in "0123456789abcdefABCDEF" for c in passphrase)
    if not raw_key and not MIN_PASSPHRASE <= size <= MAX_PASSPHRASE:
        raise WifiError(
            WifiErrorKind.INVALID_PASSPHRASE,
            f"A Wi-Fi passphrase has {MIN_PASSPHRASE} to {MAX_PASSPHRASE} characters; this one has {size}.",
        )


def check_ssid(ssid: str) -> None:
    """A network name (for a hidden network, typed by hand) is 1 to 32 bytes."""
    if not 1 <= len(ssid.encode("utf-8")) <= MAX_SSID_BYTES:
        raise WifiError(WifiErrorKind.NOT_FOUND, f"A network name has 1 to {MAX_SSID_BYTES} bytes.")
