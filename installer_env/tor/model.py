"""What every part of the tor package shares: the status views show, the failure in words, the modes."""

from __future__ import annotations

import errno
from dataclasses import dataclass

from installer_env.errors import os_error_words

MODE_SYSTEM = "system"
MODE_LAUNCHED = "launched"


@dataclass(frozen=True)
class TorStatus:
    """What the views show about tor; replaced as a whole on every change."""

    reachable: bool = False  # an authenticated control connection to tor works
    mode: str | None = None  # MODE_SYSTEM or MODE_LAUNCHED
    bootstrap_percent: int = 0
    bootstrap_phase: str = ""  # tor's own words, e.g. "Loading relay descriptors"
    onion_address: str | None = None  # "<56 chars>.onion", checksum-verified
    published: bool = False  # the descriptor is on the HSDirs (uploaded, or found there with HSFETCH)
    error: str | None = None  # the last problem, in words
    control: str | None = None  # where the control connection goes: a socket path or 127.0.0.1:<port>
    service_added: bool = False  # tor has the onion service (added now, or found from an earlier login)
    # The image has a system tor (`tor_system`) whose control socket is not there yet: waiting for
    # it rather than starting a tor of our own (at boot the screen can come up before tor.service).
    waiting_for_system: bool = False


class TorProblem(Exception):
    """An expected failure, told in words; it ends up in TorStatus.error, never as a traceback."""


_TOR_FILE_WORDS = {
    errno.EISDIR: "it is a directory",
    errno.ENOENT: "no such file",
    errno.ECONNREFUSED: "nothing listens there",
}


def os_words(e: OSError) -> str:
    """An OSError about tor's files or sockets, as a person reads it in a status line."""
    return os_error_words(e, _TOR_FILE_WORDS)
