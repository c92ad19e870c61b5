#!/usr/bin/env bash
# The real Wi-Fi test: a qemu (TCG) guest with mac80211_hwsim radios, hostapd access points, the
# real dbus-daemon and iwd, and this project's own Wi-Fi client (tests/vm/guest_wifi_check.py).
#
# The guest boots a Debian kernel with a tiny busybox initrd and then runs on this machine's own
# root filesystem (shared read-only over virtio-9p, with a tmpfs overlay), so it uses exactly the
# iwd, hostapd, dbus and Python (.venv) installed here. Results come back through a second,
# writable 9p share. Exit code 0 = every check passed.
#
#   tests/vm/run-wifi-vm.sh            run the checks (about a minute)
#   WIFI_VM_BENCH=5 tests/vm/run-wifi-vm.sh   also time 5 connects: our client vs iwctl
#
# Environment: WIFI_VM_WORK (cache + results, default .work/wifi-vm), WIFI_VM_TIMEOUT (s, 240),
# WIFI_VM_MEM (MiB, 768), WIFI_VM_CPUS (2), WIFI_VM_DEBUG=1 (iwd -d, hostapd -dd).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${WIFI_VM_WORK:-$REPO/.work/wifi-vm}
TIMEOUT=${WIFI_VM_TIMEOUT:-240}
MEM=${WIFI_VM_MEM:-768}
CPUS=${WIFI_VM_CPUS:-2}
BENCH=${WIFI_VM_BENCH:-0}
DEBUG=${WIFI_VM_DEBUG:-0}
OUT=$WORK/runs/$(date +%Y%m%d-%H%M%S)-$$
START=$(date +%s.%N)

say() { awk -v now="$(date +%s.%N)" -v t0="$START" -v msg="$*" 'BEGIN {printf "[vm-host %5.1fs] %s\n", now - t0, msg}'; }
die() { say "ERROR: $*" >&2; exit 2; }

QEMU_PID=
cleanup() {
  if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null; then
    kill "$QEMU_PID" 2>/dev/null || true
    sleep 0.5
    kill -9 "$QEMU_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$WORK" "$OUT"

# ---------------------------------------------------------------- what the guest needs from here
for cmd in qemu-system-x86_64 cpio gzip depmod modprobe dbus-daemon hostapd iwctl file; do
  command -v "$cmd" >/dev/null || die "missing $cmd: run scripts/dev test (it installs the test packages)"
done
[ -x /usr/libexec/iwd ] || die "missing /usr/libexec/iwd (apt-get install iwd)"
BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] && file -L "$BUSYBOX" | grep -q 'statically linked' \
  || die "need a statically linked busybox (apt-get install busybox-static)"
PYTHON=$REPO/.venv/bin/python
"$PYTHON" -c 'import dbus_fast, installer_env.wifi' || die "the project's .venv is not ready (scripts/dev test)"

# ---------------------------------------------------------------- guest kernel (cached)
# Debian's generic kernel has mac80211_hwsim, 9p and overlayfs as modules; any recent one will do.
DEB=$(ls "$WORK"/linux-image-*.deb 2>/dev/null | head -1 || true)
if [ -z "$DEB" ]; then
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  if [ -z "$pkg" ]; then
    apt-get update -qq >/dev/null 2>&1 || true
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  fi
  [ -n "$pkg" ] || die "cannot tell which Debian kernel package to download (apt-cache depends linux-image-amd64)"
  say "downloading $pkg (once; cached in $WORK)"
  (cd "$WORK" && apt-get download "$pkg" >"$OUT/kernel-download.log" 2>&1) \
    || die "apt-get download $pkg failed, see $OUT/kernel-download.log"
  DEB=$(ls "$WORK"/linux-image-*.deb | head -1)
fi
KVER=$(basename "$DEB"); KVER=${KVER#linux-image-}; KVER=${KVER%%_*}
KTREE=$WORK/kernel-$KVER
if [ ! -f "$KTREE/.ready" ]; then
  rm -rf "$KTREE"
  dpkg -x "$DEB" "$KTREE"
  depmod -b "$KTREE" "$KVER"
  touch "$KTREE/.ready"
fi
VMLINUZ=$KTREE/boot/vmlinuz-$KVER
MODULES=$KTREE/lib/modules/$KVER
[ -f "$VMLINUZ" ] || die "no kernel image in $DEB"

# ---------------------------------------------------------------- initrd: busybox + 9p/overlay
INITRD=$WORK/initrd-$KVER.gz
if [ ! -f "$INITRD" ] || [ "$0" -nt "$INITRD" ]; then
  ROOTFS=$(mktemp -d "$WORK/initrd.XXXXXX")
  mkdir -p "$ROOTFS"/{bin,proc,sys,dev,lower,rw,newroot,modules}
  cp "$BUSYBOX" "$ROOTFS/bin/busybox"
  for m in virtio_pci 9pnet_virtio 9p overlay virtio_rng; do
    modprobe -d "$KTREE" -S "$KVER" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
  done | awk '!seen[$0]++' | while read -r ko; do
    cp "$ko" "$ROOTFS/modules/"
    basename "$ko" >>"$ROOTFS/modules/order"
  done
  # Stage 1: mount this machine's / read-only with a tmpfs overlay, then hand over to stage 2.
  cat >"$ROOTFS/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $(cat /modules/order); do insmod "/modules/$m"; done
fail() { echo "WIFI-VM-RESULT: FAIL ($1)"; echo o >/proc/sysrq-trigger; sleep 10; }
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=262144 hostroot /lower || fail "9p root"
mount -t tmpfs -o size=60% tmpfs /rw && mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot || fail overlay
mkdir -p /newroot/mnt/out
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 out /newroot/mnt/out || fail "9p out"
for d in proc sys dev; do mount --move /$d /newroot/$d; done
exec switch_root /newroot /bin/bash /mnt/out/stage2
INIT
  chmod +x "$ROOTFS/init"
  (cd "$ROOTFS" && find . | cpio -o -H newc --quiet | gzip -1 >"$INITRD.tmp")
  mv "$INITRD.tmp" "$INITRD"
  rm -rf "$ROOTFS"
fi

# ---------------------------------------------------------------- hand-over to the guest
cp "$REPO/tests/vm/guest-wifi.sh" "$OUT/stage2"
{
  printf 'REPO=%q\nPYTHON=%q\nMODULES=%q\nKVER=%q\nBENCH=%q\nDEBUG=%q\n' \
    "$REPO" "$PYTHON" "$MODULES" "$KVER" "$BENCH" "$DEBUG"
} >"$OUT/params"

say "booting kernel $KVER (TCG, $CPUS cpus, $MEM MiB); results in $OUT"
CONSOLE=$OUT/console.log
: >"$CONSOLE"
qemu-system-x86_64 -accel tcg -cpu max -smp "$CPUS" -m "$MEM" \
  -nodefaults -no-user-config -display none -no-reboot \
  -serial "file:$CONSOLE" \
  -kernel "$VMLINUZ" -initrd "$INITRD" \
  -append "console=ttyS0 panic=-1 quiet loglevel=3 rdinit=/init" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  -virtfs local,path="$OUT",mount_tag=out,security_model=none \
  -device virtio-rng-pci \
  </dev/null >"$OUT/qemu.log" 2>&1 &
QEMU_PID=$!

deadline=$(( $(date +%s) + TIMEOUT ))
verdict=
while kill -0 "$QEMU_PID" 2>/dev/null; do
  verdict=$(grep -a -m1 -o 'WIFI-VM-RESULT: .*' "$CONSOLE" | tr -d '\r' || true)
  [ -n "$verdict" ] && break
  if [ "$(date +%s)" -ge "$deadline" ]; then say "guest did not finish within ${TIMEOUT}s"; break; fi
  sleep 0.5
done
for _ in $(seq 20); do kill -0 "$QEMU_PID" 2>/dev/null || break; sleep 0.25; done
cleanup
QEMU_PID=
[ -n "$verdict" ] || verdict=$(grep -a -m1 -o 'WIFI-VM-RESULT: .*' "$CONSOLE" | tr -d '\r' || true)

grep -a -E '^\[guest|^WIFI-VM' "$CONSOLE" | tr -d '\r' | sed 's/^/  | /'
say "result file: $OUT/result.json"
ln -sfn "$OUT" "$WORK/last"
ls -1dt "$WORK"/runs/* 2>/dev/null | tail -n +6 | xargs -r rm -rf  # keep the last five runs
if [ "$verdict" = "WIFI-VM-RESULT: PASS" ]; then
  say "PASS"
  exit 0
fi
say "FAIL: ${verdict:-no result from the guest}; console: $CONSOLE"
tail -n 40 "$CONSOLE" | tr -d '\r' | sed 's/^/  ! /'
exit 1
