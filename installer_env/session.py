"""The snapshot every view renders from, and the loop that keeps it current.

Sources (state file, sshd, netlink, tor, iwd) each run as a task that hands `Session.publish` a
value of its own type; views iterate `Session.snapshots()` and never talk to a source themselves,
and render through `installer_env.presentation`, so the screen, the serial text and `status --json`
cannot disagree.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from installer_env import kexec, network, sshd, statussocket, tor, wifi
from installer_env.backoff import Backoff
from installer_env.config import Config
from installer_env.hostname import names
from installer_env.network import NetworkSnapshot
from installer_env.state import PasswordState, StateStore, read_password
from installer_env.tor import TorStatus
from installer_env.wifi import WifiStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    hostname: str
    mdns_name: str | None
    password: PasswordState | None
    password_problem: str | None
    ssh: sshd.SshdStatus
    network: NetworkSnapshot | None = None
    wifi: WifiStatus | None = None  # None when the Wi-Fi helper is disabled
    tor: TorStatus | None = None  # None when tor is disabled
    # Why this console's login could not make a new password (the previous one, if any, still works).
    rotation_problem: str | None = None
    # Set when this installer was started by kexec/run: what it kept from the old system.
    kexec: kexec.KexecBoot | None = None


@dataclass(frozen=True)
class PasswordReading:
    """What the state file holds now: the password, or None and why there is none."""

    state: PasswordState | None
    problem: str | None


@dataclass(frozen=True)
class NewPassword:
    """This console made a new password: it replaces the old one and any earlier failure to."""

    state: PasswordState


# Each source's own type: a value of any other type, or a misspelt field, fails the type check.
SourceValue = PasswordReading | NewPassword | sshd.SshdStatus | NetworkSnapshot | WifiStatus | TorStatus


def collect(config: Config, store: StateStore, *, live: bool = False, spare_cpu: bool = True) -> Snapshot:
    """Everything at once: for one-shot views such as `status`, and the first snapshot of a live one.

    A `live` view runs the sources itself. Its Wi-Fi part is left to the follower (a D-Bus that does
    not answer would otherwise hold up the first frame for the whole D-Bus timeout), and its tor
    part is what the key file says (the address) rather than a one-shot look, whose advice ("the
    console screen starts it") is for `status`.

    `spare_cpu`: False where another process already has the CPU this one does not use (the
    screen's, importing textual while its first snapshot is collected here): `sshd -T` then runs
    before netlink is read, not beside it, since a third process beside those two takes turns with
    them (on two CPUs it held the screen's process back by about 12 ms).
    """
    state, problem = read_password(store)
    name, mdns_name = names(config)
    if spare_cpu:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="collect-sshd") as pool:
            # `sshd -T` is another process: it runs while this thread reads netlink and tor.
            ssh_pending = pool.submit(sshd.status, config)
            net, tor_status = _network_and_tor(config, live)
            ssh = ssh_pending.result()
    else:
        ssh = sshd.status(config)
        net, tor_status = _network_and_tor(config, live)
    return Snapshot(
        hostname=name,
        mdns_name=mdns_name,
        password=state,
        password_problem=problem,
        ssh=ssh,
        network=net,
        wifi=wifi.read_status() if config.wifi_enabled and not live else None,
        tor=tor_status,
        kexec=kexec.read(config.kexec_state_dir),
    )


def _network_and_tor(config: Config, live: bool) -> tuple[NetworkSnapshot, TorStatus | None]:
    net = network.read()
    if not config.tor_enabled:
        return net, None
    return net, _tor_before_follow(config) if live else tor.status(config)


def _tor_before_follow(config: Config) -> TorStatus:
    """Which tor, and the address the key file names: all a live view knows before its tor source
    reports (a damaged key file is the source's to report, in words)."""
    endpoint = tor.choose_endpoint(config)
    try:
        key = tor.read_key(tor.key_path(config))
    except tor.TorProblem:
        key = None
    return TorStatus(
        mode=endpoint.mode, control=endpoint.label, onion_address=key.address if key is not None else None
    )


class Session:
    """Holds the current snapshot and hands every change to each subscriber (latest wins)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        self._subscribers: set[asyncio.Queue[Snapshot]] = set()

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def publish(self, value: SourceValue) -> None:
        """A source's new value; every view is notified unless the snapshot stays the same.

        Call it on the event loop's thread (from a worker thread: `loop.call_soon_threadsafe`),
        as the queues are asyncio's.
        """
        self.replace(_with(self._snapshot, value))

    def replace(self, new: Snapshot) -> None:
        """A whole new snapshot (tests, and the values above); unchanged notifies no one."""
        if new == self._snapshot:
            return
        self._snapshot = new
        for queue in self._subscribers:
            if queue.full():  # a slow view skips to the newest snapshot
                queue.get_nowait()
            queue.put_nowait(new)

    async def snapshots(self) -> AsyncGenerator[Snapshot, None]:
        """The current snapshot, then every later one."""
        queue: asyncio.Queue[Snapshot] = asyncio.Queue(maxsize=1)
        self._subscribers.add(queue)
        try:
            yield self._snapshot
            while True:
                yield await queue.get()
        finally:
            self._subscribers.discard(queue)


def _with(snap: Snapshot, value: SourceValue) -> Snapshot:
    match value:
        case PasswordReading(state, problem):
            return dataclasses.replace(snap, password=state, password_problem=problem)
        case NewPassword(state):
            return dataclasses.replace(snap, password=state, password_problem=None, rotation_problem=None)
        case sshd.SshdStatus():
            return dataclasses.replace(snap, ssh=value)
        case NetworkSnapshot():
            return dataclasses.replace(snap, network=value)
        case WifiStatus():
            return dataclasses.replace(snap, wifi=value)
        case TorStatus():
            return dataclasses.replace(snap, tor=value)


async def follow_password(store: StateStore, session: Session) -> None:
    """Another console rotating the password shows up here at once (half a second at most while
    the state directory does not exist yet)."""
    async for seen in store.watch(interval=0.5):
        # The watch has read the file already; only when there is no state, read again for why.
        state, problem = (seen, None) if seen is not None else read_password(store)
        session.publish(PasswordReading(state, problem))


async def supervise(name: str, source: Callable[[], Awaitable[None]]) -> None:
    """Keep one source running: a source that crashes is restarted with backoff, the others go on.

    Sources report their own expected failures in the snapshot (tor absent, no iwd, ...); this is
    the net for the unexpected ones, so one broken source never takes the screen down.
    """
    backoff = Backoff()
    while True:
        backoff.started()
        try:
            await source()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("source %s failed; restarting it", name)
        await backoff.wait()


async def run_sources(config: Config, store: StateStore, session: Session) -> None:
    """Every source of the snapshot, each in its own supervised task, until cancelled."""
    ports = sshd.ListeningPorts()  # one sock_diag socket on this loop, for both that ask
    sources: dict[str, Callable[[], Awaitable[None]]] = {
        "password": lambda: follow_password(store, session),
        "sshd": lambda: follow_sshd(config, session, ports),
        "network": lambda: network.follow(session),
        "status-socket": lambda: statussocket.serve(config, session, ports),
    }
    if config.wifi_enabled:
        sources["wifi"] = lambda: wifi.follow(session)
    if config.tor_enabled:
        sources["tor"] = lambda: tor.follow(config, session)
    try:
        async with asyncio.TaskGroup() as group:
            for name, source in sources.items():
                group.create_task(supervise(name, source), name=f"source-{name}")
    finally:
        ports.close()


async def follow_sshd(
    config: Config,
    session: Session,
    ports: sshd.ListeningPorts,
    interval: float = 5.0,
    full_look_every: float = 30.0,
) -> None:
    """sshd starting or stopping shows within `interval`: whether its port listens is one sock_diag
    question (about a third of a millisecond, all of the idle screen's CPU: hence 5 s, not faster).
    The whole look (host keys, sshd processes, `sshd -T` after a failed one) runs when that
    changes, and every `full_look_every` seconds for what changes without it."""
    loop = asyncio.get_running_loop()
    last_full_look = loop.time()
    while True:
        await asyncio.sleep(interval)
        if await refresh_sshd(config, session, ports, full=loop.time() - last_full_look >= full_look_every):
            last_full_look = loop.time()


async def refresh_sshd(
    config: Config, session: Session, ports: sshd.ListeningPorts, *, full: bool = False
) -> bool:
    """Ask whether sshd's port listens; when that changed (or `full`), look at sshd again and
    publish it. True when it looked again."""
    current = session.snapshot.ssh
    listening = await ports.listens(current.port)
    if listening == current.listening and not full:
        return False
    # A known port skips `sshd -T`; after a failed one, ask again (sshd may since be set up).
    if current.port_known:
        session.publish(await asyncio.to_thread(sshd.status, config, current.port, listening))
    else:
        session.publish(await asyncio.to_thread(sshd.status, config))
    return True
