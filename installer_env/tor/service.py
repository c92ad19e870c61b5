"""Keeping the onion service up: the `follow()` session source, which reconnects (and relaunches our
own tor) with backoff, waits for an expected system tor, moves the service to the system tor when one
appears, re-adds it when sshd's port changes and asks the HSDirs whether it is published; and the
one-shot `status()` for `status`."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from installer_env.backoff import Backoff
from installer_env.config import Config
from installer_env.tor import presence
from installer_env.tor.control import (
    CALL_TIMEOUT,
    Endpoint,
    bootstrap,
    call_with_deadline,
    choose_endpoint,
    close_quietly,
    descriptor_published,
    ensure_service,
    import_stem,
    off_loop,
    open_controller,
    parse_bootstrap,
    system_endpoint,
    system_present,
)
from installer_env.tor.keyfile import ensure_key, key_path, read_key, tor_dir
from installer_env.tor.launch import LAUNCH_TIMEOUT, launch, stop_launched, tor_binary
from installer_env.tor.model import MODE_LAUNCHED, MODE_SYSTEM, TorProblem, TorStatus

if TYPE_CHECKING:
    from installer_env.session import Session

log = logging.getLogger(__name__)

HEALTH_INTERVAL = 30.0  # a tor that hangs without closing its socket is noticed this late at worst
MAX_BACKOFF = 30.0
FETCH_TIMEOUT = 20.0  # one look at the HSDirs (a few circuits on the real network)
STATUS_FETCH_TIMEOUT = 3.0  # the same for `status`, which must answer quickly
RECHECK_PUBLISHED = 600.0  # a published descriptor is looked for again this often
RECHECK_UNPUBLISHED = 15.0  # one not found yet (tor uploads it within seconds of ADD_ONION)
_FOUND_WORDS = {True: "have", False: "do not have", None: "did not say whether they have"}
MOVING = "the system tor started; moving the onion service to it"


# --- one look, for `status` ------------------------------------------------------------------------


def status(config: Config, timeout: float = 2.0, fetch_timeout: float = STATUS_FETCH_TIMEOUT) -> TorStatus:
    """One quick look: the address from the key file, whether tor answers and has the service, and
    whether the HSDirs have its descriptor (what clients see, `published`).

    Never starts tor and never waits longer than about `timeout` + `fetch_timeout` seconds.
    """
    endpoint = choose_endpoint(config)
    base = TorStatus(mode=endpoint.mode, control=endpoint.label)
    try:
        key = read_key(key_path(config))
    except TorProblem as e:
        key, base = None, dataclasses.replace(base, error=str(e))
    if key is not None:
        base = dataclasses.replace(base, onion_address=key.address)
    if endpoint.mode == MODE_SYSTEM and not system_present(endpoint):
        return dataclasses.replace(base, waiting_for_system=True)
    if endpoint.mode == MODE_LAUNCHED and not (endpoint.socket_path and endpoint.socket_path.exists()):
        try:
            tor_binary(config)
            problem = "tor is not running (the console screen starts it)"
        except TorProblem as e:
            problem = str(e)
        return dataclasses.replace(base, error=base.error or problem)

    service_id = key.address.removesuffix(".onion") if key is not None else None

    def look() -> tuple[Any, int, str, bool]:
        controller = open_controller(endpoint, config)
        try:
            percent, phase = bootstrap(controller)
            detached = controller.list_ephemeral_hidden_services(our_services=False, detached=True)
        except BaseException:
            controller.close()
            raise
        return controller, percent, phase, service_id is not None and service_id in detached

    try:
        controller, percent, phase, present = call_with_deadline(look, timeout, endpoint.describe)
    except TorProblem as e:
        return dataclasses.replace(base, error=base.error or str(e))
    published = False
    try:
        if present and percent >= 100 and service_id is not None:
            # A separate deadline: a tor that answered so far is not hung, the HSDirs may be slow.
            found = call_with_deadline(
                lambda: descriptor_published(controller, service_id, fetch_timeout),
                fetch_timeout + 1.0,
                endpoint.describe,
            )
            published = found is True
    except TorProblem as e:
        log.info("cannot look the onion service up: %s", e)
    finally:
        threading.Thread(target=close_quietly, args=(controller,), daemon=True).start()
    error = base.error
    if error is None and not present:
        error = "the onion service is not running yet (the console screen adds it)"
    return dataclasses.replace(
        base,
        reachable=True,
        bootstrap_percent=percent,
        bootstrap_phase=phase,
        error=error,
        service_added=present,
        published=published,
    )


# --- the follower ----------------------------------------------------------------------------------


class _Connection:
    """One control connection: stem's callbacks for it reach the event loop only while it is current."""

    def __init__(self, follower: _Follower) -> None:
        self.follower = follower
        self.closed = asyncio.Event()
        self.controller: Any = None

    def close(self) -> None:
        if self.controller is not None:
            close_quietly(self.controller)

    def _to_loop(self, callback: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone
            self.follower.loop.call_soon_threadsafe(callback, *args)

    def on_event(self, event: Any) -> None:  # stem's event thread
        if getattr(event, "type", None) == "HS_DESC":
            self._to_loop(self.follower.handle_hs_desc, self, str(event.action), str(event.address))
        else:
            self._to_loop(self.follower.handle_status, self, str(event))

    def on_state(self, _controller: Any, state: Any, _timestamp: float) -> None:  # stem's threads
        if state == import_stem().control.State.CLOSED:
            self._to_loop(self.closed.set)


class _Follower:
    """Keeps the onion service up and the snapshot's `tor` current, reconnecting with backoff."""

    def __init__(self, config: Config, session: Session) -> None:
        self.config = config
        self.session = session
        self.loop = asyncio.get_running_loop()
        self.service_id: str | None = None
        self.current: _Connection | None = None
        self.last_warning: str | None = None
        self.backoff = Backoff(maximum=MAX_BACKOFF)
        # Set when serve() has something new to act on: bootstrap done, sshd's port changed.
        self.wake = asyncio.Event()
        self.mapped_port: int | None = None  # where tor sends the service's connections now

    def warn(self, problem: str) -> None:
        if problem != self.last_warning:  # once per problem, not once per retry
            log.warning("tor: %s", problem)
            self.last_warning = problem

    @property
    def tor(self) -> TorStatus:
        return self.session.snapshot.tor or TorStatus()

    def publish(self, **changes: Any) -> None:
        self.session.publish(dataclasses.replace(self.tor, **changes))

    def handle_hs_desc(self, connection: _Connection, action: str, address: str) -> None:
        if connection is self.current and action == "UPLOADED" and address == self.service_id:
            self.publish(published=True)

    def handle_status(self, connection: _Connection, line: str) -> None:
        parsed = parse_bootstrap(line)
        if connection is self.current and parsed is not None:
            if parsed[0] >= 100 > self.tor.bootstrap_percent:
                self.wake.set()  # time to look whether the service is published
            self.publish(bootstrap_percent=parsed[0], bootstrap_phase=parsed[1])

    async def follow_ssh_port(self) -> None:
        async for snap in self.session.snapshots():
            if self.mapped_port is not None and snap.ssh.port != self.mapped_port:
                self.wake.set()

    def connect(self, endpoint: Endpoint, connection: _Connection) -> _Connection:
        stem = import_stem()
        if endpoint.mode == MODE_LAUNCHED:
            controller = launch(self.config, endpoint)
        else:
            controller = open_controller(endpoint, self.config)
        connection.controller = controller
        try:
            controller.add_status_listener(connection.on_state)
            controller.add_event_listener(
                connection.on_event, stem.control.EventType.STATUS_CLIENT, stem.control.EventType.HS_DESC
            )
            if not controller.is_alive():
                raise TorProblem(f"{endpoint.describe} closed the connection")
        except BaseException:
            controller.close()
            raise
        return connection

    async def retry_later(self, endpoint: Endpoint) -> None:
        """The backoff wait, cut short when the endpoint comes back (a new socket, an open port)."""
        seen = await presence.observe(endpoint)
        await self.backoff.wait(lambda: presence.returns(endpoint, seen))

    async def run(self) -> None:
        system_seen = False
        try:
            key = read_key(key_path(self.config))
        except TorProblem as e:
            key = None
            self.publish(error=str(e))
        if key is not None:
            self.publish(onion_address=key.address)
        port_watch = asyncio.create_task(self.follow_ssh_port(), name="tor-ssh-port")
        try:
            while True:
                endpoint = choose_endpoint(self.config, system_seen)
                waiting = endpoint.mode == MODE_SYSTEM and not system_present(endpoint)
                self.publish(mode=endpoint.mode, control=endpoint.label, waiting_for_system=waiting)
                if waiting:  # an expected system tor: no tor of our own meanwhile (one key, one tor)
                    self.publish(reachable=False, published=False, service_added=False)
                    await presence.appears(endpoint)
                    continue
                if await self.attempt(endpoint):
                    system_seen = system_seen or endpoint.mode == MODE_SYSTEM
        finally:
            port_watch.cancel()

    async def attempt(self, endpoint: Endpoint) -> bool:
        """Connect and serve until the connection ends, then wait as it deserves; True if connected."""
        connection = _Connection(self)
        self.current = connection
        try:
            await off_loop(
                functools.partial(self.connect, endpoint, connection),
                LAUNCH_TIMEOUT + CALL_TIMEOUT,
                endpoint.describe,
            )
        except TorProblem as e:
            self.current = None
            self.publish(reachable=False, published=False, service_added=False, error=str(e))
            self.warn(str(e))
            await self.retry_later(endpoint)
            return False
        self.backoff.started()
        try:
            lost = await self.serve(connection, endpoint)
        finally:
            self.current = None
            self.mapped_port = None
            threading.Thread(target=connection.close, daemon=True).start()
        self.publish(reachable=False, published=False, service_added=False, error=lost)
        if lost == MOVING:
            log.info("tor: %s", lost)
        else:
            self.warn(lost)
            await self.retry_later(endpoint)
        return True

    async def check_published(self, controller: Any, endpoint: Endpoint) -> None:
        service_id = self.service_id
        if service_id is None:
            return
        try:
            found = await off_loop(
                functools.partial(descriptor_published, controller, service_id, FETCH_TIMEOUT),
                FETCH_TIMEOUT + CALL_TIMEOUT,
                endpoint.describe,
            )
        except TorProblem as e:
            log.info("tor: cannot look the onion service up: %s", e)
            return
        log.info("tor: the HSDirs %s the onion service's current descriptor", _FOUND_WORDS[found])
        if found is not None and self.current is not None:
            self.publish(published=found)

    async def add_service(self, controller: Any, endpoint: Endpoint) -> None:
        key = await off_loop(lambda: ensure_key(self.config), CALL_TIMEOUT, "the state directory")
        self.service_id = key.address.removesuffix(".onion")
        self.publish(onion_address=key.address)
        port = self.session.snapshot.ssh.port
        added = await off_loop(
            functools.partial(ensure_service, controller, key, port, tor_dir(self.config)),
            CALL_TIMEOUT,
            endpoint.describe,
        )
        self.mapped_port = port
        if added:
            self.publish(published=False)  # a new descriptor is on its way
        self.publish(service_added=True, error=None)
        if endpoint.mode == MODE_SYSTEM and not self.config.demo:
            # A tor of our own from before the system tor came up must not publish the same key too.
            await asyncio.to_thread(stop_launched, self.config)

    async def serve(self, connection: _Connection, endpoint: Endpoint) -> str:
        """Keep the service added while the connection lasts; returns why it ended, in words."""
        controller = connection.controller
        first = True
        next_lookup = self.loop.time()  # when to ask the HSDirs whether the service is published
        closed = asyncio.create_task(connection.closed.wait())
        system = system_endpoint(self.config)
        arrival: asyncio.Task[None] | None = None
        if endpoint.mode == MODE_LAUNCHED and system is not None:
            arrival = asyncio.create_task(presence.appears(system))
        try:
            while not connection.closed.is_set():
                if arrival is not None and arrival.done():
                    return MOVING
                self.wake.clear()
                # Also notices a tor that hangs without closing its socket.
                try:
                    percent, phase = await off_loop(
                        lambda: bootstrap(controller), CALL_TIMEOUT, endpoint.describe
                    )
                except TorProblem as e:
                    if connection.closed.is_set() or not controller.is_alive():
                        break  # tor went away while we asked
                    return f"{e}; reconnecting"
                if first:  # what kept us from connecting is over
                    self.publish(reachable=True, error=None)
                    first = False
                self.publish(bootstrap_percent=percent, bootstrap_phase=phase)
                if self.mapped_port != self.session.snapshot.ssh.port:
                    try:
                        await self.add_service(controller, endpoint)
                    except TorProblem as e:
                        if not controller.is_alive():
                            break
                        self.publish(error=str(e))
                ready = self.mapped_port is not None
                if ready and percent >= 100 and self.loop.time() >= next_lookup:
                    await self.check_published(controller, endpoint)
                    published = self.tor.published
                    next_lookup = self.loop.time() + (RECHECK_PUBLISHED if published else RECHECK_UNPUBLISHED)
                interval = HEALTH_INTERVAL if ready else 10.0
                if ready and percent >= 100:
                    interval = max(0.0, min(interval, next_lookup - self.loop.time()))
                # Until the connection closes, the system tor appears, or there is news.
                signs: set[asyncio.Future[Any]] = {closed, asyncio.ensure_future(self.wake.wait())}
                if arrival is not None:
                    signs.add(arrival)
                await asyncio.wait(signs, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
                for sign in signs - {closed, arrival}:
                    sign.cancel()
        finally:
            for task in (closed, arrival):
                if task is not None and not task.done():
                    task.cancel()
        if endpoint.mode == MODE_LAUNCHED:
            return "tor stopped (its control connection closed); starting it again"
        return f"lost the connection to {endpoint.describe} (tor stopped or restarted); reconnecting"


async def follow(config: Config, session: Session) -> None:
    """The session source: keeps the onion service up and `snapshot.tor` current, until cancelled."""
    if not config.tor_enabled:
        return
    await _Follower(config, session).run()
