"""Two views of a presentation: stable JSON for scripts, plain text for serial consoles and humans.

Both render a `presentation.Presentation` (the words) and, for the raw values scripts want, the
snapshot it was made from; neither derives a fact of its own.
"""

from __future__ import annotations

import json
import types
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from installer_env import kexec, qr
from installer_env.password_text import labelled, password_lines
from installer_env.presentation import Presentation, Viewer
from installer_env.session import Snapshot
from installer_env.wording import present

if TYPE_CHECKING:
    from installer_env.config import Config

SCHEMA = 1


@dataclass(frozen=True)
class Terminal:
    """Where `status` prints: the QR code under the text is fitted to it."""

    columns: int
    rows: int
    half_blocks: bool
    colour: bool

    @classmethod
    def from_facts(cls, facts: dict[str, Any]) -> Terminal:
        """From `statussocket.terminal_facts` (taken where `status` runs, possibly another process)."""
        environ = {"TERM": str(facts.get("term") or "")}
        stream = types.SimpleNamespace(encoding=facts.get("encoding"))
        return cls(
            columns=max(int(facts.get("columns") or 0), 1),
            rows=max(int(facts.get("rows") or 0), 1),
            half_blocks=qr.terminal_shows_half_blocks(stream, environ),  # type: ignore[arg-type]
            colour=qr.terminal_shows_colour(environ),
        )


def output(snap: Snapshot, config: Config, as_json: bool, terminal: Terminal | None) -> str:
    """All that `installer-env status` prints: the JSON document, or the text with the QR code
    under it when printing to a terminal."""
    p = present(snap, Viewer.STATUS, qr_max_addrs=config.qr_max_addrs)
    if as_json:
        return json.dumps(document(p, snap), indent=2, ensure_ascii=True) + "\n"
    result = text(p)
    if terminal is not None:
        result += qr_block(p, terminal.columns, terminal.rows, not terminal.half_blocks, terminal.colour)
    return result


def to_dict(snap: Snapshot, qr_max_addrs: int = qr.DEFAULT_MAX_ADDRS) -> dict[str, Any]:
    """The `status --json` document (docs/status.schema.json). Keys are stable; new keys may be
    added, none removed."""
    return document(present(snap, Viewer.STATUS, qr_max_addrs=qr_max_addrs), snap)


def document(p: Presentation, snap: Snapshot) -> dict[str, Any]:
    ssh = snap.ssh
    fitted = p.fit_qr()  # no space limit: the code as `installer-env qr` prints it to a file
    assert isinstance(fitted, qr.Fitted)  # nothing is too small for no limit
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
        "login": {
            "ssh": [c.text for c in p.logins],
            "torify": p.tor.login.text if p.tor is not None and p.tor.login is not None else None,
        },
        "problems": list(p.problems),
        "qr": _qr_dict(fitted),
        "kexec": _kexec_dict(snap.kexec),
    }


def _kexec_dict(boot: kexec.KexecBoot | None) -> dict[str, Any] | None:
    if boot is None:
        return None
    return {
        "restored": [asdict(f) for f in boot.files],
        "network": None
        if boot.network is None
        else {
            "restored": [asdict(r) for r in boot.network.restored],
            "skipped": [asdict(s) for s in boot.network.skipped],
        },
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
        "waiting_for_system": t.waiting_for_system,
        "error": t.error,
    }


def _qr_dict(fitted: qr.Fitted) -> dict[str, Any]:
    code = fitted.code
    return {
        "payload": code.payload,
        "version": code.version,
        "modules": code.modules,
        "error_correction": code.error_correction,
        "addrs": list(code.addrs),
        "omitted_addrs": fitted.omitted,
    }


def to_json(snap: Snapshot, qr_max_addrs: int = qr.DEFAULT_MAX_ADDRS) -> str:
    return json.dumps(to_dict(snap, qr_max_addrs), indent=2, ensure_ascii=True)


def _ssh_lines(p: Presentation) -> list[str]:
    ssh = p.ssh
    lines = [ssh.state.text]
    lines += [f"{k.type} {k.bits} {k.fingerprint}" for k in ssh.keys]
    lines += [f"! {problem}" for problem in ssh.problems]
    return labelled("SSH", lines)


def _tor_lines(p: Presentation) -> list[str]:
    t = p.tor
    if t is None:
        return []
    lines = [t.onion or "(no onion address yet)", f"{t.via}, {t.state.text}"]
    if t.error:
        lines.append(f"! {t.error}")
    return labelled("Tor", lines)


def _login_lines(p: Presentation) -> list[str]:
    lines = []
    if p.logins_note is not None:
        lines.append(f"({p.logins_note.text})")
    lines += [c.text for c in p.logins]
    lines = labelled("Log in with:", lines)
    if p.tor is not None and p.tor.login is not None:
        # On its own line: at 78 characters it just fits an 80-column serial console.
        lines += ["Over Tor, from anywhere:", p.tor.login.text]
    return lines


def text(p: Presentation) -> str:
    """The status as text: what `status` prints, and plain mode above its QR code."""
    lines = [p.title, ""]
    lines += password_lines(p.password)
    lines += _ssh_lines(p)
    lines += labelled("Network", p.network_lines)
    lines += labelled("Wi-Fi", p.wifi.lines) if p.wifi is not None else []
    lines += _tor_lines(p)
    lines += labelled("Kexec", p.kexec_lines)
    lines += ["", *_login_lines(p)]
    return "\n".join(lines) + "\n"


def essentials(p: Presentation) -> str:
    """The title, the password and the ssh logins: what a person at the console waits for, written
    on the VT before the screen is ready (see console.early_text)."""
    lines = [p.title, "", *password_lines(p.password), "", *_login_lines(p)]
    return "\n".join(lines) + "\n"


def to_text(snap: Snapshot) -> str:
    return text(present(snap, Viewer.STATUS))


def qr_block(p: Presentation, columns: int, rows: int, ascii_only: bool, colour: bool) -> str:
    """The QR code under the status text, fitted to a terminal by the one rule (`qr.fit`), and
    its caption; or a line saying why there is none. Empty when there is no password to scan."""
    if not p.scannable:
        return ""
    fitted = p.fit_qr(columns, rows - 1, ascii_only)  # one row for the caption
    if isinstance(fitted, qr.TooSmall):
        return (
            f"\nQR code: needs {fitted.columns}x{fitted.rows + 1} characters; this terminal has "
            f"{columns}x{rows} (enlarge it, or run installer-env qr).\n"
        )
    lines = qr.render(fitted.code.matrix, fitted.quiet_zone, ascii_only, colour=colour)
    return "\n" + "\n".join([*lines, qr.caption(fitted)]) + "\n"
