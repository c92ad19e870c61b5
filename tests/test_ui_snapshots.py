"""Pictures of the screen at the sizes people have: an 80x24 serial-sized VT, 100x37, a 160x50 monitor.

Content is fixed (screen_data) and the app has no live sources, so a picture changes only when the
screen does. Update them after an intended change with `pytest --snapshot-update`, and look at them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import screen_data

SnapCompare = Callable[..., bool]
SIZES = [(80, 24), (100, 37), (160, 50)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_main(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    assert snap_compare(screen_data.app(), terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_tor_bootstrapping(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    snap = screen_data.snapshot(tor=screen_data.TOR_BOOTSTRAPPING)
    assert snap_compare(screen_data.app(snap), terminal_size=size)


@pytest.mark.parametrize("size", [*SIZES, (80, 25)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_qr_full_screen(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    assert snap_compare(screen_data.app(), terminal_size=size, press=["q"])


def test_help(snap_compare: SnapCompare) -> None:
    assert snap_compare(screen_data.app(), terminal_size=(80, 24), press=["question_mark"])


def test_no_password_yet(snap_compare: SnapCompare) -> None:
    snap: Any = screen_data.snapshot(
        password=None, password_problem="no password yet: it is set when a console logs in"
    )
    assert snap_compare(screen_data.app(snap), terminal_size=(80, 24))
