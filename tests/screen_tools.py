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
