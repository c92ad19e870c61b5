"""The root password: large, framed and bright, so it can be read from across a room."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from installer_env.state import PasswordState
from installer_env.textsafe import literal


class PasswordBox(Static):
    """Shows the current password, or why there is none; says so when it was not applied."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, markup=False)
        self.border_title = "root password"

    def show(self, state: PasswordState | None, problem: str | None) -> None:
        self.set_class(state is None, "-missing")
        self.set_class(state is not None and not state.applied, "-not-applied")
        if state is None:
            self.border_title = "root password"
            self.border_subtitle = ""
            self.update(Content(literal(problem or "no password yet")))
            return
        self.border_title = f"{literal(state.user)} password"
        self.border_subtitle = "" if state.applied else "NOT APPLIED"
        self.update(Content(literal(state.password)))
