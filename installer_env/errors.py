"""Errors a person can act on. Each carries the process exit code documented in the README."""

from __future__ import annotations

import errno
from collections.abc import Mapping

_OS_ERROR_WORDS = {
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOSPC: "no space left",
    # What O_NOFOLLOW gives for a link where this tool follows none (a link planted in its directories).
    errno.ELOOP: "it is a symbolic link, which is not followed there",
}


def os_error_words(e: OSError, specific: Mapping[int, str] | None = None) -> str:
    """Why `e` happened, as a message to a person says it; `specific` words errnos for one caller."""
    code = e.errno or 0
    return (specific or {}).get(code) or _OS_ERROR_WORDS.get(code) or e.strerror or str(e)


class InstallerEnvError(Exception):
    """Base class: the message is shown as is, never with a traceback."""

    exit_code = 1


class ConfigError(InstallerEnvError):
    exit_code = 2


class StateDirError(InstallerEnvError):
    exit_code = 3


class PasswordApplyError(InstallerEnvError):
    exit_code = 4


class NotAnInstallerError(InstallerEnvError):
    exit_code = 5


class SshdError(InstallerEnvError):
    exit_code = 6


class NetworkConfigError(InstallerEnvError):
    """A static configuration or a switch back to DHCP that could not be applied; says what is left."""

    exit_code = 7


class KexecStateError(InstallerEnvError):
    """What kexec/run saved cannot be read or turned into networkd units."""

    exit_code = 8
