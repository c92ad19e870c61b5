"""Network namespaces for tests: created per test, changed with the real `ip` tool, always deleted.

Nothing here touches this machine's own interfaces: every command runs with `ip -n <namespace>`.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from dataclasses import dataclass
from typing import Any


def _run(*argv: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    return result.stdout


@dataclass(frozen=True)
class Namespace:
    name: str

    def ip(self, *args: str) -> str:
        return _run("ip", "-n", self.name, *args)

    def run(self, *argv: str) -> str:
        """A command inside the namespace (with its own /sys, as `ip netns exec` mounts one)."""
        return _run("ip", "netns", "exec", self.name, *argv)

    def sysctl(self, key: str, value: str) -> None:
        self.run("sysctl", "-q", "-w", f"{key}={value}")

    def add_veth(self, name: str, peer: str, up: bool = True) -> None:
        """A veth pair with both ends here: each end has carrier when both are up."""
        self.ip("link", "add", name, "type", "veth", "peer", "name", peer)
        if up:
            self.ip("link", "set", name, "up")
            self.ip("link", "set", peer, "up")

    def link(self, name: str) -> dict[str, Any]:
        data: list[dict[str, Any]] = json.loads(self.ip("-j", "link", "show", "dev", name))
        return data[0]


def create_namespace() -> Namespace:
    namespace = Namespace(f"ie-test-{secrets.token_hex(4)}")
    _run("ip", "netns", "add", namespace.name)
    namespace.ip("link", "set", "lo", "up")
    return namespace


def delete_namespace(namespace: Namespace) -> None:
    subprocess.run(["ip", "netns", "delete", namespace.name], capture_output=True, timeout=30, check=False)
