"""A private Tor network on 127.0.0.1 for the tests: three directory authorities (which are relays
too), three more relays, every one of them an HSDir, and a client with a SocksPort.

With `TestingTorNetwork 1` and ten-second voting it reaches a consensus in about 10-20 s and a
bootstrapped client in about 30-40 s, so one network serves the whole test session (the
`tor_network` fixture in conftest.py starts it the first time a test asks for it).

Every tor runs from a directory of its own under the network's directory, on ports of one block of
a fixed range below the kernel's ephemeral ports (where `free_port()` of the other tests draws), and
only the processes started here are ever stopped.

A tor of the project joins the network through `defaults_torrc` (the network's settings, given to
tor as its defaults file; the project's torrc still applies on top) or through `tor_wrapper`, a
`tor` that does the same for the tor the tool launches itself.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stem.control import Controller

TOR = shutil.which("tor", path=os.environ.get("PATH", "") + ":/usr/sbin")
TOR_GENCERT = shutil.which("tor-gencert", path=os.environ.get("PATH", "") + ":/usr/sbin")

PORT_RANGE = range(15600, 16000)  # below 32768, where the kernel hands out ephemeral ports
PORT_BLOCK = 20
AUTHORITIES = 3
RELAYS = 3
START_TIMEOUT = 240.0  # a consensus and a bootstrapped client, on a busy 2-core machine

# Every node of the network, and every tor that joins it.
COMMON = """\
TestingTorNetwork 1
PathsNeededToBuildCircuits 0.67
TestingDirAuthVoteExit *
TestingDirAuthVoteHSDir *
TestingDirAuthVoteGuard *
TestingMinExitFlagThreshold 0
V3AuthNIntervalsValid 2
ShutdownWaitLength 0
SafeLogging 0
"""

RELAY = """\
Address 127.0.0.1
AssumeReachable 1
ExitRelay 0
"""

AUTHORITY = """\
ContactInfo authority@example.invalid
AuthoritativeDirectory 1
V3AuthoritativeDirectory 1
V3AuthVotingInterval 10
V3AuthVoteDelay 2
V3AuthDistDelay 2
TestingV3AuthInitialVotingInterval 10
TestingV3AuthInitialVoteDelay 2
TestingV3AuthInitialDistDelay 2
"""


def wait_for(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:g} s")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_block() -> list[int]:
    """The first block of the fixed range whose ports are all free (another run may hold one)."""
    for start in range(PORT_RANGE.start, PORT_RANGE.stop, PORT_BLOCK):
        block = list(range(start, start + PORT_BLOCK))
        if all(_port_free(p) for p in block):
            return block
    raise RuntimeError(f"no free block of {PORT_BLOCK} ports in {PORT_RANGE}")


def _bootstrap_percent(controller: Controller) -> int:
    match = re.search(r"PROGRESS=(\d+)", controller.get_info("status/bootstrap-phase"))
    return int(match.group(1)) if match else 0


def _controller(socket_path: Path) -> Controller | None:
    if not socket_path.exists():
        return None
    try:
        c = Controller.from_socket_file(str(socket_path))
        c.authenticate()
    except Exception:
        return None
    return c


@dataclass
class Node:
    name: str
    directory: Path
    torrc: str
    process: subprocess.Popen[bytes] | None = None

    @property
    def control_socket(self) -> Path:
        return self.directory / "control"


class TorNetwork:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.nodes: list[Node] = []
        self.ports = iter(_free_block())
        self.socks_port = 0
        self.defaults_torrc = directory / "network.torrc"
        self.tor_wrapper = directory / "tor-on-network"
        self.client = directory / "client"
        self.started_at = 0.0
        self.ready_after = 0.0

    # --- setting up ------------------------------------------------------------------------------

    def _authority_lines(self) -> list[str]:
        assert TOR is not None
        assert TOR_GENCERT is not None
        lines = []
        for n in range(AUTHORITIES):
            name = f"auth{n}"
            directory = self.directory / name
            keys = directory / "keys"
            keys.mkdir(mode=0o700, parents=True)
            directory.chmod(0o700)
            orport, dirport = next(self.ports), next(self.ports)
            subprocess.run(
                [
                    TOR_GENCERT,
                    "--create-identity-key",
                    "--passphrase-fd",
                    "0",
                    "-m",
                    "12",
                    "-a",
                    f"127.0.0.1:{dirport}",
                    "-i",
                    str(keys / "authority_identity_key"),
                    "-s",
                    str(keys / "authority_signing_key"),
                    "-c",
                    str(keys / "authority_certificate"),
                ],
                input=b"\n",
                check=True,
                capture_output=True,
                timeout=120,
            )
            cert = (keys / "authority_certificate").read_text()
            v3ident = re.search(r"^fingerprint (\w+)", cert, re.MULTILINE)
            assert v3ident, cert
            torrc = self._node_torrc(name, directory, orport, dirport) + AUTHORITY
            # Just enough for tor to make (and print) the relay identity; the rest needs the
            # DirAuthority lines this builds.
            identity = directory / "identity.torrc"
            identity.write_text(f"DataDirectory {directory}\nNickname {name}\nORPort 127.0.0.1:{orport}\n")
            listed = subprocess.run(
                [TOR, "--list-fingerprint", "-f", str(identity), "--defaults-torrc", os.devnull],
                check=True,
                capture_output=True,
                text=True,
                timeout=120,
            ).stdout
            fingerprint = re.search(rf"^{name} ([0-9A-F ]+)$", listed, re.MULTILINE)
            assert fingerprint, listed
            lines.append(
                f"DirAuthority {name} orport={orport} no-v2 v3ident={v3ident.group(1)} "
                f"127.0.0.1:{dirport} {fingerprint.group(1).replace(' ', '')}"
            )
            self.nodes.append(Node(name, directory, torrc))
        return lines

    def _node_torrc(self, name: str, directory: Path, orport: int | None, dirport: int | None) -> str:
        lines = [
            f"DataDirectory {directory}",
            f"Nickname {name}",
            f"ControlSocket {directory / 'control'}",
            "CookieAuthentication 1",
            f"Log notice file {directory / 'notice.log'}",
        ]
        if name != "client":
            lines.append("SocksPort 0")  # 9050 belongs to whoever else runs a tor here
        if orport is not None:
            lines += [f"ORPort 127.0.0.1:{orport}", f"DirPort 127.0.0.1:{dirport}", RELAY]
        return "\n".join(lines) + "\n"

    def _prepare(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        authorities = self._authority_lines()
        network = COMMON + "\n".join(authorities) + "\n"
        self.defaults_torrc.write_text(network)
        for n in range(RELAYS):
            name = f"relay{n}"
            directory = self.directory / name
            directory.mkdir(mode=0o700)
            self.nodes.append(
                Node(name, directory, self._node_torrc(name, directory, next(self.ports), next(self.ports)))
            )
        self.client.mkdir(mode=0o700)
        self.socks_port = next(self.ports)
        client_torrc = self._node_torrc("client", self.client, None, None)
        self.nodes.append(
            Node("client", self.client, client_torrc + f"SocksPort 127.0.0.1:{self.socks_port}\n")
        )
        # The tool launches `tor -f TORRC --defaults-torrc /dev/null`: the network's settings take
        # the place of /dev/null. Without them this tor would look for the real Tor network.
        assert TOR is not None
        self.tor_wrapper.write_text(
            "#!/bin/sh\n"
            "found=\n"
            "for arg; do\n"
            "  shift\n"
            f'  if [ "$found" = next ]; then arg={shlex.quote(str(self.defaults_torrc))}; found=yes; fi\n'
            '  if [ "$arg" = --defaults-torrc ]; then found=next; fi\n'
            '  set -- "$@" "$arg"\n'
            "done\n"
            '[ "$found" = yes ] || { echo "tor-on-network: no --defaults-torrc to replace" >&2; exit 1; }\n'
            f'exec {shlex.quote(TOR)} "$@"\n'
        )
        self.tor_wrapper.chmod(0o755)

    def start(self) -> None:
        assert TOR is not None
        self.started_at = time.monotonic()
        try:
            self._prepare()
            for node in self.nodes:
                (node.directory / "torrc").write_text(node.torrc)
                node.process = self.run_tor(node.directory / "torrc", node.directory / "stdout.log")
            wait_for(self.client_ready, START_TIMEOUT, "the private Tor network's client bootstrapping", 0.5)
        except BaseException:
            self.stop()
            raise
        self.ready_after = time.monotonic() - self.started_at

    def run_tor(self, torrc: Path, output: Path) -> subprocess.Popen[bytes]:
        """A tor on this network with `torrc` on top of the network's settings."""
        assert TOR is not None
        with output.open("ab") as out:
            return subprocess.Popen(
                [TOR, "-f", str(torrc), "--defaults-torrc", str(self.defaults_torrc)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def client_ready(self) -> bool:
        for node in self.nodes:
            assert node.process is not None
            if node.process.poll() is not None:
                log = (node.directory / "stdout.log").read_text(errors="replace")[-2000:]
                raise AssertionError(f"tor {node.name} of the private network exited:\n{log}")
        c = _controller(self.client / "control")
        if c is None:
            return False
        with c:
            return _bootstrap_percent(c) >= 100

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.process.terminate()
        for node in self.nodes:
            if node.process is not None:
                try:
                    node.process.wait(10)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait()

    # --- using it --------------------------------------------------------------------------------

    def client_controller(self) -> Controller:
        c = Controller.from_socket_file(str(self.client / "control"))
        c.authenticate()
        return c

    def forget_onion_services(self) -> None:
        """A new identity for the client: it drops the descriptors and introduction points it knows
        (after the service's tor restarts, the old ones would hold a connection up for minutes)."""
        with self.client_controller() as c:
            c.signal("NEWNYM")

    def read_banner(self, host: str, port: int, timeout: float = 60.0) -> bytes:
        """The first line a server at `host:port` sends, through the client's SocksPort (SOCKS5,
        the name resolved by tor)."""
        with socket.create_connection(("127.0.0.1", self.socks_port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b"\x05\x01\x00")
            if _recv_exactly(s, 2) != b"\x05\x00":
                raise ConnectionError("the SOCKS port refused the handshake")
            name = host.encode("ascii")
            s.sendall(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + struct.pack(">H", port))
            reply = _recv_exactly(s, 4)
            if reply[1] != 0:
                raise ConnectionError(f"tor could not connect to {host}:{port} (SOCKS reply {reply[1]})")
            bound = {1: 4, 4: 16}.get(reply[3])
            _recv_exactly(s, (bound if bound is not None else _recv_exactly(s, 1)[0]) + 2)
            line = b""
            while not line.endswith(b"\n"):
                chunk = s.recv(256)
                if not chunk:
                    break
                line += chunk
            return line

    def reachable(self, host: str, port: int, timeout: float, attempt_timeout: float = 20.0) -> bytes:
        """A banner through a fresh connection, retried until `timeout`; between tries the client
        forgets what it knew of onion services (a stale descriptor would hold it up for minutes)."""
        deadline = time.monotonic() + timeout
        problem: Exception | None = None
        while (left := deadline - time.monotonic()) > 0:
            try:
                banner = self.read_banner(host, port, min(attempt_timeout, left))
            except OSError as e:  # ConnectionError too
                problem = e
            else:
                if banner:
                    return banner
                problem = ConnectionError("the connection closed without a banner")
            self.forget_onion_services()
            time.sleep(0.5)
        raise AssertionError(
            f"{host}:{port} not reachable through the private network in {timeout:g} s: {problem}"
        )


def _recv_exactly(s: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the SOCKS connection closed")
        data += chunk
    return data
