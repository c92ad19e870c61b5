"""One line about Wi-Fi: connected to what, or why it cannot be used; `w` opens the Wi-Fi screen."""

from __future__ import annotations

from typing import TYPE_CHECKING

from installer_env.textsafe import literal
from installer_env.ui.widgets.lines import LabelledBlock, Part

if TYPE_CHECKING:  # the Wi-Fi package pulls in D-Bus; the screen only reads its values
    from installer_env.wifi.model import WifiStatus


def describe(wifi: WifiStatus | None, enabled: bool) -> list[Part]:
    if not enabled:
        return [("off", "$text-muted")]
    if wifi is None:
        return [("looking for iwd...", "$text-muted")]
    if wifi.problem:
        return [(literal(wifi.problem), "$text-muted")]
    device = wifi.device
    if device is None:
        return [("no Wi-Fi adapter", "$text-muted")]
    connected = wifi.connected
    if connected is not None:
        return [(f"connected to {literal(connected.ssid)}", "$success"), f" ({literal(device.name)})"]
    return [
        (f"{literal(device.name)} {literal(device.state)}", "$warning"),
        ("  press w to connect", "$text-muted"),
    ]


class WifiLine(LabelledBlock):
    LABEL = "Wi-Fi"

    def show(self, wifi: WifiStatus | None, enabled: bool) -> None:
        self.set_lines([describe(wifi, enabled)])
