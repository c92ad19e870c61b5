"""Shared by the tor tests: a tor of the tests standing in for the system tor (offline, or on the
private Tor network of tornet.py), and a session fed by the tor follower."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from realssh import free_port
from stem.control import Controller
from tornet import TorNetwork

from installer_env import sshd, tor
from installer_env.config import Config
from installer_env.session import Session, collect, follow_password, follow_sshd, supervise
from installer_env.state import StateStore
from installer_env.tor import TorStatus

TOR = shutil.which("tor", path=os.environ.get("PATH", "") + ":/usr/sbin")


def hashed_control_password(password: str) -> str:
    """tor --hash-password, without putting the password on a command line (RFC 2440 S2K)."""
    salt, indicator = os.urandom(8), 0x60
    count = (16 + (indicator & 15)) << ((indicator >> 4) + 6)
    data = salt + password.encode()
    digest = hashlib.sha1()  # noqa: S324 - tor's control password format
    while count > 0:
        chunk = data[:count]
        digest.update(chunk)
        count -= len(chunk)
    return "16:" + (salt + bytes([indicator]) + digest.digest()).hex().upper()


@dataclass
class SystemTor:
    process: subprocess.Popen[bytes]
    directory: Path
    socket_path: Path | None
    port: int | None

    @property
    def cookie(self) -> Path:
        return self.directory / "data" / "control_auth_cookie"

    def controller(self, password: str | None = None) -> Controller:
        if self.socket_path is not None:
            c = Controller.from_socket_file(str(self.socket_path))
        else:
            c = Controller.from_port("127.0.0.1", self.port)
        c.authenticate(password=password)
        return c

    def detached(self, password: str | None = None) -> list[str]:
        with self.controller(password) as c:
            return list(c.list_ephemeral_hidden_services(our_services=False, detached=True))


def start_system_tor(
    directory: Path,
    *,
    use_socket: bool = True,
    cookie: bool = True,
    password_hash: str | None = None,
    network: TorNetwork | None = None,
    port: int | None = None,
) -> SystemTor:
    """A tor of the test at `directory` (made if need be; a data dir kept from an earlier start is
    used again, as a restarted system tor does): offline, or on the private `network`."""
    assert TOR is not None
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    socket_path = directory / "control" if use_socket else None
    if not use_socket:
        port = port or free_port()
    lines = [f"DataDirectory {directory / 'data'}", "SocksPort 0"]
    if network is None:
        lines += ["DisableNetwork 1", "Log warn stdout"]
    else:
        lines += [f"Log notice file {directory / 'notice.log'}"]
    lines.append(f"ControlSocket {socket_path}" if socket_path else f"ControlPort 127.0.0.1:{port}")
    lines.append(f"CookieAuthentication {int(cookie)}")
    if password_hash:
        lines.append(f"HashedControlPassword {password_hash}")
    (directory / "torrc").write_text("\n".join(lines) + "\n")
    defaults = network.defaults_torrc if network is not None else os.devnull
    process = subprocess.Popen(
        [TOR, "-f", str(directory / "torrc"), "--defaults-torrc", str(defaults)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    system = SystemTor(process, directory, socket_path, port)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, "the test's tor did not start"
        with contextlib.suppress(OSError):
            if socket_path is not None:
                if socket_path.exists():
                    return system
            else:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return system
        time.sleep(0.05)
    process.kill()
    raise AssertionError("the test's tor did not open its control port")


@contextlib.asynccontextmanager
async def following(config: Config, *, with_others: bool = False) -> AsyncIterator[Session]:
    """A session fed by the tor follower (and the password and sshd sources), stopped on exit."""
    store = StateStore(config.state_dir)
    session = Session(collect(config, store))
    sources: dict[str, Callable[[], Awaitable[None]]] = {"tor": lambda: tor.follow(config, session)}
    if with_others:
        sources["password"] = lambda: follow_password(store, session)
        sources["sshd"] = lambda: follow_sshd(config, session, sshd.ListeningPorts(), interval=0.1)
    tasks = [asyncio.create_task(supervise(name, source)) for name, source in sources.items()]
    try:
        yield session
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def until(session: Session, check: Callable[[TorStatus], bool], timeout: float = 20.0) -> TorStatus:
    try:
        async with asyncio.timeout(timeout):
            async for snap in session.snapshots():
                if snap.tor is not None and check(snap.tor):
                    return snap.tor
    except TimeoutError:
        pass
    raise AssertionError(f"tor status never matched within {timeout} s; last: {session.snapshot.tor}")


def service_id(t: TorStatus) -> str:
    assert t.onion_address is not None
    return t.onion_address.removesuffix(".onion")


def ready(t: TorStatus) -> bool:
    return t.reachable and t.service_added and t.onion_address is not None and t.error is None


def launched_pid(config: Config) -> int:
    return int((tor.tor_dir(config) / "tor.pid").read_text())


def own_controller(config: Config) -> Controller:
    c = Controller.from_socket_file(str(tor.tor_dir(config) / "control"))
    c.authenticate()
    return c
