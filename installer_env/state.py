"""The one shared state file every console and `status` read: written atomically, rotated under a lock.

Layout: <state_dir>/ (0700) holding state.json (0600) and state.lock. A writer stages a temp file
in the same directory and renames it over state.json, so a reader sees the old or the new state,
never half of one; the flock serialises writers (tty1 and a serial console logging in at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import json
import os
import stat
import tempfile
from collections.abc import AsyncGenerator, Iterator
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

from installer_env.dirwatch import DirectoryChanges
from installer_env.errors import StateDirError, os_error_words

STATE_FILE = "state.json"
LOCK_FILE = "state.lock"
FORMAT_VERSION = 1
# inotify sees every rename on a local file system; a look once a minute is only a safety net.
WATCH_RECHECK_SECONDS = 60.0


@dataclass(frozen=True)
class PasswordState:
    password: str
    user: str
    words: int
    entropy_bits: float
    generation: int
    rotated_at: str
    applied: bool
    note: str = ""  # why the password was not applied; empty when it was
    boot_id: str = ""  # the boot it was made or set for (rotation.boot_id); empty in older files


_DIRECTORY_WORDS = {
    errno.ENOTDIR: "a path component is not a directory",
    errno.EEXIST: "it exists and is not a directory",
    errno.ENOENT: "it does not exist and cannot be created there",
}


def _explain(e: OSError, what: str, where: Path) -> StateDirError:
    reason = os_error_words(e, _DIRECTORY_WORDS)
    return StateDirError(
        f"cannot {what} state directory {where}: {reason} "
        "(set INSTALLER_ENV_STATE_DIR or --state-dir to a writable directory)"
    )


class StateStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / STATE_FILE

    def prepare(self) -> None:
        """Create the directory 0700 (or tighten ours); refuse one someone else owns.

        Whether it is writable shows when the lock file is created: that error names the real
        cause (read-only file system, permissions), which a separate access() check would not.
        """
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            st = self.directory.stat()
            if st.st_uid != os.geteuid():
                # Another user could read or replace the password there (a demo dir under /tmp).
                raise StateDirError(
                    f"state directory {self.directory} belongs to uid {st.st_uid}, not to us; "
                    "remove it or set INSTALLER_ENV_STATE_DIR or --state-dir to another directory"
                )
            if stat.S_IMODE(st.st_mode) != 0o700:
                self.directory.chmod(0o700)
        except OSError as e:
            raise _explain(e, "set up", self.directory) from None

    def read(self) -> PasswordState | None:
        """The current state, or None before the first rotation."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise _explain(e, "read", self.directory) from None
        try:
            raw = json.loads(data)
            if not isinstance(raw, dict) or raw.get("version") != FORMAT_VERSION:
                raise ValueError("unknown format version")
            return _password_state(raw.get("password"))
        except (ValueError, TypeError) as e:
            raise StateDirError(
                f"state file {self.path} is damaged ({e}); the next rotation replaces it"
            ) from None

    def read_or_none(self) -> PasswordState | None:
        """`read()`, with a damaged or unreadable file counted as no state (the next rotation replaces it)."""
        try:
            return self.read()
        except StateDirError:
            return None

    def signature(self) -> tuple[int, int, int, int] | None:
        """Changes whenever a writer replaces the file; cheap enough to poll.

        The inode alone could be reused and the mtime alone may not tick between two quick
        rotations, so ctime and size go in as well.
        """
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.prepare()
        try:
            fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise _explain(e, "write to", self.directory) from None
        try:
            with contextlib.suppress(OSError):  # a lock file left with looser modes earlier
                os.fchmod(fd, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def staged(self, state: PasswordState) -> Iterator[None]:
        """Write `state` to a temp file now; rename it into place only if the body succeeds.

        Staging first means a read-only or full directory fails before the password changes.
        """
        data = json.dumps({"version": FORMAT_VERSION, "password": asdict(state)}, indent=2) + "\n"
        try:
            fd, tmp = tempfile.mkstemp(prefix=".state-", suffix=".tmp", dir=self.directory)
        except OSError as e:
            raise _explain(e, "write to", self.directory) from None
        try:
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:  # mkstemp creates it 0600
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as e:
                raise _explain(e, "write to", self.directory) from None
            yield
            try:
                os.replace(tmp, self.path)
            except OSError as e:
                raise _explain(e, "write to", self.directory) from None
        finally:
            with contextlib.suppress(OSError):  # already renamed, or a best-effort clean-up
                os.unlink(tmp)

    async def watch(self, interval: float = 0.5) -> AsyncGenerator[PasswordState | None, None]:
        """Yield the state now and after every replacement (another console rotating it).

        Woken by inotify on the directory, so an idle screen costs nothing; `interval` is how often
        to look while the directory cannot be watched (it does not exist yet). An unreadable or
        damaged file yields None; `read()` says why.
        """
        last: tuple[int, int, int, int] | bool | None = False
        changes: DirectoryChanges | None = None
        try:
            while True:
                if changes is None or not changes.alive:
                    if changes is not None:
                        changes.close()
                    # Watch first, then read: a rotation in between is then not missed.
                    changes = self._changes()
                sig = self.signature()
                if sig != last:
                    last = sig
                    yield self.read_or_none()
                if changes is None:
                    await asyncio.sleep(interval)
                else:
                    await changes.wait(timeout=WATCH_RECHECK_SECONDS)
        finally:
            if changes is not None:
                changes.close()

    def _changes(self) -> DirectoryChanges | None:
        try:
            return DirectoryChanges(self.directory)
        except OSError:  # no directory yet, or no inotify watches left: look every `interval`
            return None


def _password_state(raw: object) -> PasswordState:
    """A PasswordState from JSON, every field of the type the dataclass declares."""
    if not isinstance(raw, dict):
        raise TypeError("no password object")
    values: dict[str, Any] = {}
    for f in fields(PasswordState):
        if f.name not in raw:
            if f.default is MISSING:
                raise ValueError(f"{f.name} is missing")
            continue
        value = raw[f.name]
        expected = _FIELD_CHECKS[f.name]
        if (isinstance(value, bool) and expected is not bool) or not isinstance(value, expected):
            raise TypeError(f"{f.name} has the wrong type")
        values[f.name] = value
    return PasswordState(**values)


_FIELD_CHECKS: dict[str, type | tuple[type, ...]] = {
    "password": str,
    "user": str,
    "words": int,
    "entropy_bits": (int, float),
    "generation": int,
    "rotated_at": str,
    "applied": bool,
    "note": str,
    "boot_id": str,
}
