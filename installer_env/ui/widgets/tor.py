"""The onion address with its torify command, and a bootstrap progress bar until it is published."""

from __future__ import annotations

from installer_env.textsafe import literal
from installer_env.tor import MODE_LAUNCHED, TorStatus
from installer_env.ui.widgets.lines import LabelledBlock, Part

BAR_WIDTH = 20


def progress_bar(percent: int, width: int = BAR_WIDTH) -> str:
    """`[████░░░░]`: full and light-shade blocks, both in every console font (CP437 219 and 176)."""
    percent = max(0, min(100, percent))
    filled = percent * width // 100
    return "[" + "█" * filled + "░" * (width - filled) + "]"


class TorLine(LabelledBlock):
    LABEL = "Tor"

    def show(self, user: str, tor: TorStatus | None, enabled: bool) -> None:
        rows: list[list[Part]]
        if not enabled:
            rows = [[("off", "$text-muted")]]
        elif tor is None:
            rows = [[("starting...", "$text-muted")]]
        else:
            rows = []
            if tor.onion_address:
                rows.append(
                    [
                        ("torify ssh ", "$text-muted"),
                        (f"{literal(user)}@{literal(tor.onion_address)}", "bold"),
                    ]
                )
            if tor.error:
                rows.append([("! " + literal(tor.error), "$warning")])
            if tor.waiting_for_system:
                rows.append([("waiting for the system tor to start", "$text-muted")])
            elif tor.reachable and not tor.published:
                # Bootstrapped is not reachable yet: the descriptor still has to be uploaded.
                done = tor.bootstrap_percent >= 100
                phase = "publishing the onion service" if done else literal(tor.bootstrap_phase)
                rows.append(
                    [
                        (progress_bar(tor.bootstrap_percent), "$accent"),
                        f" {tor.bootstrap_percent:3d}% {phase}",
                    ]
                )
            elif tor.published:
                via = "this tool's own tor" if tor.mode == MODE_LAUNCHED else "the system tor"
                rows.append([("published: reachable over Tor", "$success"), (f" (via {via})", "$text-muted")])
            if not rows:
                rows = [[("not reachable", "$warning")]]
        self.set_lines(rows)
