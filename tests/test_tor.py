"""The onion service with a real tor. Offline: every tor here runs with no way out (its own empty
network namespace, or DisableNetwork), so addresses appear but nothing is published.

"System" tors are started by the tests themselves in temp dirs; this machine's tor is never used.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import shutil
import signal
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import status_schema
from conftest import MakeConfig
from stem.response import ControlMessage
from tor_tools import (
    TOR,
    SystemTor,
    following,
    hashed_control_password,
    launched_pid,
    own_controller,
    ready,
    service_id,
    start_system_tor,
    until,
)

from installer_env import rotation, status, tor
from installer_env.config import Config
from installer_env.session import Session, collect
from installer_env.state import StateStore
from installer_env.tor import TorStatus, control, service

pytestmark = pytest.mark.skipif(TOR is None, reason="tor is not installed (scripts/dev test installs it)")

SSH_PORT = 2222  # the onion maps to it; nothing needs to listen there for these tests


# --- fixtures --------------------------------------------------------------------------------------


@pytest.fixture
def system_tors() -> Iterator[Callable[..., SystemTor]]:
    started: list[SystemTor] = []

    def start(directory: Path, **kwargs: object) -> SystemTor:
        system = start_system_tor(directory, **kwargs)  # type: ignore[arg-type]
        started.append(system)
        return system

    yield start
    for system in started:
        system.process.kill()
        system.process.wait()


@pytest.fixture
def offline_tor(tmp_path: Path) -> str:
    """A tor binary that runs in a fresh, empty network namespace: no traffic leaves this test."""
    assert TOR is not None
    wrapper = tmp_path / "tor-offline"
    wrapper.write_text(f'#!/bin/sh\nexec unshare --net {TOR} "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


@pytest.fixture
def launch_config(make_config: MakeConfig, tmp_path: Path, offline_tor: str) -> Iterator[Config]:
    """Launch mode: no system tor configured, so the tool starts its own."""
    config = make_config(
        tor_enabled=True,
        tor_control_socket=tmp_path / "no-system-tor" / "control",
        tor_binary=offline_tor,
        ssh_port=SSH_PORT,
    )
    yield config
    tor.stop_launched(config)


# --- onion addresses -------------------------------------------------------------------------------


def test_generated_key_gives_a_valid_address_and_tampering_is_rejected() -> None:
    key = tor.OnionKey.generate()
    address = key.address
    assert address.endswith(".onion")
    assert len(address) == 62
    assert tor.check_onion_address(address) == address
    assert tor.check_onion_address(address.upper()) == address
    assert key.blob() not in repr(key)

    flipped = ("b" if address[10] == "a" else "a").join((address[:10], address[11:]))
    with pytest.raises(ValueError, match="checksum"):
        tor.check_onion_address(flipped)
    raw = bytearray(base64.b32decode(address[:56].upper()))
    raw[34] = 2  # claims version 2 with a v3-sized body
    with pytest.raises(ValueError, match="version 2"):
        tor.check_onion_address(base64.b32encode(bytes(raw)).decode().lower() + ".onion")
    for bad in ("", "x.onion", address[:-7] + ".onion", address[:55] + "1.onion", address + "x"):
        assert not tor.is_onion_address(bad)


def test_parse_bootstrap_reads_tors_status_line() -> None:
    line = (
        'NOTICE BOOTSTRAP PROGRESS=45 TAG=requesting_descriptors SUMMARY="Asking for \\"relay\\" descriptors"'
    )
    assert tor.parse_bootstrap(line) == (45, 'Asking for "relay" descriptors')
    assert tor.parse_bootstrap("NOTICE CIRCUIT_ESTABLISHED") is None


async def test_events_from_stems_threads_update_the_snapshot(make_config: MakeConfig) -> None:
    """Bootstrap progress and the HS_DESC upload (which needs the network, so it is fed here as tor
    words it) reach the snapshot from stem's threads."""
    config = make_config(tor_enabled=True, ssh_port=SSH_PORT)
    session = Session(collect(config, StateStore(config.state_dir)))
    follower = service._Follower(config, session)
    connection = service._Connection(follower)
    follower.current = connection
    key = tor.OnionKey.generate()
    follower.service_id = service_id(TorStatus(onion_address=key.address))
    lines = [
        "650 STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=50 TAG=loading_descriptors "
        'SUMMARY="Loading relay descriptors"',
        f"650 HS_DESC UPLOADED {tor.OnionKey.generate().address[:56]} UNKNOWN $" + "A" * 40 + " x",
        f"650 HS_DESC UPLOADED {follower.service_id} UNKNOWN $" + "B" * 40 + "~relay y",
    ]
    events = [ControlMessage.from_str(line + "\r\n", "EVENT") for line in lines]
    for event in events[:2]:
        await asyncio.to_thread(connection.on_event, event)
    t = await until(session, lambda t: t.bootstrap_percent == 50)
    assert t.bootstrap_phase == "Loading relay descriptors"
    assert not t.published  # another service's upload
    await asyncio.to_thread(connection.on_event, events[2])
    await until(session, lambda t: t.published, timeout=5)


# --- launch mode -----------------------------------------------------------------------------------


async def test_launch_mode_gives_an_address_within_seconds_and_the_same_one_after_restart(
    launch_config: Config,
) -> None:
    started = time.monotonic()
    async with following(launch_config) as session:
        first = await until(session, ready, timeout=10)
        elapsed = time.monotonic() - started
    assert first.mode == tor.MODE_LAUNCHED
    assert elapsed < 10
    assert tor.check_onion_address(first.onion_address or "") == first.onion_address
    # tor itself agrees on the address our key file names.
    with own_controller(launch_config) as c:
        detached = c.list_ephemeral_hidden_services(our_services=False, detached=True)
    assert detached == [service_id(first)]

    key_file = tor.key_path(launch_config)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700

    # Restart this tool and tor: the same state dir gives the same address.
    pid = launched_pid(launch_config)
    tor.stop_launched(launch_config)
    assert not Path(f"/proc/{pid}").exists()
    async with following(launch_config) as session:
        second = await until(session, ready, timeout=10)
    assert second.onion_address == first.onion_address

    one_shot = tor.status(launch_config)
    assert one_shot.reachable
    assert one_shot.onion_address == first.onion_address
    assert one_shot.error is None


async def test_kill_9_of_the_launched_tor_is_reported_and_recovered(launch_config: Config) -> None:
    async with following(launch_config) as session:
        first = await until(session, ready)
        pid = launched_pid(launch_config)
        os.kill(pid, signal.SIGKILL)
        down = await until(session, lambda t: not t.reachable)
        assert down.error
        assert "tor stopped" in down.error
        assert down.onion_address == first.onion_address  # still known; it comes back unchanged
        again = await until(session, ready, timeout=30)
    assert again.onion_address == first.onion_address
    assert launched_pid(launch_config) != pid
    with own_controller(launch_config) as c:
        detached = c.list_ephemeral_hidden_services(our_services=False, detached=True)
    assert detached == [service_id(first)]


async def test_a_second_console_shares_the_launched_tor(launch_config: Config) -> None:
    async with following(launch_config) as one, following(launch_config) as two:
        a = await until(one, ready)
        b = await until(two, ready)
    assert a.onion_address == b.onion_address
    with own_controller(launch_config) as c:
        assert len(c.list_ephemeral_hidden_services(our_services=False, detached=True)) == 1


# --- system tor ------------------------------------------------------------------------------------


async def test_system_tor_socket_service_is_detached_and_not_duplicated_on_relogin(
    make_config: MakeConfig, tmp_path: Path, system_tors: Callable[..., SystemTor]
) -> None:
    system = system_tors(tmp_path / "systor")
    config = make_config(
        tor_enabled=True, tor_control_socket=system.socket_path, tor_binary="/nonexistent", ssh_port=SSH_PORT
    )
    async with following(config) as session:
        first = await until(session, ready)
    assert first.mode == tor.MODE_SYSTEM
    assert first.control == str(system.socket_path)
    # The tool has gone (console logout); the service stays with tor.
    assert system.detached() == [service_id(first)]
    async with following(config) as session:
        again = await until(session, ready)
    assert again.onion_address == first.onion_address
    assert system.detached() == [service_id(first)]
    assert not (tor.tor_dir(config) / "tor.pid").exists()  # no tor of our own was started

    one_shot = tor.status(config)
    assert one_shot.reachable
    assert one_shot.mode == tor.MODE_SYSTEM
    assert one_shot.error is None


async def test_system_tor_restart_is_followed_with_the_same_address(
    make_config: MakeConfig, tmp_path: Path, system_tors: Callable[..., SystemTor]
) -> None:
    system = system_tors(tmp_path / "systor")
    config = make_config(tor_enabled=True, tor_control_socket=system.socket_path, ssh_port=SSH_PORT)
    async with following(config) as session:
        first = await until(session, ready)
        system.process.kill()
        system.process.wait()
        down = await until(session, lambda t: not t.reachable)
        assert down.error
        assert "lost the connection" in down.error
        shutil.rmtree(system.directory)
        restarted = system_tors(system.directory)  # systemd bringing it back
        again = await until(session, ready, timeout=40)
    assert again.onion_address == first.onion_address
    assert again.mode == tor.MODE_SYSTEM
    assert restarted.detached() == [service_id(first)]


@pytest.mark.parametrize("use_socket", [True, False], ids=["socket", "port"])
async def test_reconnects_as_soon_as_the_system_tor_is_back(
    make_config: MakeConfig, tmp_path: Path, system_tors: Callable[..., SystemTor], use_socket: bool
) -> None:
    """After an outage of several seconds the backoff has grown (1, 2, 4, 8 s): the new socket (or
    the open port) ends the wait, not the next step."""
    system = system_tors(tmp_path / "systor", use_socket=use_socket)
    config = make_config(
        tor_enabled=True,
        tor_control_socket=system.socket_path,
        tor_control_port=system.port,
        ssh_port=SSH_PORT,
    )
    async with following(config) as session:
        await until(session, ready)
        system.process.kill()  # kill -9 leaves the socket file behind
        system.process.wait()
        await until(session, lambda t: not t.reachable)
        await asyncio.sleep(8)  # the outage; retries at 1, 3 and 7 s fail meanwhile
        back = system_tors(system.directory, use_socket=use_socket, port=system.port)
        started = time.monotonic()
        await until(session, ready, timeout=30)
        took = time.monotonic() - started
    assert took < 4, f"reconnected {took:.1f} s after tor was back"
    assert back.detached() != []


async def test_system_tor_control_port_with_cookie(
    make_config: MakeConfig, tmp_path: Path, system_tors: Callable[..., SystemTor]
) -> None:
    system = system_tors(tmp_path / "systor", use_socket=False)
    config = make_config(
        tor_enabled=True, tor_control_socket=None, tor_control_port=system.port, ssh_port=SSH_PORT
    )
    async with following(config) as session:
        first = await until(session, ready)
    assert first.control == f"127.0.0.1:{system.port}"
    assert system.detached() == [service_id(first)]


async def test_system_tor_control_password_from_a_file(
    make_config: MakeConfig, tmp_path: Path, system_tors: Callable[..., SystemTor]
) -> None:
    secret = "correct horse battery staple"
    system = system_tors(tmp_path / "systor", cookie=False, password_hash=hashed_control_password(secret))
    password_file = tmp_path / "control-password"
    password_file.write_text(secret + "\n")
    password_file.chmod(0o600)
    config = make_config(
        tor_enabled=True,
        tor_control_socket=system.socket_path,
        tor_control_password_file=password_file,
        ssh_port=SSH_PORT,
    )
    async with following(config) as session:
        first = await until(session, ready)
    assert system.detached(secret) == [service_id(first)]


# --- failures: a clear status, the rest of the snapshot intact --------------------------------------


def rest_is_shown(config: Config) -> tuple[dict[str, Any], str]:
    """status --json and status text still carry the password and the ssh part."""
    snap = collect(config, StateStore(config.state_dir))
    doc = json.loads(status.to_json(snap))
    status_schema.validate(doc)
    text = status.to_text(snap)
    assert doc["password"]["password"]
    assert doc["ssh"]["port"] == SSH_PORT
    assert doc["password"]["password"] in text
    return doc, text


async def failing_session(config: Config, check: Callable[[TorStatus], bool]) -> TorStatus:
    store = StateStore(config.state_dir)
    async with following(config, with_others=True) as session:
        result = await until(session, check)
        # The other sources go on: a new password shows up while tor is broken.
        state = rotation.rotate(config, store)
        async with asyncio.timeout(5):
            async for snap in session.snapshots():
                if snap.password == state:
                    break
    return result


async def test_wrong_control_password(
    make_config: MakeConfig,
    tmp_path: Path,
    system_tors: Callable[..., SystemTor],
    caplog: pytest.LogCaptureFixture,
) -> None:
    right, wrong = "Quokka-right-4821", "Wombat-wrong-7390"
    system = system_tors(tmp_path / "systor", cookie=False, password_hash=hashed_control_password(right))
    password_file = tmp_path / "control-password"
    password_file.write_text(wrong + "\n")
    config = make_config(
        tor_enabled=True,
        tor_control_socket=system.socket_path,
        tor_control_password_file=password_file,
        ssh_port=SSH_PORT,
    )
    result = await failing_session(config, lambda t: t.error is not None and "password" in t.error)
    assert not result.reachable
    assert result.mode == tor.MODE_SYSTEM
    assert "rejected the control password" in (result.error or "")
    doc, text = rest_is_shown(config)
    assert "rejected the control password" in doc["tor"]["error"]
    for secret in (right, wrong):
        assert secret not in json.dumps(doc)
        assert secret not in text
        assert secret not in caplog.text
    assert system.detached(right) == []


async def test_wrong_cookie(
    make_config: MakeConfig, tmp_path: Path, system_tors: Callable[..., SystemTor]
) -> None:
    system = system_tors(tmp_path / "systor")
    system.cookie.write_bytes(os.urandom(32))  # not the cookie tor holds in memory
    config = make_config(tor_enabled=True, tor_control_socket=system.socket_path, ssh_port=SSH_PORT)
    result = await failing_session(config, lambda t: t.error is not None and "cookie" in t.error)
    assert not result.reachable
    assert "rejected the cookie" in (result.error or "")
    doc, _ = rest_is_shown(config)
    assert "cookie" in doc["tor"]["error"]


async def test_tor_binary_missing(make_config: MakeConfig, tmp_path: Path) -> None:
    config = make_config(
        tor_enabled=True,
        tor_control_socket=tmp_path / "no-system-tor",
        tor_binary="/nonexistent",
        ssh_port=SSH_PORT,
    )
    result = await failing_session(config, lambda t: t.error is not None and "not installed" in t.error)
    assert not result.reachable
    assert result.mode == tor.MODE_LAUNCHED
    assert result.onion_address is None
    assert result.error == "tor is not installed (/nonexistent not found)"
    doc, text = rest_is_shown(config)
    assert doc["tor"]["reachable"] is False
    assert "Tor          (no onion address yet)" in text
    assert "! tor is not installed (/nonexistent not found)" in text
    assert "torify" not in text  # no hint for a service that is not there


async def test_a_tor_that_fails_to_start_is_explained(launch_config: Config) -> None:
    data = tor.tor_dir(launch_config) / "data"
    data.parent.mkdir(mode=0o700, parents=True)
    data.write_text("not a directory")
    result = await failing_session(launch_config, lambda t: "right after starting" in (t.error or ""))
    assert not result.reachable
    assert (result.error or "").startswith("tor stopped right after starting: ")
    assert "private data directory" in (result.error or "")  # tor's own words
    rest_is_shown(launch_config)


@pytest.mark.parametrize("damage", ["corrupt", "unreadable"])
async def test_bad_key_file_is_reported_and_kept(launch_config: Config, damage: str) -> None:
    key_file = tor.key_path(launch_config)
    key_file.parent.mkdir(mode=0o700, parents=True)
    if damage == "corrupt":
        key_file.write_text("ED25519-V3:not-a-key\n")
    else:
        key_file.mkdir()  # root reads any file; a directory it cannot read as one
    result = await failing_session(launch_config, lambda t: t.reachable and t.error is not None)
    assert result.onion_address is None
    assert str(key_file) in (result.error or "")
    assert ("damaged" if damage == "corrupt" else "cannot read") in (result.error or "")
    if damage == "corrupt":
        assert key_file.read_text() == "ED25519-V3:not-a-key\n"  # nothing lost
    doc, _ = rest_is_shown(launch_config)
    assert doc["tor"]["onion_address"] is None
    with own_controller(launch_config) as c:
        assert c.list_ephemeral_hidden_services(our_services=False, detached=True) == []


async def test_key_is_never_printed_or_logged(
    launch_config: Config, caplog: pytest.LogCaptureFixture, request: pytest.FixtureRequest
) -> None:
    caplog.set_level(1)  # everything, stem's TRACE level included
    # stem traces control traffic only when a handler sits on its own logger, as its tools set up.
    stem_logger = logging.getLogger("stem")
    stem_logger.addHandler(caplog.handler)
    request.addfinalizer(lambda: stem_logger.removeHandler(caplog.handler))
    rotation.rotate(launch_config, StateStore(launch_config.state_dir))
    async with following(launch_config) as session:
        result = await until(session, ready)
    secret = tor.key_path(launch_config).read_text().strip()
    blob = secret.split(":", 1)[1]
    assert stat.S_IMODE(tor.key_path(launch_config).stat().st_mode) == 0o600
    snap = collect(launch_config, StateStore(launch_config.state_dir))
    text, json_text = status.to_text(snap), status.to_json(snap)
    assert result.onion_address
    assert result.onion_address in text
    assert result.onion_address in json_text
    assert f"torify ssh root@{result.onion_address}" in text
    for shown in (text, json_text, caplog.text, repr(snap)):
        assert blob not in shown
        assert blob[:20] not in shown
    assert "ADD_ONION" not in caplog.text  # stem's trace of the control traffic stays off


async def test_the_follower_always_stops_when_cancelled(make_config: MakeConfig, tmp_path: Path) -> None:
    """A cancellation that lands while a worker thread delivers its result must not be lost."""
    config = make_config(tor_enabled=True, tor_control_socket=tmp_path / "none", tor_binary="/nonexistent")
    session = Session(collect(config, StateStore(config.state_dir)))
    for attempt in range(40):
        task = asyncio.create_task(tor.follow(config, session))
        await asyncio.sleep(attempt % 8 * 0.0005)
        task.cancel()
        async with asyncio.timeout(3):
            await asyncio.gather(task, return_exceptions=True)
        assert task.cancelled()


def test_status_is_quick_when_tor_hangs(make_config: MakeConfig, tmp_path: Path) -> None:
    """A control socket that accepts but never answers (a stopped tor) costs at most the timeout."""
    path = tmp_path / "hung" / "control"
    path.parent.mkdir()
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        server.listen()
        config = make_config(tor_enabled=True, tor_control_socket=path, ssh_port=SSH_PORT)
        started = time.monotonic()
        result = tor.status(config, timeout=1.0)
        assert time.monotonic() - started < 3
    assert not result.reachable
    assert "did not answer" in (result.error or "")


def test_json_keys(launch_config: Config) -> None:
    snap = collect(launch_config, StateStore(launch_config.state_dir))
    doc = json.loads(status.to_json(snap))
    status_schema.validate(doc)
    assert set(doc["tor"]) == {
        "reachable",
        "mode",
        "control",
        "bootstrap_percent",
        "bootstrap_phase",
        "onion_address",
        "published",
        "service_added",
        "waiting_for_system",
        "error",
    }
    disabled = collect(
        Config(**{**launch_config.__dict__, "tor_enabled": False}), StateStore(launch_config.state_dir)
    )
    assert json.loads(status.to_json(disabled))["tor"] is None


def test_logging_of_stem_is_muted_after_use() -> None:
    logging.getLogger("stem").setLevel(5)  # stem's own TRACE, as at its first import
    control.import_stem()
    assert logging.getLogger("stem").getEffectiveLevel() >= logging.WARNING


def _voluntary_switches(thread: threading.Thread) -> int:
    status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("voluntary_ctxt")))


def test_stems_event_thread_sleeps_until_an_event_or_the_end(
    make_config: MakeConfig, tmp_path: Path, system_tors: Callable[..., SystemTor]
) -> None:
    """stem's own event thread polls 20 times a second; the controller the tool opens waits for an
    event instead, and still ends when tor goes away."""
    system = system_tors(tmp_path / "systor")
    config = make_config(tor_enabled=True, tor_control_socket=system.socket_path, ssh_port=SSH_PORT)
    endpoint = control.system_endpoint(config)
    assert endpoint is not None
    controller = control.open_controller(endpoint, config)
    try:
        events: list[object] = []
        controller.add_event_listener(events.append, "SIGNAL")
        thread = controller._event_thread
        time.sleep(0.3)
        before = _voluntary_switches(thread)
        time.sleep(2)
        assert _voluntary_switches(thread) - before <= 3  # polling: about 40
        controller.signal("RELOAD")  # tor answers with a SIGNAL event
        deadline = time.monotonic() + 10
        while not events and time.monotonic() < deadline:
            time.sleep(0.05)
        assert events, "no event reached the listener"
        system.process.kill()
        system.process.wait()
        deadline = time.monotonic() + 10
        while thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not thread.is_alive(), "stem's event thread outlived tor"
    finally:
        controller.close()
