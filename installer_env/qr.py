"""The QR code a phone or `clan machines install --png` scans: its payload, its modules, and text renderers.

The payload is the JSON clan's installer reader takes, byte for byte: compact, strict, ASCII only,
`{"pass":"...","tor":"<id>.onion","addrs":["192.0.2.5","[2001:db8::5]"]}`, with `:PORT` after each
address when sshd does not listen on 22 (`"192.0.2.5:2222"`, `"[2001:db8::5]:2222"`). Every renderer
draws the same `Matrix` (True = dark module), and `fit` is the one rule for how big a code gets in a
given space, so the screen, plain mode, `status`, `installer-env qr` and the tests agree.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from installer_env.leanimport import lean_import

if TYPE_CHECKING:
    from qrcode.main import QRCode

# qrcode, the network rules and the onion checks are imported where a code's payload is made, not
# with this module: the screen's first frame draws codes its first snapshot's child made
# (`codes_for`, `adopt`), with none of them loaded.

Matrix = tuple[tuple[bool, ...], ...]

DEFAULT_MAX_ADDRS = 3
QUIET_ZONE = 4  # what the QR specification asks for
QUIET_ZONE_SHORT = 2  # still read by zbar and phone cameras; never less (a code without one fails)
SSH_PORT = 22  # the port clan tries when an address carries none

# Strongest first: at the smallest version the data needs, the strongest level that still fits it
# costs no extra modules and makes the code more forgiving of glare and a shaky phone.
_LEVELS = ("H", "Q", "M", "L")

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
    """One code: what it holds (the payload and its parts), its size and level, and its modules."""

    payload: str  # the exact text encoded, ASCII
    has_password: bool  # False: `"pass":null` (no password yet, or one too long for any code)
    onion: str | None  # the onion address in the payload, if any
    addrs: tuple[str, ...]  # the addresses in the payload as written there (with `:PORT`), in order
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
    from installer_env import network

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
    from installer_env.tor.onion import check_onion_address

    if not onion:
        return None
    try:
        return check_onion_address(onion.strip())
    except ValueError:
        return None


def with_port(host: str, port: int) -> str:
    """`host` (IPv6 in brackets) as an entry of `addrs`: `:PORT` added unless the port is 22."""
    return host if port == SSH_PORT else f"{host}:{port}"


def qr_order(hosts: Sequence[str]) -> tuple[str, ...]:
    """The reachable hosts, each once, in the order the code keeps them: IPv4, then global IPv6,
    then unique-local IPv6 (fd00::/8 reaches only the local site; a global one reaches it too)."""

    def rank(host: str) -> int:
        address = ipaddress.ip_address(host.strip("[]"))
        if address.version == 4:
            return 0
        return 2 if address in _UNIQUE_LOCAL else 1

    usable = dict.fromkeys(h for h in (qr_host(a) for a in hosts) if h is not None)
    return tuple(sorted(usable, key=rank))  # stable: keeps the network's order within a rank


_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")


def payload(password: str | None, onion: str | None, addrs: Sequence[str], port: int = SSH_PORT) -> str:
    """The JSON text clan reads. `tor` is left out until there is an onion address."""
    document: dict[str, object] = {"pass": password}
    if (tor := onion_host(onion)) is not None:
        document["tor"] = tor
    document["addrs"] = [with_port(h, port) for h in (qr_host(a) for a in addrs) if h is not None]
    # ensure_ascii escapes anything outside ASCII and every control character, so the text is
    # strict JSON whatever the password holds.
    return json.dumps(document, ensure_ascii=True, separators=(",", ":"))


def _qrcode() -> type[QRCode[Any]]:
    """qrcode's code class, without its image drawers, which import Pillow (see leanimport): the
    helper puts the packages in place first, so the imports load only what they name."""
    lean_import("qrcode.main")
    from qrcode.main import QRCode

    return QRCode


def _fit(text: str) -> tuple[int, str, int]:
    """(version, level name, qrcode level) of the smallest code that holds `text`."""
    code_class = _qrcode()
    import qrcode.constants
    import qrcode.exceptions

    versions: dict[str, tuple[int, int]] = {}
    for name in _LEVELS:
        level: int = getattr(qrcode.constants, f"ERROR_CORRECT_{name}")
        code = code_class(error_correction=level, border=0)
        code.add_data(text)
        try:
            versions[name] = (code.best_fit(), level)
        except (qrcode.exceptions.DataOverflowError, ValueError):  # ValueError: "version 41"
            continue
    if not versions:
        raise ValueError(f"{len(text)} bytes do not fit in a QR code")
    smallest = min(v for v, _ in versions.values())
    name = next(n for n in _LEVELS if n in versions and versions[n][0] == smallest)
    return smallest, name, versions[name][1]


def encode(text: str) -> tuple[int, str, Matrix]:
    """(version, error correction, matrix) for `text`: smallest version, strongest level at it."""
    version, name, level = _fit(text)
    code = _qrcode()(version=version, error_correction=level, border=0)
    code.add_data(text)
    code.make(fit=False)
    return version, name, tuple(tuple(bool(m) for m in row) for row in code.get_matrix())


def build(password: str | None, onion: str | None, hosts: Sequence[str], port: int = SSH_PORT) -> QrCode:
    """The QR code holding exactly these values (hosts as they go after `root@`)."""
    text = payload(password, onion, hosts, port)
    version, level, matrix = encode(text)
    document = json.loads(text)
    return QrCode(
        payload=text,
        has_password=password is not None,
        onion=document.get("tor"),
        addrs=tuple(document["addrs"]),
        version=version,
        error_correction=level,
        matrix=matrix,
    )


@dataclass(frozen=True)
class Content:
    """What a code of this session may hold; `fit` decides how much of it a given space takes."""

    password: str | None
    onion: str | None
    hosts: tuple[str, ...]  # in `qr_order`, at most the configured number
    port: int = SSH_PORT
    offered: int = 0  # how many hosts the session offers in all (the text lists every one)

    @classmethod
    def of(
        cls, password: str | None, onion: str | None, offered: Sequence[str], max_addrs: int, port: int
    ) -> Content:
        ordered = qr_order(offered)
        return cls(password, onion, ordered[: max(0, max_addrs)], port, len(ordered))


@dataclass(frozen=True)
class Fitted:
    """A code drawn in a space: `omitted` offered hosts left out, with `quiet_zone` (2 to 4) around it."""

    code: QrCode
    quiet_zone: int
    omitted: int
    columns: int  # the characters it takes
    rows: int


@dataclass(frozen=True)
class TooSmall:
    """Not even the smallest code (no address) fits with a quiet zone of 2; it would need this much."""

    columns: int
    rows: int


# The codes made so far, by content and number of its hosts: a view lays out again on every resize
# and snapshot, and the screen's first codes come from its first snapshot's child (`adopt`).
_made: dict[tuple[Content, int], QrCode] = {}
_MADE_KEPT = 64


def _keep(content: Content, count: int, code: QrCode) -> None:
    # One thread at a time makes codes: the event loop of the screen or plain view, a one-shot
    # command, or (where the screen cannot fork its child) the thread that does the child's work
    # while the UI thread only imports.
    if len(_made) >= _MADE_KEPT:
        del _made[next(iter(_made))]  # the oldest
    _made[content, count] = code


def _code(content: Content, count: int) -> QrCode:
    code = _made.get((content, count))
    if code is None:
        hosts = content.hosts[:count]
        try:
            code = build(content.password, content.onion, hosts, content.port)
        except ValueError:  # a password of thousands of characters (not one of ours): the rest still fits
            code = build(None, content.onion, hosts, content.port)
        _keep(content, count, code)
    return code


def codes_for(content: Content) -> dict[int, QrCode]:
    """Every code `fit` may draw for `content`, by the number of its hosts it holds (those that
    can be made at all): what a process that has qrcode loaded hands to one that has not."""
    codes = {}
    for count in range(len(content.hosts), -1, -1):
        try:
            codes[count] = _code(content, count)
        except ValueError:  # too many long hosts for any version, as in `fit`
            continue
    return codes


def codes_made(content: Content) -> dict[int, QrCode]:
    """The codes of `content` made so far (by `fit`), by the number of its hosts they hold."""
    return {count: code for (made_for, count), code in _made.items() if made_for == content}


def adopt(content: Content, codes: Mapping[int, QrCode]) -> None:
    """Codes made in another process (`codes_for`, `codes_made`), drawn by `fit` without making
    them again."""
    for count, code in codes.items():
        _keep(content, count, code)


def fit(
    content: Content,
    columns: int | None = None,
    rows: int | None = None,
    ascii_only: bool = False,
    max_quiet: int = QUIET_ZONE,
) -> Fitted | TooSmall:
    """The one rule for every view: the code with the most hosts (dropped from the end of
    `qr_order`) that fits `columns` x `rows` with a quiet zone of 2, then the widest quiet zone up
    to `max_quiet` that still fits. None for a limit: no limit. Never a quiet zone under 2."""

    def fits(modules: int, quiet: int) -> bool:
        width, height = size(modules, quiet, ascii_only)
        return (columns is None or width <= columns) and (rows is None or height <= rows)

    for count in range(len(content.hosts), -1, -1):
        try:
            code = _code(content, count)
        except ValueError:  # too many long hosts for any version: fewer
            continue
        if not fits(code.modules, QUIET_ZONE_SHORT):
            if count == 0:
                return TooSmall(*size(code.modules, QUIET_ZONE_SHORT, ascii_only))
            continue
        widest = max(max_quiet, QUIET_ZONE_SHORT)
        quiet = next(q for q in range(widest, QUIET_ZONE_SHORT - 1, -1) if fits(code.modules, q))
        width, height = size(code.modules, quiet, ascii_only)
        return Fitted(code, quiet, content.offered - count, width, height)
    raise ValueError("no QR code holds even the onion address")  # not reachable with valid inputs


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


def render(
    matrix: Matrix, quiet: int, ascii_only: bool, invert: bool = False, colour: bool = False
) -> list[str]:
    """Half blocks, or ASCII (with background colours if `colour`, else pure; see `render_ascii`)."""
    if ascii_only:
        return render_ascii(matrix, quiet, invert=invert, colour=colour)
    return render_half_blocks(matrix, quiet)


def caption(fitted: Fitted) -> str:
    """What the code holds and how big it is, for the line under it."""
    code = fitted.code
    tor = ", the onion address" if code.onion else ""
    count = len(code.addrs)
    addrs = f"{count} address{'es' if count != 1 else ''}"
    if fitted.omitted:
        addrs += f" (of {count + fitted.omitted}; the list above has all)"
    secret = "password" if code.has_password else "no password yet"
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
