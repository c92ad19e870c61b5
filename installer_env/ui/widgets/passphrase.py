"""A passphrase field: masked with ASCII `*` (the console font has no bullet), shown on request,
never copied to the terminal's clipboard, and never in a repr of its messages."""

from __future__ import annotations

from rich.repr import Result
from rich.text import Text
from textual.widgets import Input

# Typed text only: control characters (escape sequences from a paste) never reach the field.
NO_CONTROL = r"[^\x00-\x1f\x7f]*"
MASK = "*"


class PassphraseInput(Input):
    class Changed(Input.Changed):
        def __repr__(self) -> str:
            return "PassphraseInput.Changed(value=<hidden>)"

        def __rich_repr__(self) -> Result:
            yield "value", "<hidden>"

    class Submitted(Input.Submitted):
        def __repr__(self) -> str:
            return "PassphraseInput.Submitted(value=<hidden>)"

        def __rich_repr__(self) -> Result:
            yield "value", "<hidden>"

    def __init__(self, *, id: str | None = None, placeholder: str = "") -> None:
        # 64 characters: the longest WPA key (a raw hex key); passphrases have 8 to 63.
        super().__init__(id=id, placeholder=placeholder, password=True, restrict=NO_CONTROL, max_length=64)

    @property
    def shown(self) -> bool:
        return not self.password

    def toggle_shown(self) -> None:
        self.password = not self.password

    @property
    def _value(self) -> Text:
        shown = MASK * len(self.value) if self.password else self.value
        return Text(shown, no_wrap=True, overflow="ignore", end="")

    # OSC 52 would send the secret through the terminal: cut deletes, copy does nothing.
    def action_copy(self) -> None:
        return

    def action_cut(self) -> None:
        self.delete_selection()
