"""The Tor v3 onion service that makes `torify ssh root@<id>.onion` work from anywhere.

Two ways to reach tor, chosen on their own: the system tor's control socket (or a configured control
port), or, when there is none, a tor this tool launches in <state_dir>/tor/. Either way the service
is added with ADD_ONION as a detached service, so it outlives this process and a second console
finds it instead of adding it twice. The key lives in <state_dir>/tor/ssh-onion.key (0600), so the
address survives re-logins and restarts of this tool and of tor.

stem is synchronous and barely maintained: all of it stays in this module and runs in worker
threads, never on the event loop. stem's own launcher is not used: its timeout relies on signals,
which only work in the main thread.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import dataclasses
import errno
import fcntl
import functools
import hashlib
import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from installer_env.config import Config

if TYPE_CHECKING:
    from installer_env.session import Session

log = logging.getLogger(__name__)

T = TypeVar("T")

VIRTUAL_PORT = 22  # what `torify ssh root@<id>.onion` connects to
KEY_TYPE = "ED25519-V3"
TOR_DIR = "tor"
KEY_FILE = "ssh-onion.key"
CONTROL_SOCKET = "control"
LAUNCH_TIMEOUT = 30.0
CALL_TIMEOUT = 15.0
HEALTH_INTERVAL = 30.0  # a tor that hangs without closing its socket is noticed this late at worst
MAX_BACKOFF = 30.0
_SUN_PATH_MAX = 107  # sockaddr_un.sun_path minus the terminating NUL

MODE_SYSTEM = "system"
MODE_LAUNCHED = "launched"


@dataclass(frozen=True)
class TorStatus:
    """What the views show about tor; replaced as a whole on every change."""

    reachable: bool = False  # an authenticated control connection to tor works
    mode: str | None = None  # MODE_SYSTEM or MODE_LAUNCHED
    bootstrap_percent: int = 0
    bootstrap_phase: str = ""  # tor's own words, e.g. "Loading relay descriptors"
    onion_address: str | None = None  # "<56 chars>.onion", checksum-verified
    published: bool = False  # a descriptor upload (HS_DESC UPLOADED) was seen
    error: str | None = None  # the last problem, in words
    control: str | None = None  # where the control connection goes: a socket path or 127.0.0.1:<port>
    service_added: bool = False  # tor has the onion service (added now, or found from an earlier login)


class TorProblem(Exception):
    """An expected failure, told in words; it ends up in TorStatus.error, never as a traceback."""


# --- onion addresses -------------------------------------------------------------------------------

_BASE32 = frozenset("abcdefghijklmnopqrstuvwxyz234567")


def _checksum(public_key: bytes) -> bytes:
    return hashlib.sha3_256(b".onion checksum" + public_key + b"\x03").digest()[:2]


def onion_address(public_key: bytes) -> str:
    """The v3 address of an ed25519 public key: base32(pubkey || checksum || version) + .onion."""
    if len(public_key) != 32:
        raise ValueError("an ed25519 public key has 32 bytes")
    raw = public_key + _checksum(public_key) + b"\x03"
    return base64.b32encode(raw).decode("ascii").lower() + ".onion"


def check_onion_address(address: str) -> str:
    """The address in canonical form ("<56 lower-case chars>.onion"); ValueError if it is not v3."""
    text = address.lower()
    text = text.removesuffix(".onion")
    if len(text) != 56 or not set(text) <= _BASE32:
        raise ValueError("a v3 onion address is 56 base32 characters (a-z, 2-7) before .onion")
    raw = base64.b32decode(text.upper())
    public_key, checksum, version = raw[:32], raw[32:34], raw[34]
    if version != 3:
        raise ValueError(f"onion address version {version}, not 3")
    if checksum != _checksum(public_key):
        raise ValueError("the onion address checksum does not match (mistyped or altered)")
    return text + ".onion"


def is_onion_address(address: str) -> bool:
    try:
        check_onion_address(address)
    except ValueError:
        return False
    return True


# --- ed25519, only as much as needed to name a key's address without asking tor --------------------
# RFC 8032 arithmetic on the twisted Edwards curve, extended coordinates. Secret keys are tor's
# "expanded" form: a clamped scalar and a 32-byte nonce prefix; the public key is scalar * B.

_P = 2**255 - 19
_D = -121665 * pow(121666, _P - 2, _P) % _P


def _recover_x(y: int, sign: int) -> int:
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * pow(2, (_P - 1) // 4, _P) % _P
    return _P - x if x % 2 != sign else x


_BY = 4 * pow(5, _P - 2, _P) % _P
_BX = _recover_x(_BY, 0)
_BASE = (_BX, _BY, 1, _BX * _BY % _P)
_Point = tuple[int, int, int, int]


def _add(p: _Point, q: _Point) -> _Point:
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % _P
    b = (y1 + x1) * (y2 + x2) % _P
    c = 2 * t1 * t2 * _D % _P
    d = 2 * z1 * z2 % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _scalar_base(scalar: int) -> bytes:
    result: _Point = (0, 1, 1, 0)
    point: _Point = _BASE
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    x, y, z, _ = result
    z_inv = pow(z, _P - 2, _P)
    x, y = x * z_inv % _P, y * z_inv % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _clamped(scalar: bytes) -> bool:
    return scalar[0] & 7 == 0 and scalar[31] & 0xC0 == 0x40


@dataclass(frozen=True)
class OnionKey:
    """The service's ed25519 key in the form ADD_ONION ED25519-V3 takes, and its address."""

    secret: bytes = field(repr=False)  # 64-byte expanded secret key; never shown
    address: str = ""

    @classmethod
    def from_secret(cls, secret: bytes) -> OnionKey:
        if len(secret) != 64:
            raise ValueError(f"the key has {len(secret)} bytes, not 64")
        if not _clamped(secret[:32]):
            raise ValueError("the key is not an ed25519 secret key")
        address = onion_address(_scalar_base(int.from_bytes(secret[:32], "little")))
        return cls(secret, check_onion_address(address))

    @classmethod
    def generate(cls) -> OnionKey:
        digest = bytearray(hashlib.sha512(secrets.token_bytes(32)).digest())
        digest[0] &= 248
        digest[31] &= 63
        digest[31] |= 64
        return cls.from_secret(bytes(digest))

    def blob(self) -> str:
        return base64.b64encode(self.secret).decode("ascii")


# --- files in the state dir ------------------------------------------------------------------------


def tor_dir(config: Config) -> Path:
    return config.state_dir / TOR_DIR


def key_path(config: Config) -> Path:
    return tor_dir(config) / KEY_FILE


def _reason(e: OSError) -> str:
    return {
        errno.EROFS: "the file system is read-only",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ENOSPC: "no space left",
        errno.EISDIR: "it is a directory",
        errno.ENOENT: "no such file",
        errno.ECONNREFUSED: "nothing listens there",
    }.get(e.errno or 0, e.strerror or str(e))


def _prepare_dir(directory: Path) -> None:
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if directory.stat().st_mode & 0o077:
            directory.chmod(0o700)
    except OSError as e:
        raise TorProblem(f"cannot create {directory}: {_reason(e)}") from None


def read_key(path: Path) -> OnionKey | None:
    """The saved key, or None when there is none yet; TorProblem when it cannot be used."""
    try:
        with open(path, encoding="ascii") as f:
            if os.fstat(f.fileno()).st_mode & 0o077:
                with contextlib.suppress(OSError):  # tighten a copied-in key; a read-only one still works
                    os.fchmod(f.fileno(), 0o600)
            text = f.read(4096)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise TorProblem(f"cannot read the onion key {path}: {_reason(e)}") from None
    except UnicodeDecodeError:
        text = ""
    kind, _, blob = text.strip().partition(":")
    try:
        if kind != KEY_TYPE:
            raise ValueError(f"it does not start with {KEY_TYPE}:")
        try:
            secret = base64.b64decode(blob, validate=True)
        except binascii.Error:
            raise ValueError("the key is not base64") from None
        return OnionKey.from_secret(secret)
    except ValueError as e:
        raise TorProblem(
            f"the onion key {path} is damaged ({e}); move it away to get a new onion address"
        ) from None


def _write_key(path: Path, key: OnionKey) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(f"{KEY_TYPE}:{key.blob()}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise TorProblem(f"cannot save the onion key in {path.parent}: {_reason(e)}") from None


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Serialises key creation and tor launches between consoles (tty1 and ttyS0 log in at once)."""
    _prepare_dir(directory)
    try:
        fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise TorProblem(f"cannot lock {directory}: {_reason(e)}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def ensure_key(config: Config) -> OnionKey:
    """The saved key, made and saved first if there is none. A damaged key is reported, never replaced."""
    path = key_path(config)
    with _locked(path.parent):
        key = read_key(path)
        if key is None:
            key = OnionKey.generate()
            _write_key(path, key)
            log.info("made a new onion service key: %s", key.address)
        return key


# --- reaching tor ----------------------------------------------------------------------------------


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


def choose_endpoint(config: Config, system_seen: bool = False) -> Endpoint:
    """The system tor when it is configured and there, else a tor of our own.

    `system_seen` keeps a follower on the system tor while it restarts (its socket is gone for a
    moment), rather than starting a second tor with the same key. The demo never touches the
    system tor.
    """
    if not config.demo:
        if config.tor_control_port is not None:
            return Endpoint(MODE_SYSTEM, port=config.tor_control_port)
        path = config.tor_control_socket
        if path is not None and (system_seen or path.exists()):
            return Endpoint(MODE_SYSTEM, socket_path=path)
    return Endpoint(MODE_LAUNCHED, socket_path=tor_dir(config) / CONTROL_SOCKET)


def _stem() -> Any:
    """Import stem on first use; its logger is muted because it traces every control message,
    ADD_ONION's private key included."""
    import stem
    import stem.connection
    import stem.control

    logging.getLogger("stem").setLevel(logging.WARNING)
    return stem


def _read_password(config: Config) -> str | None:
    path = config.tor_control_password_file
    if path is None:
        return None
    try:
        password: str = path.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as e:
        reason = _reason(e) if isinstance(e, OSError) else "it is not text"
        raise TorProblem(f"cannot read the tor control password file {path}: {reason}") from None
    return password


def _socket_words(e: Exception) -> str:
    cause = e.args[0] if e.args else e
    if isinstance(cause, OSError):
        return _reason(cause)
    return re.sub(r"^\[Errno \d+\] ", "", str(cause)) or type(e).__name__


def _auth_words(e: Exception, endpoint: Endpoint, config: Config) -> str:
    stem = _stem()
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


def _open(endpoint: Endpoint, config: Config) -> Any:
    """An authenticated stem Controller, or TorProblem in words."""
    stem = _stem()
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
    except (stem.ControllerError, TorProblem) as e:
        controller.close()
        if isinstance(e, TorProblem):
            raise
        raise TorProblem(f"{endpoint.describe} failed: {e}") from None
    return controller


def _quote(path: Path) -> str:
    text = str(path)
    if any(c in text for c in "\n\r\0"):
        raise TorProblem(f"the state directory path {text!r} cannot be written into a torrc")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _torrc(config: Config, directory: Path) -> str:
    lines = [
        f"DataDirectory {_quote(directory / 'data')}",
        f"ControlSocket {_quote(directory / CONTROL_SOCKET)}",
        "CookieAuthentication 1",
        "SocksPort 0",  # only serves the onion service; leaves 9050 to a system tor
        f"PidFile {_quote(directory / 'tor.pid')}",
        "Log warn stdout",
        "AvoidDiskWrites 1",
    ]
    if config.demo:
        lines.append(f"__OwningControllerProcess {os.getpid()}")  # the demo's tor goes with it
    return "\n".join(lines) + "\n"


def _tor_binary(config: Config) -> str:
    found = shutil.which(config.tor_binary, path=os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin:/sbin")
    if found is None:
        raise TorProblem(f"tor is not installed ({config.tor_binary} not found)")
    return found


def _last_complaint(log_path: Path) -> str:
    try:
        lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "no log"
    for marker in ("[warn]", "[err]"):  # tor's [err] line tends to say "see warnings above"
        for line in reversed(lines):
            if marker in line:
                return line.split(marker, 1)[1].strip()
    return lines[-1].strip() if lines else "no output"


_children: list[subprocess.Popen[bytes]] = []  # launched tors, reaped when they exit


def _reap() -> None:
    _children[:] = [p for p in _children if p.poll() is None]


def _stop_stale(directory: Path) -> None:
    """A tor of ours that no longer answers still holds the data dir lock: end it."""
    try:
        pid = int((directory / "tor.pid").read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if str(directory / "torrc").encode() not in cmdline:
        return
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGTERM)
        for _ in range(40):
            time.sleep(0.05)
            _reap()
            os.kill(pid, 0)
        os.kill(pid, signal.SIGKILL)


def _launch(config: Config, endpoint: Endpoint) -> Any:
    """Connect to our own tor, starting it first when it is not running."""
    directory = tor_dir(config)
    socket_path = directory / CONTROL_SOCKET
    if len(str(socket_path).encode()) > _SUN_PATH_MAX:
        raise TorProblem(f"the state directory path is too long for tor's control socket: {socket_path}")
    with _locked(directory):
        _reap()
        if socket_path.exists():
            with contextlib.suppress(TorProblem):
                return _open(endpoint, config)
        binary = _tor_binary(config)
        _stop_stale(directory)
        # A leftover socket file would be replaced by the new tor anyway; remove it so the wait
        # below sees the new one.
        with contextlib.suppress(FileNotFoundError):
            socket_path.unlink()
        torrc = directory / "torrc"
        log_path = directory / "tor.log"
        try:
            torrc.write_text(_torrc(config, directory), encoding="utf-8")
            log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise TorProblem(f"cannot prepare tor's files in {directory}: {_reason(e)}") from None
        try:
            process = subprocess.Popen(
                [binary, "-f", str(torrc), "--defaults-torrc", os.devnull],
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives this tool: Ctrl-C on the console keeps tor access
            )
        except OSError as e:
            raise TorProblem(f"cannot start tor ({binary}): {_reason(e)}") from None
        finally:
            os.close(log_fd)
        _children.append(process)
        log.info("started tor (pid %d) in %s", process.pid, directory)
        deadline = time.monotonic() + LAUNCH_TIMEOUT
        problem = TorProblem("tor did not open its control socket")
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise TorProblem(f"tor stopped right after starting: {_last_complaint(log_path)}")
            if socket_path.exists():
                try:
                    controller = _open(endpoint, config)
                except TorProblem as e:
                    problem = e
                else:
                    # Start-up trouble is in the log by now; offline, the bootstrap warnings that
                    # follow would only fill the state dir (RAM on the installer).
                    with contextlib.suppress(Exception):
                        controller.set_conf("Log", "err stdout")
                    return controller
            time.sleep(0.05)
        process.kill()
        raise TorProblem(f"{problem} within {LAUNCH_TIMEOUT:.0f} s")


def stop_launched(config: Config) -> None:
    """End the tor this tool launched for `config`, if it runs; it otherwise outlives the tool."""
    _stop_stale(tor_dir(config))
    _reap()


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


def _bootstrap(controller: Any) -> tuple[int, str]:
    return parse_bootstrap(controller.get_info("status/bootstrap-phase")) or (0, "")


def _ensure_service(controller: Any, key: OnionKey, target_port: int) -> None:
    """Add the detached service unless tor has it already (another console, an earlier login)."""
    stem = _stem()
    service_id = key.address.removesuffix(".onion")
    try:
        if service_id in controller.list_ephemeral_hidden_services(our_services=False, detached=True):
            return
        response = controller.create_ephemeral_hidden_service(
            {VIRTUAL_PORT: f"127.0.0.1:{target_port}"},
            key_type=KEY_TYPE,
            key_content=key.blob(),
            detached=True,
            await_publication=False,
        )
    except stem.ControllerError as e:
        if "collision" in str(e).lower():  # another console added it a moment ago
            return
        raise TorProblem(f"tor refused the onion service: {e}") from None
    if response.service_id != service_id:
        raise TorProblem(
            f"tor derived the address {response.service_id}.onion from the key, not {key.address}"
        )
    log.info("onion service %s added: port %d -> 127.0.0.1:%d", key.address, VIRTUAL_PORT, target_port)


# --- running code off the event loop, with a deadline ---------------------------------------------


def _wrap(fn: Callable[[], T]) -> Callable[[], T]:
    """Turn stem's exceptions into TorProblem so callers deal with one kind of failure."""

    def call() -> T:
        stem = _stem()
        try:
            return fn()
        except stem.ControllerError as e:
            raise TorProblem(f"tor failed: {e}") from None

    return call


def _close_quietly(controller: Any) -> None:
    with contextlib.suppress(Exception):
        controller.close()


def call_with_deadline(fn: Callable[[], T], timeout: float, what: str) -> T:
    """Run `fn` in a daemon thread; a hung tor costs one thread, never the caller."""
    outcome: list[Any] = []

    def work() -> None:
        try:
            outcome.append((True, _wrap(fn)()))
        except BaseException as e:
            outcome.append((False, e))

    thread = threading.Thread(target=work, name="tor-control", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise TorProblem(f"{what} did not answer within {timeout:g} s")
    ok, value = outcome[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


async def _off_loop(fn: Callable[[], T], timeout: float, what: str) -> T:
    """`fn` in its own daemon thread, awaited with a deadline; a result that comes too late is closed."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(ok: bool, value: Any) -> None:
        if future.done():
            if ok and hasattr(value, "close"):
                threading.Thread(target=_close_quietly, args=(value,), daemon=True).start()
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def work() -> None:
        try:
            result: tuple[bool, Any] = (True, _wrap(fn)())
        except BaseException as e:
            result = (False, e)
        try:
            loop.call_soon_threadsafe(deliver, *result)
        except RuntimeError:  # the loop is gone: nobody waits for this any more
            if result[0] and hasattr(result[1], "close"):
                _close_quietly(result[1])

    threading.Thread(target=work, name="tor-control", daemon=True).start()
    try:
        # asyncio.timeout, not wait_for: on 3.11 wait_for loses a cancellation that arrives as the
        # result does, and the follower would then outlive its task group.
        async with asyncio.timeout(timeout):
            return await future
    except TimeoutError:
        raise TorProblem(f"{what} did not answer within {timeout:g} s") from None


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
            _tor_binary(config)
            problem = "tor is not running (the console screen starts it)"
        except TorProblem as e:
            problem = str(e)
        return dataclasses.replace(base, error=base.error or problem)

    def look() -> tuple[int, str, bool]:
        controller = _open(endpoint, config)
        try:
            percent, phase = _bootstrap(controller)
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
            _close_quietly(self.controller)

    def _to_loop(self, callback: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone
            self.follower.loop.call_soon_threadsafe(callback, *args)

    def on_event(self, event: Any) -> None:  # stem's event thread
        if getattr(event, "type", None) == "HS_DESC":
            self._to_loop(self.follower.handle_hs_desc, self, str(event.action), str(event.address))
        else:
            self._to_loop(self.follower.handle_status, self, str(event))

    def on_state(self, _controller: Any, state: Any, _timestamp: float) -> None:  # stem's threads
        if state == _stem().control.State.CLOSED:
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
        self.session.update(tor=dataclasses.replace(current, **changes))

    def handle_hs_desc(self, connection: _Connection, action: str, address: str) -> None:
        if connection is self.current and action == "UPLOADED" and address == self.service_id:
            self.publish(published=True)

    def handle_status(self, connection: _Connection, line: str) -> None:
        parsed = parse_bootstrap(line)
        if connection is self.current and parsed is not None:
            self.publish(bootstrap_percent=parsed[0], bootstrap_phase=parsed[1])

    def connect(self, endpoint: Endpoint, connection: _Connection) -> _Connection:
        stem = _stem()
        if endpoint.mode == MODE_LAUNCHED:
            controller = _launch(self.config, endpoint)
        else:
            controller = _open(endpoint, self.config)
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
                await _off_loop(
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
        check_now = True
        first = True
        while not connection.closed.is_set():
            if check_now:
                # Also notices a tor that hangs without closing its socket.
                try:
                    percent, phase = await _off_loop(
                        lambda: _bootstrap(controller), CALL_TIMEOUT, endpoint.describe
                    )
                except TorProblem as e:
                    return f"{e}; reconnecting"
                if first:  # what kept us from connecting is over
                    self.publish(reachable=True, error=None)
                    first = False
                self.publish(bootstrap_percent=percent, bootstrap_phase=phase)
            if not service_ready:
                try:
                    key = await _off_loop(
                        lambda: ensure_key(self.config), CALL_TIMEOUT, "the state directory"
                    )
                    self.service_id = key.address.removesuffix(".onion")
                    self.publish(onion_address=key.address)
                    port = self.session.snapshot.ssh.port
                    await _off_loop(
                        functools.partial(_ensure_service, controller, key, port),
                        CALL_TIMEOUT,
                        endpoint.describe,
                    )
                    service_ready = True
                    self.publish(service_added=True, error=None)
                except TorProblem as e:
                    if not controller.is_alive():
                        break
                    self.publish(error=str(e))
            try:
                async with asyncio.timeout(HEALTH_INTERVAL if service_ready else 10.0):
                    await connection.closed.wait()
            except TimeoutError:
                check_now = True
            else:
                check_now = False
        if endpoint.mode == MODE_LAUNCHED:
            return "tor stopped (its control connection closed); starting it again"
        return f"lost the connection to {endpoint.describe} (tor stopped or restarted); reconnecting"


async def follow(config: Config, session: Session) -> None:
    """The session source: keeps the onion service up and `snapshot.tor` current, until cancelled."""
    if not config.tor_enabled:
        return
    await _Follower(config, session).run()
