"""The key bar at the bottom: the screen's keys and what they do, one line of text in one widget.

Textual's Footer is a container with a widget for each key, each styled on its own and restyled
twice more as its `compact` setting is bound to the footer's: on the main screen that was 168 of the
382 style applications before the first frame, some 20 ms here and far more on a slow console. This
bar draws the same keys as one line, from the first frame on (the screen's bindings are known when
it is composed), and follows later changes through the screen's bindings signal as the Footer does.
A click on a key presses it. (A key its screen cannot use now is not shown: every `check_action`
here answers True or False, never None, Textual's "shown but disabled".)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, NamedTuple

from rich.text import Text
from textual import events
from textual.widget import Widget

if TYPE_CHECKING:
    from textual.screen import Screen


class Key(NamedTuple):
    """A key as the bar shows it: where it is drawn, and the key a click presses."""

    start: int
    end: int
    key: str


class KeyBar(Widget):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"key-bar--key", "key-bar--description"}

    def __init__(self, *, compact: bool = False) -> None:
        """`compact`: one space between keys instead of two, for screens with many keys."""
        super().__init__()
        self.compact = compact
        self._keys: tuple[Key, ...] = ()

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        if screen is self.screen:
            self.refresh()

    def render(self) -> Text:
        key_style = self.get_component_rich_style("key-bar--key")
        description_style = self.get_component_rich_style("key-bar--description")
        text = Text(no_wrap=True, overflow="crop", end="")
        keys: list[Key] = []
        shown: set[str] = set()
        for _node, binding, _enabled, _tooltip in self.screen.active_bindings.values():
            if not binding.show or binding.action in shown:
                continue  # one entry an action, as more keys may do the same
            shown.add(binding.action)
            start = len(text)
            key = self.app.get_key_display(binding)
            if self.compact:  # "w Wi-Fi e Wired ..."
                text.append(key, key_style)
                text.append(f" {binding.description} ", description_style)
            else:  # " w Wi-Fi  e Wired ..."
                text.append(f" {key} ", key_style)
                text.append(f"{binding.description} ", description_style)
            keys.append(Key(start, len(text), binding.key.split(",")[0]))
        self._keys = tuple(keys)
        return text

    def on_click(self, event: events.Click) -> None:
        for key in self._keys:
            if key.start <= event.x < key.end:
                self.app.simulate_key(key.key)
                return
