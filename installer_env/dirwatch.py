"""Being woken when something in a directory changes (inotify), instead of looking every so often.

A screen left alone for hours should cost nothing: each look at a file is a wake-up of the whole
process, while inotify wakes it only when a file is really created, written, renamed or removed.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import struct
from pathlib import Path

# linux/inotify.h
IN_CLOSE_WRITE = 0x8
IN_MOVED_FROM = 0x40
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x01000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
FILE_CHANGES = IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
DIRECTORY_GONE = IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of name)


class DirectoryChanges:
    """Wakes `wait()` when a file in `directory` changes. Use on one event loop, then `close()`.

    `alive` turns False when the directory itself is removed or moved: the watch then sees nothing
    more, and the caller should fall back to looking (and open a new one once it exists again).
    """

    def __init__(self, directory: Path) -> None:
        """Raises OSError when the directory does not exist or inotify is unavailable (no more
        watches, a kernel without it)."""
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            errno = ctypes.get_errno()
            raise OSError(errno, os.strerror(errno))
        if libc.inotify_add_watch(fd, os.fsencode(directory), FILE_CHANGES | DIRECTORY_GONE | IN_ONLYDIR) < 0:
            errno = ctypes.get_errno()
            os.close(fd)
            raise OSError(errno, f"cannot watch {directory}: {os.strerror(errno)}")
        self._fd = fd
        self._changed = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(fd, self._read)
        self.alive = True

    def _read(self) -> None:
        try:
            data = os.read(self._fd, 64 * 1024)
        except BlockingIOError:
            return
        offset = 0
        while offset + _EVENT.size <= len(data):
            _wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
            offset += _EVENT.size + length
            if mask & DIRECTORY_GONE:
                self.alive = False
        self._changed.set()  # also on IN_Q_OVERFLOW: something changed, we do not know what

    async def wait(self, timeout: float | None = None) -> bool:
        """True when something changed since the last call, False when `timeout` passed first."""
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            return False
        self._changed.clear()
        return True

    def close(self) -> None:
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1
            self.alive = False
