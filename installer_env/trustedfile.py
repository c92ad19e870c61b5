"""Reading the small files whose contents this tool acts on (the settings, the shared state) without
being fooled by what sits at their path.

A FIFO would block the reader forever, a link to /dev/zero would fill memory, a file another user
may write could hand root a chpasswd of their choosing or show a planted password. So the file must
be a regular file, owned by an expected user, writable by no one else, and small; it is looked at
with lstat/stat before it is opened (opening a device can have effects) and checked again through
the open descriptor (it may have been swapped in between).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path


class UntrustedFile(Exception):
    """The file is there but must not be used; the message says why, in words."""


@dataclass(frozen=True)
class Rules:
    """What a file must be to be read: how big at most, whose, and whether it may be a link."""

    limit: int  # bytes
    owners: Collection[int]  # uids allowed to own the file
    follow_links: bool  # the settings file may be a link (/etc on NixOS), state files never


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISLNK, "a symbolic link"),
)


def _kind(mode: int) -> str:
    return next((words for test, words in _KINDS if test(mode)), "not a regular file")


def check(st: os.stat_result, rules: Rules) -> None:
    """Raise UntrustedFile unless `st` describes a file `rules` allow."""
    if not stat.S_ISREG(st.st_mode):
        raise UntrustedFile(f"it is {_kind(st.st_mode)}, not a regular file")
    if st.st_uid not in rules.owners:
        raise UntrustedFile(f"it belongs to uid {st.st_uid}")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UntrustedFile(f"other users may write it (mode {stat.S_IMODE(st.st_mode):04o})")
    if st.st_size > rules.limit:
        raise UntrustedFile(f"it is larger than {rules.limit} bytes")


def read(path: Path | str, rules: Rules, *, dir_fd: int | None = None) -> bytes:
    """The whole file, after the checks above. OSError when it cannot be opened (FileNotFoundError:
    there is none), UntrustedFile when it must not be used."""
    check(os.stat(path, dir_fd=dir_fd, follow_symlinks=rules.follow_links), rules)
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK
    if not rules.follow_links:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags, dir_fd=dir_fd)
    except OSError as e:
        if e.errno == errno.ELOOP and not rules.follow_links:  # replaced by a link since the lstat
            raise UntrustedFile("it is a symbolic link, not a regular file") from None
        raise
    try:
        check(os.fstat(fd), rules)
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
            size += len(chunk)
            if size > rules.limit:  # grew after the fstat
                raise UntrustedFile(f"it is larger than {rules.limit} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)
