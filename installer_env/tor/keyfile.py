"""tor's directory in the state dir, the service key kept there (0600), and the lock consoles share."""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import fcntl
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from installer_env.config import Config
from installer_env.tor.model import TorProblem, os_words
from installer_env.tor.onion import KEY_TYPE, OnionKey

log = logging.getLogger(__name__)

TOR_DIR = "tor"
KEY_FILE = "ssh-onion.key"


def tor_dir(config: Config) -> Path:
    return config.state_dir / TOR_DIR


def key_path(config: Config) -> Path:
    return tor_dir(config) / KEY_FILE


def _prepare_dir(directory: Path) -> None:
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if directory.stat().st_mode & 0o077:
            directory.chmod(0o700)
    except OSError as e:
        raise TorProblem(f"cannot create {directory}: {os_words(e)}") from None


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Serialises key creation and tor launches between consoles (tty1 and ttyS0 log in at once)."""
    _prepare_dir(directory)
    try:
        fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise TorProblem(f"cannot lock {directory}: {os_words(e)}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def read_key(path: Path) -> OnionKey | None:
    """The saved key, or None when there is none yet; TorProblem when it cannot be used."""
    try:
        # Not through a link (the fchmod below would follow it), and a FIFO must not block the read.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with open(fd, encoding="ascii") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(errno.EINVAL, "it is not a regular file")
            if os.fstat(f.fileno()).st_mode & 0o077:
                with contextlib.suppress(OSError):  # tighten a copied-in key; a read-only one still works
                    os.fchmod(f.fileno(), 0o600)
            text = f.read(4096)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise TorProblem(f"cannot read the onion key {path}: {os_words(e)}") from None
    except UnicodeDecodeError:
        text = ""
    kind, _, blob = text.strip().partition(":")
    try:
        if kind != KEY_TYPE:
            raise ValueError(f"it does not start with {KEY_TYPE}:")
        try:
            secret = base64.b64decode(blob, validate=True)
        except binascii.Error:
            raise ValueError("the key is not base64") from None
        return OnionKey.from_secret(secret)
    except ValueError as e:
        raise TorProblem(
            f"the onion key {path} is damaged ({e}); move it away to get a new onion address"
        ) from None


def _write_key(path: Path, key: OnionKey) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(f"{KEY_TYPE}:{key.blob()}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise TorProblem(f"cannot save the onion key in {path.parent}: {os_words(e)}") from None


def ensure_key(config: Config) -> OnionKey:
    """The saved key, made and saved first if there is none. A damaged key is reported, never replaced."""
    path = key_path(config)
    with locked(path.parent):
        key = read_key(path)
        if key is None:
            key = OnionKey.generate()
            _write_key(path, key)
            log.info("made a new onion service key: %s", key.address)
        return key
