"""The real thing: iwd, hostapd and mac80211_hwsim in a qemu guest, driven by the project's client.

tests/vm/run-wifi-vm.sh boots the guest (about a minute under TCG) and writes a JSON report; this
test runs it and checks every result, so a failure names the check that failed.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HARNESS = REPO / "tests" / "vm" / "run-wifi-vm.sh"

EXPECTED_CHECKS = {
    "scan",
    "hostile_ssid_listed_literally",
    "wrong_passphrase_says_so",
    "connect_with_passphrase",
    "forget",
    "open_network_with_hostile_name",
    "hidden_network_by_name",
}


@pytest.mark.vm
def test_project_client_against_real_iwd_in_a_vm(tmp_path: Path) -> None:
    env = dict(os.environ, WIFI_VM_WORK=os.environ.get("WIFI_VM_WORK", str(REPO / ".work" / "wifi-vm")))
    run = subprocess.run([str(HARNESS)], capture_output=True, text=True, timeout=420, env=env, check=False)
    log = run.stdout + run.stderr
    result_file = Path(env["WIFI_VM_WORK"]) / "last" / "result.json"
    assert result_file.exists(), f"the guest wrote no report:\n{log[-4000:]}"
    report = json.loads(result_file.read_text())
    failed = {name: check for name, check in report["checks"].items() if not check["pass"]}
    assert not failed, json.dumps(failed, indent=1)
    assert set(report["checks"]) == EXPECTED_CHECKS, log[-4000:]
    assert run.returncode == 0, log[-4000:]

    wrong = report["checks"]["wrong_passphrase_says_so"]
    assert wrong["kind"] == "wrong-passphrase"
    assert wrong["message"].startswith("Wrong passphrase")
    hostile = report["checks"]["hostile_ssid_listed_literally"]
    assert bytes.fromhex(hostile["ssid_hex"]) == b"[bold]x[/]\x1b[31m$(reboot)"
    assert hostile["shown"] == "[bold]x[/]\\x1b[31m$(reboot)"
