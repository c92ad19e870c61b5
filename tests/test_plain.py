"""Plain text mode for serial consoles: chosen where it should be, QR code that decodes, reprints only
on change; and the launcher that picks the view."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import screen_data
from cli_runner import started_cli
from qrimage import CELL_HEIGHT, LIGHT_THEME, decode_text
from terminal_capture import decode_capture

from installer_env import console, plain, status
from installer_env.session import Session


@pytest.mark.parametrize(
    ("term", "tty", "expected"),
    [
        ("dumb", "/dev/tty1", True),
        ("unknown", "/dev/pts/3", True),
        ("", "/dev/tty1", True),
        ("vt220", "/dev/ttyS0", True),
        ("vt100", "/dev/ttyAMA0", True),
        ("linux", "/dev/hvc0", True),
        ("linux", "/dev/tty1", False),
        ("xterm-256color", "/dev/pts/0", False),
        ("linux", "/dev/ttyS", False),
    ],
)
def test_plain_is_wanted_on_dumb_terminals_and_serial_lines(term: str, tty: str, expected: bool) -> None:
    assert console.plain_wanted({"TERM": term}, tty) is expected


def test_launcher_chooses_the_view() -> None:
    vt = {"TERM": "linux"}
    assert console.choose(vt, "/dev/tty1", force_plain=False) is console.View.SCREEN
    assert console.choose(vt, "/dev/tty1", force_plain=True) is console.View.PLAIN
    assert console.choose(vt, "/dev/ttyS0", force_plain=False) is console.View.PLAIN
    assert console.choose(vt, None, force_plain=False) is console.View.ONCE
    # A screen without a keyboard (stdin not a terminal) could only be looked at: plain text instead.
    assert console.choose(vt, "/dev/tty1", force_plain=False, keyboard=False) is console.View.PLAIN


def decode_text_qr(text: str, tmp_path: Path) -> list[str]:
    return decode_capture(text, tmp_path / "qr.pgm")


def test_render_has_the_status_and_a_qr_code_that_decodes(tmp_path: Path) -> None:
    snap = screen_data.snapshot()
    text = plain.render(snap, columns=100, rows=40, half_blocks=True)
    assert screen_data.PASSWORD in text
    assert "root@192.168.1.5" in text
    assert decode_text_qr(text, tmp_path) == [status.to_dict(snap)["qr"]["payload"]]


def test_render_ascii_qr_for_terminals_without_half_blocks(tmp_path: Path) -> None:
    snap = screen_data.snapshot(network=screen_data.network(), tor=None)
    text = plain.render(snap, columns=200, rows=100, half_blocks=False)
    assert "##" in text
    assert "\x1b" not in text
    assert not {"█", "▀", "▄"} & set(text)
    # Read back what was printed: "##" dark on a light page, a module as wide as two columns.
    code = [line for line in text.splitlines() if line and set(line) <= {"#", " "}]
    image = tmp_path / "ascii.pgm"
    payload = decode_text(code, LIGHT_THEME, image, blur_size=CELL_HEIGHT).decode("ascii")
    assert payload == status.to_dict(snap)["qr"]["payload"]


def test_an_80x24_serial_console_gets_a_smaller_code_not_none(tmp_path: Path) -> None:
    snap = screen_data.snapshot()
    text = plain.render(snap, columns=80, rows=24, half_blocks=True)
    assert "QR code: needs" not in text
    (payload,) = decode_text_qr(text, tmp_path)
    # The text lists both addresses; the code keeps what fits 80x23 (a row for the caption):
    # password and onion address, version 6.
    assert "root@192.168.1.5" in text
    assert "root@[2001:db8::5]" in text
    document = json.loads(payload)
    assert document["pass"] == screen_data.PASSWORD
    assert document["addrs"] == []
    assert "0 addresses (of 2; the list above has all)" in text


def test_render_says_when_not_even_the_smallest_code_fits() -> None:
    text = plain.render(screen_data.snapshot(), columns=60, rows=20, half_blocks=True)
    assert "QR code: needs" in text
    assert "this terminal has 60x20" in text
    assert "▀" not in text


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for a condition, not for a time."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_follow_prints_once_and_again_only_on_change() -> None:
    session = Session(screen_data.snapshot())
    out = io.StringIO()
    task = asyncio.create_task(
        plain.follow(session, out, columns=100, rows=40, half_blocks=True, settle=0.05)
    )
    try:
        await until(lambda: plain.FOOTER in out.getvalue())
        first = out.getvalue()
        # A change the text does not show (the interface index) prints nothing; then a new address
        # prints the whole status again, once, even for a burst of changes (all of them with the
        # same text: however the burst is taken, a reprint of it would show as a third footer).
        eth0 = dataclasses.replace(screen_data.ETH0, index=7)
        session.publish(screen_data.network(eth0))
        wlan = screen_data.interface("wlan0", "10.1.2.3", index=3)
        for i in range(5):
            session.publish(screen_data.network(eth0, dataclasses.replace(wlan, index=10 + i)))
        await until(lambda: "10.1.2.3" in out.getvalue())
        text = out.getvalue()
        assert text.startswith(first)
        assert text.count(plain.FOOTER) == 2
    finally:
        task.cancel()


def test_plain_cli_follows_until_ctrl_c_then_hints_how_to_come_back(
    tmp_path: Path, isolated_env: dict[str, str]
) -> None:
    env = dict(isolated_env, TERM="vt220", INSTALLER_ENV_SSH_PORT="2222")
    command = ("demo", "--plain", "--state-dir", str(tmp_path / "demo"))
    with started_cli(env, *command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        seen = ""
        deadline = time.monotonic() + 20
        while plain.FOOTER not in seen and time.monotonic() < deadline:
            seen += proc.stdout.readline()
        assert "Password" in seen
        assert "NOT APPLIED" in seen
        os.kill(proc.pid, signal.SIGINT)
        rest, errors = proc.communicate(timeout=10)
    assert proc.returncode == 0, errors
    assert console.RETURN_HINT in rest
    assert "Traceback" not in errors
