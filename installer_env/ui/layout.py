"""Which layout fits a terminal, and how much quiet zone the QR code gets: pure arithmetic.

A QR module is one column wide and half a row high (half blocks), so a code of n modules with a
quiet zone of q on each side takes n + 2q columns and ceil((n + 2q) / 2) rows.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from installer_env import qr

# The text beside or below the code needs this much room to show the password and an address
# on one line each.
TEXT_MIN_WIDTH = 44
TEXT_MIN_HEIGHT = 12
CHROME_ROWS = 2  # the title line and the footer
GAP = 1
# Scanners want 4 modules of quiet zone; phones read 1-2 fine, and less than 1 fails often.
MAX_QUIET_ZONE = qr.QUIET_ZONE
MIN_QUIET_ZONE = 1
MAIN_QUIET_ZONE = qr.QUIET_ZONE_SHORT


class Kind(enum.StrEnum):
    WIDE = "wide"  # QR beside the text
    TALL = "tall"  # QR above the text
    SMALL = "small"  # text only; the QR has its own full-screen view


@dataclass(frozen=True)
class Layout:
    kind: Kind
    quiet_zone: int


def qr_cells(modules: int, quiet_zone: int) -> tuple[int, int]:
    """(columns, rows) a code of `modules` modules takes with `quiet_zone` on each side."""
    return qr.size(modules, quiet_zone, ascii_only=False)


def choose(width: int, height: int, modules: int | None) -> Layout:
    """The layout for a terminal of width x height and a code of `modules` modules (None: no code)."""
    if modules is None:
        return Layout(Kind.SMALL, 0)
    body = height - CHROME_ROWS
    for quiet_zone in range(MAIN_QUIET_ZONE, MIN_QUIET_ZONE - 1, -1):
        columns, rows = qr_cells(modules, quiet_zone)
        if rows <= body and width - columns - GAP >= TEXT_MIN_WIDTH:
            return Layout(Kind.WIDE, quiet_zone)
        if columns <= width and body - rows >= TEXT_MIN_HEIGHT:
            return Layout(Kind.TALL, quiet_zone)
    return Layout(Kind.SMALL, 0)


def fullscreen_quiet_zone(width: int, height: int, modules: int) -> int | None:
    """The largest quiet zone (up to 4) with which the code fits the whole screen, or None."""
    for quiet_zone in range(MAX_QUIET_ZONE, -1, -1):
        columns, rows = qr_cells(modules, quiet_zone)
        if columns <= width and rows <= height:
            return quiet_zone
    return None
