"""A wired LAN for tests: a DHCP server (dnsmasq) in one network namespace, a DHCP client (dhcpcd,
the client NixOS runs by default) on `eth0` in another, a veth cable between them.

Nothing reaches this machine's own DHCP client or files: dhcpcd runs in a mount namespace of its
own with a private /run (its control socket, pid file), leases in a private /var/lib, no hook
scripts (`-c /bin/true`, so it never writes a resolv.conf), and no `dhcpcd` user in its view of
/etc/passwd. Without that user dhcpcd runs without privilege separation: Debian's dhcpcd
9.4.1 privsep control proxy answers only the first client of its control socket.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from fake_iwd import BUS_CONFIG
from netns import Namespace

SERVER_V4 = "10.77.0.1"
SERVER_V6 = "2001:db8:77::1"
POOL = ("10.77.0.100", "10.77.0.150")


def private_mounts() -> list[str]:
    """The prefix for a daemon that gets its own /run (and /var/lib) without touching this machine's:
    a private mount namespace. Where / is not a mount point (a chroot) that cannot be made, and the
    test is skipped with the reason."""
    argv = ["unshare", "--mount", "--propagation", "private"]
    if subprocess.run([*argv, "true"], capture_output=True, timeout=30, check=False).returncode != 0:
        pytest.skip("no private mount namespace here (/ is not a mount point): the daemon would share /run")
    return argv


def require(*programs: str) -> None:
    missing = [p for p in programs if shutil.which(p) is None and not Path("/usr/sbin", p).exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed: scripts/dev test installs them (TEST_APT)")


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class DhcpServer:
    namespace: Namespace
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        _stop(self.process)


@dataclass
class DhcpClient:
    namespace: Namespace
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def control_socket(self) -> Path:
        """dhcpcd's control socket, reached through its private mount namespace."""
        return Path(f"/proc/{self.process.pid}/root/run/dhcpcd/sock")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        _stop(self.process)


def cable(client: Namespace, server: Namespace, name: str = "eth0", peer: str = "srv0") -> None:
    """A veth pair: `name` in the client namespace, `peer` (with the router's addresses) in the server's."""
    client.ip("link", "add", name, "type", "veth", "peer", "name", peer)
    client.ip("link", "set", peer, "netns", server.name)
    client.ip("link", "set", name, "up")
    server.ip("link", "set", peer, "up")
    server.ip("addr", "add", f"{SERVER_V4}/24", "dev", peer)
    server.ip("addr", "add", f"{SERVER_V6}/64", "dev", peer, "nodad")


def start_dnsmasq(server: Namespace, workdir: Path, interface: str = "srv0") -> DhcpServer:
    require("dnsmasq")
    log = workdir / "dnsmasq.log"
    argv = [
        *server.enter(),
        "dnsmasq",
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--port=0",  # DHCP only
        "--no-resolv",
        "--no-hosts",
        f"--interface={interface}",
        "--bind-interfaces",
        f"--dhcp-range={POOL[0]},{POOL[1]},255.255.255.0,2m",
        f"--dhcp-option=option:router,{SERVER_V4}",
        f"--dhcp-option=option:dns-server,{SERVER_V4}",
        f"--dhcp-leasefile={workdir / 'dnsmasq.leases'}",
        f"--pid-file={workdir / 'dnsmasq.pid'}",
        "--log-dhcp",
        f"--log-facility={log}",
    ]
    process = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_for(lambda: log.exists() and "started" in log.read_text(errors="replace"), "dnsmasq to start", 15)
    return DhcpServer(server, process, log)


def start_dhcpcd(client: Namespace, workdir: Path) -> DhcpClient:
    """dhcpcd in manager mode (one process for every interface), as the NixOS service runs it."""
    require("dhcpcd")
    passwd = workdir / "passwd"
    passwd.write_text(
        "".join(
            line
            for line in Path("/etc/passwd").read_text().splitlines(True)
            if not line.startswith("dhcpcd:")
        )
    )
    conf = workdir / "dhcpcd.conf"
    conf.write_text("option routers, domain_name_servers\nnodev\nnoipv6rs\n")
    log = workdir / "dhcpcd.log"
    script = (
        "mount -t tmpfs none /run && "
        "mount -t tmpfs none /var/lib && mkdir /var/lib/dhcpcd && "
        f"mount --bind {passwd} /etc/passwd && "
        f"exec dhcpcd -M -B -d -f {conf} -c /bin/true"  # manager, foreground, debug log, no hooks
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*client.enter(), *private_mounts(), "sh", "-c", script],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    dhcp = DhcpClient(client, process, log)
    wait_for(
        lambda: os.path.exists(dhcp.control_socket) or process.poll() is not None, "dhcpcd's control socket"
    )
    if process.poll() is not None:
        raise AssertionError(f"dhcpcd stopped: {dhcp.log_text()}")
    return dhcp


NETWORKD = Path("/lib/systemd/systemd-networkd")


@dataclass
class Networkd:
    """systemd-networkd managing the namespace's links, with `DHCP=yes` on eth0 as NixOS's
    `networking.useNetworkd` sets it, on a D-Bus daemon of the test's own."""

    namespace: Namespace
    process: subprocess.Popen[bytes]
    bus: subprocess.Popen[bytes]
    bus_address: str
    log: Path

    @property
    def runtime_dir(self) -> Path:
        """/run/systemd/network in networkd's private mount namespace."""
        return Path(f"/proc/{self.process.pid}/root/run/systemd/network")

    @property
    def networkctl(self) -> tuple[str, ...]:
        return (*self.namespace.enter(), "env", f"DBUS_SYSTEM_BUS_ADDRESS={self.bus_address}", "networkctl")

    def stop(self) -> None:
        _stop(self.process)
        _stop(self.bus)


def start_networkd(client: Namespace, workdir: Path) -> Networkd:
    """networkd in the client namespace and a mount namespace of its own: a private /run, the
    namespace's own /sys (read-only: without udevd networkd then takes links as initialized), and
    /etc/systemd/network replaced by the test's directory."""
    if not NETWORKD.exists() or shutil.which("networkctl") is None:
        pytest.fail("systemd-networkd not installed: scripts/dev test installs it (TEST_APT: systemd)")
    # The bus lives in the namespace, on an abstract socket: networkd drops root for its own user,
    # which could not reach a socket in the test's private temp dir.
    listen = f"unix:abstract=ie-test-bus-{secrets.token_hex(4)}"
    (workdir / "bus.conf").write_text(BUS_CONFIG.format(listen=listen, extra=""))
    bus = subprocess.Popen(
        [
            *client.enter(),
            "dbus-daemon",
            f"--config-file={workdir / 'bus.conf'}",
            "--nofork",
            "--print-address",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert bus.stdout is not None
    address = bus.stdout.readline().decode().strip()  # printed once the bus listens
    if not address:
        raise AssertionError("the test's D-Bus daemon did not start")
    config = workdir / "networkd"
    config.mkdir()
    (config / "99-ethernet-default-dhcp.network").write_text("[Match]\nName=eth0\n\n[Network]\nDHCP=yes\n")
    log = workdir / "networkd.log"
    script = (
        "mount -t tmpfs none /run && mkdir -p /run/systemd/network && "
        "mount -t sysfs -o ro none /sys && "
        f"mount --bind {config} /etc/systemd/network && "
        f"exec env DBUS_SYSTEM_BUS_ADDRESS={address} {NETWORKD}"
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*client.enter(), *private_mounts(), "sh", "-c", script],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    networkd = Networkd(client, process, bus, address, log)
    wait_for(lambda: networkd.runtime_dir.exists() or process.poll() is not None, "networkd to start")
    if process.poll() is not None:
        _stop(bus)
        raise AssertionError(f"systemd-networkd stopped: {log.read_text(errors='replace')}")
    return networkd
