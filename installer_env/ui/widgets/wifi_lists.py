"""The Wi-Fi screen's rows: networks (SSID, security, signal bars, dBm) and known networks.

Rows are rich Text assembled from literal pieces, never markup: an SSID goes through
textsafe.literal() and then into the Text as plain characters.
"""

from __future__ import annotations

from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import OptionList

from installer_env.textsafe import literal
from installer_env.wifi.model import SECURITY_LABELS, KnownNetwork, WifiNetwork  # values only: no D-Bus

# Full and light-shade blocks: both in every console font (CP437 219 and 176), like tor's bar.
BAR_ON, BAR_OFF = "█", "░"
MAX_BARS = 4
SECURITY_WIDTH = 8  # "Security"
DBM_WIDTH = 8  # "-100 dBm"
FLAG_WIDTH = 9  # "connected"
GAP = "  "
# Everything on a network row but the SSID.
NETWORK_FIXED = len(GAP) + SECURITY_WIDTH + len(GAP) + MAX_BARS + 1 + DBM_WIDTH + len(GAP) + FLAG_WIDTH
# ... and on a known-network row: security, "hidden", "last connected 2026-11-26 09:12".
KNOWN_FIXED = len(GAP) + SECURITY_WIDTH + len(GAP) + 6 + len(GAP) + 31
MIN_SSID_WIDTH = 8
DOTS = "..."  # the console font has no ellipsis glyph
HIDDEN_OPTION = "hidden-network"
BAR_STYLES = ("bright_red", "bright_red", "bright_yellow", "bright_green", "bright_green")


def signal_bars(bars: int) -> str:
    """`███░` for 3 of 4 bars."""
    bars = max(0, min(MAX_BARS, bars))
    return BAR_ON * bars + BAR_OFF * (MAX_BARS - bars)


def fit(text: str, width: int) -> str:
    """`text` padded or cut to exactly `width` cells; a cut is marked with ASCII dots."""
    if cell_len(text) > width:
        return set_cell_size(text, max(0, width - len(DOTS))) + DOTS[: max(0, width)]
    return set_cell_size(text, width)


def ssid_width(list_width: int) -> int:
    """How many cells the SSID column gets in a list `list_width` cells wide."""
    return max(MIN_SSID_WIDTH, list_width - NETWORK_FIXED)


def network_header(width: int) -> Text:
    return Text.assemble(
        fit("Network", width),
        GAP,
        f"{'Security':<{SECURITY_WIDTH}}"[:SECURITY_WIDTH],
        GAP,
        f"{'Signal':<{MAX_BARS + 1 + DBM_WIDTH}}",
        GAP,
        style="bold",
        end="",
    )


def network_row(net: WifiNetwork, width: int) -> Text:
    flag = ("connected", "bold bright_green") if net.connected else ("known", "cyan") if net.known else ""
    return Text.assemble(
        (fit(literal(net.ssid), width), "bold" if net.connected else ""),
        GAP,
        f"{net.security_label:<{SECURITY_WIDTH}}"[:SECURITY_WIDTH],
        GAP,
        (signal_bars(net.bars), BAR_STYLES[max(0, min(MAX_BARS, net.bars))]),
        " ",
        f"{net.signal_dbm:>4.0f} dBm",
        GAP,
        flag,
        end="",
    )


def hidden_row() -> Text:
    return Text("Other network (hidden: type its name)...", style="italic", end="")


def known_row(known: KnownNetwork, width: int) -> Text:
    when = known.last_connected.replace("T", " ")[:16] if known.last_connected else "never"
    return Text.assemble(
        fit(literal(known.ssid), width),
        GAP,
        f"{SECURITY_LABELS.get(known.security, literal(known.security)):<{SECURITY_WIDTH}}"[:SECURITY_WIDTH],
        GAP,
        "hidden" if known.hidden else "      ",
        GAP,
        (f"last connected {literal(when)}", "white"),
        end="",
    )


class NetworkList(OptionList):
    """The networks of the last scan, strongest first, then the hidden-network entry."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select", "Connect", key_display="Enter"),
    ]


class KnownList(OptionList):
    """Networks iwd has saved; `f` (or Delete) forgets the highlighted one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f,delete", "screen.forget", "Forget", key_display="f"),
    ]
