"""Talking to tor over its control connection: which tor, connecting and authenticating, bootstrap
progress, adding the onion service. All of stem is here, imported on first use (it is slow to import
and barely maintained), and it runs in worker threads with a deadline, never on the event loop."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from installer_env.config import Config
from installer_env.tor.keyfile import locked, tor_dir
from installer_env.tor.model import MODE_LAUNCHED, MODE_SYSTEM, TorProblem, os_words
from installer_env.tor.onion import KEY_TYPE, OnionKey

log = logging.getLogger(__name__)

T = TypeVar("T")

VIRTUAL_PORT = 22  # what `torify ssh root@<id>.onion` connects to
CONTROL_SOCKET = "control"  # the launched tor's control socket, in tor_dir()
CALL_TIMEOUT = 15.0
TARGET_FILE = "ssh-onion.port"  # the local port the service was added with, in tor_dir()
FETCH_ATTEMPTS = 3


@dataclass(frozen=True)
class Endpoint:
    mode: str
    socket_path: Path | None = None
    port: int | None = None

    @property
    def label(self) -> str:
        return str(self.socket_path) if self.socket_path is not None else f"127.0.0.1:{self.port}"

    @property
    def describe(self) -> str:
        if self.mode == MODE_LAUNCHED:
            return f"this tool's tor (control socket {self.label})"
        kind = "socket" if self.socket_path is not None else "port"
        return f"the system tor's control {kind} {self.label}"


def system_endpoint(config: Config) -> Endpoint | None:
    """Where a system tor would be (the demo never touches one)."""
    if config.demo:
        return None
    if config.tor_control_port is not None:
        return Endpoint(MODE_SYSTEM, port=config.tor_control_port)
    if config.tor_control_socket is not None:
        return Endpoint(MODE_SYSTEM, socket_path=config.tor_control_socket)
    return None


def choose_endpoint(config: Config, system_seen: bool = False) -> Endpoint:
    """The system tor when it is configured and there, or expected (`tor_system`), else our own.

    A socket path alone is a default and proves nothing, so without `tor_system` a missing socket
    means a tor of our own. `system_seen` keeps a follower on the system tor while it restarts
    (its socket is gone for a moment), rather than starting a second tor with the same key.
    """
    system = system_endpoint(config)
    if system is not None and (
        system.port is not None or system_seen or config.tor_system or system_present(system)
    ):
        return system
    return Endpoint(MODE_LAUNCHED, socket_path=tor_dir(config) / CONTROL_SOCKET)


def system_present(endpoint: Endpoint) -> bool:
    """A control port counts as there (it is configured on purpose); a socket when its file exists."""
    return endpoint.socket_path is None or endpoint.socket_path.exists()


def import_stem() -> Any:
    """Import stem on first use; its logger is muted because it traces every control message,
    ADD_ONION's private key included."""
    import stem
    import stem.connection
    import stem.control

    logging.getLogger("stem").setLevel(logging.WARNING)
    return stem


# --- connecting ------------------------------------------------------------------------------------


def _read_password(config: Config) -> str | None:
    path = config.tor_control_password_file
    if path is None:
        return None
    try:
        password: str = path.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as e:
        reason = os_words(e) if isinstance(e, OSError) else "it is not text"
        raise TorProblem(f"cannot read the tor control password file {path}: {reason}") from None
    return password


def _socket_words(e: Exception) -> str:
    cause = e.args[0] if e.args else e
    if isinstance(cause, OSError):
        return os_words(cause)
    return re.sub(r"^\[Errno \d+\] ", "", str(cause)) or type(e).__name__


def _auth_words(e: Exception, endpoint: Endpoint, config: Config) -> str:
    stem = import_stem()
    conn = stem.connection
    where = endpoint.describe
    if isinstance(e, conn.IncorrectPassword | conn.PasswordAuthRejected):
        return f"{where} rejected the control password from {config.tor_control_password_file}"
    if isinstance(e, conn.MissingPassword):
        return f"{where} wants a control password: set tor_control_password_file"
    if isinstance(e, conn.UnreadableCookieFile):
        return f"cannot read the cookie file of {where}: {e}"
    if isinstance(e, conn.CookieAuthFailed):
        cookie = getattr(e, "cookie_path", None) or "its cookie file"
        return f"{where} rejected the cookie from {cookie} (tor restarted, or the file is not tor's)"
    return f"cannot authenticate to {where}: {e}"


def open_controller(endpoint: Endpoint, config: Config) -> Any:
    """An authenticated stem Controller, or TorProblem in words."""
    stem = import_stem()
    try:
        if endpoint.socket_path is not None:
            controller = stem.control.Controller.from_socket_file(str(endpoint.socket_path))
        else:
            controller = stem.control.Controller.from_port("127.0.0.1", endpoint.port)
    except stem.SocketError as e:
        raise TorProblem(f"cannot connect to {endpoint.describe}: {_socket_words(e)}") from None
    try:
        password = _read_password(config) if endpoint.mode == MODE_SYSTEM else None
        controller.authenticate(password=password)
    except stem.connection.AuthenticationFailure as e:
        controller.close()
        raise TorProblem(_auth_words(e, endpoint, config)) from None
    except stem.ControllerError as e:
        controller.close()
        raise TorProblem(f"{endpoint.describe} failed: {e}") from None
    except TorProblem:
        controller.close()
        raise
    _stop_event_polling(controller)
    return controller


class _WakeOnSet(threading.Event):
    """stem's event thread waits on its notice with a 50 ms timeout: 20 wake-ups a second for as
    long as the screen runs, most of its idle CPU with tor on. stem sets the notice for every event
    it queues and when the socket closes, so waiting for that alone loses nothing."""

    def wait(self, timeout: float | None = None) -> bool:
        return super().wait(None)


def _stop_event_polling(controller: Any) -> None:
    # Before any listener is added no event is queued yet, so swapping the notice races with none;
    # one set() wakes the thread from the old notice's wait onto this one.
    notice = _WakeOnSet()
    controller._event_notice = notice
    notice.set()


# --- asking and telling tor ------------------------------------------------------------------------

_PROGRESS = re.compile(r"\bPROGRESS=(\d+)")
_SUMMARY = re.compile(r'\bSUMMARY="((?:[^"\\]|\\.)*)"')


def parse_bootstrap(line: str) -> tuple[int, str] | None:
    """(percent, phase) from a BOOTSTRAP status line or event, as tor reports its progress."""
    progress = _PROGRESS.search(line)
    if "BOOTSTRAP" not in line or progress is None:
        return None
    summary = _SUMMARY.search(line)
    phase = re.sub(r"\\(.)", r"\1", summary.group(1)) if summary else ""
    return min(int(progress.group(1)), 100), phase


def bootstrap(controller: Any) -> tuple[int, str]:
    return parse_bootstrap(controller.get_info("status/bootstrap-phase")) or (0, "")


def _recorded_port(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _record_port(path: Path, port: int) -> None:
    try:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(f"{port}\n", encoding="ascii")
        tmp.replace(path)
    except OSError as e:
        log.warning("cannot record the onion service's target port in %s: %s", path, os_words(e))


def ensure_service(controller: Any, key: OnionKey, target_port: int, directory: Path) -> bool:
    """Make tor hold the detached service, mapped to `target_port`; True when it was (re)added.

    tor does not say where a service points, so the port it was added with is kept in `directory`
    (consoles share it): a service that tor has, pointing elsewhere (sshd moved to another port),
    is removed and added again with the same key, hence the same address.
    """
    stem = import_stem()
    service_id = key.address.removesuffix(".onion")
    record = directory / TARGET_FILE
    with locked(directory):  # one console at a time: a re-add must not race another one
        try:
            present = service_id in controller.list_ephemeral_hidden_services(
                our_services=False, detached=True
            )
            if present and _recorded_port(record) == target_port:
                return False
            if present:
                controller.remove_ephemeral_hidden_service(service_id)
                log.info("onion service %s moves to port %d", key.address, target_port)
            response = controller.create_ephemeral_hidden_service(
                {VIRTUAL_PORT: f"127.0.0.1:{target_port}"},
                key_type=KEY_TYPE,
                key_content=key.blob(),
                detached=True,
                await_publication=False,
            )
        except stem.ControllerError as e:
            if "collision" in str(e).lower():  # another console (not sharing our lock) was quicker
                return False
            raise TorProblem(f"tor refused the onion service: {e}") from None
        _record_port(record, target_port)
    if response.service_id != service_id:
        raise TorProblem(
            f"tor derived the address {response.service_id}.onion from the key, not {key.address}"
        )
    log.info("onion service %s added: port %d -> 127.0.0.1:%d", key.address, VIRTUAL_PORT, target_port)
    return True


_REVISION = re.compile(r"^revision-counter (\d+)$", re.MULTILINE)
_SIGNING_CERT = re.compile(
    r"^descriptor-signing-key-cert\n-----BEGIN ED25519 CERT-----\n(.*?)\n-----END ED25519 CERT-----",
    re.MULTILINE | re.DOTALL,
)
_SIGNED_WITH_KEY = 4  # the certificate extension that names the key which signed it


def _revision(text: str) -> int | None:
    found = _REVISION.search(text)
    return int(found.group(1)) if found else None


def _blinded_key(text: str) -> bytes | None:
    """The blinded key a v3 descriptor is for (one per time period), from the extension of its
    signing-key certificate (tor's cert-spec: 40 bytes of header, then the extensions)."""
    found = _SIGNING_CERT.search(text)
    if found is None:
        return None
    try:
        cert = base64.b64decode("".join(found.group(1).split()), validate=True)
    except ValueError:
        return None
    position = 40
    for _ in range(cert[39] if len(cert) > 39 else 0):
        length = int.from_bytes(cert[position : position + 2], "big")
        if len(cert) > position + 2 and cert[position + 2] == _SIGNED_WITH_KEY:
            return cert[position + 4 : position + 4 + length]
        position += 4 + length
    return None


def _current(fetched: str, own: str) -> bool:
    """A descriptor an HSDir handed out still serves clients: it is not one that a previous run of
    tor uploaded for the same time period (its introduction points went with that run), which
    shows in a lower revision counter. One for the other time period (tor keeps two) cannot be
    compared with the one tor shows and counts as there."""
    fetched_revision, own_revision = _revision(fetched), _revision(own)
    if fetched_revision is None or own_revision is None:
        return False
    if _blinded_key(fetched) != _blinded_key(own):
        return True
    return fetched_revision >= own_revision


def descriptor_published(controller: Any, service_id: str, timeout: float) -> bool | None:
    """Whether the service's current descriptor is on the HSDirs, asked through its own tor
    (HSFETCH): what clients see, whichever process added the service and whenever tor uploaded it
    (on the real network only every 60-120 minutes).

    True when an HSDir hands out a descriptor at least as new (revision counter) as the one tor
    made for the service now: one a previous run of tor uploaded names introduction points that
    went with that run. False when FETCH_ATTEMPTS answers in a row are missing or older, None when
    no answer came within `timeout`. tor asks another HSDir for each attempt.
    """
    stem = import_stem()
    answers: queue.Queue[str | None] = queue.Queue()  # a fetched descriptor, or None for none

    def on_event(event: Any) -> None:  # stem's event thread
        if str(event.address) != service_id:
            return
        if getattr(event, "type", None) == "HS_DESC_CONTENT":
            if _REVISION.search(str(event)):  # an empty one follows every failure
                answers.put(str(event))
        elif event.action == "FAILED" and str(event.reason) != "UPLOAD_REJECTED":
            log.debug("HSFETCH %s: %s", service_id, event)
            answers.put(None)

    def fetch() -> None:
        response = controller.msg(f"HSFETCH {service_id}")
        if not response.is_ok():
            raise TorProblem(f"tor refused to look up its own onion service: {response}")

    deadline = time.monotonic() + timeout
    events = stem.control.EventType
    controller.add_event_listener(on_event, events.HS_DESC, events.HS_DESC_CONTENT)
    try:
        fetch()
        failures = 0
        while (left := deadline - time.monotonic()) > 0:
            try:
                fetched = answers.get(timeout=left)
            except queue.Empty:
                break
            if fetched is not None:
                own = controller.get_info(f"hs/service/desc/id/{service_id}", "")
                log.debug(
                    "HSFETCH %s: revision %s (%s) on the HSDir, %s (%s) in tor",
                    service_id,
                    _revision(fetched),
                    _blinded_key(fetched),
                    _revision(own),
                    _blinded_key(own),
                )
                if _current(fetched, own):
                    return True
            failures += 1
            if failures >= FETCH_ATTEMPTS:
                return False
            fetch()
        return None
    finally:
        with contextlib.suppress(Exception):
            controller.remove_event_listener(on_event)


# --- running code off the event loop, with a deadline ---------------------------------------------


def _outcome(fn: Callable[[], Any]) -> tuple[bool, Any]:
    """(True, result) or (False, exception) of `fn`, for handing over from a worker thread; stem's
    exceptions become TorProblem so callers deal with one kind of failure."""
    try:
        stem = import_stem()
        try:
            return True, fn()
        except stem.ControllerError as e:
            raise TorProblem(f"tor failed: {e}") from None
    except BaseException as e:
        return False, e


def close_quietly(controller: Any) -> None:
    with contextlib.suppress(Exception):
        controller.close()


def call_with_deadline(fn: Callable[[], T], timeout: float, what: str) -> T:
    """Run `fn` in a daemon thread; a hung tor costs one thread, never the caller."""
    outcome: list[tuple[bool, Any]] = []
    thread = threading.Thread(target=lambda: outcome.append(_outcome(fn)), name="tor-control", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise TorProblem(f"{what} did not answer within {timeout:g} s")
    ok, value = outcome[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


async def off_loop(fn: Callable[[], T], timeout: float, what: str) -> T:
    """`fn` in its own daemon thread, awaited with a deadline; a result that comes too late is closed."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(ok: bool, value: Any) -> None:
        if future.done():
            if ok and hasattr(value, "close"):
                threading.Thread(target=close_quietly, args=(value,), daemon=True).start()
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def work() -> None:
        result = _outcome(fn)
        try:
            loop.call_soon_threadsafe(deliver, *result)
        except RuntimeError:  # the loop is gone: nobody waits for this any more
            if result[0] and hasattr(result[1], "close"):
                close_quietly(result[1])

    threading.Thread(target=work, name="tor-control", daemon=True).start()
    try:
        # asyncio.timeout, not wait_for: on 3.11 wait_for loses a cancellation that arrives as the
        # result does, and the follower would then outlive its task group.
        async with asyncio.timeout(timeout):
            return await future
    except TimeoutError:
        raise TorProblem(f"{what} did not answer within {timeout:g} s") from None
