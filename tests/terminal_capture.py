"""Drive a real terminal (tmux) and read back what it shows, colours included, to rebuild a QR code.

tmux is the terminal here: it interprets what the app writes exactly as a terminal would, and
`capture-pane -e` gives the cells back with their SGR colours.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from qrimage import write_pgm, zbar_decode

SGR = re.compile(r"\x1b\[([0-9;]*)m")
# Light is white or bright white (ANSI 7/15, as SGR 37/97/47/107 or 256-colour 7/15); all else is dark.
LIGHT = {7, 15}


@dataclass(frozen=True)
class Cell:
    char: str
    fg: int | None  # ANSI colour number 0-15 (or 0-255), None for the default colour
    bg: int | None


def _apply(params: str, fg: int | None, bg: int | None) -> tuple[int | None, int | None]:
    codes = [int(p) if p else 0 for p in params.split(";")] if params else [0]
    i = 0
    while i < len(codes):
        c = codes[i]
        if c == 0:
            fg = bg = None
        elif 30 <= c <= 37:
            fg = c - 30
        elif 90 <= c <= 97:
            fg = c - 90 + 8
        elif 40 <= c <= 47:
            bg = c - 40
        elif 100 <= c <= 107:
            bg = c - 100 + 8
        elif c == 39:
            fg = None
        elif c == 49:
            bg = None
        elif c in (38, 48) and i + 2 < len(codes) and codes[i + 1] == 5:
            if c == 38:
                fg = codes[i + 2]
            else:
                bg = codes[i + 2]
            i += 2
        elif c in (38, 48) and i + 4 < len(codes) and codes[i + 1] == 2:
            r, g, b = codes[i + 2 : i + 5]
            value = 15 if min(r, g, b) > 160 else 0
            if c == 38:
                fg = value
            else:
                bg = value
            i += 4
        i += 1
    return fg, bg


def parse(captured: str) -> list[list[Cell]]:
    """`capture-pane -e -p` output as rows of cells (tmux starts every line with the colours in force)."""
    rows: list[list[Cell]] = []
    fg: int | None = None
    bg: int | None = None
    for line in captured.split("\n"):
        row: list[Cell] = []
        pos = 0
        for m in SGR.finditer(line):
            row += [Cell(ch, fg, bg) for ch in line[pos : m.start()]]
            fg, bg = _apply(m.group(1), fg, bg)
            pos = m.end()
        row += [Cell(ch, fg, bg) for ch in line[pos:]]
        rows.append(row)
    return rows


def pixels(cells: Sequence[Sequence[Cell]]) -> list[list[bool]]:
    """Two pixels per cell (top, bottom), True = light, from each half-block glyph and its colours."""
    out: list[list[bool]] = []
    for row in cells:
        top: list[bool] = []
        bottom: list[bool] = []
        for cell in row:
            fg_light, bg_light = cell.fg in LIGHT, cell.bg in LIGHT
            upper, lower = {
                "█": (fg_light, fg_light),
                "▀": (fg_light, bg_light),
                "▄": (bg_light, fg_light),
                " ": (bg_light, bg_light),
            }.get(cell.char, (bg_light, bg_light))
            top.append(upper)
            bottom.append(lower)
        out += [top, bottom]
    width = max((len(r) for r in out), default=0)
    return [r + [False] * (width - len(r)) for r in out]


def decode_capture(captured: str, path: Path, scale: int = 6, border: int = 8) -> list[str]:
    """The payload of each QR code zbarimg finds in a `capture-pane -e` text, one entry a code.

    The cells become pixels, scaled up, inside a dark border (as the screen around them is).
    """
    image = pixels(parse(captured))
    side = [False] * border
    blank = [False] * (len(image[0]) + 2 * border)
    framed = [blank] * border + [side + row + side for row in image] + [blank] * border
    write_pgm(
        [[255 if p else 0 for p in row for _ in range(scale)] for row in framed for _ in range(scale)], path
    )
    return [line for line in zbar_decode(path).decode("utf-8").splitlines() if line]


def console_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The environment of a demo on a Linux console in tmux: TERM=linux (16 colours, 8 backgrounds:
    what a real VT offers), an empty settings file, tor and Wi-Fi off, sshd on 2222 with no host keys.
    `settings` adds or replaces variables (INSTALLER_ENV_WIFI_ENABLED="1", DBUS_SYSTEM_BUS_ADDRESS=...)."""
    (tmp_path / "config.json").write_text("{}")
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "TERM": "linux",
        "SHELL": "/bin/sh",
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        "INSTALLER_ENV_CONFIG": str(tmp_path / "config.json"),
        "INSTALLER_ENV_TOR_ENABLED": "0",
        "INSTALLER_ENV_WIFI_ENABLED": "0",
        "INSTALLER_ENV_SSH_PORT": "2222",
        "INSTALLER_ENV_SSH_HOST_KEYS": str(tmp_path / "no-keys" / "*.pub"),
        **settings,
    }


class Tmux:
    """One tmux server of our own (its own socket), one window of a fixed size."""

    def __init__(self, socket: str, width: int, height: int) -> None:
        self.socket, self.width, self.height = socket, width, height

    def _tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args], capture_output=True, text=True, check=True
        ).stdout

    def start(self, command: Sequence[str], env: Mapping[str, str]) -> None:
        assignments = [f"{k}={v}" for k, v in env.items()]
        line = shlex.join(["env", "-i", *assignments, *command]) + "; echo EXITED; sleep 600"
        self._tmux("new-session", "-d", "-s", "t", "-x", str(self.width), "-y", str(self.height), line)

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "t", *keys)

    def resize(self, width: int, height: int) -> None:
        self._tmux("resize-window", "-t", "t", "-x", str(width), "-y", str(height))

    def capture(self, colours: bool = False) -> str:
        return self._tmux("capture-pane", "-t", "t", "-p", *(["-e"] if colours else []))

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            shown = self.capture()
            if text in shown:
                return shown
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared; the pane shows:\n{shown}")
            time.sleep(0.1)

    def pane_pid(self) -> int:
        """The process the pane runs first (the `sh -c` of `start`)."""
        return int(self._tmux("display-message", "-p", "-t", "t", "#{pane_pid}"))

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False)


def tmux_session(socket: str, width: int, height: int) -> Iterator[Tmux]:
    tmux = Tmux(socket, width, height)
    try:
        yield tmux
    finally:
        tmux.close()
