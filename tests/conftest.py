"""Fixtures shared by the whole suite. Real components only; nothing here touches the host's
root password, sshd or network: throwaway users, loopback ports, temp dirs and own namespaces."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from installer_env.config import Config

MakeConfig = Callable[..., Config]


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
    )
    return env
