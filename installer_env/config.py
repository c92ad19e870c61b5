"""Settings: defaults, then the JSON file the NixOS module writes, then INSTALLER_ENV_* variables.

Every field can be set in all three places under the same name (upper-cased with the
INSTALLER_ENV_ prefix in the environment), so tests and the demo need no special code paths.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from installer_env.errors import ConfigError

ENV_PREFIX = "INSTALLER_ENV_"
DEFAULT_CONFIG_FILE = Path("/etc/installer-env/config.json")


@dataclass(frozen=True)
class Config:
    state_dir: Path = Path("/run/installer-env")
    # Password policy.
    password_words: int = 4
    password_user: str = "root"
    rotate_on_login: bool = True
    # Safety: a password is only applied on a live installer unless forced; demo never applies.
    os_release: Path = Path("/etc/os-release")
    force_apply: bool = False
    demo: bool = False
    chpasswd: str = "chpasswd"
    # Consoles where `installer-env login` shows the screen (tty names without /dev/).
    consoles: tuple[str, ...] = ("tty1", "ttyS0", "hvc0")
    # sshd.
    sshd: str = "sshd"
    sshd_config: Path = Path("/etc/ssh/sshd_config")
    sshd_unit: str = "sshd.service"
    ssh_host_keys: str = "/etc/ssh/ssh_host_*_key.pub"
    ssh_port: int | None = None
    # Tor.
    tor_enabled: bool = True
    tor_control_socket: Path | None = Path("/run/tor/control")
    tor_control_port: int | None = None
    tor_binary: str = "tor"
    # A file holding the system tor's control password (HashedControlPassword); never on argv/env.
    tor_control_password_file: Path | None = None
    # Wi-Fi and name resolution.
    wifi_enabled: bool = True
    mdns: bool = True
    # The QR code: at most this many addresses in it (the screen lists all), to keep it small.
    qr_max_addrs: int = 3
    # Where a kexec image finds what kexec/run saved on the old system (see nixos-module/kexec.nix).
    kexec_state_dir: Path = Path("/var/lib/installer-env/kexec")

    def __post_init__(self) -> None:
        if not 1 <= self.password_words <= 20:
            raise ConfigError(f"password_words must be between 1 and 20, not {self.password_words}")
        if not self.password_user or any(c in self.password_user for c in ":\n\r"):
            raise ConfigError(f"password_user is not a valid user name: {self.password_user!r}")
        if not 0 <= self.qr_max_addrs <= 20:
            raise ConfigError(f"qr_max_addrs must be between 0 and 20, not {self.qr_max_addrs}")
        for name in ("ssh_port", "tor_control_port"):
            port = getattr(self, name)
            if port is not None and not 1 <= port <= 65535:
                raise ConfigError(f"{name} must be a TCP port (1-65535), not {port}")


_FIELD_TYPES: dict[str, Any] = typing.get_type_hints(Config)
_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(Config))


def _convert(name: str, value: Any, from_env: bool) -> Any:
    hint = _FIELD_TYPES[name]
    optional = isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)
    if optional:
        if value is None or (from_env and value == ""):
            return None
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    try:
        if hint is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError("expected true or false")
        if hint is int:
            # int(4.5) would silently drop the fraction, int(True) would be 1.
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise ValueError("expected a whole number")
            return int(value)
        if hint is Path:
            if not isinstance(value, str) or not value:
                raise ValueError("expected a path")
            return Path(value)
        if hint is str:
            if not isinstance(value, str):
                raise ValueError("expected a string")
            return value
        if typing.get_origin(hint) is tuple:
            items = value.split(",") if isinstance(value, str) else value
            if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
                raise ValueError("expected a list of strings")
            return tuple(i.strip() for i in items if i.strip())
    except (ValueError, TypeError) as e:
        raise ConfigError(f"setting {name}: {value!r} is not valid ({e})") from None
    raise AssertionError(f"unhandled setting type {hint!r}")  # pragma: no cover


def load_config(env: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None) -> Config:
    """Build the settings; a missing default config file is normal, a broken one is an error."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    explicit = env.get(ENV_PREFIX + "CONFIG")
    path = Path(explicit) if explicit else DEFAULT_CONFIG_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"config file {path} does not exist") from None
        raw = {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"cannot read config file {path}: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must hold a JSON object")
    for key, value in raw.items():
        if key not in _FIELD_NAMES:
            raise ConfigError(f"config file {path}: unknown setting {key!r}")
        values[key] = _convert(key, value, from_env=False)
    for name in _FIELD_NAMES:
        if (text := env.get(ENV_PREFIX + name.upper())) is not None:
            values[name] = _convert(name, text, from_env=True)
    values.update(overrides or {})
    return Config(**values)
