"""The screen on a Linux console: only glyphs the console font has, and hostile text shown literally."""

from __future__ import annotations

import dataclasses

import pytest
import screen_data
from screen_tools import screen_text, strips

from installer_env.network import NetworkSnapshot
from installer_env.session import Snapshot
from installer_env.tor import TorStatus
from installer_env.ui.widgets.password import PasswordBox

# The kernel's built-in console font is CP437: printable ASCII plus the 128 glyphs above it.
CP437 = frozenset(bytes(range(0x20, 0x7F)).decode("cp437") + bytes(range(0x80, 0x100)).decode("cp437"))
SIZES = [(80, 24), (80, 25), (100, 37), (160, 50), (80, 60), (40, 12)]
VIEWS = {"main": (), "qr": ("q",), "help": ("question_mark",), "message": ("w",)}


def test_cp437_set_is_the_console_font() -> None:
    assert {"█", "▀", "▄", "░", "─", "│", "┌", "═", "║", "╔"} <= CP437
    assert not {"▁", "▔", "▊", "▎", "▏", "╭", "━", "┃"} & CP437  # tall, round, heavy borders, scrollbars


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("tor", ["bootstrapping", "published"])
async def test_every_glyph_on_screen_is_in_the_console_font(
    size: tuple[int, int], view: str, tor: str
) -> None:
    snap = screen_data.snapshot(
        tor=screen_data.TOR_BOOTSTRAPPING if tor == "bootstrapping" else screen_data.TOR_PUBLISHED
    )
    app = screen_data.app(snap)
    async with app.run_test(size=size) as pilot:
        await pilot.press(*VIEWS[view])
        await pilot.pause()
        text = screen_text(app)
        outside = {ch for ch in text.replace("\n", "") if ch not in CP437}
        assert not outside, f"not in the console font: {sorted(outside)!r}\n{text}"
        assert len(strips(app)) == size[1]


def hostile(**changes: object) -> Snapshot:
    return screen_data.snapshot(**changes)


MARKUP = "[bold red]x[/]"
ESCAPE = "\x1b[31mred\x1b[0m"


@pytest.mark.parametrize("size", [(80, 24), (100, 37), (160, 50)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_hostile_hostname_is_literal_and_the_layout_holds(size: tuple[int, int]) -> None:
    name = MARKUP + ESCAPE + "h" * 300
    app = screen_data.app(hostile(hostname=name, mdns_name=name + ".local"))
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert MARKUP in text
        assert "\\x1b[31mred\\x1b[0m" in text
        assert "\x1b" not in text
        lines = text.splitlines()
        assert len(lines) == size[1]
        assert any(screen_data.PASSWORD in line for line in lines)
        assert "x Quit" in lines[-1]


async def test_thirty_interfaces_keep_the_password_and_footer_in_place() -> None:
    interfaces = [screen_data.interface(f"enp{i}s0", f"10.0.{i}.1", index=i + 2) for i in range(30)]
    app = screen_data.app(hostile(network=screen_data.network(*interfaces)))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        lines = screen_text(app).splitlines()
        assert len(lines) == 24
        assert any(screen_data.PASSWORD in line for line in lines)
        assert "ssh root@10.0.0.1" in "\n".join(lines)
        assert "x Quit" in lines[-1]
        # The rest are a keypress away: the details scroll with the arrow keys (no scrollbar glyphs).
        for _ in range(30):
            await pilot.press("down")
        assert "ssh root@10.0.29.1" in screen_text(app)


async def test_hostile_interface_names_ssids_and_errors_are_literal() -> None:
    iface = screen_data.interface(MARKUP + ESCAPE, "192.0.2.9")
    net = dataclasses.replace(screen_data.network(iface), problem="[link=http://x]click[/link]")
    tor = TorStatus(reachable=False, error="[reverse]tor[/] \x07\x1b]0;title\x07")
    app = screen_data.app(hostile(network=net, tor=tor))
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert MARKUP in text
        assert "[link=http://x]click[/link]" in text
        assert "[reverse]tor[/] \\x07\\x1b]0;title\\x07" in text
        assert "\x1b" not in text
        assert "\x07" not in text


async def test_hostile_password_in_a_damaged_state_file_is_literal() -> None:
    state = dataclasses.replace(screen_data.password_state(), password=MARKUP + ESCAPE)
    app = screen_data.app(hostile(password=state))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert MARKUP + "\\x1b[31mred\\x1b[0m" in screen_text(app)


async def test_very_long_password_wraps_but_is_whole() -> None:
    words = "-".join(["correcthorse"] * 20)
    state = dataclasses.replace(screen_data.password_state(), password=words, words=20)
    app = screen_data.app(hostile(password=state, network=NetworkSnapshot(interfaces=(), offered=())))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        box = app.screen.query_one(PasswordBox)
        shown = "".join(
            line.strip("║ ")
            for line in screen_text(app).splitlines()[box.region.y + 1 : box.region.bottom - 1]
        )
        assert shown == words
