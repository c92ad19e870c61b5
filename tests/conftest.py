"""Fixtures shared by the whole suite. Real components only; nothing here touches the host's
root password, sshd or network: throwaway users, loopback ports, temp dirs and own namespaces."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_iwd import AccessPoint, FakeIwd, PrivateBus
from netns import Namespace, create_namespace, delete_namespace
from realssh import SshServer, ThrowawayUser, create_user, delete_user
from tornet import TorNetwork

from installer_env.config import Config

MakeConfig = Callable[..., Config]
HOME_PASSPHRASE = "correct horse battery"
# Fixtures that only root can set up: a test using one is marked `root`, so a contributor without
# root runs the others with `pytest -m "not root"`.
ROOT_FIXTURES = frozenset({"throwaway_user", "sshd_server", "netns"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if ROOT_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.root)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("root") is not None and os.geteuid() != 0:
        pytest.skip('needs root; without root, run the others with pytest -m "not root"')


@pytest.fixture
def os_release_installer(tmp_path: Path) -> Path:
    path = tmp_path / "os-release-installer"
    path.write_text('NAME=NixOS\nID=nixos\nVARIANT_ID="installer"\nVARIANT="NixOS Installer"\n')
    return path


@pytest.fixture
def os_release_plain(tmp_path: Path) -> Path:
    path = tmp_path / "os-release-plain"
    path.write_text('NAME="Debian GNU/Linux"\nID=debian\nVERSION_ID="12"\n')
    return path


@pytest.fixture
def make_config(tmp_path: Path, os_release_plain: Path) -> MakeConfig:
    """A Config whose state lives in this test's temp dir and which never applies by accident."""

    def make(**overrides: Any) -> Config:
        values: dict[str, Any] = {
            "state_dir": tmp_path / "state",
            "os_release": os_release_plain,
            "ssh_host_keys": str(tmp_path / "no-host-keys" / "*.pub"),
            "tor_enabled": False,
            "wifi_enabled": False,
        }
        values.update(overrides)
        return Config(**values)

    return make


@pytest.fixture
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for running the CLI as a subprocess, away from /run and /etc of this machine."""
    for key in list(os.environ):
        if key.startswith("INSTALLER_ENV_"):
            monkeypatch.delenv(key)
    (tmp_path / "empty-config.json").write_text("{}")
    env = dict(os.environ)
    env.update(
        INSTALLER_ENV_CONFIG=str(tmp_path / "empty-config.json"),
        INSTALLER_ENV_STATE_DIR=str(tmp_path / "state"),
        INSTALLER_ENV_TOR_ENABLED="0",
        INSTALLER_ENV_WIFI_ENABLED="0",
        INSTALLER_ENV_KEXEC_STATE_DIR=str(tmp_path / "kexec"),
    )
    return env


@pytest.fixture
def throwaway_user() -> Iterator[ThrowawayUser]:
    """A fresh local user `ie-test-<random>` whose password tests may set; deleted afterwards."""
    user = create_user()
    try:
        yield user
    finally:
        delete_user(user)


@pytest.fixture(scope="session")
def sshd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """A real sshd on a free 127.0.0.1 port with password login, only for `ie-test-*` users."""
    server = SshServer(tmp_path_factory.mktemp("sshd"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def netns() -> Iterator[Namespace]:
    """A fresh network namespace (with lo up) for netlink and udev tests; deleted afterwards."""
    namespace = create_namespace()
    try:
        yield namespace
    finally:
        delete_namespace(namespace)


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[PrivateBus]:
    """A dbus-daemon of the test's own, standing in for the system bus."""
    private = PrivateBus(tmp_path)
    private.start()
    yield private
    private.stop()


@pytest.fixture
async def iwd(bus: PrivateBus) -> AsyncIterator[FakeIwd]:
    """The fake iwd on `bus`, one adapter, four networks in the air (scan to see them)."""
    fake = FakeIwd(bus.address)
    fake.air = [
        AccessPoint("home", "psk", HOME_PASSPHRASE, signal_dbm=-45),
        AccessPoint("cafe", "open", signal_dbm=-70),
        AccessPoint("far away", "psk", "whatever1", signal_dbm=-90),
        AccessPoint("office", "8021x", signal_dbm=-62),
    ]
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture(scope="session")
def tor_network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TorNetwork]:
    """One private Tor network on 127.0.0.1 for the whole session, started (30-40 s) the first time
    a test asks for it; its tors are stopped at the end, also when a test failed."""
    network = TorNetwork(tmp_path_factory.mktemp("tornet"))
    network.start()
    try:
        yield network
    finally:
        network.stop()
