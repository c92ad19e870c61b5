"""Whether this installer was started by kexec/run from another Linux, and what came along.

kexec/run packs the old system's SSH host keys, authorized keys, machine-id and network state into
the initrd; the image's first stage moves them into place (nixos-module/kexec/restore) and lists
each in a manifest; `installer-env restore-network` adds the network summary. This module reads
both into one fact every view renders.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from installer_env import kexec_network

# Written by nixos-module/kexec/restore: one "<kind> <path>" line per restored file.
MANIFEST_FILE = "restored"
KINDS = {
    "host-key": "SSH host key",
    "authorized-keys": "authorized keys",
    "machine-id": "machine-id",
}


@dataclass(frozen=True)
class RestoredFile:
    kind: str  # a key of KINDS
    path: str


@dataclass(frozen=True)
class KexecBoot:
    files: tuple[RestoredFile, ...]
    network: kexec_network.Plan | None  # None until restore-network ran (or when it failed)

    def host_keys(self) -> tuple[str, ...]:
        return tuple(f.path for f in self.files if f.kind == "host-key")

    def has(self, kind: str) -> bool:
        return any(f.kind == kind for f in self.files)


def read(state_dir: Path) -> KexecBoot | None:
    """None when this boot did not come from kexec/run (no manifest)."""
    try:
        text = (state_dir / MANIFEST_FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    files = []
    for line in text.splitlines():
        kind, _, path = line.partition(" ")
        if kind in KINDS and path:
            files.append(RestoredFile(kind, path))
    from installer_env import kexec_network  # only a kexec boot has a network summary to read

    return KexecBoot(tuple(files), kexec_network.read_summary(state_dir))
