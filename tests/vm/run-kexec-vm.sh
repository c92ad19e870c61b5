#!/usr/bin/env bash
# The kexec image's real tests in a qemu (TCG) guest: a Debian kernel with a busybox initrd that
# runs on this machine's own root filesystem (read-only over virtio-9p, tmpfs overlay), so the
# guest uses the dash, busybox, kexec-tools, iproute2, sshd and systemd-networkd installed here.
#
#   tests/vm/run-kexec-vm.sh networkd   the generated units applied by the real systemd-networkd
#   tests/vm/run-kexec-vm.sh kexec      kexec/run over ssh under dash, into a second kernel whose
#                                       initrd (tests/vm/kexec-second-init) checks what came along
#   tests/vm/run-kexec-vm.sh refusals   a 512 MB guest: too little RAM, not root, wrong architecture
#   tests/vm/run-kexec-vm.sh lockdown   a guest booted with lockdown=integrity: kexec refused
#
# The guest writes result.txt (one "PASS|FAIL name: detail" line per check) to a writable 9p share.
# Exit code 0 = every check passed.
# Environment: KEXEC_VM_WORK (kernel cache + results, default .work/kexec-vm), KEXEC_VM_TIMEOUT (s, 240).
set -euo pipefail

SCENARIO=${1:?usage: run-kexec-vm.sh networkd|kexec|refusals|lockdown}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${KEXEC_VM_WORK:-$REPO/.work/kexec-vm}
TIMEOUT=${KEXEC_VM_TIMEOUT:-240}
OUT=$WORK/runs/$(date +%Y%m%d-%H%M%S)-$SCENARIO-$$
START=$(date +%s.%N)
case $SCENARIO in
  networkd) MEM=768 APPEND= ;;
  kexec) MEM=1200 APPEND= ;;
  refusals) MEM=512 APPEND= ;;
  lockdown) MEM=1200 APPEND="lockdown=integrity" ;;
  *) echo "unknown scenario $SCENARIO" >&2; exit 2 ;;
esac

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

for cmd in qemu-system-x86_64 cpio gzip depmod modprobe file dash kexec ip ssh sshd ssh-keygen setpriv; do
  command -v "$cmd" >/dev/null || die "missing $cmd: run scripts/dev test (it installs the test packages)"
done
[ -x /lib/systemd/systemd-networkd ] || die "missing /lib/systemd/systemd-networkd (apt-get install systemd)"
BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] && file -L "$BUSYBOX" | grep -q 'statically linked' \
  || die "need a statically linked busybox (apt-get install busybox-static)"
PYTHON=$REPO/.venv/bin/python
"$PYTHON" -c 'import installer_env.kexec_network' || die "the project's .venv is not ready (scripts/dev test)"

# ---------------------------------------------------------------- guest kernel (cached)
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

modules_into() { # modules_into DIR MODULE... : the .ko files and their load order
  mkdir -p "$1/modules"
  local dir=$1
  shift
  for m in "$@"; do
    modprobe -d "$KTREE" -S "$KVER" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
  done | awk '!seen[$0]++' | while read -r ko; do
    cp "$ko" "$dir/modules/"
    basename "$ko" >>"$dir/modules/order"
  done
}
pack() { (cd "$1" && find . | cpio -o -H newc --quiet | gzip -1 >"$2"); }

# ---------------------------------------------------------------- first initrd: busybox + 9p/overlay
INITRD=$WORK/initrd-$KVER.gz
if [ ! -f "$INITRD" ] || [ "$0" -nt "$INITRD" ]; then
  ROOTFS=$(mktemp -d "$WORK/initrd.XXXXXX")
  mkdir -p "$ROOTFS"/{bin,proc,sys,dev,lower,rw,newroot}
  cp "$BUSYBOX" "$ROOTFS/bin/busybox"
  modules_into "$ROOTFS" virtio_pci 9pnet_virtio 9p overlay virtio_rng virtio_net
  cat >"$ROOTFS/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $(cat /modules/order); do insmod "/modules/$m"; done
fail() { echo "KEXEC-VM-RESULT: FAIL ($1)"; echo o >/proc/sysrq-trigger; sleep 10; }
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=262144 hostroot /lower || fail "9p root"
mount -t tmpfs -o size=60% tmpfs /rw && mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot || fail overlay
mkdir -p /newroot/mnt/out
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 out /newroot/mnt/out || fail "9p out"
for d in proc sys dev; do mount --move /$d /newroot/$d; done
exec switch_root /newroot /bin/bash /mnt/out/stage2
INIT
  chmod +x "$ROOTFS/init"
  pack "$ROOTFS" "$INITRD.tmp"
  mv "$INITRD.tmp" "$INITRD"
  rm -rf "$ROOTFS"
fi

# ---------------------------------------------------------------- the tarball the guest runs
# kexec/run and kexec/restore exactly as the image ships them; this machine's kexec and ip stand in
# for the static ones, its Debian kernel and the initrd below for the NixOS ones.
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
  ROOTFS=$(mktemp -d "$WORK/initrd2.XXXXXX")
  mkdir -p "$ROOTFS"/{bin,proc,sys,dev,out,sysroot}
  cp "$BUSYBOX" "$ROOTFS/bin/busybox"
  modules_into "$ROOTFS" virtio_pci 9pnet_virtio 9p
  cp "$REPO/nixos-module/kexec/restore" "$ROOTFS/restore"
  cp "$REPO/tests/vm/kexec-second-init" "$ROOTFS/init"
  printf 'PYTHON=%s\n' "$PYTHON" >"$ROOTFS/params"
  mkdir -p "$ROOTFS/host"
  chmod +x "$ROOTFS/init" "$ROOTFS/restore"
  pack "$ROOTFS" "$TARBALL/initrd"
  rm -rf "$ROOTFS"
fi

cp "$REPO/tests/vm/guest-kexec.sh" "$OUT/stage2"
printf 'REPO=%q\nPYTHON=%q\nSCENARIO=%q\nKVER=%q\nMODULES=%q\n' "$REPO" "$PYTHON" "$SCENARIO" "$KVER" "$MODULES" >"$OUT/params"

say "booting kernel $KVER (TCG, 2 cpus, $MEM MiB) for '$SCENARIO'; results in $OUT"
CONSOLE=$OUT/console.log
: >"$CONSOLE"
# Two NICs: eth0 on a restricted user network (static addresses, nothing dynamic: the saved state
# stays byte for byte the same), eth1 with the user network's DHCP and router advertisements.
qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m "$MEM" \
  -nodefaults -no-user-config -display none -no-reboot \
  -serial "file:$CONSOLE" \
  -kernel "$VMLINUZ" -initrd "$INITRD" \
  -append "console=ttyS0 panic=-1 quiet loglevel=3 rdinit=/init $APPEND" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  -virtfs local,path="$OUT",mount_tag=out,security_model=none \
  -netdev user,id=n0,restrict=on,ipv6=off -device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56 \
  -netdev user,id=n1,restrict=on,ipv6-prefix=2001:db8:5::,ipv6-prefixlen=64 \
  -device virtio-net-pci,netdev=n1,mac=52:54:00:ab:cd:ef \
  -device virtio-rng-pci \
  </dev/null >"$OUT/qemu.log" 2>&1 &
QEMU_PID=$!

deadline=$(( $(date +%s) + TIMEOUT ))
verdict=
# The guest writes its verdict to a file before it powers off (the console line can be cut by the
# kernel's own messages); the console is the fallback for failures before the share is mounted.
read_verdict() {
  if [ -s "$OUT/verdict" ]; then head -n 1 "$OUT/verdict"; return; fi
  grep -a -m1 -o 'KEXEC-VM-RESULT: [A-Z].*' "$CONSOLE" | tr -d '\r' || true
}
while kill -0 "$QEMU_PID" 2>/dev/null; do
  verdict=$(read_verdict)
  [ -n "$verdict" ] && break
  if [ "$(date +%s)" -ge "$deadline" ]; then say "guest did not finish within ${TIMEOUT}s"; break; fi
  sleep 0.5
done
for _ in $(seq 20); do kill -0 "$QEMU_PID" 2>/dev/null || break; sleep 0.25; done
cleanup
QEMU_PID=
verdict=$(read_verdict)

grep -a -E '^\[guest|^\[second|^KEXEC-VM|^kexec' "$CONSOLE" | tr -d '\r' | sed 's/^/  | /'
ln -sfn "$OUT" "$WORK/last-$SCENARIO"
ls -1dt "$WORK"/runs/* 2>/dev/null | tail -n +13 | xargs -r rm -rf # keep the last twelve runs
if [ "$verdict" = "KEXEC-VM-RESULT: PASS" ]; then
  say "PASS"
  exit 0
fi
say "FAIL: ${verdict:-no result from the guest}; console: $CONSOLE"
tail -n 40 "$CONSOLE" | tr -d '\r' | sed 's/^/  ! /'
exit 1
