"""Being woken when something in a directory changes (inotify, through asyncinotify), instead of
looking every so often.

A screen left alone for hours should cost nothing: each look at a file is a wake-up of the whole
process, while inotify wakes it only when a file is really created, written, renamed or removed.
asyncinotify is imported when the first watch starts (the screen's sources start after its first
frame), not with this module.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asyncinotify import Event, Inotify, Mask


def _masks() -> tuple[Mask, Mask]:
    """(what to watch, what says the directory itself is gone)."""
    from asyncinotify import Mask

    file_changes = Mask.CLOSE_WRITE | Mask.MOVED_FROM | Mask.MOVED_TO | Mask.CREATE | Mask.DELETE
    directory_gone = Mask.DELETE_SELF | Mask.MOVE_SELF | Mask.IGNORED
    return file_changes | directory_gone | Mask.ONLYDIR, directory_gone


class DirectoryChanges:
    """Wakes `wait()` when a file in `directory` changes. Use on one event loop, then `close()`.

    `alive` turns False when the directory itself is removed or moved: the watch then sees nothing
    more, and the caller should fall back to looking (and open a new one once it exists again).
    """

    def __init__(self, directory: Path) -> None:
        """Raises OSError when the directory does not exist or inotify is unavailable (no more
        watches, a kernel without it)."""
        from asyncinotify import Inotify

        watched, self._gone = _masks()
        # sync_timeout=0: iterating it takes what is queued and never blocks (see `wait`).
        self._inotify: Inotify | None = Inotify(sync_timeout=0)
        try:
            self._inotify.add_watch(directory, watched)
        except OSError as e:
            self.close()
            reason = e.strerror or os.strerror(e.errno or 0)
            raise OSError(e.errno, f"cannot watch {directory}: {reason}") from None
        self.alive = True

    def _note(self, event: Event) -> None:
        if event.mask & self._gone:
            self.alive = False
        # Mask.Q_OVERFLOW needs nothing more: something changed, we do not know what.

    async def wait(self, timeout: float | None = None) -> bool:
        """True when something changed since the last call, False when `timeout` passed first."""
        if self._inotify is None:
            raise ValueError("the directory watch is closed")
        try:
            async with asyncio.timeout(timeout):
                self._note(await self._inotify.get())
        except TimeoutError:
            return False
        for event in self._inotify:  # the rest of a burst: one wake-up for all of it
            self._note(event)
        return True

    def close(self) -> None:
        if self._inotify is not None:
            self._inotify.close()
            self._inotify = None
            self.alive = False
