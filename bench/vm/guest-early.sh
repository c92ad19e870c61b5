#!/bin/bash
# Stage 2 of the VT bench guest (bench/vt_vm.sh), PID 1 inside the guest: an address on the
# network QEMU's user net gives, sshd with fresh host keys, then bench/vm/vt_timing.py on tty1,
# for this tree and, with BEFORE set, for another tree of the project. Prints "VM-RESULT: ...".
# shellcheck source=tests/vm/guest-lib.sh
source /mnt/out/guest-lib.sh   # REPO PYTHON MODULES KVER RUNS BEFORE, say/fail/finish/wait_for

hostname vt-bench
dmesg -n 1   # nothing from the kernel on tty1 while the screen is on it
say "kernel $(uname -r), $(nproc) cpus, tty1 $(stty -F /dev/tty1 size)"
modprobe virtio_net || fail "modprobe virtio_net"
wait_for 10 "the network interface" test -e /sys/class/net/eth0
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0 || fail "IPv4 address"
rm -f /etc/ssh/ssh_host_*
ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key || fail "ssh-keygen"
mkdir -p /run/sshd
/usr/sbin/sshd -o HostKey=/etc/ssh/ssh_host_ed25519_key || fail "sshd"

cd "$REPO" || fail "no repo at $REPO"
# Once, untimed: the guest's page cache then holds Python and the libraries, as after a first run.
"$PYTHON" -c 'import textual.app, installer_env.cli' || fail "python"
if [ -n "$BEFORE" ]; then
  "$PYTHON" bench/vm/vt_timing.py --out "$OUT" --runs "$RUNS" --label before --pythonpath "$BEFORE" \
    || fail "timing (before)"
fi
"$PYTHON" bench/vm/vt_timing.py --out "$OUT" --runs "$RUNS" --label after || fail "timing"
finish PASS
