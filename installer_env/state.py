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
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from installer_env.errors import StateDirError

STATE_FILE = "state.json"
LOCK_FILE = "state.lock"
FORMAT_VERSION = 1


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


def _explain(e: OSError, what: str, where: Path) -> StateDirError:
    reason = {
        errno.EROFS: "the file system is read-only",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ENOSPC: "no space left",
        errno.ENOTDIR: "a path component is not a directory",
    }.get(e.errno or 0, e.strerror or str(e))
    return StateDirError(
        f"cannot {what} state directory {where}: {reason} "
        "(set INSTALLER_ENV_STATE_DIR or --state-dir to a writable directory)"
    )


class StateStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / STATE_FILE

    def prepare(self) -> None:
        """Create the directory 0700 (or tighten ours) and check that we can write in it."""
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            st = self.directory.stat()
            if st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) != 0o700:
                self.directory.chmod(0o700)
        except OSError as e:
            raise _explain(e, "create", self.directory) from None
        if not os.access(self.directory, os.W_OK | os.X_OK):
            raise StateDirError(
                f"cannot write to state directory {self.directory}: permission denied "
                "(set INSTALLER_ENV_STATE_DIR or --state-dir to a writable directory)"
            )

    def read(self) -> PasswordState | None:
        """The current state, or None before the first rotation."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as e:
            raise _explain(e, "read", self.directory) from None
        try:
            raw = json.loads(text)
            if raw.get("version") != FORMAT_VERSION:
                raise ValueError(f"unknown format version {raw.get('version')!r}")
            return PasswordState(**raw["password"])
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise StateDirError(
                f"state file {self.path} is damaged ({e}); the next rotation replaces it"
            ) from None

    def signature(self) -> tuple[int, int] | None:
        """Changes whenever a writer replaces the file; cheap enough to poll."""
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.prepare()
        try:
            fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise _explain(e, "lock", self.directory) from None
        try:
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
            with os.fdopen(fd, "w", encoding="utf-8") as f:  # mkstemp creates it 0600
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            yield
            os.replace(tmp, self.path)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise _explain(e, "write to", self.directory) from None
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    async def watch(self, interval: float = 0.5) -> AsyncIterator[PasswordState | None]:
        """Yield the state now and after every replacement (another console rotating it)."""
        last: tuple[int, int] | bool | None = False
        while True:
            sig = self.signature()
            if sig != last:
                last = sig
                try:
                    yield self.read()
                except StateDirError:
                    yield None
            await asyncio.sleep(interval)
