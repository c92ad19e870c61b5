"""The root password: large, framed and bright, so it can be read from across a room."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from installer_env.password_text import PasswordFacts


class PasswordBox(Static):
    """Shows the current password, or why there is none; says so when it was not applied."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, markup=False)
        self.border_title = "root password"

    def show(self, password: PasswordFacts) -> None:
        missing = password.secret is None
        self.set_class(missing, "-missing")
        self.set_class(not missing and not password.applied, "-not-applied")
        self.border_title = f"{password.user} password"
        self.border_subtitle = "" if missing or password.applied else "NOT APPLIED"
        self.update(Content(password.secret if password.secret is not None else password.missing or ""))
