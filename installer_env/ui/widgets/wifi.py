"""One line about Wi-Fi: connected to what, or why it cannot be used; `w` opens the Wi-Fi screen."""

from __future__ import annotations

from installer_env.presentation import WifiFacts
from installer_env.ui.widgets.lines import LabelledBlock, Part, styled


class WifiLine(LabelledBlock):
    LABEL = "Wi-Fi"

    def show(self, wifi: WifiFacts | None) -> None:
        if wifi is None:
            self.set_lines([[("off", "$text-muted")]])
            return
        line: list[Part] = [styled(wifi.summary)]
        if wifi.hint:
            line.append((f"  {wifi.hint}", "$text-muted"))
        self.set_lines([line])
