"""The one shared state file every console and `status` read: written atomically, rotated under a lock.

Layout: <state_dir>/ (0700) holding state.json (0600) and state.lock. A writer stages a temp file
in the same directory and renames it over state.json, so a reader sees the old or the new state,
never half of one; the flock serialises writers (tty1 and a serial console logging in at once).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
import tempfile
import typing
from collections.abc import AsyncGenerator, Iterator
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from installer_env import trustedfile
from installer_env.errors import StateDirError, os_error_words

if TYPE_CHECKING:
    from installer_env.dirwatch import DirectoryChanges

STATE_FILE = "state.json"
LOCK_FILE = "state.lock"
FORMAT_VERSION = 1
# inotify sees every rename on a local file system; a look once a minute is only a safety net.
WATCH_RECHECK_SECONDS = 60.0


@dataclass(frozen=True)
class PasswordState:
    """The password record of the state file: the secret, whose it is, and whether it is set."""

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


# The file is a few hundred bytes; anything much larger is not ours.
STATE_SIZE_LIMIT = 64 * 1024
_REPLACE_HINT = "the next rotation replaces it"


def _state_file_rules(directory_owner: int) -> trustedfile.Rules:
    return trustedfile.Rules(limit=STATE_SIZE_LIMIT, owners={0, directory_owner}, follow_links=False)


def _foreign(directory: Path, owner: int) -> StateDirError:
    # Another user could read or replace the password there (a demo dir under /tmp).
    return StateDirError(
        f"state directory {directory} belongs to uid {owner}, not to us; "
        "remove it or set INSTALLER_ENV_STATE_DIR or --state-dir to another directory"
    )


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
                raise _foreign(self.directory, st.st_uid)
            if stat.S_IMODE(st.st_mode) != 0o700:
                self.directory.chmod(0o700)
        except OSError as e:
            raise _explain(e, "set up", self.directory) from None

    def read(self) -> PasswordState | None:
        """The current state, or None before the first rotation.

        Only a small regular file, not a link, owned by root or the directory's owner and writable by
        no one else, in a directory owned by root or us: anything else could hang the reader (a
        FIFO), fill its memory (a link to /dev/zero) or show a password someone else planted.
        """
        try:
            dir_fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise _explain(e, "read", self.directory) from None
        try:
            owner = os.fstat(dir_fd).st_uid
            if owner not in (0, os.geteuid()):
                raise _foreign(self.directory, owner)
            data = trustedfile.read(STATE_FILE, _state_file_rules(owner), dir_fd=dir_fd)
        except FileNotFoundError:
            return None
        except trustedfile.UntrustedFile as e:
            raise StateDirError(f"state file {self.path} is not used: {e}; {_REPLACE_HINT}") from None
        except OSError as e:
            raise _explain(e, "read", self.directory) from None
        finally:
            os.close(dir_fd)
        try:
            return parse(data)
        except ValueError as e:
            raise StateDirError(f"state file {self.path} is damaged ({e}); {_REPLACE_HINT}") from None

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
            st = self.path.lstat()  # a link planted here is not followed, here either
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.prepare()
        lock = self.directory / LOCK_FILE
        try:
            # O_NOFOLLOW: a link planted as the lock file must not lead the fchmod below elsewhere.
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise StateDirError(f"{lock} is a symbolic link; remove it") from None
            raise _explain(e, "write to", self.directory) from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
                raise StateDirError(f"{lock} is not a regular file of ours; remove it")
            if stat.S_IMODE(st.st_mode) != 0o600:  # a lock file left with looser modes earlier
                with contextlib.suppress(OSError):
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
        import asyncio  # here: reading the state (a VT's first text) needs none of it

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
        from installer_env.dirwatch import DirectoryChanges

        try:
            return DirectoryChanges(self.directory)
        except OSError:  # no directory yet, or no inotify watches left: look every `interval`
            return None


NO_PASSWORD_YET = "no password yet: it is set when a console logs in (or run installer-env rotate-password)"


def read_password(store: StateStore) -> tuple[PasswordState | None, str | None]:
    """The current password, or None and why there is none (the snapshot's `password_problem`)."""
    try:
        state = store.read()
    except StateDirError as e:
        return None, str(e)
    if state is None:
        return None, NO_PASSWORD_YET
    return state, None


def parse(data: bytes) -> PasswordState:
    """The state in `data`; ValueError, in words, for anything else (a damaged or foreign file)."""
    try:
        raw = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except RecursionError:  # [[[[... nested deeper than the parser goes
        raise ValueError("nested too deeply") from None
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    except ValueError as e:  # not JSON, or a number too long to convert
        raise ValueError(f"not JSON: {e}") from None
    if not isinstance(raw, dict) or raw.get("version") != FORMAT_VERSION:
        raise ValueError("unknown format version")
    return _password_state(raw.get("password"))


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number")


def _password_state(raw: object) -> PasswordState:
    """A PasswordState from JSON, every field of the type the dataclass declares, within bounds."""
    if not isinstance(raw, dict):
        raise ValueError("no password object")
    values: dict[str, Any] = {}
    for f in fields(PasswordState):
        if f.name not in raw:
            if f.default is MISSING:
                raise ValueError(f"{f.name} is missing")
            continue
        value = raw[f.name]
        expected = _FIELD_CHECKS[f.name]
        if (isinstance(value, bool) and expected is not bool) or not isinstance(value, expected):
            raise ValueError(f"{f.name} has the wrong type")
        if isinstance(value, int | float) and not isinstance(value, bool) and not 0 <= value < 2**53:
            raise ValueError(f"{f.name} is out of range")
        values[f.name] = value
    return PasswordState(**values)


def _json_types(hint: object) -> type | tuple[type, ...]:
    """What JSON gives for a field of type `hint` (a float field also takes a whole number)."""
    if hint is float:
        return (int, float)
    if isinstance(hint, type) and hint in (str, int, bool):
        return hint
    raise TypeError(f"PasswordState field of type {hint!r} has no JSON form here")  # pragma: no cover


# From the dataclass, so a new field is checked (or fails at import) rather than raising KeyError later.
_FIELD_CHECKS: dict[str, type | tuple[type, ...]] = {
    name: _json_types(hint) for name, hint in typing.get_type_hints(PasswordState).items()
}
