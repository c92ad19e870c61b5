"""The onion service on a Tor network: published (as the screen and `status` say), and reachable
from a client through the network's SocksPort, where sshd of the tests answers.

All on the private network of tornet.py (127.0.0.1 only), shared by the whole session. Every wait
is for a condition, with generous limits: the machine is busy, and tor's own timers (descriptor
uploads, circuit building) vary by seconds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_runner import run_cli
from conftest import MakeConfig
from realssh import SshServer
from tor_tools import SystemTor, following, launched_pid, service_id, start_system_tor, until
from tornet import TOR_GENCERT, TorNetwork

from installer_env import tor
from installer_env.config import Config
from installer_env.tor import TorStatus

pytestmark = pytest.mark.skipif(
    TOR_GENCERT is None, reason="tor and tor-gencert are not installed (scripts/dev test installs them)"
)

WAIT = 180.0  # seconds: a limit on waiting for a condition, never a sleep


def published(t: TorStatus) -> bool:
    return t.published and t.service_added and t.reachable


def holder_gone(pid: int) -> bool:
    """The process has exited (a zombie the tool has not reaped yet counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


@pytest.fixture
def system_tor(tmp_path: Path, tor_network: TorNetwork) -> Iterator[Callable[[], SystemTor]]:
    """Starts (and after a kill, starts again) the test's "system tor" on the network, with a
    control socket and cookie as the NixOS module sets it up. Stopped at the end."""
    started: list[SystemTor] = []

    def start() -> SystemTor:
        system = start_system_tor(tmp_path / "systor", network=tor_network)
        started.append(system)
        return system

    yield start
    for system in started:
        if system.process.poll() is None:
            system.process.kill()
        system.process.wait()


@pytest.fixture
def own_tor(
    make_config: MakeConfig, tmp_path: Path, tor_network: TorNetwork, sshd_server: SshServer
) -> Iterator[Config]:
    """No system tor: the tool launches its own, on the network."""
    config = make_config(
        tor_enabled=True,
        tor_control_socket=tmp_path / "systor" / "control",
        tor_binary=str(tor_network.tor_wrapper),
        ssh_port=sshd_server.port,
    )
    yield config
    tor.stop_launched(config)


def with_system_tor(config: Config, **changes: object) -> Config:
    return dataclasses.replace(config, tor_binary="/nonexistent/tor", **changes)  # type: ignore[arg-type]


async def reach(network: TorNetwork, t: TorStatus) -> bytes:
    assert t.onion_address is not None
    return await asyncio.to_thread(network.reachable, t.onion_address, 22, WAIT)


def report(what: str, seconds: float) -> None:
    print(f"tor network timing: {what}: {seconds:.1f} s")  # shown with -s; the bench has the figures


async def test_the_screens_service_is_published_and_reachable(
    own_tor: Config, tor_network: TorNetwork, isolated_env: dict[str, str]
) -> None:
    started = time.monotonic()
    async with following(own_tor) as session:
        t = await until(session, published, WAIT)
        report("start to published", time.monotonic() - started)
        assert t.mode == tor.MODE_LAUNCHED
        banner = await reach(tor_network, t)
        report("start to first connection", time.monotonic() - started)
    assert banner.startswith(b"SSH-2.0-OpenSSH")
    # `status --json` from a fresh process (the screen has gone; its tor and service stay).
    env = dict(
        isolated_env,
        INSTALLER_ENV_STATE_DIR=str(own_tor.state_dir),
        INSTALLER_ENV_TOR_ENABLED="1",
        INSTALLER_ENV_TOR_CONTROL_SOCKET=str(own_tor.tor_control_socket),
        INSTALLER_ENV_SSH_PORT=str(own_tor.ssh_port),
    )
    doc = json.loads(run_cli(env, "status", "--json").stdout)["tor"]
    assert doc["onion_address"] == t.onion_address
    assert doc["service_added"] is True
    assert doc["published"] is True
    text = run_cli(env, "status").stdout
    assert ", published" in text
    assert "not published" not in text


async def test_a_second_console_and_a_restarted_screen_say_published_within_seconds(
    own_tor: Config, system_tor: Callable[[], SystemTor], tor_network: TorNetwork
) -> None:
    """tor re-uploads only every 60-120 minutes on the real network: who did not see the upload
    must ask the HSDirs."""
    system = system_tor()
    config = with_system_tor(own_tor, tor_control_socket=system.socket_path)
    async with following(config) as first:
        t = await until(first, published, WAIT)
        assert t.mode == tor.MODE_SYSTEM
        started = time.monotonic()
        async with following(config) as second:
            await until(second, published, 8)
        report("a second console to published", time.monotonic() - started)
        one_shot = await asyncio.to_thread(tor.status, config)
        assert one_shot.published
        assert one_shot.service_added
    started = time.monotonic()
    async with following(config) as restarted:
        again = await until(restarted, published, 8)
    report("a restarted screen to published", time.monotonic() - started)
    assert again.onion_address == t.onion_address
    assert system.detached() == [service_id(t)]


@pytest.mark.parametrize("which", ["own", "system"])
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
async def test_after_tor_restarts_the_same_address_is_published_and_reachable_again(
    own_tor: Config,
    system_tor: Callable[[], SystemTor],
    tor_network: TorNetwork,
    which: str,
    how: signal.Signals,
) -> None:
    system = system_tor() if which == "system" else None
    config = own_tor
    if system is not None:
        config = with_system_tor(own_tor, tor_control_socket=system.socket_path, tor_system=True)
    async with following(config) as session:
        first = await until(session, published, WAIT)
        assert (await reach(tor_network, first)).startswith(b"SSH-2.0-")
        pid = system.process.pid if system is not None else launched_pid(config)
        os.kill(pid, how)
        await until(session, lambda t: not t.reachable and not t.published, WAIT)
        restarted = time.monotonic()
        if system is not None:
            system.process.wait()
            system = system_tor()  # systemd bringing it back
        again = await until(session, published, WAIT)
        report(f"{which} tor after {how.name}: to published", time.monotonic() - restarted)
        banner = await reach(tor_network, again)
        report(f"{which} tor after {how.name}: to a connection", time.monotonic() - restarted)
    assert banner.startswith(b"SSH-2.0-")
    assert again.onion_address == first.onion_address
    if system is not None:
        assert system.detached() == [service_id(first)]
    else:
        assert launched_pid(config) != pid


async def test_boot_race_the_screen_waits_for_the_system_tor(
    own_tor: Config, system_tor: Callable[[], SystemTor], tor_network: TorNetwork, tmp_path: Path
) -> None:
    """On NixOS the autologin on tty1 can come before tor.service: the screen must not start a tor
    of its own that then publishes the same key as the system tor."""
    config = dataclasses.replace(own_tor, tor_system=True)  # as the NixOS module writes it
    async with following(config) as session:
        waiting = await until(session, lambda t: t.waiting_for_system, 30)
        assert waiting.mode == tor.MODE_SYSTEM
        assert waiting.error is None
        await asyncio.sleep(1.5)  # the scenario: tor.service starts 1.5 s after the screen
        system = system_tor()
        t = await until(session, published, WAIT)
    assert t.mode == tor.MODE_SYSTEM
    assert not t.waiting_for_system
    assert system.detached() == [service_id(t)]
    assert not (tor.tor_dir(config) / "tor.pid").exists(), "a tor of the tool's own was started"
    assert (await reach(tor_network, t)).startswith(b"SSH-2.0-")


async def test_an_own_tor_hands_the_service_to_a_system_tor_that_appears(
    own_tor: Config, system_tor: Callable[[], SystemTor], tor_network: TorNetwork
) -> None:
    """Without `tor_system` the screen starts its own tor when there is none; when the system tor
    comes up, the service moves there and the own tor stops: one tor holds the address."""
    async with following(own_tor) as session:
        first = await until(session, published, WAIT)
        assert first.mode == tor.MODE_LAUNCHED
        own_pid = launched_pid(own_tor)
        system = system_tor()
        moved = await until(session, lambda t: published(t) and t.mode == tor.MODE_SYSTEM, WAIT)
        assert await asyncio.to_thread(lambda: _wait(lambda: holder_gone(own_pid), 30))
        assert moved.onion_address == first.onion_address
        assert system.detached() == [service_id(first)]
        assert (await reach(tor_network, moved)).startswith(b"SSH-2.0-")


async def test_the_service_follows_sshd_to_another_port(own_tor: Config, tor_network: TorNetwork) -> None:
    with banner_server(b"SSH-2.0-moved-here\r\n") as new_port:
        async with following(own_tor) as session:
            first = await until(session, published, WAIT)
            assert (await reach(tor_network, first)).startswith(b"SSH-2.0-OpenSSH")
            # What the sshd source reports when sshd comes back on another port.
            session.publish(dataclasses.replace(session.snapshot.ssh, port=new_port))
            again = await until(session, published, WAIT)
            tor_network.forget_onion_services()
            deadline = time.monotonic() + WAIT
            banner = b""
            while banner != b"SSH-2.0-moved-here\r\n" and time.monotonic() < deadline:
                banner = await reach(tor_network, again)
                tor_network.forget_onion_services()  # it may have held on to the old descriptor
        assert banner == b"SSH-2.0-moved-here\r\n"
        assert again.onion_address == first.onion_address


def _wait(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


class banner_server:
    """A TCP server on a free 127.0.0.1 port that greets every connection with `banner`."""

    def __init__(self, banner: bytes) -> None:
        self.banner = banner
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            with connection:
                connection.sendall(self.banner)

    def __enter__(self) -> int:
        self.thread.start()
        port: int = self.server.getsockname()[1]
        return port

    def __exit__(self, *_: object) -> None:
        self.server.close()
