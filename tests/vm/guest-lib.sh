# Sourced by every guest's stage 2 (PID 1 in the guest): parameters, logging, the verdict line,
# the mounts a tool expects, and the guest kernel's modules where modprobe looks.
# shellcheck shell=bash
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root
OUT=/mnt/out
# shellcheck disable=SC1091
source $OUT/params   # REPO PYTHON MODULES KVER and what the harness added

say() { echo "[guest $(cut -d' ' -f1 /proc/uptime)] $*"; }
# finish VERDICT: the verdict the harness waits for, then power off. The file is what the host
# reads: on the console the kernel's power-off message can cut into the line.
finish() {
  echo "VM-RESULT: $1" >$OUT/verdict
  sync
  echo "VM-RESULT: $1"
  echo o >/proc/sysrq-trigger
  sleep 30
}
# Stage 2 may define on_fail (given the message) to print its logs before the verdict.
fail() {
  say "FAILED: $*"
  declare -F on_fail >/dev/null && on_fail "$*"
  finish "FAIL ($*)"
}
wait_for() {  # wait_for SECONDS WHAT COMMAND...
  local until=$(( $(date +%s) + $1 )) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -ge "$until" ] && fail "timeout waiting for $what"
    sleep 0.2
  done
}

mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /dev/pts /dev/shm /tmp
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
# No tmpfs over /tmp: the checkout (and so the kernel modules and the venv) may live under the
# host's /tmp; the overlay root already makes /tmp writable.
# The guest kernel's modules where modprobe (and the kernel's own autoloading) look.
mkdir -p "/usr/lib/modules/$KVER"
mount --bind "$MODULES" "/usr/lib/modules/$KVER"
echo /sbin/modprobe >/proc/sys/kernel/modprobe
ip link set lo up
