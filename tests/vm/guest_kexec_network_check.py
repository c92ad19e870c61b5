"""In the networkd guest: is the network systemd-networkd set up from our units the one saved before?

    guest_kexec_network_check.py SAVED-DIR STATIC-IFACE DHCP-IFACE

Exit 0 when the static interface has the same global addresses and the same routes (kernel ones
included) as saved, and the DHCP interface got its old IPv4 lease again plus a SLAAC address.
Prints the difference otherwise. Runs with the project's .venv Python, inside the guest.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

CONFIGURED = {"boot", "static"}  # networkd's routes are "static", `ip route add`'s are "boot"


def addresses(links: list[dict[str, Any]], name: str) -> tuple[set[str], set[str]]:
    """(static, dynamic) global addresses of one interface."""
    static: set[str] = set()
    dynamic: set[str] = set()
    for link in links:
        if link["ifname"] != name:
            continue
        for a in link.get("addr_info", []):
            if a.get("scope") != "global":
                continue
            text = f"{a['local']}/{a['prefixlen']}" + (f" peer {a['address']}" if "address" in a else "")
            (dynamic if a.get("dynamic") else static).add(text)
    return static, dynamic


def routes(table: list[dict[str, Any]], name: str) -> set[str]:
    out = set()
    for r in table:
        if r.get("dev") != name:
            continue
        proto = r.get("protocol", "boot")
        proto = "configured" if proto in CONFIGURED else proto
        gateway = r.get("gateway") or (r.get("via") or {}).get("host")
        onlink = "onlink" in r.get("flags", [])
        out.add(f"{r['dst']} via={gateway} onlink={onlink} metric={r.get('metric')} proto={proto}")
    return out


def current(args: list[str]) -> Any:
    return json.loads(subprocess.run(["ip", "-json", *args], capture_output=True, check=True).stdout)


def main() -> int:
    saved, static_if, dhcp_if = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    before = json.loads((saved / "addrs.json").read_text())
    now = current(["addr"])
    problems = []
    if addresses(now, static_if) != (addresses(before, static_if)[0], set()):
        problems.append(
            f"{static_if} addresses: {addresses(now, static_if)} != {addresses(before, static_if)}"
        )
    for family, file in (("-4", "routes-v4.json"), ("-6", "routes-v6.json")):
        was = routes(json.loads((saved / file).read_text()), static_if)
        got = routes(current([family, "route"]), static_if)
        if was != got:
            problems.append(f"{static_if} {family} routes: missing {was - got}, extra {got - was}")
    _, dynamic = addresses(now, dhcp_if)
    if "10.0.2.15/24" not in dynamic:
        problems.append(f"{dhcp_if}: no DHCP lease 10.0.2.15/24 again: {dynamic}")
    if not any(a.startswith("2001:db8:5:") for a in dynamic):
        problems.append(f"{dhcp_if}: no SLAAC address from the router advertisement: {dynamic}")
    print("\n".join(problems) or "same network as before")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
