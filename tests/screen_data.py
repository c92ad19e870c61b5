"""Fixed, realistic values for the console screen's tests: same password, keys and addresses every run."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from installer_env.config import Config
from installer_env.network import UNKNOWN_HARDWARE, Address, Interface, NetworkSnapshot, offered_hosts
from installer_env.session import Session, Snapshot
from installer_env.sshd import HostKey, SshdStatus
from installer_env.state import PasswordState, StateStore
from installer_env.tor import TorStatus
from installer_env.ui.app import InstallerApp

PASSWORD = "scabbed-defender-headlock-abacus"
ONION = "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion"
HOSTNAME = "nixos-installer"
ED25519 = HostKey("ED25519", 256, "SHA256:NsLCW8xymU68Upxlf7D2c+IbtdFiT9dU6iXw9NH42sw", "/etc/ssh/a.pub")
RSA = HostKey("RSA", 3072, "SHA256:0INX20APeWgEEhhIOSh0XlawZnrfIV3J3zVaP/yy3dM", "/etc/ssh/b.pub")


def password_state(password: str = PASSWORD, generation: int = 1) -> PasswordState:
    return PasswordState(
        password=password,
        user="root",
        words=4,
        entropy_bits=51.7,
        generation=generation,
        rotated_at="2026-11-26T09:12:44+00:00",
        applied=True,
    )


def interface(name: str, *addresses: str, index: int = 2) -> Interface:
    addrs = tuple(
        Address(
            address=a,
            prefixlen=64 if ":" in a else 24,
            family="ipv6" if ":" in a else "ipv4",
            scope="global",
            flags=("permanent",),
            offered=True,
        )
        for a in addresses
    )
    return Interface(
        name=name,
        index=index,
        state="up",
        carrier=True,
        operstate="up",
        mac="52:54:00:12:34:56",
        kind=None,
        loopback=False,
        wireless=False,
        hardware=UNKNOWN_HARDWARE,
        addresses=addrs,
    )


def network(*interfaces: Interface) -> NetworkSnapshot:
    return NetworkSnapshot(interfaces=interfaces, offered=offered_hosts(interfaces))


ETH0 = interface("eth0", "192.168.1.5", "2001:db8::5")

TOR_PUBLISHED = TorStatus(
    reachable=True,
    mode="system",
    bootstrap_percent=100,
    bootstrap_phase="Done",
    onion_address=ONION,
    published=True,
    service_added=True,
)

TOR_BOOTSTRAPPING = TorStatus(
    reachable=True,
    bootstrap_percent=45,
    bootstrap_phase="Loading relay descriptors",
    onion_address=ONION,
)


def snapshot(**changes: Any) -> Snapshot:
    base = Snapshot(
        hostname=HOSTNAME,
        mdns_name=f"{HOSTNAME}.local",
        password=password_state(),
        password_problem=None,
        ssh=SshdStatus(True, True, True, 22, (ED25519, RSA), ()),
        network=network(ETH0),
        wifi=None,
        tor=TOR_PUBLISHED,
    )
    return dataclasses.replace(base, **changes)


def config(state_dir: Path = Path("/nonexistent/installer-env-test"), **overrides: Any) -> Config:
    values: dict[str, Any] = {"state_dir": state_dir, "tor_enabled": True, "wifi_enabled": False}
    values.update(overrides)
    return Config(**values)


def app(snap: Snapshot | None = None, cfg: Config | None = None) -> InstallerApp:
    """The app on a fixed snapshot, with no live sources: what it shows depends only on the test."""
    cfg = cfg or config()
    return InstallerApp(cfg, StateStore(cfg.state_dir), Session(snap or snapshot()), follow_sources=False)
