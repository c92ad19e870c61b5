#!/bin/bash
# Stage 2 of the kexec VM tests, PID 1 inside the guest (see run-kexec-vm.sh). Writes one
# "PASS|FAIL name: detail" line per check to $OUT/result.txt and its verdict, then powers off (the
# kexec scenario ends in the second kernel instead, see kexec-second-init).
# shellcheck source=tests/vm/guest-lib.sh
source /mnt/out/guest-lib.sh # REPO PYTHON MODULES KVER SCENARIO, say/fail/finish/wait_for
RESULTS=$OUT/result.txt
# shellcheck source=tests/vm/guest-checks.sh
source $OUT/guest-checks.sh # check, checks_verdict

on_fail() { echo "FAIL setup: $1" >>"$RESULTS"; }
verdict() { finish "$(checks_verdict)"; }

iface_by_mac() {
  local d
  for d in /sys/class/net/*; do
    [ "$(cat "$d/address")" = "$1" ] && { basename "$d"; return 0; }
  done
  return 1
}

hostname kexec-vm
: >"$RESULTS"
say "kernel $(uname -r), $(nproc) cpus, $(awk '/MemTotal/ {print $2}' /proc/meminfo) kB"
A=$(iface_by_mac 52:54:00:12:34:56) || fail "no interface with MAC 52:54:00:12:34:56"
B=$(iface_by_mac 52:54:00:ab:cd:ef) || fail "no interface with MAC 52:54:00:ab:cd:ef"

static_network() { # the static shapes of the issue on $A
  sysctl -qw "net.ipv6.conf.$A.accept_ra=0"
  ip link set "$A" up
  ip addr add 192.0.2.10/24 dev "$A"
  ip addr add 192.0.2.11/24 dev "$A"
  ip addr add 198.51.100.7/32 peer 198.51.100.1 dev "$A"
  ip addr add 2001:db8:1::10/64 dev "$A" nodad
  ip addr add 2001:db8:2::10/64 dev "$A" noprefixroute nodad
  ip route add default via 192.0.2.1 dev "$A" metric 100
  ip route add 203.0.113.0/24 via 172.31.1.1 dev "$A" onlink
  ip route add 198.18.0.0/15 via inet6 fe80::1 dev "$A"
  ip route add 10.20.0.0/16 dev "$A" scope link
  ip -6 route add default via fe80::1 dev "$A" metric 512
  ip -6 route add 2001:db8:99::/48 via 2001:db8:1::1 dev "$A"
}
dump_network() { # dump_network DIR: what kexec/run saves
  mkdir -p "$1"
  ip --details --json addr >"$1/addrs.json"
  ip -4 --json route >"$1/routes-v4.json"
  ip -6 --json route >"$1/routes-v6.json"
}

# ====================================================================== networkd
if [ "$SCENARIO" = networkd ]; then
  static_network
  # A VLAN on $A (not recreated: it must be listed as such).
  modprobe 8021q && ip link add link "$A" name vlan7 type vlan id 7 && ip link set vlan7 up \
    && ip addr add 10.77.0.2/24 dev vlan7
  # $B as a DHCP client leaves it: a dynamic IPv4 lease and SLAAC addresses from the RA.
  ip link set "$B" up
  ip addr add 10.0.2.15/24 dev "$B" valid_lft 3600 preferred_lft 3600
  wait_for 30 "a SLAAC address on $B" sh -c "ip -6 -j addr show dev $B scope global | grep -q 2001:db8:5"
  SAVED=/run/saved
  dump_network $SAVED
  cp -r $SAVED $OUT/saved
  say "generating units"
  "$PYTHON" -m installer_env restore-network --from $SAVED --to /run/systemd/network >$OUT/restore-network.txt 2>&1 \
    || fail "restore-network: $(cat $OUT/restore-network.txt)"
  cp -r /run/systemd/network $OUT/units
  # A fresh boot: nothing configured, interfaces down, then the real networkd applies the units.
  ip link del vlan7 2>/dev/null
  for i in "$A" "$B"; do
    ip link set "$i" down
    ip addr flush dev "$i"
    ip route flush dev "$i" 2>/dev/null
    ip -6 route flush dev "$i" 2>/dev/null
  done
  sysctl -qw "net.ipv6.conf.$A.accept_ra=1"
  compare() { "$PYTHON" "$REPO/tests/vm/guest_kexec_network_check.py" "$SAVED" "$A" "$B" >$OUT/compare.txt 2>&1; }
  not() { ! "$@"; }
  check flushed "before networkd runs, the comparison sees the network gone" not compare
  # No udevd here: a read-only /sys tells networkd not to wait for it (as in a container).
  mount -o remount,ro /sys
  mkdir -p /run/systemd
  say "starting systemd-networkd"
  SYSTEMD_LOG_LEVEL=info /lib/systemd/systemd-networkd >$OUT/networkd.log 2>&1 &
  until=$(($(date +%s) + 90))
  until compare; do
    [ "$(date +%s)" -ge "$until" ] && break
    sleep 1
  done
  check networkd_restored "addresses and routes on $A as before, DHCP lease and SLAAC on $B" compare
  check vlan_listed "the VLAN is reported as not recreated" grep -q 'vlan7: VLAN on' $OUT/restore-network.txt
  dump_network $OUT/after
  verdict
fi

# ====================================================================== the tarball in /root
mount -t tmpfs -o mode=700 tmpfs /root
mount -t tmpfs -o mode=755 tmpfs /home
cp -r $OUT/kexec /root/kexec
ORIGINAL_INITRD=$(sha256sum </root/kexec/initrd)
nothing_changed() {
  [ "$(sha256sum </root/kexec/initrd)" = "$ORIGINAL_INITRD" ] && [ "$(cat /sys/kernel/kexec_loaded)" = 0 ]
}
refused() { # refused RC TEXT: the last run exited RC and said TEXT
  [ "$(cat /run/rc)" = "$1" ] && grep -q "$2" /run/out
}

if [ "$SCENARIO" = refusals ]; then
  for sh in dash "busybox sh"; do
    $sh /root/kexec/run >/run/out 2>&1
    echo $? >/run/rc
    check "too_little_ram_${sh// /_}" "exit 3, says 1 GB, nothing changed ($(head -c 200 /run/out))" \
      sh -c 'grep -q "^3$" /run/rc && grep -q "at least 1 GB of RAM" /run/out'
    check "too_little_ram_nothing_changed_${sh// /_}" "initrd and kexec state unchanged" nothing_changed
  done
  # Not root: a copy the unprivileged user can read.
  cp -r /root/kexec /run/kexec-nobody && chmod -R a+rX /run/kexec-nobody
  setpriv --reuid=65534 --regid=65534 --clear-groups dash /run/kexec-nobody/run >/run/out 2>&1
  echo $? >/run/rc
  check not_root "exit 1, says so ($(head -c 200 /run/out))" refused 1 "must run as root"
  # A tarball for another architecture.
  cp -r /root/kexec /run/kexec-arm && sed -i "s/^ARCH='x86_64'/ARCH='aarch64'/" /run/kexec-arm/run
  dash /run/kexec-arm/run >/run/out 2>&1
  echo $? >/run/rc
  check wrong_architecture "exit 4, names both ($(head -c 200 /run/out))" refused 4 "for aarch64, this machine is x86_64"
  rm /run/kexec-arm/bzImage && sed -i "s/^ARCH='aarch64'/ARCH='x86_64'/" /run/kexec-arm/run
  dash /run/kexec-arm/run >/run/out 2>&1
  echo $? >/run/rc
  check incomplete_tarball "exit 5 ($(head -c 200 /run/out))" refused 5 "bzImage is missing"
  check refusals_nothing_changed "initrd and kexec state unchanged" nothing_changed
  verdict
fi

if [ "$SCENARIO" = lockdown ]; then
  mount -t securityfs securityfs /sys/kernel/security
  say "lockdown: $(cat /sys/kernel/security/lockdown)"
  busybox sh /root/kexec/run >/run/out 2>&1
  echo $? >/run/rc
  check lockdown "exit 2, says locked down ($(head -c 300 /run/out))" refused 2 "locked down"
  check lockdown_nothing_changed "initrd and kexec state unchanged" nothing_changed
  # Without securityfs run cannot see the lockdown: then the kernel refuses `kexec -l`, and run
  # passes on the kernel's reason from dmesg.
  umount /sys/kernel/security
  dash /root/kexec/run >/run/out 2>&1
  echo $? >/run/rc
  cp /run/out $OUT/kexec-l-failure.txt
  check kexec_load_failure "exit 2 with the kernel's reason ($(head -c 600 /run/out))" \
    sh -c 'grep -qx 2 /run/rc && grep -q "kexec -l failed" /run/out && grep -qi "lockdown" /run/out'
  check kexec_load_failure_nothing_changed "initrd and kexec state unchanged" nothing_changed
  verdict
fi

# ====================================================================== kexec, end to end
[ "$SCENARIO" = kexec ] || fail "unknown scenario $SCENARIO"
static_network
T=/run/kexec-test
mkdir -p $T /run/sshd $OUT/expected/ssh $OUT/expected/network
# Throwaway host keys (the overlay hides this machine's own), machine-id, users and their keys.
rm -f /etc/ssh/ssh_host_*
ssh-keygen -q -t ed25519 -N '' -C '' -f /etc/ssh/ssh_host_ed25519_key
ssh-keygen -q -t ecdsa -N '' -C '' -f /etc/ssh/ssh_host_ecdsa_key
ssh-keygen -q -t ed25519 -N '' -C test-client -f $T/client
ssh-keygen -q -t ed25519 -N '' -C sudo-user -f $T/sudo_user
head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >/etc/machine-id && echo >>/etc/machine-id
echo 'kexectest:x:4242:4242::/home/kexectest:/bin/sh' >>/etc/passwd
mkdir -p /root/.ssh /home/kexectest/.ssh /etc/ssh/authorized_keys.d
cat $T/client.pub >/root/.ssh/authorized_keys
printf 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKexecTestKeyTwoWithoutFinalNewline2 second' >/root/.ssh/authorized_keys2
cp $T/sudo_user.pub /home/kexectest/.ssh/authorized_keys
echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKexecTestKeyFromAuthorizedKeysDRoot root.d' >/etc/ssh/authorized_keys.d/root
echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKexecTestKeyFromAuthorizedKeysDUser user.d' >/etc/ssh/authorized_keys.d/kexectest
chmod 700 /root/.ssh && chmod 600 /root/.ssh/*
# What the second kernel must find, byte for byte.
cp /etc/ssh/ssh_host_* $OUT/expected/ssh/
cp /etc/machine-id $OUT/expected/machine-id
{
  cat /root/.ssh/authorized_keys
  cat /root/.ssh/authorized_keys2 && echo
  cat /etc/ssh/authorized_keys.d/root
  cat /home/kexectest/.ssh/authorized_keys
  cat /etc/ssh/authorized_keys.d/kexectest
} >$OUT/expected/authorized_keys
cat >$T/sshd_config <<EOF
Port 22
ListenAddress 127.0.0.1
HostKey /etc/ssh/ssh_host_ed25519_key
HostKey /etc/ssh/ssh_host_ecdsa_key
PermitRootLogin prohibit-password
AuthorizedKeysFile .ssh/authorized_keys
UsePAM no
StrictModes yes
PidFile /run/sshd.pid
EOF
/usr/sbin/sshd -f $T/sshd_config -E $OUT/sshd.log || fail "sshd did not start"
wait_for 30 "sshd on 127.0.0.1:22" sh -c 'ss -Hltn "sport = :22" | grep -q LISTEN'
dump_network $OUT/expected/network
say "ssh root@127.0.0.1 dash /root/kexec/run"
echo "$ORIGINAL_INITRD" >$OUT/initrd.sha256
# The kexec comes 6 s after the line whatever this guest is doing: what the first kernel must show
# after run is read inside the session, right after run returns, and judged by the second kernel.
timeout 120 ssh -n -i $T/client -o BatchMode=yes -o StrictHostKeyChecking=accept-new \
  -o UserKnownHostsFile=$T/known_hosts root@127.0.0.1 \
  'SUDO_USER=kexectest dash /root/kexec/run; rc=$?
   echo "loaded=$(cat /sys/kernel/kexec_loaded) initrd=$(sha256sum </root/kexec/initrd)"; exit $rc' \
  >$OUT/ssh.out 2>$OUT/ssh.err
echo $? >$OUT/ssh.rc
sync
say "ssh returned $(cat $OUT/ssh.rc): $(cat $OUT/ssh.out)"
sync
# The second kernel takes over from here (kexec-second-init); if it does not come, say so.
sleep 40
fail "still in the first kernel 40 s after run"
