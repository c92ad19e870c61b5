"""What the screen shows of a snapshot: the one place that maps core values to widget inputs."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

from installer_env import qr
from installer_env.session import Snapshot
from installer_env.tor import TorStatus

if TYPE_CHECKING:
    from installer_env.wifi import WifiStatus


def user(snap: Snapshot) -> str:
    return snap.password.user if snap.password else "root"


def hosts(snap: Snapshot) -> Sequence[str] | None:
    """Addresses as they go after `root@`, or None while the network is unknown."""
    return None if snap.network is None else snap.network.offered


def interface_of(snap: Snapshot) -> dict[str, str]:
    """Which interface each offered host is on, so people can tell the cable from the Wi-Fi."""
    if snap.network is None:
        return {}
    return {a.host: i.name for i in snap.network.interfaces for a in i.addresses if a.offered}


def network_problem(snap: Snapshot) -> str | None:
    return None if snap.network is None else snap.network.problem


def tor(snap: Snapshot) -> TorStatus | None:
    return snap.tor


def wifi(snap: Snapshot) -> WifiStatus | None:
    return snap.wifi


@functools.lru_cache(maxsize=8)
def _code(password: str, onion: str | None, offered: tuple[str, ...], max_addrs: int) -> qr.QrCode:
    return qr.build(password, onion, offered, max_addrs)


def qr_code(snap: Snapshot, max_addrs: int = qr.DEFAULT_MAX_ADDRS) -> qr.QrCode | None:
    """The QR code of the snapshot's payload, or None while there is no password to put in it."""
    if snap.password is None:
        return None
    status = tor(snap)
    onion = status.onion_address if status else None
    return _code(snap.password.password, onion, tuple(hosts(snap) or ()), max_addrs)
