"""What the screen must get right on a real Linux VT (tests/test_vt_vm.py boots one): words never
split, a first frame with its keys, a footer of one colour, readable colours, a help that says there
is more, and a clean console after leaving."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest
import screen_data
from fake_iwd import FakeIwd, PrivateBus
from screen_tools import low_contrast, screen_text, strips, wait_for
from test_ui_wifi import client_screen, open_wifi, wifi_app
from textual.screen import Screen
from vt_palette import WCAG_AA, contrast

from installer_env import console, qr
from installer_env.session import Snapshot
from installer_env.ui.screens.help import BACK, HELP, MORE_ABOVE, MORE_BELOW, HelpScreen, position_hint
from installer_env.wifi import IwdClient
from installer_env.wrapping import CONTINUED, Part, wrap, wrap_row

SIZES = [(128, 48), (80, 25), (80, 24), (100, 37), (160, 50), (100, 30)]
WIFI_HINT = "This screen follows the change by itself."
TOKENS = [
    f"root@{screen_data.ONION}",
    screen_data.ED25519.fingerprint,
    screen_data.RSA.fingerprint,
    "root@192.168.1.5",
    "root@[2001:db8::5]",
]


def text_of(line: list[Part]) -> str:
    return "".join(p if isinstance(p, str) else p[0] for p in line)


# ---------------------------------------------------------------- words are never split


def test_wrap_breaks_only_at_spaces_and_keeps_styles() -> None:
    row = [("torify ssh ", "dim"), (f"root@{screen_data.ONION}", "bold")]
    lines = wrap_row(row, 70)
    assert [text_of(line) for line in lines] == ["torify ssh", f"root@{screen_data.ONION}"]
    assert lines[1] == [(f"root@{screen_data.ONION}", "bold")]
    assert wrap_row(row, 80) == [[("torify ssh ", "dim"), (f"root@{screen_data.ONION}", "bold")]]


def test_wrap_keeps_runs_of_spaces_inside_a_line_and_empty_rows() -> None:
    rows: list[list[Part]] = [["ED25519 ", ("SHA256:abc", "dim")], [], ["a  b"]]
    assert [text_of(line) for line in wrap(rows, 40)] == ["ED25519 SHA256:abc", "", "a  b"]


@pytest.mark.parametrize("width", [4, 5, 13, 20, 61, 66])
def test_a_word_wider_than_the_line_is_cut_with_a_visible_mark(width: int) -> None:
    word = f"root@{screen_data.ONION}"
    lines = [text_of(line) for line in wrap_row(["ssh ", word], width)]
    assert all(len(line) <= width for line in lines)
    pieces = [line for line in lines if line != "ssh"]
    assert all(piece.endswith(CONTINUED) for piece in pieces[:-1])
    assert "".join(p.removesuffix(CONTINUED) for p in pieces) == word


def split_tokens(text: str, tokens: list[str] = TOKENS) -> list[str]:
    """Tokens whose start is on a line that holds neither all of them nor the continuation mark."""
    lines = [line.rstrip() for line in text.splitlines()]
    return [
        t
        for t in tokens
        if any(t[:12] in line and t not in line and not line.endswith(CONTINUED) for line in lines)
    ]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_addresses_onion_and_fingerprints_are_never_split(size: tuple[int, int]) -> None:
    app = screen_data.app()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert not split_tokens(text), text


# What QEMU's user network gives a guest: its code needs version 8 (49 modules), as on a real LAN.
QEMU_NET = screen_data.network(screen_data.interface("eth0", "10.0.2.15", "2001:db8:1:0:5054:ff:fe12:3456"))


@pytest.mark.parametrize("size", [(128, 48), (100, 37), (80, 25)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_never_split_with_a_dual_stack_network(size: tuple[int, int]) -> None:
    app = screen_data.app(screen_data.snapshot(network=QEMU_NET))
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert not split_tokens(
            text, [*TOKENS[:3], "root@10.0.2.15", "root@[2001:db8:1:0:5054:ff:fe12:3456]"]
        ), text


async def test_onion_login_is_whole_beside_the_code_at_128x48() -> None:
    """The framebuffer console of a 1024x768 machine: the onion login fits its column unbroken."""
    app = screen_data.app(screen_data.snapshot(network=QEMU_NET))
    async with app.run_test(size=(128, 48)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert app.screen.has_class("-wide")
        full = app.presentation.fit_qr()  # every address, no limit on the space
        assert isinstance(full, qr.Fitted)
        assert full.code.modules == 49
        assert f"root@{screen_data.ONION}" in text, text
        assert CONTINUED not in text


# ---------------------------------------------------------------- leaving


def test_leaving_on_a_linux_vt_clears_the_console_first() -> None:
    out = io.StringIO()
    console.leave(out, {"TERM": "linux"})
    assert out.getvalue() == console.CLEAR + console.RETURN_HINT + "\n"
    assert console.CLEAR == "\x1b[H\x1b[2J"  # cursor home, then the whole screen cleared


def test_leaving_a_terminal_with_an_alternate_screen_keeps_its_scrollback() -> None:
    out = io.StringIO()
    console.leave(out, {"TERM": "xterm-256color"})
    assert out.getvalue() == console.RETURN_HINT + "\n"


# ---------------------------------------------------------------- footer and colours


async def test_first_frame_already_shows_the_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    app = screen_data.app()
    frames: list[str] = []
    display = app._display

    def recording_display(screen: Screen[object], renderable: object) -> None:
        # Every frame the app sends to the terminal, as the compositor holds it at that moment.
        if renderable is not None:
            frames.append(screen_text(app))
        display(screen, renderable)  # type: ignore[arg-type]

    monkeypatch.setattr(app, "_display", recording_display)
    async with app.run_test(size=(80, 25)) as pilot:
        await wait_for(pilot, lambda: any("installer-env on" in f for f in frames))
    first = next(f for f in frames if "installer-env on" in f).splitlines()
    assert all(word in first[-1] for word in ("Wi-Fi", "QR code", "Help", "Quit")), first[-1]


@pytest.mark.parametrize("size", [(80, 25), (128, 48)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_footer_is_one_blue_bar(size: tuple[int, int]) -> None:
    app = screen_data.app()
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: "Quit" in screen_text(app).splitlines()[-1])
        last = strips(app)[-1]
        backgrounds = {
            (seg.style.bgcolor.number if seg.style and seg.style.bgcolor else None) for seg in last
        }
        assert backgrounds == {4}, f"footer backgrounds {backgrounds} (4 is ANSI blue)"


async def test_wifi_hint_is_readable_on_the_vt(tmp_path: Path) -> None:
    """The hint under a Wi-Fi problem: >= 4.5:1 against its background in the VT's own colours."""
    app = screen_data.app(cfg=screen_data.config(wifi_enabled=True))
    async with app.run_test(size=(80, 25)) as pilot:
        await client_screen(lambda: IwdClient(f"unix:path={tmp_path}/no-such-socket"))(pilot)
        await wait_for(pilot, lambda: WIFI_HINT in screen_text(app))
        ratios = set()
        for strip in strips(app):
            for seg in strip:
                text = seg.text.strip()
                if text and (text in WIFI_HINT or WIFI_HINT in text) and seg.style is not None:
                    fg = seg.style.color.number if seg.style.color else 7
                    bg = seg.style.bgcolor.number if seg.style.bgcolor else 0
                    ratios.add(round(contrast(fg or 0, bg or 0), 1))
        assert ratios, "the hint's colours were not found"
        assert min(ratios) >= WCAG_AA, ratios


def test_vt_contrast_of_dark_grey_is_too_low_and_light_grey_enough() -> None:
    assert round(contrast(8, 0), 1) == 2.8
    assert contrast(7, 0) >= WCAG_AA
    assert contrast(15, 4) >= WCAG_AA  # bright white on the blue bar


# ---------------------------------------------------------------- help at 80x25


def test_help_position_hint() -> None:
    assert position_hint(0, 10) == MORE_BELOW + BACK
    assert position_hint(10, 10) == MORE_ABOVE + BACK
    assert position_hint(0, 0) == BACK


async def test_help_at_80x25_says_there_is_more_and_how_back() -> None:
    app = screen_data.app()
    async with app.run_test(size=(80, 25)) as pilot:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: MORE_BELOW.strip() in screen_text(app))
        assert BACK in screen_text(app).splitlines()[-1]
        last_help_line = next(
            line for line in reversed(HELP.splitlines()) if HELP.count(line.strip()) == 1
        ).strip()
        assert last_help_line not in screen_text(app)
        await pilot.press("end")
        await wait_for(pilot, lambda: last_help_line in screen_text(app))
        await wait_for(pilot, lambda: MORE_ABOVE.strip() in screen_text(app))
        assert MORE_BELOW.strip() not in screen_text(app)
        await pilot.press("escape")
        assert "Help" in screen_text(app).splitlines()[-1]


async def test_help_that_fits_shows_only_the_way_back() -> None:
    app = screen_data.app()
    async with app.run_test(size=(100, 50)) as pilot:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: screen_text(app).splitlines()[-1].strip() == BACK)


# ---------------------------------------------------------------- every text readable on the VT


def _no_carrier(**changes: object) -> Snapshot:
    cable_out = dataclasses.replace(screen_data.interface("eth1", index=3), carrier=False)
    return screen_data.snapshot(network=screen_data.network(screen_data.ETH0, cable_out), **changes)


@pytest.mark.parametrize("state", ["normal", "not-applied", "no-password"])
async def test_every_text_on_the_main_help_and_wired_screens_is_readable_on_the_vt(state: str) -> None:
    """WCAG's 4.5:1 in the VT's own palette for every piece of text, not only the hints: ANSI brown
    ("yellow", 4.0:1), red (2.7:1) and dark grey (2.8:1) on black, or green on the blue highlight
    (4.3:1), are hard to read on a real console."""
    changes: dict[str, object] = {}
    if state == "not-applied":
        changes = {
            "password": dataclasses.replace(screen_data.password_state(), applied=False),
            "tor": screen_data.TOR_BOOTSTRAPPING,
        }
    if state == "no-password":
        changes = {"password": None, "password_problem": "no password yet: it is set when a console logs in"}
    app = screen_data.app(_no_carrier(**changes))
    async with app.run_test(size=(100, 37)) as pilot:
        await wait_for(pilot, lambda: "Quit" in screen_text(app).splitlines()[-1])
        assert low_contrast(app, WCAG_AA) == set(), "main screen"
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert low_contrast(app, WCAG_AA) == set(), "help"
        await pilot.press("escape", "e")
        await wait_for(pilot, lambda: "cable in" in screen_text(app))
        assert low_contrast(app, WCAG_AA) == set(), "wired network screen, first interface"
        await pilot.press("down")
        await wait_for(pilot, lambda: "MAC" in screen_text(app) and "no cable" in screen_text(app))
        assert low_contrast(app, WCAG_AA) == set(), "wired network screen, an interface without cable"


async def test_every_text_on_the_wifi_screen_is_readable_on_the_vt(
    iwd: FakeIwd, bus: PrivateBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address)
    station = next(iter(iwd.stations.values()))
    station.set_powered(False)
    next(iter(iwd.adapters.values())).powered = False
    app = wifi_app()
    async with app.run_test(size=(100, 37)) as pilot:
        await open_wifi(pilot, scanned=None)
        await wait_for(pilot, lambda: "p: switch it on" in screen_text(app))
        assert low_contrast(app, WCAG_AA) == set(), "device off"
        await pilot.press("p")
        await wait_for(pilot, lambda: "Scan done" in screen_text(app))
        assert low_contrast(app, WCAG_AA) == set(), "networks listed, the first highlighted"
