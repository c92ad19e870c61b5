#!/usr/bin/env bash
# The real Wi-Fi test: a qemu (TCG) guest with mac80211_hwsim radios, hostapd access points, the
# real dbus-daemon and iwd, and this project's own Wi-Fi client (tests/vm/guest_wifi_check.py).
# The guest itself (kernel, initrd, this machine's root over 9p) comes from tests/vm/lib.sh.
# Exit code 0 = every check passed; the report is in .work/wifi-vm/last/result.json.
#
#   tests/vm/run-wifi-vm.sh            run the checks (about a minute)
#   WIFI_VM_BENCH=5 tests/vm/run-wifi-vm.sh   also time 5 connects: our client vs iwctl
#
# Environment: WIFI_VM_WORK (results, default .work/wifi-vm), WIFI_VM_TIMEOUT (s, 240),
# VM_MEM (MiB, 768), VM_CPUS (2), WIFI_VM_DEBUG=1 (iwd -d, hostapd -dd).
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
source "$(dirname "$0")/lib.sh"
VM_WORK=${WIFI_VM_WORK:-} vm_init wifi-vm
TIMEOUT=${WIFI_VM_TIMEOUT:-240}
BENCH=${WIFI_VM_BENCH:-0}
DEBUG=${WIFI_VM_DEBUG:-0}

vm_require dbus-daemon hostapd iwctl
[ -x /usr/libexec/iwd ] || die "missing /usr/libexec/iwd (apt-get install iwd)"
"$PYTHON" -c 'import dbus_fast, installer_env.wifi' || die "the project's .venv is not ready (scripts/dev test)"
vm_kernel
vm_initrd
vm_stage2 "$REPO/tests/vm/guest-wifi.sh" BENCH DEBUG
vm_start "console=ttyS0" -display none
vm_wait_result "$TIMEOUT"
say "result file: $OUT/result.json"
vm_finish
