"""Runs in the VT guest: `installer-env ARGS...` with every byte the screen writes also appended to
LOG, as length-prefixed chunks, so the host can rebuild what the screen meant to draw and compare it
with what the Linux VT holds (/dev/vcsu1)."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

from installer_env.cli import main
from installer_env.ui.driver import QuietLinuxDriver


def record(log_path: Path) -> None:
    log = log_path.open("ab", buffering=0)
    write = QuietLinuxDriver.write

    def recording_write(self: QuietLinuxDriver, data: str) -> None:
        chunk = data.encode()
        log.write(struct.pack("<I", len(chunk)) + chunk)
        write(self, data)

    QuietLinuxDriver.write = recording_write  # type: ignore[method-assign, assignment]


if __name__ == "__main__":
    record(Path(sys.argv[1]))
    sys.exit(main(sys.argv[2:]))
