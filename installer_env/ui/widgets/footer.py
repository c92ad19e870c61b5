"""The key bar at the bottom: Textual's Footer, drawn from the first frame on.

Textual's Footer waits for a signal that the bindings changed before it shows any key, so the first
frame (under TCG or on a slow machine, seconds on screen) had an empty blue bar. The screen's
bindings are known when the footer is composed: it shows them right away, and still follows later
changes through the same signal.
"""

from __future__ import annotations

from textual.widgets import Footer


class KeyFooter(Footer):
    def __init__(self, *, compact: bool = False) -> None:
        super().__init__(compact=compact)
        self.set_reactive(Footer._bindings_ready, True)
