"""sshd's state and the host-key fingerprints a careful user compares before the first login."""

from __future__ import annotations

from installer_env.sshd import SshdStatus
from installer_env.textsafe import literal
from installer_env.ui.widgets.lines import LabelledBlock, Part


def state_words(ssh: SshdStatus) -> tuple[str, str]:
    """(text, style) of sshd's state."""
    if not ssh.installed:
        return "not installed", "bold $error"
    if ssh.listening:
        return f"listening on port {ssh.port}", "$success"
    if ssh.running:
        return f"running, but not listening on port {ssh.port}", "bold $warning"
    return "not running", "bold $error"


class SshState(LabelledBlock):
    LABEL = "SSH"

    def show(self, ssh: SshdStatus) -> None:
        rows: list[list[Part]] = [[state_words(ssh)]]
        rows += [[f"{k.type:<8}", (k.fingerprint, "$text-muted")] for k in ssh.host_keys]
        rows += [[("! " + literal(p), "$warning")] for p in ssh.problems]
        self.set_lines(rows)
