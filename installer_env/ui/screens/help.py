"""What each key does and how to install this machine from elsewhere."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

HELP = """\
installer-env shows how to reach this machine, to install it from another one.

  Same network:  ssh root@<an address from the main screen>, then the password
  From anywhere: torify ssh root@<onion address>
  Phone or clan: scan the QR code (password, onion address, addresses);
                 clan machines install --png <photo> reads it
  Compare the host-key fingerprint ssh shows at first login with the screen's.

Keys
  w        Wi-Fi: connect this machine to a wireless network
  e        wired network: addresses per interface, a static address
           where there is no DHCP, or back to DHCP
  n        new password; the old one stops working, every console shows it
  q or f   the QR code full screen, with room around it for cameras
  s        a shell; type exit to come back to this screen
  ? or F1  this help
  x        quit to the shell (Ctrl-C too); installer-env screen comes back
  arrows   scroll the details when they do not fit

Wi-Fi screen (w)
  Enter    connect to the highlighted network (asks for the passphrase
           when it needs one); F2 or Ctrl-T shows or hides what is typed
  r        scan again          h   a hidden network (type its name)
  d        disconnect          f   forget a known network (Tab: the list)
  p        switch the adapter on when it is off
  a        the next adapter, when there are several
  Esc      back; while connecting, cancels the connection

Wired network screen (e)
  Enter/s  a static address for the highlighted interface: IPv4 and/or
           IPv6 with prefix, gateways, DNS; Enter applies, F3 marks the
           gateway on-link; asks first if ssh would lose its only address
  d        back to DHCP (the DHCP client takes over again)
  Esc      back
"""
# Always on screen, under the text: the way back, and whether more of the text is out of sight.
BACK = "Esc: back"
MORE_BELOW = "More below: arrows or PgDn.  "
MORE_ABOVE = "More above: arrows or PgUp.  "


def position_hint(scroll_y: float, max_scroll_y: float) -> str:
    """The bottom line of the help: whether text is hidden below or above, and the way back."""
    if scroll_y < max_scroll_y:
        return MORE_BELOW + BACK
    if scroll_y > 0:
        return MORE_ABOVE + BACK
    return BACK


class HelpScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark,f1", "app.pop_screen", "Back")]
    AUTO_FOCUS = "#help-body"  # the arrow keys and PgDn scroll the text at once

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body", can_focus=True):
            yield Static(HELP, id="help-text", markup=False)
        yield Static(BACK, id="help-keys", markup=False)

    def on_mount(self) -> None:
        body = self.query_one("#help-body", VerticalScroll)
        self.watch(body, "scroll_y", self._show_position, init=False)
        self.watch(body, "virtual_size", self._show_position, init=False)
        self.call_after_refresh(self._show_position)

    def on_resize(self) -> None:
        self.call_after_refresh(self._show_position)

    def _show_position(self) -> None:
        body = self.query_one("#help-body", VerticalScroll)
        self.query_one("#help-keys", Static).update(position_hint(body.scroll_y, body.max_scroll_y))
