"""Which layout fits a terminal: the code beside the text, above it, or only full screen.

How big the code gets in each candidate space is `qr.fit`'s decision (the one rule every view
uses: addresses dropped in the code's order, a quiet zone never under 2); this module only
offers the spaces and picks the layout that keeps the most of the code.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from installer_env import qr

# The text beside or below the code needs this much room to show the password and an address
# on one line each.
TEXT_MIN_WIDTH = 44
TEXT_MIN_HEIGHT = 12
CHROME_ROWS = 2  # the title line and the footer
GAP = 1
MAIN_QUIET_ZONE = qr.QUIET_ZONE_SHORT  # beside the text: the room goes to the text
FULL_QUIET_ZONE = qr.QUIET_ZONE  # alone on the screen: what the specification asks for


class Fit(Protocol):
    """The code in a space: a Presentation's `fit_qr`."""

    def __call__(
        self, columns: int | None, rows: int | None, ascii_only: bool = ..., max_quiet: int = ...
    ) -> qr.Fitted | qr.TooSmall: ...


class Kind(enum.StrEnum):
    WIDE = "wide"  # QR beside the text
    TALL = "tall"  # QR above the text
    SMALL = "small"  # text only; the QR has its own full-screen view


@dataclass(frozen=True)
class Layout:
    """The arrangement chosen for a terminal size, and the QR code fitted to it."""

    kind: Kind
    code: qr.Fitted | None  # None for SMALL


def choose(width: int, height: int, fit: Fit | None) -> Layout:
    """The layout for a terminal of width x height; `fit` None: there is no code to show."""
    if fit is None:
        return Layout(Kind.SMALL, None)
    body = height - CHROME_ROWS
    wide = fit(width - TEXT_MIN_WIDTH - GAP, body, max_quiet=MAIN_QUIET_ZONE)
    largest = fit(None, None)  # the code with the most addresses, whatever the space
    if isinstance(wide, qr.Fitted) and isinstance(largest, qr.Fitted) and wide.code == largest.code:
        # Nothing keeps more, and beside the text wins a tie: the tall layout's smaller codes,
        # each made only to learn its size, are not needed.
        return Layout(Kind.WIDE, wide)
    candidates = [
        (Kind.WIDE, wide),
        (Kind.TALL, fit(width, body - TEXT_MIN_HEIGHT, max_quiet=MAIN_QUIET_ZONE)),
    ]
    fitted = [(kind, code) for kind, code in candidates if isinstance(code, qr.Fitted)]
    if not fitted:
        return Layout(Kind.SMALL, None)
    # The one that keeps the most addresses in the code; beside the text when both keep as many.
    kind, code = max(fitted, key=lambda c: len(c[1].code.addrs))
    return Layout(kind, code)


def fullscreen(width: int, height: int, fit: Fit) -> tuple[qr.Fitted | qr.TooSmall, bool]:
    """The full-screen code, and whether the caption line fits under it: only when the code keeps
    every address it has without it (the quiet zone may be smaller, never under 2)."""
    with_caption = fit(width, height - 1, max_quiet=FULL_QUIET_ZONE)
    alone = fit(width, height, max_quiet=FULL_QUIET_ZONE)
    if (
        isinstance(with_caption, qr.Fitted)
        and isinstance(alone, qr.Fitted)
        and with_caption.code == alone.code
    ):
        return with_caption, True
    return alone, False
