"""Two views of a snapshot: stable JSON for scripts, plain text for serial consoles and humans."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from installer_env.session import Snapshot
from installer_env.textsafe import literal

SCHEMA = 1


def to_dict(snap: Snapshot) -> dict[str, Any]:
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
    }


def to_json(snap: Snapshot) -> str:
    return json.dumps(to_dict(snap), indent=2, ensure_ascii=True)


def _password_lines(snap: Snapshot) -> list[str]:
    pw = snap.password
    if pw is None:
        return [f"Password     (none) {snap.password_problem or ''}".rstrip()]
    lines = [f"Password     {pw.password}"]
    detail = f"{pw.words} words, {pw.entropy_bits:g} bits, generation {pw.generation}, {pw.rotated_at}"
    if pw.applied:
        lines.append(f"             set for {literal(pw.user)}; {detail}")
    else:
        lines.append(f"             NOT APPLIED - {pw.note}")
        lines.append(f"             {detail}")
    return lines


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


def to_text(snap: Snapshot) -> str:
    name = literal(snap.hostname)
    if snap.mdns_name:
        name += f" ({literal(snap.mdns_name)})"
    pw = snap.password
    user = literal(pw.user) if pw else "root"
    lines = [f"installer-env on {name}", ""]
    lines += _password_lines(snap)
    lines += _ssh_lines(snap)
    lines += ["", f"Log in with: ssh {user}@<address>"]
    return "\n".join(lines) + "\n"
