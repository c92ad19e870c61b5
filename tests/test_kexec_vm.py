"""The kexec image's real tests in qemu guests (tests/vm/run-kexec-vm.sh): systemd-networkd applies
the generated units; kexec/run under dash over a real ssh session kexecs into a second kernel that
finds everything in place; and the refusals. Each check is one line of the guest's result.txt, so a
failure names the check that failed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HARNESS = REPO / "tests" / "vm" / "run-kexec-vm.sh"

EXPECTED = {
    "networkd": {"flushed", "networkd_restored", "vlan_listed"},
    "kexec": {
        "ssh_returned",
        "loaded",
        "initrd_restored",
        "new_kernel",
        "state_in_initrd",
        "restore_ran",
        "state_left_initrd",
        "host_key_ssh_host_ecdsa_key",
        "host_key_ssh_host_ecdsa_key.pub",
        "host_key_ssh_host_ed25519_key",
        "host_key_ssh_host_ed25519_key.pub",
        "authorized_keys",
        "authorized_keys_modes",
        "machine_id",
        "network_addrs.json",
        "network_routes-v4.json",
        "network_routes-v6.json",
        "manifest",
        "restore_network",
        "units",
        "status_says_kexec",
        "status_network",
        "status_host_key",
    },
    "refusals": {
        "too_little_ram_dash",
        "too_little_ram_nothing_changed_dash",
        "too_little_ram_busybox_sh",
        "too_little_ram_nothing_changed_busybox_sh",
        "not_root",
        "wrong_architecture",
        "incomplete_tarball",
        "refusals_nothing_changed",
    },
    "lockdown": {
        "lockdown",
        "lockdown_nothing_changed",
        "kexec_load_failure",
        "kexec_load_failure_nothing_changed",
    },
}


@pytest.mark.vm
@pytest.mark.parametrize("scenario", list(EXPECTED))
def test_kexec_image_in_a_vm(scenario: str) -> None:
    work = Path(os.environ.get("KEXEC_VM_WORK", str(REPO / ".work" / "kexec-vm")))
    env = dict(os.environ, KEXEC_VM_WORK=str(work))
    run = subprocess.run(
        [str(HARNESS), scenario], capture_output=True, text=True, timeout=420, env=env, check=False
    )
    log = run.stdout + run.stderr
    result_file = work / f"last-{scenario}" / "result.txt"
    assert result_file.exists(), f"the guest wrote no results:\n{log[-4000:]}"
    lines = result_file.read_text().splitlines()
    failed = [line for line in lines if not line.startswith("PASS ")]
    assert not failed, "\n".join(failed) + "\n" + log[-3000:]
    assert {line.split(" ", 2)[1].rstrip(":") for line in lines} == EXPECTED[scenario], log[-3000:]
    assert run.returncode == 0, log[-4000:]
