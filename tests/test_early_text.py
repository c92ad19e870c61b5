"""On the Linux VT the password and the ssh logins are written before textual is imported, from
the same lines as `installer-env status`, and the screen's first frame then paints over them."""

from __future__ import annotations

import dataclasses
import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from installer_env import console, hostname, status
from installer_env.config import Config
from installer_env.network import NetworkSnapshot
from installer_env.presentation import Viewer
from installer_env.session import Snapshot
from installer_env.sshd import SshdStatus
from installer_env.state import PasswordState, StateStore
from installer_env.wording import present

QR_GLYPHS = ("▀".encode(), "▄".encode())
TEXTUAL_STARTS = b"\x1b[?1049h"  # the first thing Textual's driver writes (the alternate screen)


def _snapshot() -> Snapshot:
    return Snapshot(
        hostname="box",
        mdns_name="box.local",
        password=PasswordState(
            password="amber-otter-quilt-lantern",
            words=4,
            entropy_bits=51.7,
            generation=3,
            rotated_at="2026-01-01T00:00:00+00:00",
            user="root",
            applied=True,
            note="",
        ),
        password_problem=None,
        ssh=SshdStatus(installed=True, running=True, listening=True, port=22),
        network=NetworkSnapshot(interfaces=(), offered=("192.0.2.5", "[2001:db8::5]")),
    )


def test_only_the_linux_vt_gets_the_early_text() -> None:
    assert console.early_text_wanted({"TERM": "linux"})
    for term in ("xterm-256color", "screen", "", "dumb"):
        assert not console.early_text_wanted({"TERM": term})


def test_early_text_is_the_password_and_logins_of_the_status_text() -> None:
    snap = _snapshot()
    text = console.early_text(snap)
    assert text.startswith(console.HOME)  # over the early password, which cleared the console
    lines = [line for line in status.essentials(present(snap, Viewer.PLAIN)).splitlines() if line]
    assert text.removeprefix(console.HOME).startswith("\n".join(lines[:2]).replace("\n", "\x1b[K\n\x1b[K\n"))
    assert "Password     amber-otter-quilt-lantern" in lines
    assert "Log in with: ssh root@192.0.2.5" in lines
    assert "             ssh root@[2001:db8::5]" in lines
    # Every line is one of the status text's own: one wording for both.
    full = status.to_text(snap).splitlines()
    assert all(line in full for line in lines), [line for line in lines if line not in full]


def test_the_early_password_is_the_status_text_password_at_the_same_rows(tmp_path: Path) -> None:
    snap = _snapshot()
    assert snap.password is not None
    store = StateStore(tmp_path / "state")
    store.prepare()
    with store.locked(), store.staged(snap.password):
        pass
    config = Config(state_dir=tmp_path / "state", mdns=False)
    first = console.early_password(config, store, rotation_problem="chpasswd failed")
    assert first.startswith(console.CLEAR_HIDE_CURSOR)
    first_rows = first.removeprefix(console.CLEAR_HIDE_CURSOR).splitlines()
    assert first_rows[2] == "Password     amber-otter-quilt-lantern"
    assert "             ! no new password: chpasswd failed" in first_rows
    # The full early text puts the same lines on the same rows (it is written over this one).
    with_problem = dataclasses.replace(snap, rotation_problem="chpasswd failed", mdns_name=None)
    with_problem = dataclasses.replace(with_problem, hostname=hostname.read())
    second_rows = console.early_text(with_problem).removeprefix(console.HOME).split(console.CLEAR_LINE + "\n")
    password_rows = first_rows[: first_rows.index("", 2)]
    assert second_rows[: len(password_rows)] == password_rows


def _run_on_pty(env: dict[str, str], state_dir: Path, timeout: float = 60) -> tuple[bytes, int | None]:
    """`installer-env demo` on a 100x37 pty until its first QR code: all it wrote, and the offset
    of the first QR glyph (None if none came)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 37, 100, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "installer_env", "demo", "--state-dir", str(state_dir)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    output = b""
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if select.select([master], [], [], 0.1)[0]:
                try:
                    output += os.read(master, 65536)
                except OSError:
                    break
                found = [output.find(g) for g in QR_GLYPHS if g in output]
                if found:
                    return output, min(found)
        return output, None
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()
        os.close(master)


@pytest.mark.parametrize("term", ["linux", "xterm-256color"])
def test_on_the_vt_the_password_comes_before_textual_starts(
    isolated_env: dict[str, str], tmp_path: Path, term: str
) -> None:
    state_dir = tmp_path / "demo-state"
    output, frame = _run_on_pty({**isolated_env, "TERM": term, "LANG": "C.UTF-8"}, state_dir)
    assert frame is not None, output[-2000:]
    state = StateStore(state_dir).read()
    assert state is not None
    password = state.password.encode()
    starts = output.find(TEXTUAL_STARTS)
    assert 0 <= starts < frame
    if term == "linux":
        early = output[:starts]
        assert early.startswith(console.CLEAR_HIDE_CURSOR.encode())
        assert b"Password     " + password in early
        assert b"Log in with: ssh " in early  # an address, or the line saying there is none yet
    else:
        assert password not in output[:starts]
        assert b"Password     " not in output
