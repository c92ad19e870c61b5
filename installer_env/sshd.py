"""sshd: is it there, running and listening, on which port, and with which host keys.

Listening is asked of the kernel (netlink sock_diag through pyroute2, else /proc/net/tcp{,6}) rather
than found by connecting, so watching the state does not fill sshd's log with aborted connections.
"""

from __future__ import annotations

import asyncio
import base64
import glob
import hashlib
import logging
import os
import shutil
import socket
import stat
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from installer_env.config import Config
from installer_env.errors import SshdError
from installer_env.leanimport import lean_import

log = logging.getLogger(__name__)

TCP_LISTEN = "0A"
DEFAULT_PORT = 22
_MAX_KEY_LINE = 64 * 1024  # a 16384-bit RSA key is under 3 KiB; anything far longer is not a key
# Per key type: the name ssh-keygen -l prints, and the number of SSH strings in its key blob (the
# type name first), as in RFC 4253/5656 and PROTOCOL.u2f.
_KEY_TYPES = {
    "ssh-ed25519": ("ED25519", 2),
    "sk-ssh-ed25519@openssh.com": ("ED25519-SK", 3),
    "ssh-rsa": ("RSA", 3),
    "ssh-dss": ("DSA", 5),
    "ecdsa-sha2-nistp256": ("ECDSA", 3),
    "ecdsa-sha2-nistp384": ("ECDSA", 3),
    "ecdsa-sha2-nistp521": ("ECDSA", 3),
    "sk-ecdsa-sha2-nistp256@openssh.com": ("ECDSA-SK", 4),
}


@dataclass(frozen=True)
class HostKey:
    type: str  # as ssh-keygen -l prints it: ED25519, ECDSA, RSA, ...
    bits: int
    fingerprint: str  # SHA256:<base64 without padding>, as ssh-keygen -l prints it
    path: str


@dataclass(frozen=True)
class SshdStatus:
    installed: bool
    running: bool
    listening: bool
    port: int
    host_keys: tuple[HostKey, ...] = ()
    problems: tuple[str, ...] = field(default=())
    port_known: bool = True  # False when `sshd -T` failed and `port` is only the default


def _ssh_string(blob: bytes, offset: int) -> tuple[bytes, int]:
    if offset + 4 > len(blob):
        raise ValueError("truncated key")
    n = int.from_bytes(blob[offset : offset + 4], "big")
    end = offset + 4 + n
    if end > len(blob):
        raise ValueError("truncated key")
    return blob[offset + 4 : end], end


def _key_bits(algorithm: str, blob: bytes) -> int:
    """The key size ssh-keygen prints; the whole blob is checked, so a cut-off key is refused."""
    values: list[bytes] = []
    offset = 0
    while offset < len(blob):
        value, offset = _ssh_string(blob, offset)
        values.append(value)
    if len(values) != _KEY_TYPES[algorithm][1]:
        raise ValueError("malformed key data")
    if "ed25519" in algorithm:
        if len(values[1]) != 32:
            raise ValueError("malformed key data")
        return 256
    if "nistp" in algorithm:
        curve = "nistp" + algorithm.split("nistp")[1].split("@", maxsplit=1)[0]
        if values[1] != curve.encode():
            raise ValueError("key curve does not match key type")
        return int(curve.removeprefix("nistp"))
    # RSA: exponent, then modulus; DSA: p first.
    return int.from_bytes(values[2] if algorithm == "ssh-rsa" else values[1], "big").bit_length()


def parse_public_key(line: str, path: str = "") -> HostKey:
    """Type, size and SHA256 fingerprint of one OpenSSH public key line, like `ssh-keygen -lf`."""
    parts = line.split()
    if len(parts) < 2 or parts[0] not in _KEY_TYPES:
        raise ValueError("not an OpenSSH public key")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except ValueError:  # binascii.Error, or characters outside ASCII
        raise ValueError("key data is not base64") from None
    inner, _ = _ssh_string(blob, 0)
    if inner.decode("ascii", "replace") != parts[0]:
        raise ValueError("key type does not match key data")
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return HostKey(_KEY_TYPES[parts[0]][0], _key_bits(parts[0], blob), f"SHA256:{digest}", path)


def host_keys(pattern: str) -> tuple[tuple[HostKey, ...], tuple[str, ...]]:
    """All readable host keys matching the glob, and a line per file that could not be used."""
    keys: list[HostKey] = []
    problems: list[str] = []
    for path in sorted(glob.glob(pattern)):
        try:
            keys.append(parse_public_key(_first_line(path), path))
        except (OSError, ValueError) as e:
            problems.append(f"host key {path}: {getattr(e, 'strerror', None) or e}")
    return tuple(keys), tuple(problems)


def _first_line(path: str) -> str:
    # O_NONBLOCK and the regular-file check: a FIFO named like a key must not hang the status.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file")
        return f.readline(_MAX_KEY_LINE).decode("ascii", errors="replace")


def sshd_binary(config: Config) -> str | None:
    # sshd lives in sbin, which a login shell's PATH may lack.
    return shutil.which(config.sshd, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def effective_port(config: Config, binary: str | None) -> tuple[int, str | None]:
    """The port sshd uses: an explicit setting, else `sshd -T` (its effective config), else 22.

    The second value says why the port is only a guess, e.g. when `sshd -T` fails on a broken
    config or a missing /run/sshd.
    """
    if config.ssh_port is not None:
        return config.ssh_port, None
    if binary is None:
        return DEFAULT_PORT, None  # "not installed" is reported on its own
    try:
        result = _run([binary, "-T", "-f", str(config.sshd_config)], timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return DEFAULT_PORT, f"cannot run {binary} -T ({e}); showing port {DEFAULT_PORT}"
    for line in result.stdout.splitlines():
        key, _, value = line.partition(" ")
        if key == "port" and value.strip().isdigit():
            return int(value), None
    detail = _failure_detail(result)[:200]
    return DEFAULT_PORT, f"cannot read sshd's port ({binary} -T: {detail}); showing port {DEFAULT_PORT}"


def _run(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a tool for its output; a failing exit is the caller's to judge, not an exception."""
    return subprocess.run(
        argv, capture_output=True, text=True, errors="replace", timeout=timeout, check=False
    )


def _failure_detail(result: subprocess.CompletedProcess[str]) -> str:
    """The tool's stderr on one line, else its exit code."""
    return " ".join(result.stderr.split()) or f"exit code {result.returncode}"


def listening_ports() -> set[int]:
    """TCP ports something listens on, asked once over netlink (sock_diag), else read from
    /proc/net/tcp{,6}. For a one-off look (`status`, the first snapshot, the whole look every 30 s
    on a worker thread); the screen's frequent question is `ListeningPorts`, on its event loop."""
    try:
        return _ask_sock_diag()
    except Exception as e:  # OSError from the kernel, pyroute2's NetlinkError, no pyroute2 at all
        log.debug("sock_diag failed, reading /proc/net/tcp: %s", e)
        return _listening_ports_from_proc()


def _ask_sock_diag() -> set[int]:
    """The same question as `ListeningPorts`, once, on an event loop of its own (a thread of its
    own where this thread already runs one)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_ask_once())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sock-diag") as thread:
        return thread.submit(_ask_sock_diag).result()


async def _ask_once() -> set[int]:
    ports = ListeningPorts()
    try:
        return await ports.ports(socket.AF_INET) | await ports.ports(socket.AF_INET6)
    finally:
        ports.close()


class ListeningPorts:
    """Whether a TCP port listens, asked on the running event loop through one sock_diag socket
    kept open (pyroute2's asyncio socket): what the idle screen does every few seconds, so it wakes
    one thread, not three (the loop, a worker, the synchronous socket's own loop)."""

    def __init__(self) -> None:
        self._socket: Any = None

    async def listens(self, port: int) -> bool:
        try:
            # IPv6 only when IPv4 does not have it: one question of two, where sshd listens on both.
            return port in await self.ports(socket.AF_INET) or port in await self.ports(socket.AF_INET6)
        except Exception as e:  # as listening_ports(): /proc where sock_diag fails
            log.debug("sock_diag failed, reading /proc/net/tcp: %s", e)
            self.close()
            return port in _listening_ports_from_proc()

    async def ports(self, family: int) -> set[int]:
        """The TCP ports listening for one address family. Raises where sock_diag fails."""
        netlink = lean_import("pyroute2.netlink")
        diag = lean_import("pyroute2.netlink.diag")
        if self._socket is None:
            nlsocket = lean_import("pyroute2.netlink.nlsocket")
            socket_class = type(
                "DiagSocket", (nlsocket.AsyncNetlinkSocket,), {"marshal_class": diag.MarshalDiag}
            )
            self._socket = socket_class(family=netlink.NETLINK_SOCK_DIAG)
            await self._socket.setup_endpoint()
        request = diag.inet_diag_req()
        request["sdiag_family"] = family
        request["sdiag_protocol"] = socket.IPPROTO_TCP
        # LISTEN only: the kernel walks its listening sockets alone, where /proc/net/tcp walks the
        # whole connection table (milliseconds on a busy machine).
        request["idiag_states"] = 1 << diag.SS_LISTEN
        flags = netlink.NLM_F_REQUEST | netlink.NLM_F_ROOT | netlink.NLM_F_MATCH
        return {
            int(msg["idiag_sport"])
            async for msg in await self._socket.nlm_request(request, diag.SOCK_DIAG_BY_FAMILY, flags)
        }

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _listening_ports_from_proc() -> set[int]:
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as f:
                next(f, None)
                for row in f:
                    cols = row.split()
                    if len(cols) > 3 and cols[3] == TCP_LISTEN:
                        ports.add(int(cols[1].rsplit(":", 1)[1], 16))
        except OSError:
            continue
    return ports


def sshd_processes() -> bool:
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/comm", encoding="utf-8", errors="replace") as f:
                    if f.read().strip() == "sshd":
                        return True
            except OSError:
                continue
    return False


def status(config: Config, port: int | None = None, listening: bool | None = None) -> SshdStatus:
    """One look at sshd. Pass `port` when it is already known to skip running `sshd -T`, and
    `listening` when it was just asked."""
    binary = sshd_binary(config)
    port_problem = None
    if port is None:
        port, port_problem = effective_port(config, binary)
    keys, problems = host_keys(config.ssh_host_keys)
    if listening is None:
        listening = port in listening_ports()
    running = listening or sshd_processes()
    notes = list(problems)
    if binary is None:
        notes.insert(0, f"sshd is not installed ({config.sshd} not found)")
    elif not running:
        notes.insert(
            0,
            f"sshd is not running (start it: installer-env start-sshd or systemctl start {config.sshd_unit})",
        )
    elif not listening:
        notes.insert(0, f"sshd runs but nothing listens on port {port}")
    if port_problem is not None:
        notes.append(port_problem)
    if not keys:
        notes.append(f"no host keys found at {config.ssh_host_keys}")
    return SshdStatus(
        binary is not None, running, listening, port, keys, tuple(notes), port_known=port_problem is None
    )


def start(config: Config) -> None:
    """Ask systemd to start sshd; clear errors when there is no sshd or no systemd."""
    if sshd_binary(config) is None:
        raise SshdError(f"cannot start sshd: it is not installed ({config.sshd} not found)")
    systemctl = shutil.which("systemctl")
    if systemctl is None:
        raise SshdError(f"cannot start sshd: systemctl not found; start {config.sshd} by hand")
    try:
        result = _run([systemctl, "start", config.sshd_unit], timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SshdError(f"cannot start sshd ({config.sshd_unit}): {e}") from None
    if result.returncode != 0:
        raise SshdError(f"cannot start sshd ({config.sshd_unit}): {_failure_detail(result)}")
