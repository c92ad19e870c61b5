#!/usr/bin/env bash
# The screen on a real Linux VT: a qemu (TCG) guest with a VGA card runs `installer-env screen` on
# tty1 (TERM=linux), first in 80x25 VGA text mode, then on the framebuffer console (bochs,
# 1024x768 = 128x48), with IPv4, a SLAAC global IPv6 from QEMU's user network and its own tor.
# tests/vm/vt_host.py drives it from here: keys (sendkey) and screenshots (screendump) over QMP,
# zbarimg on every screenshot, the VT's own contents (/dev/vcsa1, /dev/vcsu1) from the guest.
# The guest itself (kernel, initrd, this machine's root over 9p) comes from tests/vm/lib.sh.
# Exit code 0 = every check passed; the report is in .work/vt-vm/last/result.json, the
# screenshots beside it (shots/).
#
# Environment: VT_VM_WORK (results, default .work/vt-vm), VT_VM_TIMEOUT (s, 420), VM_MEM, VM_CPUS.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
source "$(dirname "$0")/lib.sh"
VM_WORK=${VT_VM_WORK:-} vm_init vt-vm
TIMEOUT=${VT_VM_TIMEOUT:-420}

vm_require zbarimg tor sshd ssh-keygen
vm_kernel
vm_initrd
vm_stage2 "$REPO/tests/vm/guest-vt.sh"
mkdir -p "$OUT/cmd" "$OUT/reply"
# -display none keeps the VGA card: screendump reads it; vcsa/vcsu show the VT's side.
vm_start "console=ttyS0 consoleblank=0" -display none -device VGA,xres=1024,yres=768 \
  -qmp "unix:$OUT/qmp.sock,server=on,wait=off" \
  -netdev user,id=net0,ipv6=on,ipv6-prefix=2001:db8:1::,ipv6-prefixlen=64 \
  -device virtio-net-pci,netdev=net0
HOST_RC=0
timeout "$TIMEOUT" "$PYTHON" "$REPO/tests/vm/vt_host.py" --out "$OUT" --qmp "$OUT/qmp.sock" || HOST_RC=$?
vm_wait_result 60
say "result file: $OUT/result.json"
vm_finish || exit 1
[ "$HOST_RC" = 0 ] || { say "FAIL: host checks (rc=$HOST_RC), see $OUT/result.json"; exit 1; }
