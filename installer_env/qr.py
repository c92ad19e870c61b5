"""The QR code a phone or `clan machines install --png` scans: its payload, its modules, and text renderers.

The payload is the JSON clan's installer reader takes, byte for byte: compact, strict, ASCII only,
`{"pass":"...","tor":"<id>.onion","addrs":["192.0.2.5","[2001:db8::5]"]}`. Every renderer draws
the same `Matrix` (True = dark module), so the screen, `installer-env qr` and the tests agree.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from installer_env import network, tor
from installer_env.leanimport import lean_import

# qrcode's matrix code without its image drawers, which import Pillow (see leanimport): the
# helper puts the packages in place first, so the imports below load only what they name.
lean_import("qrcode.main")
import qrcode.constants  # noqa: E402
import qrcode.exceptions  # noqa: E402
from qrcode.main import QRCode  # noqa: E402

if TYPE_CHECKING:
    from installer_env.session import Snapshot

Matrix = tuple[tuple[bool, ...], ...]

DEFAULT_MAX_ADDRS = 3
QUIET_ZONE = 4  # what the QR specification asks for
QUIET_ZONE_SHORT = 2  # still read by zbar and phone cameras; used when 4 does not fit

# Strongest first: at the smallest version the data needs, the strongest level that still fits it
# costs no extra modules and makes the code more forgiving of glare and a shaky phone.
_LEVELS = (
    ("H", qrcode.constants.ERROR_CORRECT_H),
    ("Q", qrcode.constants.ERROR_CORRECT_Q),
    ("M", qrcode.constants.ERROR_CORRECT_M),
    ("L", qrcode.constants.ERROR_CORRECT_L),
)

# Half blocks: every cell is drawn with the light colour in the foreground and the dark colour in
# the background, and the glyph says which halves are light. The Linux VT has only 8 background
# colours (SGR 100-107 fall back to 40-47, so "bright white" behind text is light grey there), but
# a bright foreground is real white. Black background plus bright-white glyphs therefore gives full
# contrast on a real VT, on serial terminals and in any themed emulator alike, which is what a
# phone camera needs; a white background would be grey on the VT. All four glyphs are in CP437,
# the kernel's built-in console font. 37 comes before 97 for terminals that ignore the bright
# colours: they keep white (grey) rather than their default, which may be black.
SGR_LIGHT_ON_DARK = "\x1b[0;37;97;40m"
# The colour ASCII fallback has no glyph that fills a cell, so both colours are backgrounds: "##"
# in black on black, "  " on white. 107 is bright white where known; the VT, which maps it back to
# 47, shows light grey, still a strong contrast to black.
SGR_ASCII_DARK = "\x1b[0;30;40m"
SGR_ASCII_LIGHT = "\x1b[0;30;47;107m"
SGR_RESET = "\x1b[0m"
GLYPH_BOTH_DARK = " "
GLYPH_BOTH_LIGHT = "\u2588"  # full block
GLYPH_UPPER_LIGHT = "\u2580"  # upper half block
GLYPH_LOWER_LIGHT = "\u2584"  # lower half block
HALF_BLOCK_GLYPHS = GLYPH_BOTH_LIGHT + GLYPH_UPPER_LIGHT + GLYPH_LOWER_LIGHT


@dataclass(frozen=True)
class QrCode:
    payload: str  # the exact text encoded, ASCII
    addrs: tuple[str, ...]  # the addresses in the payload, in order
    omitted_addrs: int  # offered addresses left out to keep the code small (the screen lists them)
    version: int  # 1-40
    error_correction: str  # "L", "M", "Q" or "H"
    matrix: Matrix  # True = dark module, without quiet zone

    @property
    def modules(self) -> int:
        """Modules per side, without the quiet zone (21 for version 1, +4 per version)."""
        return len(self.matrix)


def qr_host(entry: str) -> str | None:
    """`entry` as it goes after `root@` (IPv6 in brackets), or None if it cannot be reached that way.

    The hosts come from the network module, already filtered; this guards the payload against
    anything else: names, link-local or scoped addresses (`fe80::1%eth0`), loopback.
    """
    text = entry[1:-1] if entry.startswith("[") and entry.endswith("]") else entry
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if not network.reachable_for_ssh(address):
        return None
    if isinstance(address, ipaddress.IPv6Address):
        return f"[{address.compressed}]"
    return address.compressed


def onion_host(onion: str | None) -> str | None:
    """`<56 base32 chars>.onion`, or None for anything that is not a valid v3 onion address (yet)."""
    if not onion:
        return None
    try:
        return tor.check_onion_address(onion.strip())
    except ValueError:
        return None


def payload(password: str | None, onion: str | None, addrs: Sequence[str]) -> str:
    """The JSON text clan reads. `tor` is left out until there is an onion address."""
    document: dict[str, object] = {"pass": password}
    if (tor := onion_host(onion)) is not None:
        document["tor"] = tor
    document["addrs"] = [h for h in (qr_host(a) for a in addrs) if h is not None]
    # ensure_ascii escapes anything outside ASCII and every control character, so the text is
    # strict JSON whatever the password holds.
    return json.dumps(document, ensure_ascii=True, separators=(",", ":"))


def _fit(text: str) -> tuple[int, str, int]:
    """(version, level name, qrcode level) of the smallest code that holds `text`."""
    versions: dict[str, tuple[int, int]] = {}
    for name, level in _LEVELS:
        code = QRCode(error_correction=level, border=0)
        code.add_data(text)
        try:
            versions[name] = (code.best_fit(), level)
        except (qrcode.exceptions.DataOverflowError, ValueError):  # ValueError: "version 41"
            continue
    if not versions:
        raise ValueError(f"{len(text)} bytes do not fit in a QR code")
    smallest = min(v for v, _ in versions.values())
    name = next(n for n, _ in _LEVELS if n in versions and versions[n][0] == smallest)
    return smallest, name, versions[name][1]


def encode(text: str) -> tuple[int, str, Matrix]:
    """(version, error correction, matrix) for `text`: smallest version, strongest level at it."""
    version, name, level = _fit(text)
    code = QRCode(version=version, error_correction=level, border=0)
    code.add_data(text)
    code.make(fit=False)
    return version, name, tuple(tuple(bool(m) for m in row) for row in code.get_matrix())


def build(
    password: str | None,
    onion: str | None,
    offered: Sequence[str],
    max_addrs: int,
    max_modules: int | None = None,
) -> QrCode:
    """The QR code for these values, with at most `max_addrs` of the offered hosts.

    With `max_modules`, hosts are dropped from the end until the code is at most that many modules
    wide (a small screen); password and onion address always stay, so it can still be bigger.
    """
    hosts = list(dict.fromkeys(h for h in (qr_host(a) for a in offered) if h is not None))
    chosen = hosts[: max(0, max_addrs)]
    while True:
        text = payload(password, onion, chosen)
        try:
            version, level, matrix = encode(text)
        except ValueError:
            if not chosen:
                raise
            chosen.pop()  # a silly max_addrs with long IPv6 addresses: keep what fits
            continue
        if max_modules is not None and len(matrix) > max_modules and chosen:
            chosen.pop()
            continue
        return QrCode(
            payload=text,
            addrs=tuple(chosen),
            omitted_addrs=len(hosts) - len(chosen),
            version=version,
            error_correction=level,
            matrix=matrix,
        )


def for_snapshot(
    snap: Snapshot, max_addrs: int = DEFAULT_MAX_ADDRS, max_modules: int | None = None
) -> QrCode:
    """The QR code of a snapshot: its password, onion address and offered hosts."""
    password = snap.password.password if snap.password is not None else None
    onion = snap.tor.onion_address if snap.tor is not None else None
    offered = snap.network.offered if snap.network is not None else ()
    try:
        return build(password, onion, offered, max_addrs, max_modules)
    except ValueError:  # a password of thousands of characters (not one of ours): the rest still fits
        return build(None, onion, offered, max_addrs, max_modules)


def with_quiet_zone(matrix: Matrix, quiet: int = QUIET_ZONE) -> Matrix:
    """The matrix framed by `quiet` light modules on every side."""
    width = len(matrix) + 2 * quiet
    blank = (False,) * width
    side = (False,) * quiet
    return (blank,) * quiet + tuple(side + row + side for row in matrix) + (blank,) * quiet


def half_block_lines(matrix: Matrix, quiet: int = QUIET_ZONE) -> list[str]:
    """Colour-free half-block text: one line per two module rows.

    Meant to be drawn light (bright white) on dark (black); the glyph of each cell says which of
    its two modules are light. A view with its own styling (the screen) draws these lines in
    those two colours; `render_half_blocks` adds the escape sequences for a plain terminal.
    """
    framed = with_quiet_zone(matrix, quiet)
    if len(framed) % 2:
        framed += ((False,) * len(framed[0]),)
    glyphs = {
        (True, True): GLYPH_BOTH_DARK,
        (False, False): GLYPH_BOTH_LIGHT,
        (False, True): GLYPH_UPPER_LIGHT,
        (True, False): GLYPH_LOWER_LIGHT,
    }
    return [
        "".join(glyphs[upper, lower] for upper, lower in zip(framed[i], framed[i + 1], strict=True))
        for i in range(0, len(framed), 2)
    ]


def render_half_blocks(matrix: Matrix, quiet: int = QUIET_ZONE) -> list[str]:
    """Half-block lines with explicit colours, each reset at its end so nothing leaks past it."""
    return [f"{SGR_LIGHT_ON_DARK}{line}{SGR_RESET}" for line in half_block_lines(matrix, quiet)]


def render_ascii(
    matrix: Matrix, quiet: int = QUIET_ZONE, invert: bool = False, colour: bool = False
) -> list[str]:
    """ASCII characters, two columns per module ("##" dark, "  " light): a cell is about twice as
    tall as wide, so two columns make square modules.

    Without `colour` the text is pure ASCII, for terminals that take no escape sequences, files and
    copy-paste; `invert` then draws light modules as "##", for light-on-dark terminals, where the
    text is the bright part. With `colour` each run of modules also gets explicit background
    colours: solid cells whatever the font, which cameras read far more reliably than "#" glyphs.
    """
    dark, light = ("  ", "##") if invert and not colour else ("##", "  ")
    lines = []
    for row in with_quiet_zone(matrix, quiet):
        if not colour:
            lines.append("".join(dark if m else light for m in row))
            continue
        parts, previous = [], None
        for module in row:
            if module != previous:
                parts.append(SGR_ASCII_DARK if module else SGR_ASCII_LIGHT)
                previous = module
            parts.append(dark if module else light)
        lines.append("".join(parts) + SGR_RESET)
    return lines


def size(modules: int, quiet: int, ascii_only: bool) -> tuple[int, int]:
    """(columns, rows) a rendering takes on a terminal: ASCII (with or without colour) or half blocks."""
    side = modules + 2 * quiet
    return (2 * side, side) if ascii_only else (side, (side + 1) // 2)


def max_modules(columns: int, rows: int, ascii_only: bool) -> int:
    """The widest code (modules per side) that fits `columns` x `rows` with the short quiet zone."""
    side = min(columns // 2, rows) if ascii_only else min(columns, 2 * rows)
    return side - 2 * QUIET_ZONE_SHORT


def fitting_quiet_zone(modules: int, columns: int, rows: int, ascii_only: bool) -> int | None:
    """The quiet zone to use in a `columns` x `rows` area: 4, else 2, else None (does not fit)."""
    for quiet in (QUIET_ZONE, QUIET_ZONE_SHORT):
        width, height = size(modules, quiet, ascii_only)
        if width <= columns and height <= rows:
            return quiet
    return None


def render(
    matrix: Matrix, quiet: int, ascii_only: bool, invert: bool = False, colour: bool = False
) -> list[str]:
    """Half blocks, or ASCII (with background colours if `colour`, else pure; see `render_ascii`)."""
    if ascii_only:
        return render_ascii(matrix, quiet, invert=invert, colour=colour)
    return render_half_blocks(matrix, quiet)


def caption(code: QrCode) -> str:
    """What the code holds and how big it is, for the line under it."""
    tor = ", the onion address" if '"tor":' in code.payload else ""
    count = len(code.addrs)
    addrs = f"{count} address{'es' if count != 1 else ''}"
    if code.omitted_addrs:
        addrs += f" (of {count + code.omitted_addrs}; the list above has all)"
    secret = "password" if not code.payload.startswith('{"pass":null') else "no password yet"
    return (
        f"QR code: {secret}{tor}, {addrs}; version {code.version}, "
        f"{code.modules}x{code.modules} modules, error correction {code.error_correction}"
    )


def terminal_shows_colour(environ: Mapping[str, str] | None = None) -> bool:
    """Whether escape sequences are welcome: any TERM but dumb or unknown."""
    env = os.environ if environ is None else environ
    return env.get("TERM", "dumb") not in ("dumb", "", "unknown")


def terminal_shows_half_blocks(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Whether the half blocks can be used: colours, and the glyphs in the stream's encoding (the
    locale). Where not, ASCII is the fallback, with colours if `terminal_shows_colour`."""
    if not terminal_shows_colour(environ):
        return False
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        HALF_BLOCK_GLYPHS.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True
