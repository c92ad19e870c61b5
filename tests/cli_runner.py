"""Run `installer-env` as a separate process, as a console login or a script would."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence

COMMAND = [sys.executable, "-m", "installer_env"]


def run_cli(
    env: dict[str, str], *args: str, prefix: Sequence[str] = (), timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """stdin is /dev/null and output is captured: no terminal, like cron or a serial script."""
    return subprocess.run(
        [*prefix, *COMMAND, *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        check=False,
    )
