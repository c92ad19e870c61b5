"""sshd's state and the host-key fingerprints a careful user compares before the first login."""

from __future__ import annotations

from installer_env.presentation import SshFacts
from installer_env.ui.widgets.lines import LabelledBlock, Part, styled


class SshState(LabelledBlock):
    LABEL = "SSH"

    def show(self, ssh: SshFacts) -> None:
        rows: list[list[Part]] = [[styled(ssh.state)]]
        rows += [[f"{k.type:<8}", (k.fingerprint, "$text-muted")] for k in ssh.keys]
        rows += [[("! " + p, "$warning")] for p in ssh.problems]
        self.set_lines(rows)
