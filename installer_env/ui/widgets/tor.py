"""The onion address with its torify command, and a bootstrap progress bar until it is published."""

from __future__ import annotations

from installer_env.presentation import TorFacts
from installer_env.ui.widgets.lines import LabelledBlock, Part, styled

BAR_WIDTH = 20


def progress_bar(percent: int, width: int = BAR_WIDTH) -> str:
    """`[████░░░░]`: full and light-shade blocks, both in every console font (CP437 219 and 176)."""
    percent = max(0, min(100, percent))
    filled = percent * width // 100
    return "[" + "█" * filled + "░" * (width - filled) + "]"


class TorLine(LabelledBlock):
    LABEL = "Tor"

    def show(self, tor: TorFacts | None) -> None:
        if tor is None:
            self.set_lines([[("off", "$text-muted")]])
            return
        rows: list[list[Part]] = []
        if tor.login is not None:
            rows.append([(tor.login.program, "$text-muted"), (tor.login.target, "bold")])
        elif tor.onion is not None:
            rows.append([(tor.onion, "bold")])
        if tor.error:
            rows.append([("! " + tor.error, "$warning")])
        state: list[Part] = [styled(tor.state), (f" ({tor.via})", "$text-muted")]
        if tor.progress is not None:
            state = [(progress_bar(tor.progress), "$accent"), " ", *state]
        rows.append(state)
        self.set_lines(rows)
