"""Is this a live installer? os-release says so with VARIANT_ID=installer (nixos-anywhere reads it too)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from installer_env import trustedfile


def read_os_release(path: Path) -> dict[str, str]:
    """Its fields; none when it cannot be read or trusted (a FIFO, another user's file): then this is
    not taken for a live installer, and no password is set."""
    rules = trustedfile.Rules(limit=64 * 1024, owners={0, os.geteuid()}, follow_links=True)
    try:
        text = trustedfile.read(path, rules).decode("utf-8", errors="replace")
    except (OSError, trustedfile.UntrustedFile):
        return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep or not key.strip() or key.lstrip().startswith("#"):
            continue
        try:
            parts = shlex.split(value)
        except ValueError:
            continue
        fields[key.strip()] = parts[0] if parts else ""
    return fields


def is_live_installer(path: Path) -> bool:
    return read_os_release(path).get("VARIANT_ID") == "installer"
