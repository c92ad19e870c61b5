"""How long until the onion service is published and a client gets through, on a private Tor network
on loopback (the tests' tests/tornet.py: 3 authorities, 3 relays, a client): from the screen's start
(the tool launches its own tor), and after its tor is killed (the tool starts it again).

Reference, in the same run and on the same network: a bare tor started by hand and given an onion
service with stem's ADD_ONION, timed the same way (start to HS_DESC UPLOADED, to a connection).
The ratio is what the tool's follower adds on top of tor itself.

    .venv/bin/python bench/tor_network.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import queue
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from stem.control import Controller, EventType
from tornet import TorNetwork

from installer_env import tor
from installer_env.config import Config
from installer_env.session import Session, collect
from installer_env.state import StateStore
from installer_env.tor import TorStatus

WAIT = 180.0
BANNER = b"SSH-2.0-bench\r\n"


@contextlib.contextmanager
def banner_server() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def serve() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            with connection:
                connection.sendall(BANNER)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


async def until(session: Session, check: Callable[[TorStatus], bool]) -> TorStatus:
    async with asyncio.timeout(WAIT):
        async for snap in session.snapshots():
            if snap.tor is not None and check(snap.tor):
                return snap.tor
    raise AssertionError("unreachable")


def published(t: TorStatus) -> bool:
    return t.published and t.service_added and t.reachable


async def tool_round(network: TorNetwork, work: Path, port: int) -> tuple[float, float, float, float]:
    """(start to published, start to connection, restart to published, restart to connection)."""
    config = Config(
        state_dir=work / "state",
        tor_control_socket=work / "no-system-tor" / "control",
        tor_binary=str(network.tor_wrapper),
        ssh_port=port,
        wifi_enabled=False,
        ssh_host_keys=str(work / "none" / "*.pub"),
    )
    session = Session(collect(config, StateStore(config.state_dir)))
    started = time.monotonic()
    task = asyncio.create_task(tor.follow(config, session))
    try:
        t = await until(session, published)
        to_published = time.monotonic() - started
        assert t.onion_address is not None
        await asyncio.to_thread(network.reachable, t.onion_address, 22, WAIT)
        to_connection = time.monotonic() - started
        os.kill(int((tor.tor_dir(config) / "tor.pid").read_text()), signal.SIGKILL)
        await until(session, lambda t: not t.reachable)
        restarted = time.monotonic()
        await until(session, published)
        again_published = time.monotonic() - restarted
        await asyncio.to_thread(network.reachable, t.onion_address, 22, WAIT)
        again_connection = time.monotonic() - restarted
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        tor.stop_launched(config)
    return to_published, to_connection, again_published, again_connection


def reference_round(network: TorNetwork, work: Path, port: int) -> tuple[float, float]:
    """A bare tor and ADD_ONION: (start to uploaded, start to connection)."""
    work.mkdir(mode=0o700)
    torrc = work / "torrc"
    torrc.write_text(f"DataDirectory {work / 'data'}\nControlSocket {work / 'control'}\nSocksPort 0\n")
    started = time.monotonic()
    process = network.run_tor(torrc, work / "tor.log")
    try:
        while not (work / "control").exists():
            time.sleep(0.01)
        with Controller.from_socket_file(str(work / "control")) as c:
            c.authenticate()
            uploads: queue.Queue[str] = queue.Queue()
            c.add_event_listener(
                lambda e: uploads.put(str(e.address)) if e.action == "UPLOADED" else None, EventType.HS_DESC
            )
            service = c.create_ephemeral_hidden_service(
                {22: f"127.0.0.1:{port}"}, await_publication=False, key_content="ED25519-V3"
            )
            while uploads.get(timeout=WAIT) != service.service_id:
                pass
            to_uploaded = time.monotonic() - started
            network.reachable(f"{service.service_id}.onion", 22, WAIT)
            return to_uploaded, time.monotonic() - started
    finally:
        process.kill()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tor-bench-") as tmp, banner_server() as port:
        base = Path(tmp)
        network = TorNetwork(base / "network")
        network.start()
        try:
            print(f"network ready after {network.ready_after:.1f} s")
            tool: list[tuple[float, float, float, float]] = []
            reference: list[tuple[float, float]] = []
            for n in range(args.rounds):
                reference.append(reference_round(network, base / f"reference-{n}", port))
                tool.append(asyncio.run(tool_round(network, base / f"tool-{n}", port)))
        finally:
            network.stop()

    def median(values: list[float]) -> str:
        return f"{statistics.median(values):.1f} s ({' '.join(f'{v:.1f}' for v in values)})"

    ref_pub = [r[0] for r in reference]
    ref_conn = [r[1] for r in reference]
    rows = [
        ("reference: bare tor + ADD_ONION, start to uploaded", ref_pub, None),
        ("reference: bare tor + ADD_ONION, start to connection", ref_conn, None),
        ("screen start to published", [t[0] for t in tool], ref_pub),
        ("screen start to first connection", [t[1] for t in tool], ref_conn),
        ("own tor killed: to published again", [t[2] for t in tool], None),
        ("own tor killed: to a connection again", [t[3] for t in tool], None),
    ]
    print("| what | median (runs) | ratio to the reference |")
    print("| --- | --- | --- |")
    for name, values, against in rows:
        ratio = f"{statistics.median(values) / statistics.median(against):.2f}" if against else "-"
        print(f"| {name} | {median(values)} | {ratio} |")


if __name__ == "__main__":
    main()
