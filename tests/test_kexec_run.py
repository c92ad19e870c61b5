"""kexec/run and the image's restore step on this machine, where nothing can be kexec'd: the checks
that come before anything is changed, the scripts' POSIX-ness, and what `status` makes of a restored
state. The real kexec, end to end, runs in a qemu guest (tests/test_kexec_vm.py)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest
import status_schema
from cli_runner import run_cli

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "nixos-module" / "kexec" / "run"
RESTORE = ROOT / "nixos-module" / "kexec" / "restore"
NETWORK_CASE = Path(__file__).resolve().parent / "data" / "kexec_network" / "vm-static-and-dhcp"
SHELLS = [["dash"], ["busybox", "sh"]]


def _tarball(tmp_path: Path, arch: str) -> Path:
    """A tarball directory as the build makes it, with files that must never be used here."""
    kexec = tmp_path / "kexec"
    kexec.mkdir(mode=0o755)
    text = RUN.read_text().replace("@arch@", arch).replace("@init@", "/init").replace("@kernelParams@", "")
    (kexec / "run").write_text(text)
    for name in ("kexec", "ip"):
        (kexec / name).write_text("#!/bin/sh\necho must not run >&2\nexit 99\n")
        (kexec / name).chmod(0o755)
    (kexec / "bzImage").write_bytes(b"not a kernel")
    (kexec / "initrd").write_bytes(b"initrd bytes")
    for p in kexec.iterdir():
        p.chmod(p.stat().st_mode | 0o444)
    return kexec


def _digest(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


@pytest.mark.parametrize("script", [RUN, RESTORE], ids=["run", "restore"])
def test_posix_sh_by_shellcheck(script: Path) -> None:
    assert shutil.which("shellcheck"), "shellcheck is missing: scripts/dev test installs it"
    result = subprocess.run(
        ["shellcheck", "-s", "sh", str(script)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout


@pytest.mark.root  # setpriv to nobody
@pytest.mark.parametrize("shell", SHELLS, ids=["dash", "busybox"])
def test_not_root_is_refused(shell: list[str]) -> None:
    # pytest's temp dirs are root's alone: the unprivileged user needs one it can read.
    with tempfile.TemporaryDirectory(prefix="kexec-run-") as tmp:
        Path(tmp).chmod(0o755)
        _check_not_root(_tarball(Path(tmp), os.uname().machine), shell)


def _check_not_root(kexec: Path, shell: list[str]) -> None:
    before = _digest(kexec)
    result = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *shell, str(kexec / "run")],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr == f"kexec/run: must run as root (try: sudo {kexec}/run)\n"
    assert result.stdout == ""
    assert _digest(kexec) == before


@pytest.mark.skipif(os.geteuid() != 0, reason="the architecture is checked after the root check")
@pytest.mark.parametrize("shell", SHELLS, ids=["dash", "busybox"])
def test_tarball_for_another_architecture_is_refused(tmp_path: Path, shell: list[str]) -> None:
    other = "aarch64" if os.uname().machine != "aarch64" else "x86_64"
    kexec = _tarball(tmp_path, other)
    before = _digest(kexec)
    result = subprocess.run(
        [*shell, str(kexec / "run")], capture_output=True, text=True, check=False, timeout=30
    )
    assert result.returncode == 4, result.stderr
    assert f"this tarball is for {other}, this machine is {os.uname().machine}" in result.stderr
    assert f"nixos-kexec-installer-{os.uname().machine}-linux.tar.gz" in result.stderr
    assert _digest(kexec) == before


def _saved_state(tmp_path: Path) -> Path:
    """What kexec/run's archive holds, as the kernel unpacks it into the initrd."""
    saved = tmp_path / "initrd" / "kexec-state"
    (saved / "ssh").mkdir(parents=True)
    (saved / "network").mkdir()
    (saved / "ssh" / "ssh_host_ed25519_key").write_text("PRIVATE\n")
    (saved / "ssh" / "ssh_host_ed25519_key.pub").write_text("ssh-ed25519 AAAA host\n")
    (saved / "ssh" / "authorized_keys").write_text("ssh-ed25519 AAAA user\n")
    (saved / "machine-id").write_text("0123456789abcdef0123456789abcdef\n")
    for f in ("addrs.json", "routes-v4.json", "routes-v6.json"):
        shutil.copy(NETWORK_CASE / f, saved / "network" / f)
    return saved


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("shell", SHELLS, ids=["dash", "busybox"])
def test_restore_moves_the_state_with_safe_modes(tmp_path: Path, shell: list[str]) -> None:
    saved = _saved_state(tmp_path)
    root = tmp_path / "root"
    result = subprocess.run(
        [*shell, str(RESTORE), str(root), str(saved)], capture_output=True, text=True, check=True
    )
    assert "kexec: restored /etc/ssh/ssh_host_ed25519_key" in result.stdout
    assert not saved.exists(), "the keys stay in the initrd"
    assert (root / "etc/ssh/ssh_host_ed25519_key").read_text() == "PRIVATE\n"
    assert _mode(root / "etc/ssh/ssh_host_ed25519_key") == 0o600
    assert _mode(root / "etc/ssh/ssh_host_ed25519_key.pub") == 0o644
    assert (root / "root/.ssh/authorized_keys").read_text() == "ssh-ed25519 AAAA user\n"
    assert _mode(root / "root/.ssh/authorized_keys") == 0o600
    assert _mode(root / "root/.ssh") == 0o700
    assert _mode(root / "etc/machine-id") == 0o444
    state = root / "var/lib/installer-env/kexec"
    assert _mode(state) == 0o700
    assert (state / "addrs.json").read_bytes() == (NETWORK_CASE / "addrs.json").read_bytes()
    assert (state / "restored").read_text().splitlines() == [
        "host-key /etc/ssh/ssh_host_ed25519_key",
        "authorized-keys /root/.ssh/authorized_keys",
        "machine-id /etc/machine-id",
    ]


def test_restore_without_saved_state_does_nothing(tmp_path: Path) -> None:
    result = subprocess.run(
        ["dash", str(RESTORE), str(tmp_path / "root"), str(tmp_path / "none")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == ""
    assert not (tmp_path / "root").exists()


def test_status_says_booted_by_kexec_and_what_came_along(
    tmp_path: Path, isolated_env: dict[str, str]
) -> None:
    root = tmp_path / "root"
    subprocess.run(
        ["dash", str(RESTORE), str(root), str(_saved_state(tmp_path))], capture_output=True, check=True
    )
    env = dict(isolated_env, INSTALLER_ENV_KEXEC_STATE_DIR=str(root / "var/lib/installer-env/kexec"))
    units = tmp_path / "units"
    restored = run_cli(env, "restore-network", "--to", str(units))
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout.splitlines()[-1] == f"2 units in {units}"
    assert sorted(p.name for p in units.iterdir()) == sorted(
        p.name for p in (NETWORK_CASE / "expected").glob("*.network")
    )

    text = run_cli(env, "status")
    assert text.returncode == 0, text.stderr
    assert (
        "Kexec        booted by kexec; kept 1 SSH host key, authorized keys, machine-id of the old system\n"
        "             eth0 (52:54:00:12:34:56): 192.0.2.10/24, 198.51.100.7/32,\n"
        "               192.0.2.11/24, 2001:db8:2::10/64, 2001:db8:1::10/64\n"
        "               route default via 192.0.2.1\n"
    ) in text.stdout
    assert max(len(line) for line in text.stdout.splitlines() if "52:54:00:" in line) <= 80
    assert "             eth1 (52:54:00:ab:cd:ef): DHCP" in text.stdout
    assert "               route 203.0.113.0/24 via 172.31.1.1 onlink\n" in text.stdout
    assert "             not restored: vlan7 (VLAN on eth0: not recreated)" in text.stdout

    document = json.loads(run_cli(env, "status", "--json").stdout)
    status_schema.validate(document)
    data = document["kexec"]
    assert data["restored"][0] == {"kind": "host-key", "path": "/etc/ssh/ssh_host_ed25519_key"}
    assert [r["name"] for r in data["network"]["restored"]] == ["eth0", "eth1"]
    assert data["network"]["skipped"] == [{"what": "vlan7", "reason": "VLAN on eth0: not recreated"}]


def test_status_on_an_ordinary_boot_has_no_kexec(isolated_env: dict[str, str]) -> None:
    result = run_cli(isolated_env, "status", "--json")
    assert json.loads(result.stdout)["kexec"] is None
    assert "Kexec" not in run_cli(isolated_env, "status").stdout


def test_restore_network_without_saved_state_is_a_no_op(tmp_path: Path, isolated_env: dict[str, str]) -> None:
    result = run_cli(isolated_env, "restore-network", "--to", str(tmp_path / "units"))
    assert result.returncode == 0
    assert "nothing to restore" in result.stdout
    assert not (tmp_path / "units").exists()


def test_restore_network_with_broken_state_says_why(tmp_path: Path, isolated_env: dict[str, str]) -> None:
    saved = tmp_path / "saved"
    saved.mkdir()
    (saved / "addrs.json").write_text('[{"ifname": "eth0", "address": "52:54:00:00:00:01", "addr_info": 5}]')
    result = run_cli(isolated_env, "restore-network", "--from", str(saved), "--to", str(tmp_path / "units"))
    assert result.returncode == 8
    assert result.stderr == (
        "installer-env: the saved network state is not what `ip --json` writes: "
        "addr_info of eth0 is not a list of objects\n"
    )


def _cpio_writer() -> str:
    """run's own cpio functions (from `ino=1` to the end of write_cpio), to call on their own."""
    lines = RUN.read_text().splitlines()
    start = lines.index("ino=1")
    end = next(i for i in range(lines.index("write_cpio() {"), len(lines)) if lines[i] == "}")
    return "\n".join(lines[start : end + 1])


@pytest.mark.parametrize("shell", SHELLS, ids=["dash", "busybox"])
def test_the_hand_written_cpio_is_what_cpio_reads(tmp_path: Path, shell: list[str]) -> None:
    work = tmp_path / "work"
    state = work / "kexec-state"
    (state / "ssh").mkdir(parents=True)
    (state / "network").mkdir()
    files = {
        "ssh/ssh_host_ed25519_key": b"-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n",
        "ssh/authorized_keys": b"ssh-ed25519 AAAA a\nssh-rsa BBBB b",  # no final newline, odd length
        "network/addrs.json": bytes(range(256)) * 3,  # every byte value survives
        "network/routes-v4.json": b"",
        "machine-id": b"0123456789abcdef0123456789abcdef\n",
    }
    for name, data in files.items():
        (state / name).write_bytes(data)
    archive = tmp_path / "state.cpio"
    script = f'{_cpio_writer()}\nwork="$1"\n(write_cpio) >"$2"\n'
    subprocess.run([*shell, "-c", script, "sh", str(work), str(archive)], check=True, timeout=60)
    assert archive.stat().st_size % 4 == 0
    out = tmp_path / "out"
    out.mkdir()
    listing = subprocess.run(
        ["cpio", "-idv", "--no-absolute-filenames", "--quiet"],
        cwd=out,
        stdin=archive.open("rb"),
        capture_output=True,
        text=True,
        check=True,
    )
    assert listing.stderr.split() == [
        "kexec-state",
        "kexec-state/ssh",
        "kexec-state/ssh/authorized_keys",
        "kexec-state/ssh/ssh_host_ed25519_key",
        "kexec-state/network",
        "kexec-state/network/addrs.json",
        "kexec-state/network/routes-v4.json",
        "kexec-state/machine-id",
    ]
    for name, data in files.items():
        assert (out / "kexec-state" / name).read_bytes() == data, name
        assert _mode(out / "kexec-state" / name) == 0o600
    assert _mode(out / "kexec-state" / "ssh") == 0o700
