"""The screen on a real Linux VT: a qemu guest with a VGA card, in 80x25 text mode and on the
128x48 framebuffer console, checked through QEMU's screendump, zbarimg and the VT's own memory.

tests/vm/run-vt-vm.sh boots the guest (a few minutes under TCG) and tests/vm/vt_host.py writes a
JSON report; this test runs it and checks every result, so a failure names the check that failed.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HARNESS = REPO / "tests" / "vm" / "run-vt-vm.sh"
MODES = ("text-80x25", "framebuffer-128x48")
PER_MODE = {
    "first_frame",
    "first_frame_has_footer",
    "main_screen_as_drawn",
    "footer_all_on_blue",
    "full_qr_quiet_zone_at_least_2",
    "full_qr_decodes",
    "full_qr_is_status_payload",
    "status_has_onion_ipv4_and_global_ipv6",
    "addresses_and_fingerprints_whole",
    "help_shows_esc_back",
    "wifi_hint_contrast",
    "console_clean_after_x",
}


@pytest.mark.vm
def test_screen_on_a_linux_vt_in_a_vm() -> None:
    env = dict(os.environ, VT_VM_WORK=os.environ.get("VT_VM_WORK", str(REPO / ".work" / "vt-vm")))
    run = subprocess.run([str(HARNESS)], capture_output=True, text=True, timeout=720, env=env, check=False)
    log = run.stdout + run.stderr
    result_file = Path(env["VT_VM_WORK"]) / "last" / "result.json"
    assert result_file.exists(), f"the harness wrote no report:\n{log[-4000:]}"
    report = json.loads(result_file.read_text())
    checks = report["checks"]
    failed = {
        name: {k: v for k, v in c.items() if k != "screen"} for name, c in checks.items() if not c["pass"]
    }
    assert not failed, json.dumps(failed, indent=1, ensure_ascii=False)
    expected = {f"{mode}/{check}" for mode in MODES for check in PER_MODE}
    # The 128x48 console has room for the code beside the text: it must be there and decode.
    expected |= {"framebuffer-128x48/main_qr_decodes", "framebuffer-128x48/main_qr_is_status_payload"}
    assert "framebuffer-128x48/main_shows_qr_with_final_payload" not in report["facts"]
    assert expected <= set(checks), sorted(expected - set(checks))
    assert report["facts"]["framebuffer-128x48/main_shows_qr"]
    assert run.returncode == 0, log[-4000:]
    for mode in MODES:
        assert report["timings"][mode]["launch_to_decodable_seconds"] > 0
