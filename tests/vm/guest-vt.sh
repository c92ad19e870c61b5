#!/bin/bash
# Stage 2 of the VT VM test, PID 1 inside the guest: the network QEMU's user net gives (IPv4, a
# SLAAC global IPv6, link-local), sshd with fresh host keys, a tor of its own (offline: the onion
# address needs no network), then the agent that runs the screen on tty1 for the host
# (tests/vm/guest_vt_agent.py). Prints "VM-RESULT: PASS|FAIL (...)" and powers off.
# shellcheck source=tests/vm/guest-lib.sh
source /mnt/out/guest-lib.sh   # REPO PYTHON MODULES KVER, say/fail/finish/wait_for

on_fail() {
  [ -f "$OUT/tor.log" ] && { echo "----- tor.log"; tail -n 20 "$OUT/tor.log"; }
}
hostname vt-vm
dmesg -n 1   # nothing from the kernel on tty1 while the screen is on it
say "kernel $(uname -r), $(nproc) cpus, tty1 $(stty -F /dev/tty1 size)"

modprobe virtio_net || fail "modprobe virtio_net"
wait_for 10 "the network interface" test -e /sys/class/net/eth0
# The address QEMU's DHCP server would hand out; IPv6 comes from its router advertisements.
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0 || fail "IPv4 address"
ip route add default via 10.0.2.2 || fail "IPv4 route"
global6() { ip -6 addr show dev eth0 scope global | grep -q 'inet6 .* scope global'; }
wait_for 60 "a global IPv6 address from the router advertisement" global6

rm -f /etc/ssh/ssh_host_*
ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key || fail "ssh-keygen ed25519"
ssh-keygen -q -t ecdsa -N '' -f /etc/ssh/ssh_host_ecdsa_key || fail "ssh-keygen ecdsa"
mkdir -p /run/sshd
/usr/sbin/sshd -o HostKey=/etc/ssh/ssh_host_ed25519_key -o HostKey=/etc/ssh/ssh_host_ecdsa_key \
  || fail "sshd"

install -d -m 700 /run/tor /var/lib/tor-vm
tor --RunAsDaemon 1 --DataDirectory /var/lib/tor-vm --ControlSocket /run/tor/control \
  --SocksPort 0 --DisableNetwork 1 --Log "notice file $OUT/tor.log" >/dev/null || fail "tor"
wait_for 60 "tor's control socket" test -S /run/tor/control
say "network, sshd and tor up: $(ip -brief addr show dev eth0 | tr -s ' ')"

cd "$REPO" || fail "no repo at $REPO"
"$PYTHON" tests/vm/guest_vt_agent.py --out "$OUT" --repo "$REPO" || fail "agent failed (rc=$?)"
finish PASS
