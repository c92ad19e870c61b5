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

from installer_env import DEFAULT_STATE_DIR, ENV_PREFIX, trustedfile
from installer_env.errors import ConfigError, os_error_words

DEFAULT_CONFIG_FILE = Path("/etc/installer-env/config.json")
# The file names programs root runs (chpasswd, sshd, tor): only root's or our own, writable by no one
# else. It may be a link: /etc/installer-env/config.json is one into the Nix store on NixOS.
CONFIG_SIZE_LIMIT = 1024 * 1024


@dataclass(frozen=True)
class Config:
    """The settings, from the settings file and INSTALLER_ENV_* variables (`load_config`)."""

    state_dir: Path = Path(DEFAULT_STATE_DIR)
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
    # The image runs a system tor there (the NixOS module says so): wait for it, never start one.
    tor_system: bool = False
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
        for field in dataclasses.fields(self):
            try:
                _check(field.name, getattr(self, field.name))
            except ValueError as e:
                raise ConfigError(str(e)) from None


_RANGES = {"password_words": (1, 20), "qr_max_addrs": (0, 20)}
_PORTS = ("ssh_port", "tor_control_port")


def _check(name: str, value: Any) -> None:
    """ValueError, in words, when a setting's value is of the right type but not usable."""
    if name in _RANGES and not _RANGES[name][0] <= value <= _RANGES[name][1]:
        low, high = _RANGES[name]
        raise ValueError(f"{name} must be between {low} and {high}, not {_shown(value)}")
    if name in _PORTS and value is not None and not 1 <= value <= 65535:
        raise ValueError(f"{name} must be a TCP port (1-65535), not {_shown(value)}")
    # Shown on screen and passed to chpasswd as `user:password`: no colon, no control characters.
    if name == "password_user" and (not value or any(c == ":" or not c.isprintable() for c in value)):
        raise ValueError(f"password_user is not a valid user name: {_shown(value)}")


def _shown(value: object) -> str:
    """A value in a message: escaped (repr) and cut short, whatever it holds."""
    text = repr(value) if not isinstance(value, int) or value.bit_length() < 200 else "(a huge number)"
    return text if len(text) <= 60 else text[:57] + "..."


def _text(value: object, what: str) -> str:
    """A string setting: paths and program names end up in system calls, which take no NUL byte."""
    if not isinstance(value, str):
        raise ValueError(f"expected {what}")
    if "\0" in value:
        raise ValueError("it contains a NUL byte")
    return value


_FIELD_TYPES: dict[str, Any] = typing.get_type_hints(Config)
_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(Config))


def _convert(name: str, value: Any, from_env: bool, where: str) -> Any:
    try:
        converted = _convert_value(name, value, from_env)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{where}: setting {name}: {_shown(value)} is not valid ({e})") from None
    try:
        _check(name, converted)
    except ValueError as e:
        raise ConfigError(f"{where}: {e}") from None
    return converted


def _convert_value(name: str, value: Any, from_env: bool) -> Any:
    hint = _FIELD_TYPES[name]
    optional = isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)
    if optional:
        if value is None or (from_env and value == ""):
            return None
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
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
        if not _text(value, "a path"):
            raise ValueError("expected a path")
        return Path(value)
    if hint is str:
        return _text(value, "a string")
    if typing.get_origin(hint) is tuple:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise ValueError("expected a list of strings")
        return tuple(i.strip() for i in items if _text(i, "a list of strings").strip())
    raise AssertionError(f"unhandled setting type {hint!r}")  # pragma: no cover


def load_config(env: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None) -> Config:
    """Build the settings; a missing default config file is normal, a broken one is an error."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    explicit = env.get(ENV_PREFIX + "CONFIG")
    path = Path(explicit) if explicit else DEFAULT_CONFIG_FILE
    raw = _read_file(path, explicit=bool(explicit))
    for key, value in raw.items():
        if key not in _FIELD_NAMES:
            raise ConfigError(f"config file {path}: unknown setting {_shown(key)}")
        values[key] = _convert(key, value, from_env=False, where=f"config file {path}")
    for name in _FIELD_NAMES:
        variable = ENV_PREFIX + name.upper()
        if (text := env.get(variable)) is not None:
            values[name] = _convert(name, text, from_env=True, where=f"environment variable {variable}")
    values.update(overrides or {})
    return Config(**values)


def _read_file(path: Path, explicit: bool) -> dict[str, Any]:
    """The settings in the file; a missing default file is none, anything wrong with it an error."""
    rules = trustedfile.Rules(limit=CONFIG_SIZE_LIMIT, owners={0, os.geteuid()}, follow_links=True)
    try:
        data = trustedfile.read(path, rules)
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"config file {path} does not exist") from None
        return {}
    except trustedfile.UntrustedFile as e:
        raise ConfigError(f"config file {path} is not used: {e}") from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {os_error_words(e)}") from None
    try:
        raw = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except RecursionError:
        raise ConfigError(f"cannot read config file {path}: nested too deeply") from None
    except ValueError as e:  # not UTF-8, not JSON, a number too long to convert
        raise ConfigError(f"cannot read config file {path}: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must hold a JSON object")
    return raw


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number")
