"""Two views of a snapshot: stable JSON for scripts, plain text for serial consoles and humans."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from installer_env import network, qr, tor
from installer_env.session import Snapshot
from installer_env.state import PasswordState
from installer_env.textsafe import literal

SCHEMA = 1


def to_dict(snap: Snapshot, qr_max_addrs: int = qr.DEFAULT_MAX_ADDRS) -> dict[str, Any]:
    """The `status --json` document. Keys are stable; new keys may be added, none removed."""
    ssh = snap.ssh
    return {
        "schema": SCHEMA,
        "hostname": snap.hostname,
        "mdns_name": snap.mdns_name,
        "password": asdict(snap.password) if snap.password else None,
        "password_problem": snap.password_problem,
        "ssh": {
            "installed": ssh.installed,
            "running": ssh.running,
            "listening": ssh.listening,
            "port": ssh.port,
            "host_keys": [asdict(k) for k in ssh.host_keys],
            "problems": list(ssh.problems),
        },
        "network": _network_dict(snap),
        "wifi": _wifi_dict(snap),
        "tor": _tor_dict(snap),
        "qr": _qr_dict(qr.for_snapshot(snap, qr_max_addrs)),
    }


def _network_dict(snap: Snapshot) -> dict[str, Any] | None:
    if snap.network is None:
        return None
    interfaces = []
    for interface in snap.network.interfaces:
        entry = asdict(interface)
        entry["hardware"]["description"] = interface.hardware.description
        interfaces.append(entry)
    return {"interfaces": interfaces, "offered": list(snap.network.offered), "problem": snap.network.problem}


def _wifi_dict(snap: Snapshot) -> dict[str, Any] | None:
    wifi = snap.wifi
    if wifi is None:
        return None
    connected = wifi.connected
    return {
        "problem": wifi.problem,
        "problem_kind": str(wifi.problem_kind) if wifi.problem_kind else None,
        "connected_ssid": connected.ssid if connected else None,
        "devices": [
            {
                "name": d.name,
                "address": d.address,
                "powered": d.powered,
                "adapter": d.adapter,
                "adapter_powered": d.adapter_powered,
                "mode": d.mode,
                "state": d.state,
                "scanning": d.scanning,
                "connected_ssid": d.connected_ssid,
                "networks": [
                    {
                        "ssid": n.ssid,
                        "security": n.security,
                        "signal_dbm": n.signal_dbm,
                        "bars": n.bars,
                        "connected": n.connected,
                        "known": n.known,
                    }
                    for n in d.networks
                ],
            }
            for d in wifi.devices
        ],
        "known_networks": [
            {"ssid": k.ssid, "security": k.security, "hidden": k.hidden, "last_connected": k.last_connected}
            for k in wifi.known_networks
        ],
    }


def _tor_dict(snap: Snapshot) -> dict[str, Any] | None:
    t = snap.tor
    if t is None:
        return None
    return {
        "reachable": t.reachable,
        "mode": t.mode,
        "control": t.control,
        "bootstrap_percent": t.bootstrap_percent,
        "bootstrap_phase": t.bootstrap_phase,
        "onion_address": t.onion_address,
        "published": t.published,
        "service_added": t.service_added,
        "error": t.error,
    }


def _qr_dict(code: qr.QrCode) -> dict[str, Any]:
    return {
        "payload": code.payload,
        "version": code.version,
        "modules": code.modules,
        "error_correction": code.error_correction,
        "addrs": list(code.addrs),
        "omitted_addrs": code.omitted_addrs,
    }


def to_json(snap: Snapshot, qr_max_addrs: int = qr.DEFAULT_MAX_ADDRS) -> str:
    return json.dumps(to_dict(snap, qr_max_addrs), indent=2, ensure_ascii=True)


def _labelled(label: str, lines: list[str]) -> list[str]:
    """`label` in the left column of the first line, the others indented to match."""
    return [f"{label if i == 0 else '':<13}{line}" for i, line in enumerate(lines)]


def _password_lines(snap: Snapshot) -> list[str]:
    return password_lines(snap.password, snap.password_problem, snap.rotation_problem)


def password_lines(
    pw: PasswordState | None, password_problem: str | None, rotation_problem: str | None
) -> list[str]:
    """The password, or why there is none, and why this login made no new one: the snapshot's
    three password fields (also written on their own before the first snapshot, see console.py)."""
    failed = [f"             ! no new password: {literal(rotation_problem)}"] if rotation_problem else []
    if pw is None:
        if failed:  # the reason this login made none says more than "no password yet"
            return ["Password     (none)", *failed]
        return [f"Password     (none) {literal(password_problem or '')}".rstrip()]
    # The state file is trusted less than our own code: every field is shown literally.
    lines = [f"Password     {literal(pw.password)}"]
    detail = (
        f"{pw.words} words, {pw.entropy_bits:g} bits, generation {pw.generation}, {literal(pw.rotated_at)}"
    )
    if pw.applied:
        lines.append(f"             set for {literal(pw.user)}; {detail}")
    else:
        lines.append(f"             NOT APPLIED - {literal(pw.note)}")
        lines.append(f"             {detail}")
    return lines + failed


def _ssh_lines(snap: Snapshot) -> list[str]:
    ssh = snap.ssh
    if not ssh.installed:
        state = "not installed"
    elif ssh.listening:
        state = f"listening on port {ssh.port}"
    elif ssh.running:
        state = f"running, not listening on port {ssh.port}"
    else:
        state = "not running"
    lines = [f"SSH          {state}"]
    lines += [f"             {k.type} {k.bits} {k.fingerprint}" for k in ssh.host_keys]
    lines += [f"             ! {literal(p)}" for p in ssh.problems]
    return lines


def _network_lines(snap: Snapshot) -> list[str]:
    net = snap.network
    if net is None:
        return []
    if net.problem is not None:
        return _labelled("Network", [f"! {literal(net.problem)}"])
    lines = []
    for interface in net.interfaces:
        if interface.loopback:
            continue
        parts = [interface.state, "carrier" if interface.carrier else "no carrier"]
        parts += [literal(interface.mac)] if interface.mac else []
        parts += ["wireless"] if interface.wireless else []
        parts.append(literal(interface.hardware.description))
        lines.append(f"{literal(interface.name)}  {', '.join(parts)}")
        for address in interface.addresses:
            why = network.why_not_offered(interface, address)
            lines.append(f"  {address.address}/{address.prefixlen}" + (f" ({why})" if why else ""))
    if not lines:
        lines = ["(no network interfaces)"]
    return _labelled("Network", lines)


def _wifi_lines(snap: Snapshot) -> list[str]:
    wifi = snap.wifi
    if wifi is None:
        return []
    if wifi.problem is not None:
        return _labelled("Wi-Fi", [f"! {literal(wifi.problem)}"])
    lines = []
    for dev in wifi.devices:
        where = f"{literal(dev.name)} ({literal(dev.adapter)})"
        if dev.connected_ssid is not None and dev.state == "connected":
            lines.append(f"connected to {literal(dev.connected_ssid)} on {where}")
        elif dev.state == "off":
            lines.append(f"{where} switched off")
        else:
            lines.append(f"{where} {literal(dev.state)}, {len(dev.networks)} networks in range")
    return _labelled("Wi-Fi", lines)


def _onion(snap: Snapshot) -> str | None:
    """The onion address as the QR code carries it, or None while there is no valid one."""
    return qr.onion_host(snap.tor.onion_address if snap.tor else None)


def _tor_lines(snap: Snapshot) -> list[str]:
    t = snap.tor
    if t is None:
        return []
    via = "own tor" if t.mode == tor.MODE_LAUNCHED else "system tor"
    if t.reachable:
        state = f"{via}, bootstrapped {t.bootstrap_percent}%"
        state += f" ({literal(t.bootstrap_phase)})" if t.bootstrap_phase else ""
        state += ", published" if t.published else ", not published yet"
    else:
        state = f"{via} not reachable"
    address = _onion(snap)
    lines = [f"Tor          {address or '(no onion address yet)'}", f"             {state}"]
    if t.error:
        lines.append(f"             ! {literal(t.error)}")
    return lines


def _login_lines(snap: Snapshot, user: str) -> list[str]:
    port = f"-p {snap.ssh.port} " if snap.ssh.port_known and snap.ssh.port != 22 else ""
    hosts = list(snap.network.offered) if snap.network is not None else []
    if snap.mdns_name:
        hosts.append(literal(snap.mdns_name))
    if not hosts:
        return [f"Log in with: ssh {port}{user}@<address> (no address yet)"]
    return _labelled("Log in with:", [f"ssh {port}{user}@{host}" for host in hosts])


def essentials(snap: Snapshot) -> str:
    """The title, the password and the ssh logins: what a person at the console waits for, written
    on a slow VT before the screen is ready (see console.py)."""
    pw = snap.password
    user = literal(pw.user) if pw else "root"
    lines = [title(snap.hostname, snap.mdns_name), "", *_password_lines(snap), "", *_login_lines(snap, user)]
    return "\n".join(lines) + "\n"


def title(hostname: str, mdns_name: str | None) -> str:
    name = literal(hostname)
    if mdns_name:
        name += f" ({literal(mdns_name)})"
    return f"installer-env on {name}"


def to_text(snap: Snapshot) -> str:
    pw = snap.password
    user = literal(pw.user) if pw else "root"
    lines = [title(snap.hostname, snap.mdns_name), ""]
    lines += _password_lines(snap)
    lines += _ssh_lines(snap)
    lines += _network_lines(snap)
    lines += _wifi_lines(snap)
    lines += _tor_lines(snap)
    lines += ["", *_login_lines(snap, user)]
    if (address := _onion(snap)) and snap.tor is not None and snap.tor.service_added:
        # On its own line: at 78 characters it just fits an 80-column serial console.
        lines += ["Over Tor, from anywhere:", f"torify ssh {user}@{address}"]
    return "\n".join(lines) + "\n"
