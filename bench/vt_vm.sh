#!/usr/bin/env bash
# On a slow console, how soon the password is readable: `installer-env demo` on tty1 (TERM=linux,
# 80x25 VGA text mode) of a qemu TCG guest, a stand-in for an old laptop or a small ARM board.
# bench/vm/vt_timing.py in the guest reads the VT (/dev/vcsu1) from launch to the first full frame.
# The guest comes from tests/vm/lib.sh (this machine's root over 9p, the project's .venv).
#
#   bench/vt_vm.sh                       3 runs of this tree
#   VT_BENCH_RUNS=5 VT_BENCH_BEFORE=/tmp/old bench/vt_vm.sh
#                                        also an exported older tree (git archive <commit> installer_env)
# Results: .work/vt-bench/last/vt-bench-*.json. Environment: VM_MEM, VM_CPUS (tests/vm/lib.sh).
set -euo pipefail
LIB=$(dirname "$0")/../tests/vm/lib.sh
[ -f "$LIB" ] || { echo "bench/vt_vm.sh: needs the shared VM harness $LIB" >&2; exit 2; }
# shellcheck source=tests/vm/lib.sh
source "$LIB"
VM_WORK=${VT_BENCH_WORK:-} vm_init vt-bench
RUNS=${VT_BENCH_RUNS:-3}
BEFORE=${VT_BENCH_BEFORE:-}
TIMEOUT=${VT_BENCH_TIMEOUT:-1200}

vm_require sshd ssh-keygen
vm_kernel
vm_initrd
vm_stage2 "$REPO/bench/vm/guest-early.sh" RUNS BEFORE
vm_start "console=ttyS0 consoleblank=0" -display none -device VGA \
  -netdev user,id=net0 -device virtio-net-pci,netdev=net0
vm_wait_result "$TIMEOUT"
grep -a '^\[vt-bench\]' "$CONSOLE" | tr -d '\r' || true
vm_finish
