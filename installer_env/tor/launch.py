"""The tor this tool starts when there is no system tor: its torrc and data dir in the state dir, the
process (which outlives the tool), and stopping a stale one. stem's own launcher is not used: its
timeout relies on signals, which only work in the main thread."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from installer_env.config import Config
from installer_env.tor.control import CONTROL_SOCKET, Endpoint, open_controller
from installer_env.tor.keyfile import locked, tor_dir
from installer_env.tor.model import TorProblem, os_words

log = logging.getLogger(__name__)

LAUNCH_TIMEOUT = 30.0
_SUN_PATH_MAX = 107  # sockaddr_un.sun_path minus the terminating NUL


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


def tor_binary(config: Config) -> str:
    """The tor program to launch, or TorProblem saying it is not installed."""
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
# Tors still starting: not handed over yet, so ended when this process gives up on them or exits
# (the launch waits in a daemon thread, which exiting would otherwise just abandon).
_starting: set[subprocess.Popen[bytes]] = set()


def _reap() -> None:
    _children[:] = [p for p in _children if p.poll() is None]


def _end(process: subprocess.Popen[bytes]) -> None:
    """Kill a tor we gave up on, and whatever it started: it runs in a session (group) of its own."""
    with contextlib.suppress(OSError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    _starting.discard(process)


@atexit.register
def _end_starting() -> None:
    for process in list(_starting):
        _end(process)


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


def launch(config: Config, endpoint: Endpoint) -> Any:
    """Connect to our own tor, starting it first when it is not running."""
    directory = tor_dir(config)
    socket_path = directory / CONTROL_SOCKET
    if len(str(socket_path).encode()) > _SUN_PATH_MAX:
        raise TorProblem(f"the state directory path is too long for tor's control socket: {socket_path}")
    with locked(directory):
        _reap()
        if socket_path.exists():
            with contextlib.suppress(TorProblem):
                return open_controller(endpoint, config)
        binary = tor_binary(config)
        _stop_stale(directory)
        # A leftover socket file would be replaced by the new tor anyway; remove it so the wait
        # below sees the new one.
        with contextlib.suppress(FileNotFoundError):
            socket_path.unlink()
        torrc = directory / "torrc"
        log_path = directory / "tor.log"
        try:
            # Never through a link planted in the state dir (O_NOFOLLOW): it would be truncated.
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
            with open(os.open(torrc, flags, 0o600), "w", encoding="utf-8") as f:
                f.write(_torrc(config, directory))
            log_fd = os.open(log_path, flags, 0o600)
        except OSError as e:
            raise TorProblem(f"cannot prepare tor's files in {directory}: {os_words(e)}") from None
        try:
            process = subprocess.Popen(
                [binary, "-f", str(torrc), "--defaults-torrc", os.devnull],
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives this tool: Ctrl-C on the console keeps tor access
            )
        except OSError as e:
            raise TorProblem(f"cannot start tor ({binary}): {os_words(e)}") from None
        finally:
            os.close(log_fd)
        _children.append(process)
        _starting.add(process)
        log.info("started tor (pid %d) in %s", process.pid, directory)
        deadline = time.monotonic() + LAUNCH_TIMEOUT
        problem = TorProblem("tor did not open its control socket")
        while time.monotonic() < deadline:
            if process.poll() is not None:
                _end(process)  # what it may have started
                raise TorProblem(f"tor stopped right after starting: {_last_complaint(log_path)}")
            if socket_path.exists():
                try:
                    controller = open_controller(endpoint, config)
                except TorProblem as e:
                    problem = e
                else:
                    _starting.discard(process)  # handed over: it now outlives this tool
                    # Start-up trouble is in the log by now; offline, the bootstrap warnings that
                    # follow would only fill the state dir (RAM on the installer).
                    with contextlib.suppress(Exception):
                        controller.set_conf("Log", "err stdout")
                    return controller
            time.sleep(0.05)
        _end(process)
        raise TorProblem(f"{problem} within {LAUNCH_TIMEOUT:.0f} s")


def stop_launched(config: Config) -> None:
    """End the tor this tool launched for `config`, if it runs; it otherwise outlives the tool."""
    _stop_stale(tor_dir(config))
    _reap()
