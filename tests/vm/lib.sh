# Shared pieces of the project's qemu (TCG) guests, sourced by the run-*-vm.sh harnesses.
#
# A guest boots a Debian kernel with a tiny busybox initrd, then runs on this machine's own root
# filesystem (shared read-only over virtio-9p, with a tmpfs overlay), so it uses exactly the tools
# and the Python (.venv) installed here. A second, writable 9p share (OUT, mounted at /mnt/out in
# the guest) carries the stage-2 script, its parameters and the results. Stage 2 is whatever the
# harness copies to $OUT/stage2; it runs as PID 1 and may source tests/vm/guest-lib.sh.
#
#   source tests/vm/lib.sh
#   vm_init NAME [TAG]           REPO WORK OUT START, say/die, cleanup trap (VM_WORK overrides WORK);
#                                a TAG names the runs (WORK/runs/*-TAG-*) and the link (WORK/last-TAG)
#   vm_require CMD...            fail early, naming the package that is missing
#   vm_kernel                    KVER VMLINUZ MODULES KTREE (Debian kernel, downloaded once, cached)
#   vm_initrd [MODULE...]        INITRD: busybox + 9p/overlay (+ extra modules loaded in stage 1)
#   vm_initrd_root DIR MODULE... busybox, modules and /init-common in DIR (for another initrd)
#   vm_pack DIR FILE             DIR as a gzipped cpio archive
#   vm_stage2 SCRIPT VAR...      copy SCRIPT as stage 2 and write VAR=value lines to $OUT/params
#   vm_start ARGS...             start qemu in the background (QEMU_PID); ARGS adds devices
#   vm_wait_result TIMEOUT       wait for the guest's verdict, $OUT/verdict or the console (VERDICT)
#   vm_finish                    stop qemu, print the guest's lines, keep the last five runs
# Environment: VM_MEM (MiB, 768), VM_CPUS (2), VM_CONSOLE_LINES (an extended regex: more console
# lines vm_finish shows besides "[guest ...]" and the verdict).

vm_init() {
  VM_NAME=$1
  VM_TAG=${2:-}
  REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  WORK=${VM_WORK:-$REPO/.work/$VM_NAME}
  # The kernel and initrd are the same for every guest: one cache next to the runs.
  CACHE=${VM_CACHE:-$REPO/.work/vm-cache}
  OUT=$WORK/runs/$(date +%Y%m%d-%H%M%S)${VM_TAG:+-$VM_TAG}-$$
  START=$(date +%s.%N)
  QEMU_PID=
  PYTHON=$REPO/.venv/bin/python
  mkdir -p "$WORK" "$OUT" "$CACHE"
  trap vm_stop EXIT
  trap 'exit 130' INT TERM
}

say() { awk -v now="$(date +%s.%N)" -v t0="$START" -v msg="$*" 'BEGIN {printf "[vm-host %5.1fs] %s\n", now - t0, msg}'; }
die() { say "ERROR: $*" >&2; exit 2; }

vm_stop() {
  if [ -n "${QEMU_PID:-}" ] && kill -0 "$QEMU_PID" 2>/dev/null; then
    kill "$QEMU_PID" 2>/dev/null || true
    for _ in $(seq 20); do kill -0 "$QEMU_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$QEMU_PID" 2>/dev/null || true
  fi
  QEMU_PID=
}

vm_require() {
  local cmd
  for cmd in qemu-system-x86_64 cpio gzip depmod modprobe file "$@"; do
    command -v "$cmd" >/dev/null || die "missing $cmd: run scripts/dev test (it installs the test packages)"
  done
  BUSYBOX=$(command -v busybox || true)
  [ -n "$BUSYBOX" ] && file -L "$BUSYBOX" | grep -q 'statically linked' \
    || die "need a statically linked busybox (apt-get install busybox-static)"
  "$PYTHON" -c 'import installer_env' 2>/dev/null || die "the project's .venv is not ready (scripts/dev test)"
}

# Debian's generic kernel has 9p, overlayfs, mac80211_hwsim, bochs, virtio-net as modules.
vm_kernel() {
  local deb pkg
  deb=$(ls "$CACHE"/linux-image-*.deb 2>/dev/null | head -1 || true)
  if [ -z "$deb" ]; then
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
    if [ -z "$pkg" ]; then
      apt-get update -qq >/dev/null 2>&1 || true
      pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
    fi
    [ -n "$pkg" ] || die "cannot tell which Debian kernel package to download (apt-cache depends linux-image-amd64)"
    say "downloading $pkg (once; cached in $CACHE)"
    (cd "$CACHE" && apt-get download "$pkg" >"$OUT/kernel-download.log" 2>&1) \
      || die "apt-get download $pkg failed, see $OUT/kernel-download.log"
    deb=$(ls "$CACHE"/linux-image-*.deb | head -1)
  fi
  KVER=$(basename "$deb"); KVER=${KVER#linux-image-}; KVER=${KVER%%_*}
  KTREE=$CACHE/kernel-$KVER
  if [ ! -f "$KTREE/.ready" ]; then
    rm -rf "$KTREE"
    dpkg -x "$deb" "$KTREE"
    depmod -b "$KTREE" "$KVER"
    touch "$KTREE/.ready"
  fi
  VMLINUZ=$KTREE/boot/vmlinuz-$KVER
  MODULES=$KTREE/lib/modules/$KVER
  [ -f "$VMLINUZ" ] || die "no kernel image in $deb"
}

# vm_initrd_root DIR MODULE...: busybox, the modules (dependencies first) and /init-common, which
# an /init sources first: busybox's applets, /proc /sys /dev, the modules loaded in order.
vm_initrd_root() {
  local dir=$1 m ko
  shift
  mkdir -p "$dir"/{bin,proc,sys,dev,modules}
  cp "$BUSYBOX" "$dir/bin/busybox"
  for m in "$@"; do
    modprobe -d "$KTREE" -S "$KVER" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
  done | awk '!seen[$0]++' | while read -r ko; do
    cp "$ko" "$dir/modules/"
    basename "$ko" >>"$dir/modules/order"
  done
  cat >"$dir/init-common" <<'COMMON'
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $(cat /modules/order); do insmod "/modules/$m"; done
COMMON
}

vm_pack() { (cd "$1" && find . | cpio -o -H newc --quiet | gzip -1 >"$2"); }

# Stage 1: mount this machine's / read-only with a tmpfs overlay, then hand over to stage 2.
# Extra module names are loaded (with their dependencies) before the root is mounted.
vm_initrd() {
  local name rootfs
  name=$(printf '%s ' "$@" | md5sum | cut -c1-8)
  INITRD=$CACHE/initrd-$KVER-$name.gz
  if [ -f "$INITRD" ] && [ "$INITRD" -nt "${BASH_SOURCE[0]}" ]; then return; fi
  rootfs=$(mktemp -d "$CACHE/initrd.XXXXXX")
  vm_initrd_root "$rootfs" virtio_pci 9pnet_virtio 9p overlay virtio_rng "$@"
  mkdir -p "$rootfs"/{lower,rw,newroot}
  cat >"$rootfs/init" <<'INIT'
#!/bin/busybox sh
. /init-common
fail() { echo "VM-RESULT: FAIL ($1)"; echo o >/proc/sysrq-trigger; sleep 10; }
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=262144 hostroot /lower || fail "9p root"
mount -t tmpfs -o size=60% tmpfs /rw && mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot || fail overlay
mkdir -p /newroot/mnt/out
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 out /newroot/mnt/out || fail "9p out"
for d in proc sys dev; do mount --move /$d /newroot/$d; done
exec switch_root /newroot /bin/bash /mnt/out/stage2
INIT
  chmod +x "$rootfs/init"
  vm_pack "$rootfs" "$INITRD.tmp"
  mv "$INITRD.tmp" "$INITRD"
  rm -rf "$rootfs"
}

# vm_stage2 SCRIPT VAR...: stage 2 with tests/vm/guest-lib.sh beside it and the named variables.
vm_stage2() {
  local script=$1 var
  shift
  cp "$script" "$OUT/stage2"
  cp "$REPO/tests/vm/guest-lib.sh" "$OUT/guest-lib.sh"
  : >"$OUT/params"
  for var in REPO PYTHON MODULES KVER "$@"; do
    printf '%s=%q\n' "$var" "${!var}" >>"$OUT/params"
  done
}

# vm_start APPEND ARGS...: the kernel command line's extra words, then extra qemu arguments.
vm_start() {
  local append=$1
  shift
  CONSOLE=$OUT/console.log
  : >"$CONSOLE"
  say "booting kernel $KVER (TCG, ${VM_CPUS:-2} cpus, ${VM_MEM:-768} MiB); results in $OUT"
  qemu-system-x86_64 -accel tcg -cpu max -smp "${VM_CPUS:-2}" -m "${VM_MEM:-768}" \
    -nodefaults -no-user-config -no-reboot \
    -serial "file:$CONSOLE" \
    -kernel "$VMLINUZ" -initrd "$INITRD" \
    -append "panic=-1 quiet loglevel=3 rdinit=/init $append" \
    -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
    -virtfs local,path="$OUT",mount_tag=out,security_model=none \
    -device virtio-rng-pci \
    "$@" </dev/null >"$OUT/qemu.log" 2>&1 &
  QEMU_PID=$!
}

# The guest writes its verdict to $OUT/verdict before it powers off: on the console the kernel's
# power-off message can cut into the line. The console is the fallback for failures in stage 1,
# before the share is mounted.
vm_verdict() {
  if [ -s "$OUT/verdict" ]; then head -n 1 "$OUT/verdict"; return; fi
  grep -a -m1 -o 'VM-RESULT: [A-Z].*' "$CONSOLE" | tr -d '\r' || true
}

vm_wait_result() {
  local deadline=$(( $(date +%s) + $1 ))
  VERDICT=
  while kill -0 "$QEMU_PID" 2>/dev/null; do
    VERDICT=$(vm_verdict)
    [ -n "$VERDICT" ] && break
    if [ "$(date +%s)" -ge "$deadline" ]; then say "guest did not finish within ${1}s"; break; fi
    sleep 0.5
  done
  for _ in $(seq 20); do kill -0 "$QEMU_PID" 2>/dev/null || break; sleep 0.25; done
  [ -n "$VERDICT" ] || VERDICT=$(vm_verdict)
}

vm_finish() {
  vm_stop
  grep -a -E "^\\[guest|^VM-RESULT${VM_CONSOLE_LINES:+|$VM_CONSOLE_LINES}" "$CONSOLE" | tr -d '\r' | sed 's/^/  | /'
  ln -sfn "$OUT" "$WORK/last${VM_TAG:+-$VM_TAG}"
  # Keep the last five runs (of this tag).
  ls -1dt "$WORK"/runs/*${VM_TAG:+-$VM_TAG-[0-9]*} 2>/dev/null | tail -n +6 | xargs -r rm -rf
  if [ "$VERDICT" = "VM-RESULT: PASS" ]; then
    say "PASS"
    return 0
  fi
  say "FAIL: ${VERDICT:-no result from the guest}; console: $CONSOLE"
  tail -n 40 "$CONSOLE" | tr -d '\r' | sed 's/^/  ! /'
  return 1
}
