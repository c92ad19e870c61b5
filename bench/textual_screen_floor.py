"""Textual's floor for the main screen: the same widget tree (containers, ids, one widget a block,
the key bar) styled by the project's own app.tcss, with fixed text and a QR code drawn beforehand
(argv[1], a file of half-block lines), and none of the core: no settings, state, snapshot, QR
encoding or presentation. Run by bench/screen.py on the same pty as the screen; its first frame is
what Textual needs to draw this screen, whatever the core does. The widget classes carry the
screen's class names so that the stylesheet's rules match them as they match the screen's."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal, Vertical, VerticalScroll
from textual.reactive import Reactive
from textual.screen import Screen
from textual.widgets import Static

TCSS = Path(__file__).resolve().parent.parent / "installer_env/ui/app.tcss"
BLOCKS = {
    "Login": "ssh root@192.0.2.5\nssh root@2001:db8::5\nssh root@demo.local  mDNS",
    "Tor": "off",
    "SSH": "listening on port 22\nED25519 SHA256:Qq8mH0b6bqk1rq0dS3g5qkPz3yQy0cO8Yw9dE0bqVdI\n"
    "RSA     SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8",
    "Wi-Fi": "off",
}


class QrView(Static):
    DEFAULT_CSS = """
    QrView { width: auto; height: auto; }
    """


class PasswordBox(Static):
    pass


class LabelledBlock(Horizontal):
    DEFAULT_CSS = """
    LabelledBlock { layout: horizontal; height: auto; }
    LabelledBlock > .label { width: 6; text-style: bold; }
    LabelledBlock > .body { width: 1fr; height: auto; }
    """

    def __init__(self, label: str, body: str) -> None:
        super().__init__()
        self.label, self.body = label, body

    def compose(self) -> ComposeResult:
        yield Static(self.label, classes="label", markup=False)
        yield Static(self.body, classes="body", markup=False)


class KeyBar(Static):
    pass


class MainScreen(Screen[None]):
    def __init__(self, qr_lines: str) -> None:
        super().__init__(classes="-wide")  # the layout the screen picks at 100x37
        self.qr_lines = qr_lines

    def compose(self) -> ComposeResult:
        yield Static("installer-env on demo", id="title", markup=False)
        with Container(id="body"):
            with Container(id="qr-box"):
                yield QrView(self.qr_lines, id="qr", markup=False)
            with Vertical(id="info"):
                password = PasswordBox("amber-otter-quilt-lantern", id="password", markup=False)
                password.border_title = "root password"
                yield password
                with VerticalScroll(id="details", can_focus=True):
                    for label, body in BLOCKS.items():
                        yield LabelledBlock(label, body)
                hint = Static("Press q to show the QR code full screen.", id="qr-hint", markup=False)
                hint.display = False
                yield hint
                message = Static(id="message", markup=False)
                message.display = False
                yield message
        yield KeyBar(" w Wi-Fi  e Wired  n New password  q QR code  s Shell  ? Help  x Quit", markup=False)


class ScreenFloor(App[None]):
    CSS_PATH = str(TCSS)
    BINDINGS: ClassVar[list[BindingType]] = [Binding("x", "quit", "Quit")]
    theme: Reactive[str] = Reactive("ansi-dark")  # as the screen declares it

    def __init__(self, qr_lines: str) -> None:
        super().__init__()
        self.qr_lines = qr_lines

    def get_default_screen(self) -> Screen[None]:
        return MainScreen(self.qr_lines)


if __name__ == "__main__":
    ScreenFloor(Path(sys.argv[1]).read_text()).run()
