"""One snapshot through every view: the screen, plain mode, `status`, `status --json` and `qr` state
the same facts (port, hosts, onion address, password, QR payload), whatever sshd's port and tor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import screen_data
from conftest import MakeConfig
from qrimage import LIGHT_THEME, decode_half_blocks, decode_text
from screen_tools import flat, screen_text
from terminal_capture import decode_capture

from installer_env import commands, plain, qr, status
from installer_env.presentation import Viewer
from installer_env.session import collect
from installer_env.sshd import SshdStatus
from installer_env.state import StateStore
from installer_env.tor import TorStatus
from installer_env.ui.widgets.qr import QrView
from installer_env.wording import present

HOSTS = ("192.168.1.5", "[2001:db8::5]")


def sshd_on(port: int) -> SshdStatus:
    return SshdStatus(True, True, True, port, (screen_data.ED25519, screen_data.RSA), ())


@pytest.mark.parametrize("port", [22, 2222])
@pytest.mark.parametrize("tor", [None, screen_data.TOR_PUBLISHED], ids=["no-tor", "tor"])
async def test_every_view_states_the_same_facts(
    port: int,
    tor: TorStatus | None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    snap = screen_data.snapshot(ssh=sshd_on(port), tor=tor)
    program = "ssh " if port == 22 else f"ssh -p {port} "
    addrs = [h if port == 22 else f"{h}:{port}" for h in HOSTS]
    torify = f"torify ssh root@{screen_data.ONION}"

    # status --json
    document = status.to_dict(snap)
    payload = document["qr"]["payload"]
    assert json.loads(payload) == {
        "pass": screen_data.PASSWORD,
        **({"tor": screen_data.ONION} if tor else {}),
        "addrs": addrs,
    }
    assert document["ssh"]["port"] == port
    assert document["login"]["ssh"] == [f"{program}root@{h}" for h in (*HOSTS, "nixos-installer.local")]
    assert document["login"]["torify"] == (torify if tor else None)

    # status (text), plain mode
    text = status.to_text(snap)
    serial = plain.render(snap, columns=120, rows=80, half_blocks=True)
    assert decode_capture(serial, tmp_path / "plain.pgm") == [payload]
    for shown in (text, serial):
        assert screen_data.PASSWORD in shown
        assert f"listening on port {port}" in shown
        for host in HOSTS:
            assert f"{program}root@{host}\n" in shown
        assert (torify in shown) == (tor is not None)

    # installer-env qr (no terminal: the whole code)
    monkeypatch.setenv("TERM", "linux")
    assert commands.print_qr(snap, screen_data.config(), pure_ascii=False, invert=False) == 0
    printed = capsys.readouterr().out.splitlines()
    assert decode_text(printed, LIGHT_THEME, tmp_path / "qr.pgm").decode() == payload

    # the screen
    app = screen_data.app(snap)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        on_screen = screen_text(app)
        drawn = app.screen.query_one(QrView).lines
    assert decode_half_blocks(drawn) == payload
    assert screen_data.PASSWORD in on_screen
    assert f"listening on port {port}" in on_screen
    for host in HOSTS:
        assert f"{program}root@{host}" in on_screen
    assert (flat(torify) in flat(on_screen)) == (tor is not None)


def test_torify_waits_for_tor_to_hold_the_service_in_every_view() -> None:
    added = TorStatus(reachable=True, bootstrap_percent=100, onion_address=screen_data.ONION)
    for tor, shown in ((added, False), (TorStatus(**{**added.__dict__, "service_added": True}), True)):
        snap = screen_data.snapshot(tor=tor)
        for viewer in Viewer:
            p = present(snap, viewer)
            assert p.tor is not None
            assert (p.tor.login is not None) == shown
        assert ("torify ssh" in status.to_text(snap)) == shown
        assert (status.to_dict(snap)["login"]["torify"] is not None) == shown


def test_the_main_screen_drops_addresses_rather_than_the_code() -> None:
    """qr_max_addrs=20 and 20 addresses: "at most" 20, so fewer where 20 do not fit, never none."""
    many = screen_data.interface("eth0", *(f"10.0.0.{i}" for i in range(1, 21)))
    snap = screen_data.snapshot(network=screen_data.network(many))
    p = present(snap, Viewer.SCREEN, qr_max_addrs=20)
    from installer_env.ui import layout

    chosen = layout.choose(100, 37, p.fit_qr)
    assert chosen.kind is layout.Kind.WIDE
    assert chosen.code is not None
    assert 0 < len(chosen.code.code.addrs) < 20
    assert chosen.code.quiet_zone >= qr.QUIET_ZONE_SHORT
    assert chosen.code.omitted == 20 - len(chosen.code.code.addrs)


def test_a_screen_that_starts_tor_never_shows_the_advice_meant_for_status(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    config = make_config(
        tor_enabled=True, tor_binary=str(tmp_path / "no-tor"), tor_control_socket=tmp_path / "no-control"
    )
    store = StateStore(config.state_dir)
    live = collect(config, store, live=True)
    assert live.tor is not None
    for viewer in (Viewer.SCREEN, Viewer.PLAIN):
        p = present(live, viewer)
        assert p.tor is not None
        assert p.tor.state.text.startswith("starting")
        assert "console screen" not in status.text(p)
    # `status` itself, a separate process, says what the screen will do.
    once = collect(config, store)
    assert once.tor is not None
    assert once.tor.error is not None
