"""What every view shows of a snapshot: the `Presentation` and its parts, which `wording.present`
makes once per snapshot.

The screen, plain mode, `status`, `status --json` and `installer-env qr` render a `Presentation`
and nothing else, so they cannot disagree: the login commands (with `-p PORT` when sshd is not on
22), the torify line (shown under one condition), sshd's state, the network and Wi-Fi lines, the
problems, and the QR code, fitted to each view's space by the one rule in `qr.fit`.

These types import none of the session model (`wording` does), so the screen's first frame can
draw a presentation its first snapshot's child made, before the model is loaded (`console`).
Every text here is safe to print: outside text (hostnames, SSIDs, interface names, the state file)
has been through `textsafe.literal`. Styling is left to the views; `Tone` says what a line means.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from installer_env import qr
from installer_env.password_text import PasswordFacts


class Viewer(enum.StrEnum):
    """Who the words are for: some hints only make sense on one of them."""

    SCREEN = "screen"  # the console screen: runs the sources (tor included) itself, has keys
    PLAIN = "plain"  # plain text that follows the session: runs the sources too, no keys
    STATUS = "status"  # one look from another process: `status`, `status --json`, `qr`

    @property
    def runs_sources(self) -> bool:
        """Whether this view's own process starts tor and follows every source."""
        return self is not Viewer.STATUS


class Tone(enum.StrEnum):
    """What a line means; each view maps it to its own colours (or to none)."""

    NORMAL = "normal"
    MUTED = "muted"  # secondary: labels, hints, progress
    GOOD = "good"
    WARN = "warn"
    BAD = "bad"
    ACCENT = "accent"


@dataclass(frozen=True)
class Note:
    """One line of text and what it means (`Tone`)."""

    text: str
    tone: Tone = Tone.NORMAL


@dataclass(frozen=True)
class Command:
    """A command to type: `program` (`ssh -p 2222 `, `torify ssh `), then `target` (`root@host`)."""

    program: str
    target: str
    where: str | None = None  # the interface the address is on, or "mDNS"

    @property
    def text(self) -> str:
        return self.program + self.target


@dataclass(frozen=True)
class HostKeyLine:
    """One of sshd's host keys, as a person compares it with what ssh shows on first connect."""

    type: str
    bits: int
    fingerprint: str


@dataclass(frozen=True)
class SshFacts:
    """sshd: whether it listens, the port ssh has to use, its host keys, what is wrong."""

    state: Note
    port: int  # where ssh connects: sshd's port when known, else 22
    keys: tuple[HostKeyLine, ...]
    problems: tuple[str, ...]


@dataclass(frozen=True)
class TorFacts:
    """The onion service: which tor holds it, its address, the torify login, how far it got."""

    via: str  # "system tor" or "own tor"
    onion: str | None  # a valid v3 address, or None while there is none
    login: Command | None  # `torify ssh ...`: only once tor holds the service, in every view
    state: Note  # one line: starting, bootstrapping, publishing, published, not reachable (no `via`)
    progress: int | None  # bootstrap percent while the service is not published yet (the screen's bar)
    error: str | None


@dataclass(frozen=True)
class WifiFacts:
    """The Wi-Fi helper: one line for the main screen, one per device for the text views."""

    summary: Note  # the one line of the main screen
    hint: str | None  # what to do next, where a key does it
    lines: tuple[str, ...]  # one per device, for the text views
    problem: str | None


@dataclass(frozen=True)
class Presentation:
    """Everything a view shows of one snapshot, worded for `viewer` (see the module's docstring)."""

    viewer: Viewer
    hostname: str
    mdns_name: str | None
    title: str  # "installer-env on <host> (<host>.local)"
    password: PasswordFacts
    logins: tuple[Command, ...]  # one per offered address, then the mDNS name
    logins_note: Note | None  # while there is no address to offer: why, and what to do
    network_problem: str | None
    network_lines: tuple[str, ...]  # interfaces and their addresses, for the text views
    kexec_lines: tuple[str, ...]  # started by kexec/run: what came along; empty otherwise
    ssh: SshFacts
    tor: TorFacts | None  # None when tor is off
    wifi: WifiFacts | None  # None when the Wi-Fi helper is off
    problems: tuple[str, ...]  # everything that stands in the way of a login, one line each
    qr_content: qr.Content

    @property
    def scannable(self) -> bool:
        """Whether a code is worth drawing: without a password it cannot log anyone in."""
        return self.qr_content.password is not None

    def fit_qr(
        self,
        columns: int | None = None,
        rows: int | None = None,
        ascii_only: bool = False,
        max_quiet: int = qr.QUIET_ZONE,
    ) -> qr.Fitted | qr.TooSmall:
        """The QR code for a space (None: no limit), by the one rule of `qr.fit`."""
        return qr.fit(self.qr_content, columns, rows, ascii_only, max_quiet)
