"""The console screen, driven by its keys and by session snapshots, as a person and the core use it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import screen_data
from qrimage import decode_half_blocks
from screen_tools import flat, screen_text, wait_for

from installer_env import console, qr, rotation, status
from installer_env.config import Config
from installer_env.presentation import Viewer
from installer_env.session import Session, collect
from installer_env.state import StateStore
from installer_env.tor import TorStatus
from installer_env.ui import layout
from installer_env.ui.app import InstallerApp
from installer_env.ui.screens.help import HelpScreen
from installer_env.ui.screens.main import MainScreen
from installer_env.ui.screens.qr_fullscreen import QrScreen
from installer_env.ui.widgets.footer import KeyBar
from installer_env.ui.widgets.password import PasswordBox
from installer_env.ui.widgets.qr import QrView
from installer_env.ui.widgets.tor import progress_bar
from installer_env.wording import present

WIDE, TALL, SMALL = (160, 50), (80, 60), (80, 24)


async def test_main_screen_shows_password_addresses_keys_and_onion() -> None:
    app = screen_data.app()
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert screen_data.PASSWORD in text
        assert "ssh root@192.168.1.5" in text
        assert "ssh root@[2001:db8::5]" in text
        assert "ssh root@nixos-installer.local" in text
        assert f"torify ssh root@{screen_data.ONION}" in text
        assert screen_data.ED25519.fingerprint in text
        assert screen_data.RSA.fingerprint in text
        assert "listening on port 22" in text
        assert isinstance(app.screen, MainScreen)
        assert app.screen.has_class("-wide")


@pytest.mark.parametrize(("size", "kind"), [(WIDE, "-wide"), (TALL, "-tall"), (SMALL, "-small")])
async def test_layout_follows_the_terminal_size(size: tuple[int, int], kind: str) -> None:
    app = screen_data.app()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        assert app.screen.has_class(kind)
        hint_shown = "Press q to show the QR code full screen." in screen_text(app)
        assert hint_shown == (kind == "-small")
        qr_lines = app.screen.query_one(QrView).lines
        assert bool(qr_lines) == (kind != "-small")


async def test_qr_on_the_main_screen_is_the_payload_status_json_reports() -> None:
    snap = screen_data.snapshot()
    app = screen_data.app(snap)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        view = app.screen.query_one(QrView)
        assert view.lines[0] in screen_text(app)
    # Read back what the screen drew, independently of how it was made.
    assert decode_half_blocks(view.lines) == status.to_dict(snap)["qr"]["payload"]


async def test_address_added_appears_with_a_new_qr_code() -> None:
    snap = screen_data.snapshot()
    app = screen_data.app(snap)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        before = app.screen.query_one(QrView).lines
        wlan = screen_data.interface("wlan0", "10.1.2.3", index=3)
        app.session.publish(screen_data.network(screen_data.ETH0, wlan))
        await wait_for(pilot, lambda: "ssh root@10.1.2.3" in screen_text(app))
        assert "wlan0" in screen_text(app)
        after = app.screen.query_one(QrView).lines
        assert after != before
    payload = json.loads(decode_half_blocks(after))
    assert payload["addrs"] == ["192.168.1.5", "10.1.2.3", "[2001:db8::5]"]


async def test_tor_progress_bar_until_published() -> None:
    app = screen_data.app(screen_data.snapshot(tor=TorStatus(mode="system")))
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        assert "starting..." in screen_text(app)
        for percent, phase in ((10, "Finishing handshake"), (45, "Loading relay descriptors")):
            status = TorStatus(
                reachable=True,
                bootstrap_percent=percent,
                bootstrap_phase=phase,
                onion_address=screen_data.ONION,
            )
            app.session.publish(status)
            shown = f"bootstrapping {percent}%: {phase}"
            await wait_for(pilot, lambda: shown in screen_text(app))  # noqa: B023
            assert progress_bar(percent) in screen_text(app)
        assert progress_bar(45) == "[" + "█" * 9 + "░" * 11 + "]"
        app.session.publish(screen_data.TOR_PUBLISHED)
        await wait_for(pilot, lambda: "published" in screen_text(app))
        assert "░" not in screen_text(app)
        assert f"torify ssh root@{screen_data.ONION}" in screen_text(app)


async def test_tor_error_is_shown_in_words() -> None:
    status = TorStatus(reachable=False, error="cannot reach tor's control socket /run/tor/control")
    app = screen_data.app(screen_data.snapshot(tor=status))
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        assert "! cannot reach tor's control socket /run/tor/control" in screen_text(app)


def live_config(tmp_path: Path) -> Config:
    return screen_data.config(
        state_dir=tmp_path / "state",
        demo=True,
        tor_enabled=False,
        wifi_enabled=False,
        ssh_host_keys=str(tmp_path / "no-keys" / "*.pub"),
        ssh_port=2222,
    )


async def test_password_rotated_from_another_console_shows_up(tmp_path: Path) -> None:
    cfg = live_config(tmp_path)
    store = StateStore(cfg.state_dir)
    first = rotation.rotate(cfg, store)
    app = InstallerApp(cfg, store, Session(collect(cfg, store)))  # the real sources, the real state file
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: first.password in screen_text(app))
        # Another console: its own store object on the same directory, as a second process has.
        second = rotation.rotate(cfg, StateStore(cfg.state_dir))
        assert second.password != first.password
        await wait_for(pilot, lambda: second.password in screen_text(app))
        assert first.password not in screen_text(app)


async def test_from_a_first_look_the_session_follows_once_the_first_frame_is_out(tmp_path: Path) -> None:
    """As a console starts it: the first frame from the child's first look, the session (the real
    sources, the real state file) made from its snapshot after that frame."""
    cfg = live_config(tmp_path)
    store = StateStore(cfg.state_dir)
    first = rotation.rotate(cfg, store)
    look = console.first_look(cfg, collect(cfg, store))
    app = InstallerApp(cfg, store, look.session, presentation=look.presentation)
    assert app._session is None  # nothing of the session before the app runs
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: first.password in screen_text(app))
        code = look.qr_codes[len(look.presentation.qr_content.hosts)]  # every address fits
        assert decode_half_blocks(app.screen.query_one(QrView).lines) == code.payload
        await wait_for(pilot, lambda: app._session is not None)
        assert app.snapshot.password == first  # the snapshot the child collected, unpickled
        second = rotation.rotate(cfg, StateStore(cfg.state_dir))  # another console
        await wait_for(pilot, lambda: second.password in screen_text(app))


async def test_a_screen_of_raw_values_asked_for_before_the_first_frame_makes_the_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """e (or w) pressed before the app follows its session (as at a first frame that never came,
    here with the first frame's hook gone) makes it and follows it."""
    monkeypatch.setattr(InstallerApp, "on_ready", lambda self: None)
    snap = screen_data.snapshot()
    look = console.first_look(screen_data.config(), snap)
    store = StateStore(Path("/nonexistent"))
    app = InstallerApp(
        screen_data.config(), store, look.session, presentation=look.presentation, follow_sources=False
    )
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        assert app._session is None
        await pilot.press("e")
        await wait_for(pilot, lambda: app._session is not None and app.snapshot == snap)
        app.session.publish(screen_data.network(screen_data.ETH0))
        await wait_for(pilot, lambda: app.snapshot.network == screen_data.network(screen_data.ETH0))


async def test_n_makes_a_new_password_through_the_core(tmp_path: Path) -> None:
    cfg = live_config(tmp_path)
    store = StateStore(cfg.state_dir)
    first = rotation.rotate(cfg, store)
    app = InstallerApp(cfg, store, Session(collect(cfg, store)), follow_sources=False)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("n")
        await wait_for(pilot, lambda: "generation 2" in screen_text(app))
        state = store.read()
        assert state is not None
        assert state.generation == 2
        assert state.password != first.password
        assert state.password in screen_text(app)
        assert not state.applied  # demo: never applied


async def test_n_failure_is_a_message_not_a_crash(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    cfg = live_config(tmp_path)
    cfg = dataclasses.replace(cfg, state_dir=blocker / "state")
    app = screen_data.app(screen_data.snapshot(), cfg)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("n")
        await wait_for(pilot, lambda: "No new password" in screen_text(app))
        assert flat("is not a directory") in flat(screen_text(app))
        assert screen_data.PASSWORD in screen_text(app)  # the old one stays on screen


@pytest.mark.parametrize("key", ["q", "f"])
async def test_qr_full_screen_and_back(key: str) -> None:
    app = screen_data.app()
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press(key)
        assert isinstance(app.screen, QrScreen)
        view = app.screen.query_one(QrView)
        assert view.quiet_zone == qr.QUIET_ZONE  # 160x50 has room for the full quiet zone
        assert "Esc: back" in screen_text(app)
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_qr_full_screen_uses_the_largest_quiet_zone_that_fits() -> None:
    snap = screen_data.snapshot()
    modules = status.to_dict(snap)["qr"]["modules"]
    rows = qr.size(modules, 2, ascii_only=False)[1] + 1  # room for a quiet zone of 2 and the caption, not 3
    app = screen_data.app(snap)
    async with app.run_test(size=(100, rows)) as pilot:
        await pilot.press("q")
        assert app.screen.query_one(QrView).quiet_zone == 2


async def test_qr_full_screen_too_small_says_so() -> None:
    app = screen_data.app()
    async with app.run_test(size=(40, 12)) as pilot:
        await pilot.press("q")
        assert app.screen.query_one(QrView).lines == []
        assert "Enlarge it" in screen_text(app)


@pytest.mark.parametrize("key", ["question_mark", "f1"])
async def test_help_and_back(key: str) -> None:
    app = screen_data.app()
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press(key)
        assert isinstance(app.screen, HelpScreen)
        assert "quit to the shell" in screen_text(app)
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


@pytest.mark.parametrize("key", ["x", "ctrl+c"])
async def test_quit_keys_end_the_app(key: str) -> None:
    app = screen_data.app()
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press(key)
        await pilot.pause()
        assert not app.is_running
    assert app.return_code == 0


async def test_w_tells_how_to_get_wifi() -> None:
    app = screen_data.app()
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("w")
        await wait_for(pilot, lambda: "iwctl" in screen_text(app))


async def test_s_without_a_terminal_to_hand_over_is_a_message() -> None:
    app = screen_data.app()
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("s")
        await wait_for(pilot, lambda: "Cannot open a shell here" in screen_text(app))
        assert isinstance(app.screen, MainScreen)


async def test_footer_lists_every_binding() -> None:
    app = screen_data.app()
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        footer = screen_text(app).splitlines()[-1]
        for label in ("w Wi-Fi", "n New password", "q QR code", "s Shell", "? Help", "x Quit"):
            assert label in footer


@pytest.mark.parametrize("label", ["? Help", "q QR code"])
async def test_a_click_on_a_key_in_the_bar_presses_it(label: str) -> None:
    """Over ssh a terminal sends clicks: each key in the bar is where it is drawn."""
    app = screen_data.app()
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        footer = screen_text(app).splitlines()[-1]
        assert await pilot.click(KeyBar, offset=(footer.index(label) + 2, 0))  # on the description
        expected = HelpScreen if label == "? Help" else QrScreen
        await wait_for(pilot, lambda: isinstance(app.screen, expected))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        assert await pilot.click(KeyBar, offset=(len(footer.rstrip()) + 1, 0))  # past the last key
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


async def test_password_and_addresses_are_whole_at_80x24() -> None:
    app = screen_data.app()
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        lines = screen_text(app).splitlines()
        assert any(screen_data.PASSWORD in line for line in lines)
        for host in ("192.168.1.5", "[2001:db8::5]"):
            assert any(f"ssh root@{host}" in line for line in lines)


async def test_missing_password_says_why() -> None:
    app = screen_data.app(
        screen_data.snapshot(password=None, password_problem="no password yet: log in on a console")
    )
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        assert "no password yet: log in on a console" in screen_text(app)
        assert app.screen.query_one(QrView).lines == []
        assert app.screen.query_one(PasswordBox).has_class("-missing")


async def test_a_login_that_could_not_make_a_password_says_why_in_the_box_and_the_message() -> None:
    problem = "cannot set up state directory /proc/x: it does not exist"
    app = screen_data.app(
        screen_data.snapshot(password=None, password_problem="no password yet", rotation_problem=problem)
    )
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        box = app.screen.query_one(PasswordBox)
        assert box.has_class("-missing")
        assert flat(problem) in flat(str(box.render()))
        assert app.message == f"No new password: {problem}"


async def test_bootstrapped_but_unpublished_onion_says_it_is_publishing() -> None:
    status = TorStatus(
        reachable=True, bootstrap_percent=100, bootstrap_phase="Done", onion_address=screen_data.ONION
    )
    app = screen_data.app(screen_data.snapshot(tor=status))
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        assert f"{progress_bar(100)} bootstrapped, publishing the onion service" in screen_text(app)


def test_layout_keeps_the_most_addresses_and_a_quiet_zone_of_two() -> None:
    p = present(screen_data.snapshot(), Viewer.SCREEN)  # version 7 (45 modules)
    wide = layout.choose(100, 37, p.fit_qr)
    assert wide.kind is layout.Kind.WIDE
    assert wide.code is not None
    assert wide.code.quiet_zone == 2
    assert layout.choose(80, 24, p.fit_qr) == layout.Layout(layout.Kind.SMALL, None)
    assert layout.choose(80, 60, p.fit_qr).kind is layout.Kind.TALL
    assert layout.choose(160, 50, None).kind is layout.Kind.SMALL  # no code yet
    full, caption = layout.fullscreen(160, 50, p.fit_qr)
    assert isinstance(full, qr.Fitted)
    assert (full.quiet_zone, caption) == (4, True)
    # 80x24 full screen: 49x25 with a quiet zone of 2 does not fit, so an address goes (not the zone).
    full, caption = layout.fullscreen(80, 24, p.fit_qr)
    assert isinstance(full, qr.Fitted)
    assert full.quiet_zone >= 2
    assert full.omitted >= 1


def test_a_terminal_with_room_for_the_largest_code_beside_the_text_makes_only_that_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each code takes milliseconds to make: the tall layout's, made only to learn their sizes, are
    not made when the wide one already holds every address (it wins a tie)."""
    p = present(screen_data.snapshot(), Viewer.SCREEN)
    built: list[int] = []
    real_build = qr.build

    def counting_build(*args: Any, **kwargs: Any) -> qr.QrCode:
        code = real_build(*args, **kwargs)
        built.append(len(code.addrs))
        return code

    monkeypatch.setattr(qr, "_made", {})
    monkeypatch.setattr(qr, "build", counting_build)
    wide = layout.choose(100, 37, p.fit_qr)
    assert wide.kind is layout.Kind.WIDE
    assert wide.code is not None
    assert not wide.code.omitted
    assert built == [len(p.qr_content.hosts)]
    # Where the wide layout drops an address, the tall one is still tried.
    assert layout.choose(80, 60, p.fit_qr).kind is layout.Kind.TALL
    assert len(built) > 1


async def test_the_app_collects_garbage_again_once_its_first_frame_is_out() -> None:
    """The console pauses the cyclic garbage collector for the start (console._screen); what the
    start made is frozen, so that the first pass does not walk all of it as the frame goes out."""
    import gc

    gc.disable()
    try:
        app = screen_data.app()
        async with app.run_test(size=WIDE) as pilot:
            await pilot.pause()
            assert gc.isenabled()
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.enable()


async def test_an_app_started_with_the_collector_running_leaves_it_as_it_is() -> None:
    import gc

    app = screen_data.app()
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        assert gc.isenabled()
        assert gc.get_freeze_count() == 0
