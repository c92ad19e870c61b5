#!/usr/bin/env bash
# The kexec image's real tests in a qemu (TCG) guest, with the dash, busybox, kexec-tools, iproute2,
# sshd and systemd-networkd installed here. The guest itself (kernel, initrd, this machine's root
# over 9p) comes from tests/vm/lib.sh.
#
#   tests/vm/run-kexec-vm.sh networkd   the generated units applied by the real systemd-networkd
#   tests/vm/run-kexec-vm.sh kexec      kexec/run over ssh under dash, into a second kernel whose
#                                       initrd (tests/vm/kexec-second-init) checks what came along
#   tests/vm/run-kexec-vm.sh refusals   a 512 MB guest: too little RAM, not root, wrong architecture
#   tests/vm/run-kexec-vm.sh lockdown   a guest booted with lockdown=integrity: kexec refused
#
# The guest writes result.txt (one "PASS|FAIL name: detail" line per check, tests/vm/guest-checks.sh)
# to the OUT share; the report is in .work/kexec-vm/last-SCENARIO/result.txt.
# Exit code 0 = every check passed.
# Environment: KEXEC_VM_WORK (results, default .work/kexec-vm), KEXEC_VM_TIMEOUT (s, 240), VM_CPUS.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
source "$(dirname "$0")/lib.sh"

SCENARIO=${1:?usage: run-kexec-vm.sh networkd|kexec|refusals|lockdown}
# The memory is part of the scenario: kexec/run refuses below 1 GB.
case $SCENARIO in
  networkd) VM_MEM=768 APPEND= ;;
  kexec) VM_MEM=1200 APPEND= ;;
  refusals) VM_MEM=512 APPEND= ;;
  lockdown) VM_MEM=1200 APPEND="lockdown=integrity" ;;
  *) echo "unknown scenario $SCENARIO" >&2; exit 2 ;;
esac
VM_WORK=${KEXEC_VM_WORK:-} vm_init kexec-vm "$SCENARIO"
TIMEOUT=${KEXEC_VM_TIMEOUT:-240}
# The second kernel's lines, and kexec's own, besides the first kernel's.
VM_CONSOLE_LINES='^\[second|^kexec'

vm_require dash kexec ip ssh sshd ssh-keygen setpriv
[ -x /lib/systemd/systemd-networkd ] || die "missing /lib/systemd/systemd-networkd (apt-get install systemd)"
"$PYTHON" -c 'import installer_env.kexec_network' || die "the project's .venv is not ready (scripts/dev test)"
vm_kernel
vm_initrd virtio_net

# The tarball the guest runs: kexec/run and kexec/restore exactly as the image ships them; this
# machine's kexec and ip stand in for the static ones, its Debian kernel and the initrd below for
# the NixOS ones.
if [ "$SCENARIO" != networkd ]; then
  TARBALL=$OUT/kexec
  mkdir -p "$TARBALL"
  sed -e 's|@arch@|x86_64|' -e 's|@init@|/init|' \
    -e 's|@kernelParams@|console=ttyS0 panic=-1 quiet loglevel=3|' \
    "$REPO/nixos-module/kexec/run" >"$TARBALL/run"
  chmod 755 "$TARBALL/run"
  cp "$(command -v kexec)" "$TARBALL/kexec"
  cp "$(command -v ip)" "$TARBALL/ip"
  cp "$VMLINUZ" "$TARBALL/bzImage"
  # The second kernel's initrd: busybox, the image's restore step, and the checks.
  ROOTFS=$(mktemp -d "$OUT/initrd2.XXXXXX")
  vm_initrd_root "$ROOTFS" virtio_pci 9pnet_virtio 9p
  mkdir -p "$ROOTFS"/{out,sysroot,host}
  cp "$REPO/nixos-module/kexec/restore" "$ROOTFS/restore"
  cp "$REPO/tests/vm/kexec-second-init" "$ROOTFS/init"
  cp "$REPO/tests/vm/guest-checks.sh" "$ROOTFS/guest-checks.sh"
  printf 'PYTHON=%s\n' "$PYTHON" >"$ROOTFS/params"
  chmod +x "$ROOTFS/init" "$ROOTFS/restore"
  vm_pack "$ROOTFS" "$TARBALL/initrd"
  rm -rf "$ROOTFS"
fi

vm_stage2 "$REPO/tests/vm/guest-kexec.sh" SCENARIO
cp "$REPO/tests/vm/guest-checks.sh" "$OUT/guest-checks.sh"
say "scenario '$SCENARIO'"
# Two NICs: eth0 on a restricted user network (static addresses, nothing dynamic: the saved state
# stays byte for byte the same), eth1 with the user network's DHCP and router advertisements.
vm_start "console=ttyS0 $APPEND" -display none \
  -netdev user,id=n0,restrict=on,ipv6=off -device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56 \
  -netdev user,id=n1,restrict=on,ipv6-prefix=2001:db8:5::,ipv6-prefixlen=64 \
  -device virtio-net-pci,netdev=n1,mac=52:54:00:ab:cd:ef
vm_wait_result "$TIMEOUT"
say "result file: $OUT/result.txt"
vm_finish
