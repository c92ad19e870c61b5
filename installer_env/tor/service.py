"""Keeping the onion service up: the `follow()` session source, which reconnects (and relaunches our
own tor) with backoff and re-adds the same service, and the one-shot `status()` for `status`."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from installer_env.config import Config
from installer_env.tor.control import (
    CALL_TIMEOUT,
    Endpoint,
    bootstrap,
    call_with_deadline,
    choose_endpoint,
    close_quietly,
    ensure_service,
    import_stem,
    off_loop,
    open_controller,
    parse_bootstrap,
)
from installer_env.tor.keyfile import ensure_key, key_path, read_key
from installer_env.tor.launch import LAUNCH_TIMEOUT, launch, tor_binary
from installer_env.tor.model import MODE_LAUNCHED, MODE_SYSTEM, TorProblem, TorStatus

if TYPE_CHECKING:
    from installer_env.session import Session

log = logging.getLogger(__name__)

HEALTH_INTERVAL = 30.0  # a tor that hangs without closing its socket is noticed this late at worst
MAX_BACKOFF = 30.0


# --- one look, for `status` ------------------------------------------------------------------------


def status(config: Config, timeout: float = 2.0) -> TorStatus:
    """One quick look: the address from the key file, and whether tor answers and has the service.

    Never starts tor and never waits longer than about `timeout` seconds.
    """
    endpoint = choose_endpoint(config)
    base = TorStatus(mode=endpoint.mode, control=endpoint.label)
    try:
        key = read_key(key_path(config))
    except TorProblem as e:
        key, base = None, dataclasses.replace(base, error=str(e))
    if key is not None:
        base = dataclasses.replace(base, onion_address=key.address)
    if endpoint.mode == MODE_LAUNCHED and not (endpoint.socket_path and endpoint.socket_path.exists()):
        try:
            tor_binary(config)
            problem = "tor is not running (the console screen starts it)"
        except TorProblem as e:
            problem = str(e)
        return dataclasses.replace(base, error=base.error or problem)

    def look() -> tuple[int, str, bool]:
        controller = open_controller(endpoint, config)
        try:
            percent, phase = bootstrap(controller)
            detached = controller.list_ephemeral_hidden_services(our_services=False, detached=True)
            present = key is not None and key.address.removesuffix(".onion") in detached
            return percent, phase, present
        finally:
            controller.close()

    try:
        percent, phase, present = call_with_deadline(look, timeout, endpoint.describe)
    except TorProblem as e:
        return dataclasses.replace(base, error=base.error or str(e))
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

    def warn(self, problem: str) -> None:
        if problem != self.last_warning:  # once per problem, not once per retry
            log.warning("tor: %s", problem)
            self.last_warning = problem

    def publish(self, **changes: Any) -> None:
        current = self.session.snapshot.tor or TorStatus()
        self.session.publish(dataclasses.replace(current, **changes))

    def handle_hs_desc(self, connection: _Connection, action: str, address: str) -> None:
        if connection is self.current and action == "UPLOADED" and address == self.service_id:
            self.publish(published=True)

    def handle_status(self, connection: _Connection, line: str) -> None:
        parsed = parse_bootstrap(line)
        if connection is self.current and parsed is not None:
            self.publish(bootstrap_percent=parsed[0], bootstrap_phase=parsed[1])

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

    async def run(self) -> None:
        delay = 1.0
        system_seen = False
        try:
            key = read_key(key_path(self.config))
        except TorProblem as e:
            key = None
            self.publish(error=str(e))
        if key is not None:
            self.publish(onion_address=key.address)
        while True:
            endpoint = choose_endpoint(self.config, system_seen)
            self.publish(mode=endpoint.mode, control=endpoint.label)
            connection = _Connection(self)
            self.current = connection
            try:
                await off_loop(
                    functools.partial(self.connect, endpoint, connection),
                    LAUNCH_TIMEOUT + CALL_TIMEOUT,
                    endpoint.describe,
                )
            except TorProblem as e:
                self.publish(reachable=False, published=False, service_added=False, error=str(e))
                self.warn(str(e))
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
                continue
            system_seen = system_seen or endpoint.mode == MODE_SYSTEM
            started = self.loop.time()
            try:
                lost = await self.serve(connection, endpoint)
            finally:
                self.current = None
                threading.Thread(target=connection.close, daemon=True).start()
            self.publish(reachable=False, published=False, service_added=False, error=lost)
            self.warn(lost)
            if self.loop.time() - started > 60:
                delay = 1.0
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)

    async def serve(self, connection: _Connection, endpoint: Endpoint) -> str:
        """Keep the service added while the connection lasts; returns why it ended, in words."""
        controller = connection.controller
        service_ready = False
        first = True
        while not connection.closed.is_set():
            # Also notices a tor that hangs without closing its socket.
            try:
                percent, phase = await off_loop(
                    lambda: bootstrap(controller), CALL_TIMEOUT, endpoint.describe
                )
            except TorProblem as e:
                return f"{e}; reconnecting"
            if first:  # what kept us from connecting is over
                self.publish(reachable=True, error=None)
                first = False
            self.publish(bootstrap_percent=percent, bootstrap_phase=phase)
            if not service_ready:
                try:
                    key = await off_loop(lambda: ensure_key(self.config), CALL_TIMEOUT, "the state directory")
                    self.service_id = key.address.removesuffix(".onion")
                    self.publish(onion_address=key.address)
                    port = self.session.snapshot.ssh.port
                    await off_loop(
                        functools.partial(ensure_service, controller, key, port),
                        CALL_TIMEOUT,
                        endpoint.describe,
                    )
                    service_ready = True
                    self.publish(service_added=True, error=None)
                except TorProblem as e:
                    if not controller.is_alive():
                        break
                    self.publish(error=str(e))
            # The loop ends when the connection closes; a timeout means: look again.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HEALTH_INTERVAL if service_ready else 10.0):
                    await connection.closed.wait()
        if endpoint.mode == MODE_LAUNCHED:
            return "tor stopped (its control connection closed); starting it again"
        return f"lost the connection to {endpoint.describe} (tor stopped or restarted); reconnecting"


async def follow(config: Config, session: Session) -> None:
    """The session source: keeps the onion service up and `snapshot.tor` current, until cancelled."""
    if not config.tor_enabled:
        return
    await _Follower(config, session).run()
