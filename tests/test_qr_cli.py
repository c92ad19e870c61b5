"""`installer-env qr` and `status` as a person runs them, inside a namespace with known addresses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_runner import run_cli
from conftest import MakeConfig
from netns import Namespace
from qrimage import CELL_HEIGHT, DARK_THEME, LIGHT_THEME, decode_text

from installer_env import qr, rotation
from installer_env.state import PasswordState, StateStore

OFFERED = ["192.0.2.60", "[2001:db8:6::60]"]


@pytest.fixture
def machine(netns: Namespace, make_config: MakeConfig, isolated_env: dict[str, str]) -> PasswordState:
    """A namespace with one reachable interface, and a password in the test's state dir."""
    netns.add_veth("eth0", "peer0")
    netns.ip("addr", "add", "192.0.2.60/24", "dev", "eth0")
    netns.ip("addr", "add", "2001:db8:6::60/64", "dev", "eth0", "nodad")
    config = make_config(demo=True)
    assert str(config.state_dir) == isolated_env["INSTALLER_ENV_STATE_DIR"]
    return rotation.rotate(config, StateStore(config.state_dir))


def in_netns(netns: Namespace, env: dict[str, str], *args: str, **extra: str) -> tuple[str, str]:
    result = run_cli({**env, **extra}, *args, prefix=netns.with_own_sys())
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout, result.stderr


def expected_payload(state: PasswordState) -> str:
    return json.dumps({"pass": state.password, "addrs": OFFERED}, separators=(",", ":"))


def test_status_json_has_network_and_qr(
    netns: Namespace, machine: PasswordState, isolated_env: dict[str, str]
) -> None:
    out, _ = in_netns(netns, isolated_env, "status", "--json")
    document = json.loads(out)
    assert document["network"]["offered"] == OFFERED
    assert document["network"]["problem"] is None
    eth0 = next(i for i in document["network"]["interfaces"] if i["name"] == "eth0")
    assert eth0["state"] == "up"
    assert eth0["carrier"] is True
    # `ip netns exec` mounts the namespace's own /sys, so udev describes its devices.
    assert eth0["hardware"]["bus"] == "virtual"
    assert eth0["hardware"]["description"] == "virtual veth"
    assert {"192.0.2.60", "2001:db8:6::60"} <= {a["address"] for a in eth0["addresses"]}
    code = document["qr"]
    assert code["payload"] == expected_payload(machine)
    assert code["modules"] == 17 + 4 * code["version"]
    assert code["addrs"] == OFFERED
    assert code["omitted_addrs"] == 0


def test_qr_prints_half_blocks_that_decode(
    netns: Namespace, machine: PasswordState, isolated_env: dict[str, str], tmp_path: Path
) -> None:
    out, _ = in_netns(netns, isolated_env, "qr", TERM="linux", LANG="C.UTF-8", PYTHONIOENCODING="utf-8")
    lines = out.splitlines()
    assert qr.GLYPH_UPPER_LIGHT in out
    for theme in (LIGHT_THEME, DARK_THEME):
        assert decode_text(lines, theme, tmp_path / "q.pgm") == expected_payload(machine).encode()


def test_qr_falls_back_to_coloured_ascii_without_the_glyphs(
    netns: Namespace, machine: PasswordState, isolated_env: dict[str, str], tmp_path: Path
) -> None:
    out, _ = in_netns(netns, isolated_env, "qr", TERM="vt220", PYTHONIOENCODING="ascii")
    assert out.isascii()
    assert "\x1b[" in out
    assert decode_text(out.splitlines(), DARK_THEME, tmp_path / "q.pgm") == expected_payload(machine).encode()


@pytest.mark.parametrize("case", [(("qr", "--ascii"), "linux"), (("qr",), "dumb")])
def test_pure_ascii_when_asked_or_on_a_dumb_terminal(
    netns: Namespace,
    machine: PasswordState,
    isolated_env: dict[str, str],
    tmp_path: Path,
    case: tuple[tuple[str, ...], str],
) -> None:
    args, term = case
    out, _ = in_netns(netns, isolated_env, *args, TERM=term, PYTHONIOENCODING="utf-8")
    assert set(out) <= {"#", " ", "\n"}
    decoded = decode_text(out.splitlines(), LIGHT_THEME, tmp_path / "q.pgm", blur_size=CELL_HEIGHT)
    assert decoded == expected_payload(machine).encode()


def test_status_shows_addresses_and_the_qr_when_it_fits(
    netns: Namespace, machine: PasswordState, isolated_env: dict[str, str], tmp_path: Path
) -> None:
    out, _ = in_netns(
        netns, isolated_env, "status", TERM="linux", PYTHONIOENCODING="utf-8", COLUMNS="120", LINES="60"
    )
    assert "ssh root@192.0.2.60\n" in out
    assert "ssh root@[2001:db8:6::60]\n" in out
    qr_lines = [line for line in out.splitlines() if line.startswith(qr.SGR_LIGHT_ON_DARK)]
    assert decode_text(qr_lines, LIGHT_THEME, tmp_path / "q.pgm") == expected_payload(machine).encode()
    assert "QR code: password, 2 addresses; version" in out

    small, _ = in_netns(
        netns, isolated_env, "status", TERM="linux", PYTHONIOENCODING="utf-8", COLUMNS="30", LINES="10"
    )
    assert "QR code: needs " in small
    assert "characters; this terminal has 30x10" in small
    assert "\x1b" not in small

    piped, _ = in_netns(netns, isolated_env, "status", TERM="linux", PYTHONIOENCODING="utf-8")
    assert "ssh root@192.0.2.60" in piped
    assert "\x1b" not in piped  # not a terminal: no QR code in a file or a pipe
    assert "QR code:" not in piped


def test_qr_warns_when_the_terminal_is_too_small(
    netns: Namespace, machine: PasswordState, isolated_env: dict[str, str], tmp_path: Path
) -> None:
    out, err = in_netns(
        netns, isolated_env, "qr", TERM="linux", PYTHONIOENCODING="utf-8", COLUMNS="20", LINES="8"
    )
    assert "the QR code needs" in err
    # Printed with the short quiet zone anyway: it can still be scrolled, zoomed out or redirected.
    lines = out.splitlines()
    assert len(lines[0].removeprefix(qr.SGR_LIGHT_ON_DARK).removesuffix(qr.SGR_RESET)) % 2 == 1
    assert decode_text(lines, LIGHT_THEME, tmp_path / "q.pgm") == expected_payload(machine).encode()
