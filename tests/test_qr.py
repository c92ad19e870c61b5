"""The QR code: payload byte for byte as clan reads it, and every renderer read back with zbarimg."""

from __future__ import annotations

import io
import ipaddress
import json
import re
import secrets
import urllib.parse
from pathlib import Path

import pytest
import qrcode
import qrcode.constants
from qrimage import CELL_HEIGHT, DARK_THEME, LIGHT_THEME, decode_text

from installer_env import password, qr, tor

ADDRS = [
    "192.168.100.200",
    "[2001:db8:1234:5678:9abc:def0:1234:5678]",
    "10.255.255.254",
    "[fd12:3456:789a:1:2:3:4:5]",
    "172.16.254.253",
    "[2a02:8109:aa00:1:ffff:ffff:ffff:fffe]",
]


def longest_password() -> str:
    """Four words of the longest length the word list has (9 letters): the longest payload."""
    longest = max(len(w) for w in password.wordlist())
    words = [w for w in password.wordlist() if len(w) == longest]
    assert longest == 9
    return password.SEPARATOR.join(secrets.SystemRandom().sample(words, 4))


def onion() -> str:
    """A valid v3 onion address (checksum and version byte) for a random key."""
    return tor.onion_address(secrets.token_bytes(32))


def check_clan_contract(text: str, addrs: list[str], pw: str | None, tor: str | None) -> None:
    assert text.isascii()
    assert text == json.dumps(json.loads(text, strict=True), separators=(",", ":"))  # compact
    document = json.loads(text, strict=True)
    assert document["pass"] == pw
    assert document.get("tor") == tor
    assert ("tor" in document) == (tor is not None)
    assert document["addrs"] == addrs
    for entry in document["addrs"]:
        url = urllib.parse.urlsplit(f"ssh://root@{entry}")
        assert url.username == "root"
        assert url.port is None
        assert url.hostname is not None
        host = ipaddress.ip_address(url.hostname)
        assert not host.is_link_local
        assert not host.is_loopback
        # IPv6 in brackets (clan rejects bare IPv6), IPv4 bare.
        assert (entry == f"[{url.hostname}]") if host.version == 6 else (entry == url.hostname)


@pytest.mark.parametrize("count", range(1, 7))
def test_payload_round_trips_through_every_renderer(count: int, tmp_path: Path) -> None:
    pw, tor = longest_password(), onion()
    code = qr.build(pw, tor, ADDRS[:count])
    check_clan_contract(code.payload, ADDRS[:count], pw, tor)
    assert code.modules == 17 + 4 * code.version
    expected = code.payload.encode("ascii")
    image = tmp_path / "qr.pgm"
    for quiet in (qr.QUIET_ZONE, qr.QUIET_ZONE_SHORT):
        half = qr.render_half_blocks(code.matrix, quiet)
        coloured = qr.render_ascii(code.matrix, quiet, colour=True)
        # Both state their colours, so the terminal's own theme does not matter.
        for theme in (LIGHT_THEME, DARK_THEME):
            assert decode_text(half, theme, image) == expected, (quiet, theme)
            assert decode_text(coloured, theme, image) == expected, (quiet, theme)


@pytest.mark.parametrize("count", range(1, 7))
def test_pure_ascii_reads_on_a_vga_font(count: int, tmp_path: Path) -> None:
    """ "##" in the VGA font leaves gaps between text rows that zbar trips over in a sharp image; a
    phone camera never sees it that sharp: read it slightly out of focus, as the camera does."""
    pw, tor = longest_password(), onion()
    code = qr.build(pw, tor, ADDRS[:count])
    expected = code.payload.encode("ascii")
    one_module = CELL_HEIGHT
    plain = qr.render_ascii(code.matrix, qr.QUIET_ZONE)
    assert decode_text(plain, LIGHT_THEME, tmp_path / "a.pgm", blur_size=one_module) == expected
    inverted = qr.render_ascii(code.matrix, qr.QUIET_ZONE, invert=True)
    assert decode_text(inverted, DARK_THEME, tmp_path / "b.pgm", blur_size=one_module) == expected


def test_renderers_emit_only_their_glyphs_and_reset_colours() -> None:
    code = qr.build(longest_password(), onion(), ADDRS)
    half = qr.render_half_blocks(code.matrix)
    side = code.modules + 2 * qr.QUIET_ZONE
    assert len(half) == (side + 1) // 2
    for line in half:
        assert line.startswith(qr.SGR_LIGHT_ON_DARK)
        assert line.endswith(qr.SGR_RESET)
        body = line.removeprefix(qr.SGR_LIGHT_ON_DARK).removesuffix(qr.SGR_RESET)
        assert len(body) == side
        assert set(body) <= set(qr.HALF_BLOCK_GLYPHS + qr.GLYPH_BOTH_DARK)
    assert [line[len(qr.SGR_LIGHT_ON_DARK) : -len(qr.SGR_RESET)] for line in half] == qr.half_block_lines(
        code.matrix
    )
    plain = qr.render_ascii(code.matrix, qr.QUIET_ZONE_SHORT)
    assert len(plain) == code.modules + 2 * qr.QUIET_ZONE_SHORT
    assert all(line.isascii() and set(line) <= {"#", " "} and len(line) == 2 * len(plain) for line in plain)
    coloured = qr.render_ascii(code.matrix, qr.QUIET_ZONE_SHORT, colour=True)
    assert all(line.isascii() and line.endswith(qr.SGR_RESET) for line in coloured)
    stripped = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in coloured]
    assert stripped == plain  # the same characters, with colours added
    assert qr.size(code.modules, 4, ascii_only=False) == (side, len(half))
    assert qr.size(code.modules, 2, ascii_only=True) == (len(plain[0]), len(plain))


def test_quiet_zone_is_light_on_every_side() -> None:
    code = qr.build("a", None, [])
    framed = qr.with_quiet_zone(code.matrix, 4)
    assert all(not any(row) for row in framed[:4] + framed[-4:])
    assert all(not any(row[:4]) and not any(row[-4:]) for row in framed)
    assert framed[4][4]  # the finder pattern's dark corner
    assert [row[4:-4] for row in framed[4:-4]] == [tuple(r) for r in code.matrix]


def test_tor_is_left_out_until_there_is_an_onion_address() -> None:
    mistyped = onion()
    mistyped = ("b" if mistyped[0] == "a" else "a") + mistyped[1:]  # the checksum catches it
    for missing in (None, "", "(waiting for tor...)", "abc.onion", "a" * 56 + ".onion", mistyped):
        text = qr.payload("pw", missing, ["192.0.2.5"])
        assert text == '{"pass":"pw","addrs":["192.0.2.5"]}'
    service = onion().removesuffix(".onion")
    assert json.loads(qr.payload("pw", service, []))["tor"] == service + ".onion"
    assert json.loads(qr.payload("pw", service.upper() + ".onion", []))["tor"] == service + ".onion"


def test_no_password_yet_is_null_not_a_placeholder() -> None:
    assert qr.payload(None, None, []) == '{"pass":null,"addrs":[]}'


def test_only_reachable_ip_addresses_get_in() -> None:
    junk = [
        "fe80::1",
        "[fe80::1]",
        "fe80::1%eth0",
        "169.254.3.4",
        "127.0.0.1",
        "::1",
        "0.0.0.0",
        "ff02::1",
        "nixos.local",
        "eth0\x1b[31m",
        "(waiting...)",
        "[2001:db8::1",
        "",
    ]
    text = qr.payload("pw", None, [*junk, "2001:DB8::0:1", "192.0.2.1"])
    check_clan_contract(text, ["[2001:db8::1]", "192.0.2.1"], "pw", None)


def test_hostile_password_stays_strict_ascii_json(tmp_path: Path) -> None:
    hostile = 'a"b\\c\x00\x1b[2J\n\u202e\u00e9\U0001f600'
    code = qr.build(hostile, None, ADDRS[:1])
    check_clan_contract(code.payload, ADDRS[:1], hostile, None)
    assert decode_text(qr.render_half_blocks(code.matrix), LIGHT_THEME, tmp_path / "q.pgm") == (
        code.payload.encode("ascii")
    )


def test_fifty_addresses_are_capped_and_still_read(tmp_path: Path) -> None:
    many = [f"10.0.{i // 250}.{i % 250 + 1}" for i in range(25)]
    many += [f"[2001:db8:ffff:ffff:ffff:ffff:ffff:{i:x}]" for i in range(25)]
    pw, tor = longest_password(), onion()
    small = qr.fit(qr.Content.of(pw, tor, many, max_addrs=3, port=22))
    assert isinstance(small, qr.Fitted)
    assert small.code.addrs == tuple(many[:3])
    assert small.omitted == 47
    check_clan_contract(small.code.payload, many[:3], pw, tor)
    big = qr.fit(qr.Content.of(pw, tor, many, max_addrs=50, port=22))
    assert isinstance(big, qr.Fitted)
    assert big.code.addrs == tuple(many)
    assert big.omitted == 0
    check_clan_contract(big.code.payload, many, pw, tor)
    for code in (small.code, big.code):
        image = tmp_path / f"v{code.version}.pgm"
        assert decode_text(qr.render_half_blocks(code.matrix), LIGHT_THEME, image) == code.payload.encode()
    none = qr.fit(qr.Content.of(pw, tor, many, max_addrs=0, port=22))
    assert isinstance(none, qr.Fitted)
    assert none.code.addrs == ()


def test_smallest_version_then_strongest_error_correction() -> None:
    pw, tor = longest_password(), onion()
    for addrs in (ADDRS[:2], [], ADDRS):
        code = qr.build(pw, tor, addrs)
        minimal = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_L)
        minimal.add_data(code.payload)
        assert code.version == minimal.best_fit()  # never bigger than error correction L needs
    assert qr.encode("x")[:2] == (1, "H")  # room to spare: the strongest level at version 1
    # 192 bytes is the most version 8 holds at level L; at M it would need version 10.
    assert qr.encode("x" * 192)[:2] == (8, "L")


def test_payload_with_tor_and_two_addresses_is_version_eight_at_most() -> None:
    code = qr.build(longest_password(), onion(), ADDRS[:2])
    assert code.version <= 8
    assert code.modules <= 49


def test_addresses_go_before_the_quiet_zone_goes_under_two() -> None:
    pw, tor = longest_password(), onion()
    content = qr.Content.of(pw, tor, ADDRS, max_addrs=6, port=22)
    full = qr.fit(content)
    assert isinstance(full, qr.Fitted)
    assert full.quiet_zone == qr.QUIET_ZONE
    assert full.omitted == 0
    # All of an 80x25 VT: fewer addresses, not no code, and a quiet zone of 2 at least.
    small = qr.fit(content, 80, 25)
    assert isinstance(small, qr.Fitted)
    assert full.code.modules > small.code.modules
    assert small.code.addrs  # password, onion address and one IPv4 address fit on a VT
    assert small.code.addrs == full.code.addrs[: len(small.code.addrs)]
    assert small.omitted == len(ADDRS) - len(small.code.addrs)
    assert small.quiet_zone >= qr.QUIET_ZONE_SHORT
    assert (small.columns, small.rows) == qr.size(small.code.modules, small.quiet_zone, ascii_only=False)
    assert small.columns <= 80
    assert small.rows <= 25
    # One address more would not have fitted with 2.
    bigger = qr.build(pw, tor, full.code.addrs[: len(small.code.addrs) + 1])
    assert qr.size(bigger.modules, qr.QUIET_ZONE_SHORT, ascii_only=False)[1] > 25
    # Where 4 fits, 4; a row less, the same code with 3.
    roomy = qr.fit(content, full.columns, full.rows)
    assert isinstance(roomy, qr.Fitted)
    assert (roomy.code, roomy.quiet_zone) == (full.code, qr.QUIET_ZONE)
    tighter = qr.fit(content, full.columns, full.rows - 1)
    assert isinstance(tighter, qr.Fitted)
    assert (tighter.code, tighter.quiet_zone) == (full.code, 3)
    # Password and onion address never go: with no room even for them, no code at all.
    tiny = qr.fit(content, 30, 15)
    assert isinstance(tiny, qr.TooSmall)
    smallest = qr.build(pw, tor, [])
    assert (tiny.columns, tiny.rows) == qr.size(smallest.modules, qr.QUIET_ZONE_SHORT, ascii_only=False)


def test_order_for_the_code_is_ipv4_then_global_ipv6_then_unique_local() -> None:
    offered = ["[fd77::10]", "192.0.2.7", "[2001:db8:77::10]", "[fd00::1]", "10.0.0.5", "[2001:db8::9]"]
    assert qr.qr_order(offered) == (
        "192.0.2.7",
        "10.0.0.5",
        "[2001:db8:77::10]",
        "[2001:db8::9]",
        "[fd77::10]",
        "[fd00::1]",
    )
    # A cut list keeps the global IPv6 address, not the unique-local one.
    content = qr.Content.of("pw", None, ["[fd77::10]", "[2001:db8:77::10]"], max_addrs=1, port=22)
    fitted = qr.fit(content)
    assert isinstance(fitted, qr.Fitted)
    assert fitted.code.addrs == ("[2001:db8:77::10]",)


def test_a_port_other_than_22_goes_into_every_address() -> None:
    text = qr.payload("pw", None, ["10.0.0.5", "[2001:db8::5]"], port=2222)
    assert json.loads(text)["addrs"] == ["10.0.0.5:2222", "[2001:db8::5]:2222"]
    for entry in json.loads(text)["addrs"]:  # what clan's parser takes: host and port
        url = urllib.parse.urlsplit(f"ssh://root@{entry}")
        assert url.port == 2222
        assert ipaddress.ip_address(url.hostname or "")
    assert json.loads(qr.payload("pw", None, ["10.0.0.5"], port=22))["addrs"] == ["10.0.0.5"]


def test_half_blocks_only_where_the_terminal_can_show_them() -> None:
    def stream(encoding: str) -> io.TextIOWrapper:
        return io.TextIOWrapper(io.BytesIO(), encoding=encoding)

    assert qr.terminal_shows_colour({"TERM": "vt220"})
    assert not qr.terminal_shows_colour({"TERM": "dumb"})
    assert not qr.terminal_shows_colour({})
    assert qr.terminal_shows_half_blocks(stream("utf-8"), {"TERM": "linux"})
    assert qr.terminal_shows_half_blocks(stream("cp437"), {"TERM": "linux"})
    assert not qr.terminal_shows_half_blocks(stream("ascii"), {"TERM": "linux"})
    assert not qr.terminal_shows_half_blocks(stream("latin-1"), {"TERM": "vt220"})
    assert not qr.terminal_shows_half_blocks(stream("utf-8"), {"TERM": "dumb"})
    assert not qr.terminal_shows_half_blocks(stream("utf-8"), {})
