"""Connect time to a WPA2 network: the project's Wi-Fi client vs iwctl, in the same qemu guest.

Boots the VM of tests/vm/run-wifi-vm.sh with WIFI_VM_BENCH=<rounds>. Each round starts from
"disconnected, network not known" and does a full connect with the passphrase:
  client        IwdClient.connect() on an open client (what the screen does)
  client_fresh  a new IwdClient: bus connection + agent registration + connect
  iwctl         `iwctl --passphrase ... station wlan0 connect` (a new process each time)
The guest runs under TCG emulation: compare the columns with each other, not with real hardware.

    .venv/bin/python bench/wifi_connect.py [rounds]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    work = Path(os.environ.get("WIFI_VM_WORK", REPO / ".work" / "wifi-vm"))
    env = dict(os.environ, WIFI_VM_BENCH=str(rounds), WIFI_VM_WORK=str(work), WIFI_VM_TIMEOUT="600")
    run = subprocess.run([str(REPO / "tests" / "vm" / "run-wifi-vm.sh")], env=env, check=False)
    report = json.loads((work / "last" / "result.json").read_text())
    bench = report.get("bench") or {}
    if run.returncode != 0 or not bench:
        print("the VM run failed; see the log above", file=sys.stderr)
        return 1
    print(f"\nconnect time, {rounds} rounds, qemu TCG guest (seconds)")
    print(f"{'how':<14}{'median':>8}  runs")
    for how, figures in bench.items():
        if not isinstance(figures, dict):
            continue
        runs = " ".join(f"{s:.2f}" for s in figures["runs_s"])
        print(f"{how:<14}{figures['median_s']:>8.2f}  {runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
