"""The baseline: what the current installer images do. Every 2 s, run `ip -j addr`, and reprint the
whole screen (clear + one line per address). Used by bench/screen.py for comparison only.

`--once`: print the addresses once and exit, the reference for a one-shot `installer-env status`."""

from __future__ import annotations

import json
import subprocess
import sys
import time


def addresses() -> list[str]:
    out = subprocess.run(["ip", "-j", "addr"], capture_output=True, text=True, check=False).stdout
    lines = []
    for link in json.loads(out or "[]"):
        for addr in link.get("addr_info", []):
            lines.append(f"{link['ifname']}  ssh root@{addr['local']}")
    return lines


def main() -> None:
    if "--once" in sys.argv[1:]:
        print("\n".join(addresses()))
        return
    while True:
        sys.stdout.write("\x1b[H\x1b[2J" + "\n".join(addresses()) + "\n")
        sys.stdout.flush()
        time.sleep(2)


if __name__ == "__main__":
    main()
