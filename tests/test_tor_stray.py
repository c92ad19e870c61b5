"""A tor this tool starts and then gives up on (it never opens its control socket) is stopped, with
whatever it started: after the launch times out, and when the screen quits while it is waiting.
And tor's files in the state dir are never written through a link planted there."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
import time
from pathlib import Path

import pytest
from cli_runner import COMMAND
from conftest import MakeConfig
from terminal_capture import Tmux, console_env

from installer_env import tor
from installer_env.config import Config
from installer_env.tor import launch as tor_launch
from installer_env.tor.control import choose_endpoint
from installer_env.tor.keyfile import ensure_key
from installer_env.tor.model import TorProblem

# Starts but never opens a control socket, and starts a helper of its own (in its process group).
SILENT_TOR = """#!/bin/sh
( while :; do sleep 1; done ) &
while :; do sleep 1; done
"""


@pytest.fixture
def silent_tor(tmp_path: Path) -> Path:
    path = tmp_path / f"silent-tor-{secrets.token_hex(4)}"
    path.write_text(SILENT_TOR)
    path.chmod(0o755)
    return path


def _running(marker: Path) -> list[int]:
    """Processes running `marker` (the fake tor and its helper), not those that only mention it."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                cmdline = (entry / "cmdline").read_bytes()
                if str(marker).encode() in cmdline.split(b"\0"):
                    state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                    if state != "Z":
                        found.append(int(entry.name))
    return found


def _described(pids: list[int]) -> str:
    lines = []
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            lines.append(f"pid {pid} state {fields[0]} ppid {fields[1]} pgid {fields[2]}")
    return "left running: " + "; ".join(lines)


def _wait_until(condition: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_a_tor_that_never_opens_its_control_socket_is_stopped_with_its_children(
    make_config: MakeConfig, tmp_path: Path, silent_tor: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(
        tor_enabled=True,
        tor_control_socket=tmp_path / "no-system-tor" / "control",
        tor_binary=str(silent_tor),
    )
    monkeypatch.setattr(tor_launch, "LAUNCH_TIMEOUT", 1.5)
    try:
        with pytest.raises(TorProblem, match="did not open its control socket within 2 s"):
            tor_launch.launch(config, choose_endpoint(config))
        assert _wait_until(lambda: not _running(silent_tor), 5), f"left running: {_running(silent_tor)}"
    finally:
        for pid in _running(silent_tor):
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
        tor.stop_launched(config)


@pytest.mark.skipif(not shutil.which("tmux"), reason="needs tmux")
@pytest.mark.parametrize("leave", ["quit-key", "hang-up"])
def test_leaving_the_screen_while_tor_starts_leaves_no_tor(
    tmp_path: Path, silent_tor: Path, leave: str
) -> None:
    env = console_env(tmp_path, INSTALLER_ENV_TOR_ENABLED="1", INSTALLER_ENV_TOR_BINARY=str(silent_tor))
    screen = Tmux(f"installer-env-test-{os.getpid()}-{secrets.token_hex(4)}", 100, 37)
    try:
        screen.start([*COMMAND, "demo", "--state-dir", str(tmp_path / "state")], env)
        screen.wait_for("x Quit")
        started = _wait_until(lambda: len(_running(silent_tor)) >= 2, 20)
        assert started, "the screen never started tor:\n" + screen.capture()
        if leave == "quit-key":
            screen.keys("x")
            screen.wait_for("EXITED")
        else:
            screen.close()  # the terminal goes away: SIGHUP
        assert _wait_until(lambda: not _running(silent_tor), 5), _described(_running(silent_tor))
    finally:
        screen.close()
        for pid in _running(silent_tor):
            with contextlib.suppress(OSError):
                os.kill(pid, 9)


def _launch(config: Config) -> object:
    return tor_launch.launch(config, choose_endpoint(config))


@pytest.mark.parametrize("name", ["lock", "ssh-onion.key", "torrc", "tor.log"])
def test_a_link_planted_in_tors_directory_is_not_followed(
    make_config: MakeConfig, tmp_path: Path, silent_tor: Path, name: str
) -> None:
    """tor's files live in the state dir: a link there must not lead a chmod, a truncation or a
    write to another file."""
    config = make_config(
        tor_enabled=True,
        tor_control_socket=tmp_path / "no-system-tor" / "control",
        tor_binary=str(silent_tor),
    )
    directory = tor.tor_dir(config)
    directory.mkdir(parents=True, mode=0o700)
    target = tmp_path / "precious"
    target.write_text("not tor's\n")
    target.chmod(0o644)
    (directory / name).symlink_to(target)
    try:
        action = ensure_key if name in ("lock", "ssh-onion.key") else _launch
        with pytest.raises(TorProblem, match="it is a symbolic link, which is not followed there"):
            action(config)
    finally:
        tor.stop_launched(config)
    assert target.read_text() == "not tor's\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert (directory / name).is_symlink()
    assert not _running(silent_tor)
