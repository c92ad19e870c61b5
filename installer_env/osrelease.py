"""Is this a live installer? os-release says so with VARIANT_ID=installer (nixos-anywhere reads it too)."""

from __future__ import annotations

import shlex
from pathlib import Path


def read_os_release(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
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
