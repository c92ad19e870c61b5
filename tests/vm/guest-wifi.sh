#!/bin/bash
# Stage 2 of the Wi-Fi VM test, PID 1 inside the guest: radios, system bus, access points, iwd,
# then the project's client checks. Prints "VM-RESULT: PASS|FAIL (...)" and powers off.
# shellcheck source=tests/vm/guest-lib.sh
source /mnt/out/guest-lib.sh   # REPO PYTHON MODULES KVER BENCH DEBUG, say/fail/finish/wait_for

on_fail() {
  for f in iwd.log hostapd-*.log dbus.log; do
    [ -f "$OUT/$f" ] && { echo "----- $f"; tail -n 30 "$OUT/$f"; }
  done
}
hostname wifi-vm
say "kernel $(uname -r), $(nproc) cpus"

# Four radios: phy0/wlan0 for iwd, wlan1-3 for the access points.
modprobe mac80211_hwsim radios=4 || fail "modprobe mac80211_hwsim"
wait_for 10 "four wlan interfaces" test -e /sys/class/net/wlan3

# D-Bus activation would start a second iwd that takes every radio, the access points' too.
rm -f /usr/share/dbus-1/system-services/net.connman.iwd.service
mkdir -p /run/dbus
dbus-daemon --system --fork --nopidfile >$OUT/dbus.log 2>&1 || fail "dbus-daemon"
wait_for 10 "the system bus" test -S /run/dbus/system_bus_socket

# Access points: a WPA2 network, an open one whose name is hostile (markup, an ESC sequence,
# shell syntax; written as hex so no layer in between can interpret it), and a hidden WPA2 one.
ap() {  # ap IFACE NAME SSID-LINE SECURITY-LINES...
  local iface=$1 name=$2 ssid=$3
  shift 3
  {
    echo "interface=$iface"; echo "driver=nl80211"; echo "ctrl_interface=/run/hostapd-$name"
    echo "hw_mode=g"; echo "channel=6"; echo "$ssid"
    printf '%s\n' "$@"
  } >/run/hostapd-$name.conf
  local dbg=; [ "$DEBUG" = 1 ] && dbg=-dd
  hostapd -B -t $dbg -f $OUT/hostapd-$name.log -P /run/hostapd-$name.pid /run/hostapd-$name.conf \
    || fail "hostapd $name"
}
WPA=(wpa=2 wpa_key_mgmt=WPA-PSK rsn_pairwise=CCMP "wpa_passphrase=correct horse battery")
ap wlan1 wpa "ssid=installer-test" "${WPA[@]}"
ap wlan2 hostile "ssid2=$(printf '[bold]x[/]\033[31m$(reboot)' | od -An -tx1 | tr -d ' \n')"
ap wlan3 hidden "ssid=attic" ignore_broadcast_ssid=1 "${WPA[@]}"
enabled() { for n in wpa hostile hidden; do
  hostapd_cli -p /run/hostapd-$n status 2>/dev/null | grep -q '^state=ENABLED' || return 1; done; }
wait_for 30 "access points enabled" enabled

mkdir -p /var/lib/iwd /etc/iwd
mount -t tmpfs tmpfs /var/lib/iwd
cat >/etc/iwd/main.conf <<CONF
[General]
EnableNetworkConfiguration=false
[Scan]
DisablePeriodicScan=true
CONF
idbg=; [ "$DEBUG" = 1 ] && idbg=-d
/usr/libexec/iwd -p phy0 $idbg >$OUT/iwd.log 2>&1 &
IWD_PID=$!
say "radios, bus, access points and iwd started"

cd "$REPO" || fail "no repo at $REPO"
"$PYTHON" tests/vm/guest_wifi_check.py --out $OUT/result.json --bench "$BENCH" || fail "client checks failed (rc=$?)"
kill -0 $IWD_PID || fail "iwd exited"
finish PASS
