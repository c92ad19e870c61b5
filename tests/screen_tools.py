"""Reading what a running app shows: its text, and the colours under each character."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.pilot import Pilot
from textual.strip import Strip


def strips(app: App[Any]) -> list[Strip]:
    # What the terminal would show right now: the active screen composited to lines of segments.
    return app.screen._compositor.render_strips()


def screen_text(app: App[Any]) -> str:
    return "\n".join(s.text for s in strips(app))


def flat(text: str) -> str:
    """The screen's text with line breaks and runs of spaces removed, for texts that may wrap."""
    return "".join(text.split())


async def wait_for(pilot: Pilot[Any], condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the app run until `condition` holds; fail with the screen's text if it never does."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("timed out; the screen shows:\n" + screen_text(pilot.app))
        await pilot.pause(0.05)


def low_contrast(app: App[Any], minimum: float) -> set[tuple[str, int, int, float]]:
    """Text on the screen whose colours, as the Linux VT draws them, are below `minimum` (WCAG
    contrast): (text, foreground, background, ratio). Blank cells and the QR code's blocks, which
    only show a colour, are not text."""
    from vt_palette import contrast

    found = set()
    for strip in strips(app):
        for seg in strip:
            text = seg.text.strip().strip("▀▄█ ")
            if not text or seg.style is None:
                continue
            style = seg.style
            fg = style.color.number if style.color and style.color.number is not None else 7
            bg = style.bgcolor.number if style.bgcolor and style.bgcolor.number is not None else 0
            if style.reverse:
                fg, bg = bg, fg
            ratio = contrast(fg, bg)
            if ratio < minimum:
                found.add((text, fg, bg, round(ratio, 1)))
    return found
