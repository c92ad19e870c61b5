"""Network namespaces for tests: created per test, changed with the real `ip` tool, always deleted.

Nothing here touches this machine's own interfaces: every command runs inside the namespace
(`nsenter --net`, which enters the network namespace only; `ip -n` and `ip netns exec` also remount
/sys, which fails where / is not a mount point, as in a chroot).
"""

from __future__ import annotations

import functools
import json
import secrets
import subprocess
from dataclasses import dataclass
from typing import Any

import pytest


def _run(*argv: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    return result.stdout


@dataclass(frozen=True)
class Namespace:
    name: str

    def enter(self) -> list[str]:
        """The prefix that runs a command inside the namespace."""
        return ["nsenter", f"--net=/run/netns/{self.name}"]

    def ip(self, *args: str) -> str:
        return _run(*self.enter(), "ip", *args)

    def run(self, *argv: str) -> str:
        return _run(*self.enter(), *argv)

    def with_own_sys(self) -> list[str]:
        """The prefix for a command that must also see the namespace's devices in /sys (udev).

        `ip netns exec` mounts that /sys in a mount namespace of its own; where it cannot (a chroot),
        the test is skipped with the reason.
        """
        if not _netns_exec_works(self.name):
            pytest.skip("`ip netns exec` cannot mount a /sys of its own here (/ is not a mount point)")
        return ["ip", "netns", "exec", self.name]

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


@functools.cache
def _netns_exec_works(name: str) -> bool:
    result = subprocess.run(
        ["ip", "netns", "exec", name, "true"], capture_output=True, timeout=30, check=False
    )
    return result.returncode == 0


def create_namespace() -> Namespace:
    namespace = Namespace(f"ie-test-{secrets.token_hex(4)}")
    _run("ip", "netns", "add", namespace.name)
    namespace.ip("link", "set", "lo", "up")
    return namespace


def delete_namespace(namespace: Namespace) -> None:
    subprocess.run(["ip", "netns", "delete", namespace.name], capture_output=True, timeout=30, check=False)
