"""The command line as scripts and console logins use it: `status`, `demo`, `login`."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_runner import console_login_prefix, run_cli, started_cli
from conftest import MakeConfig
from realssh import ThrowawayUser

from installer_env import rotation
from installer_env.state import STATE_FILE, StateStore

TOP_LEVEL_KEYS = {"schema", "hostname", "mdns_name", "password", "password_problem", "ssh"}
PASSWORD_KEYS = {
    "password",
    "user",
    "words",
    "entropy_bits",
    "generation",
    "rotated_at",
    "applied",
    "note",
    "boot_id",
}
SSH_KEYS = {"installed", "running", "listening", "port", "host_keys", "problems"}
HOST_KEY_KEYS = {"type", "bits", "fingerprint", "path"}


@pytest.fixture
def host_key(tmp_path: Path) -> Path:
    key = tmp_path / "keys" / "ssh_host_ed25519_key"
    key.parent.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key.with_suffix(".pub")


@pytest.fixture
def env(isolated_env: dict[str, str], host_key: Path, os_release_plain: Path) -> dict[str, str]:
    values = dict(isolated_env, INSTALLER_ENV_SSH_HOST_KEYS=str(host_key), INSTALLER_ENV_SSHD="/nonexistent")
    values["INSTALLER_ENV_OS_RELEASE"] = str(os_release_plain)
    values.pop("TERM", None)
    return values


def test_status_json_has_the_stable_keys(env: dict[str, str], make_config: MakeConfig) -> None:
    before = run_cli(env, "status", "--json")
    assert before.returncode == 0, before.stderr
    doc = json.loads(before.stdout)
    assert doc.keys() >= TOP_LEVEL_KEYS
    assert doc["schema"] == 1
    assert doc["password"] is None
    assert doc["password_problem"].startswith("no password yet")
    assert set(doc["ssh"]) == SSH_KEYS
    assert doc["ssh"]["installed"] is False
    assert doc["ssh"]["problems"][0] == "sshd is not installed (/nonexistent not found)"

    state = rotation.rotate(make_config(), StateStore(Path(env["INSTALLER_ENV_STATE_DIR"])))
    doc = json.loads(run_cli(env, "status", "--json").stdout)
    assert set(doc["password"]) == PASSWORD_KEYS
    assert doc["password"]["password"] == state.password
    assert doc["password"]["entropy_bits"] == 51.7
    assert doc["password"]["applied"] is False
    assert doc["password_problem"] is None
    [key] = doc["ssh"]["host_keys"]
    assert set(key) == HOST_KEY_KEYS
    assert key["type"] == "ED25519"
    assert key["path"] == env["INSTALLER_ENV_SSH_HOST_KEYS"]


def test_status_text(env: dict[str, str], make_config: MakeConfig) -> None:
    state = rotation.rotate(make_config(), StateStore(Path(env["INSTALLER_ENV_STATE_DIR"])))
    result = run_cli(env, "status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("installer-env on ")
    assert f"Password     {state.password}" in lines
    assert any(
        line.startswith("             NOT APPLIED - not applied: this is not a live") for line in lines
    )
    assert "             4 words, 51.7 bits, generation 1, " + state.rotated_at in lines
    assert "SSH          not installed" in lines
    fingerprint = subprocess.run(
        ["ssh-keygen", "-lf", env["INSTALLER_ENV_SSH_HOST_KEYS"]], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    assert f"             ED25519 256 {fingerprint}" in lines
    assert any(line.startswith("Log in with:") and " ssh root@" in line for line in lines)


def test_status_shows_a_hostile_hostname_literally(env: dict[str, str]) -> None:
    """In a UTS namespace of its own, the host name can be anything the network hands out."""
    hostile = "evil\x1b]0;owned\x07\u202e"
    set_name_then_run = (
        "import socket, sys; from installer_env.cli import main; "
        f"socket.sethostname({hostile!r}.encode()); sys.exit(main(sys.argv[1:]))"
    )

    def status(*args: str) -> str:
        command = ["unshare", "--uts", sys.executable, "-c", set_name_then_run, "status", *args]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        return result.stdout

    text = status()
    shown = "evil\\x1b]0;owned\\x07\\u202e"
    assert f"installer-env on {shown} ({shown}.local)" in text
    assert "\x1b" not in text
    assert "\u202e" not in text
    assert json.loads(status("--json"))["hostname"] == hostile


def test_a_host_name_that_is_not_utf8_reaches_json_as_text(env: dict[str, str]) -> None:
    """The kernel takes any bytes; strict JSON parsers reject the lone surrogates Python decodes them to."""
    set_name_then_run = (
        "import socket, sys; from installer_env.cli import main; "
        "socket.sethostname(b'host\\xff\\xfe-1'); sys.exit(main(sys.argv[1:]))"
    )
    command = ["unshare", "--uts", sys.executable, "-c", set_name_then_run, "status", "--json"]
    result = subprocess.run(command, env=env, capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode("utf-8")  # strict: no surrogates escaped into the bytes
    assert "\\ud" not in text
    doc = json.loads(text)
    assert doc["hostname"] == "host\\xff\\xfe-1"
    assert doc["mdns_name"] == "host\\xff\\xfe-1.local"
    assert doc["hostname"].encode("utf-8")  # a lone surrogate would not encode


def _state_file(env: dict[str, str]) -> Path:
    return Path(env["INSTALLER_ENV_STATE_DIR"]) / STATE_FILE


def _wait_for(path: Path, process: subprocess.Popen[str], seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            return True
        if process.poll() is not None:
            return path.exists()
        time.sleep(0.05)
    return False


def test_demo_never_applies(
    env: dict[str, str], throwaway_user: ThrowawayUser, os_release_installer: Path, tmp_path: Path
) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    demo_env = dict(env, INSTALLER_ENV_PASSWORD_USER=throwaway_user.name, XDG_RUNTIME_DIR=str(runtime))
    demo_env["INSTALLER_ENV_OS_RELEASE"] = str(os_release_installer)  # even on a live installer
    del demo_env["INSTALLER_ENV_STATE_DIR"]  # the demo's own default
    shadow = throwaway_user.shadow_hash()
    state_file = runtime / f"installer-env-demo-{os.getuid()}" / STATE_FILE
    with started_cli(demo_env, "demo", "--force-apply") as process:
        assert _wait_for(state_file, process)
    state = json.loads(state_file.read_text())["password"]
    assert state["applied"] is False
    assert state["note"].startswith("demo mode")
    assert state["user"] == throwaway_user.name
    assert throwaway_user.shadow_hash() == shadow
    assert not _state_file(env).exists()  # the demo keeps to its own directory


@pytest.mark.parametrize("given", ["default", "environment", "flag"])
def test_demo_state_dir_is_the_flag_then_the_environment_then_its_own(
    env: dict[str, str], tmp_path: Path, given: str
) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    places = {
        "default": runtime / f"installer-env-demo-{os.getuid()}",
        "environment": tmp_path / "from-environment",
        "flag": tmp_path / "from-flag",
    }
    demo_env = dict(env, XDG_RUNTIME_DIR=str(runtime))
    del demo_env["INSTALLER_ENV_STATE_DIR"]
    args = ["demo"]
    if given in ("environment", "flag"):
        demo_env["INSTALLER_ENV_STATE_DIR"] = str(places["environment"])
    if given == "flag":
        args += ["--state-dir", str(places["flag"])]
    with started_cli(demo_env, *args) as process:
        assert _wait_for(places[given] / STATE_FILE, process)
    assert [name for name, place in places.items() if (place / STATE_FILE).exists()] == [given]


@pytest.fixture
def terminal() -> Iterator[tuple[int, str]]:
    """A pseudo-terminal to stand in for a console: (fd of its tty side, its name without /dev/)."""
    controller, tty = pty.openpty()
    try:
        yield tty, os.ttyname(tty).removeprefix("/dev/")
    finally:
        os.close(tty)
        os.close(controller)


def test_login_acts_only_on_configured_consoles_and_never_over_ssh(
    env: dict[str, str], terminal: tuple[int, str], tmp_path: Path
) -> None:
    tty, name = terminal
    state_file = _state_file(env)
    cases: list[tuple[str, dict[str, str], int]] = [
        ("stdin is not a terminal", dict(env, INSTALLER_ENV_CONSOLES=name), subprocess.DEVNULL),
        ("a terminal that is not a configured console", dict(env, INSTALLER_ENV_CONSOLES="tty1,ttyS0"), tty),
        (
            "an ssh session",
            dict(env, INSTALLER_ENV_CONSOLES=name, SSH_CONNECTION="10.0.0.2 5 10.0.0.1 22"),
            tty,
        ),
        ("an ssh session (SSH_TTY)", dict(env, INSTALLER_ENV_CONSOLES=name, SSH_TTY=f"/dev/{name}"), tty),
    ]
    for why, case_env, stdin in cases:
        with started_cli(case_env, "login", stdin=stdin) as process:
            assert process.wait(30) == 0, why
        assert not state_file.exists(), why
        assert not state_file.parent.exists(), why

    # The same terminal as a configured console, in a shell that login(1) started, does act: a
    # password appears. Not in a shell that su, sudo or another shell started (see test_nixos_module).
    console_env = dict(env, INSTALLER_ENV_CONSOLES=f"tty1,{name}")
    with started_cli(console_env, "login", stdin=tty) as process:
        assert process.wait(30) == 0, "a login shell not started by login(1)"
    assert not state_file.exists()
    with started_cli(console_env, "login", stdin=tty, prefix=console_login_prefix(tmp_path)) as process:
        assert _wait_for(state_file, process)


def test_login_on_a_second_console_shows_the_same_password(
    env: dict[str, str], terminal: tuple[int, str], tmp_path: Path
) -> None:
    """Two consoles of one boot log in one after the other: one password on both."""
    tty, name = terminal
    controller2, tty2 = pty.openpty()
    try:
        name2 = os.ttyname(tty2).removeprefix("/dev/")
        console_env = dict(env, INSTALLER_ENV_CONSOLES=f"{name},{name2}")
        passwords = []
        for stdin in (tty, tty2):
            with started_cli(
                console_env, "login", stdin=stdin, prefix=console_login_prefix(tmp_path)
            ) as process:
                assert process.wait(60) == 0
            state = json.loads(_state_file(env).read_text())["password"]
            passwords.append((state["password"], state["generation"]))
    finally:
        os.close(tty2)
        os.close(controller2)
    assert passwords[0] == passwords[1]
    assert passwords[0][1] == 1


def test_login_over_ssh_ignores_even_a_broken_config(env: dict[str, str], tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    result = run_cli(dict(env, INSTALLER_ENV_CONFIG=str(broken), SSH_CONNECTION="1 2 3 4"), "login")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert run_cli(dict(env, INSTALLER_ENV_CONFIG=str(broken)), "login").returncode == 2


def test_rotate_password_prints_no_secret(
    env: dict[str, str], throwaway_user: ThrowawayUser, os_release_installer: Path
) -> None:
    result = run_cli(
        dict(
            env,
            INSTALLER_ENV_PASSWORD_USER=throwaway_user.name,
            INSTALLER_ENV_OS_RELEASE=str(os_release_installer),
        ),
        "rotate-password",
    )
    assert result.returncode == 0, result.stderr
    state = json.loads(_state_file(env).read_text())["password"]
    assert state["applied"] is True
    assert re.fullmatch(rf"new password for {throwaway_user.name} \(generation 1\)\n", result.stdout)
    assert state["password"] not in result.stdout + result.stderr


def test_a_login_whose_rotation_fails_still_shows_how_to_get_in(
    env: dict[str, str], os_release_installer: Path, make_config: MakeConfig
) -> None:
    """chpasswd failing at login: the old password is kept and shown, with the reason, not an exit."""
    old = rotation.rotate(
        make_config(state_dir=Path(env["INSTALLER_ENV_STATE_DIR"]), demo=True),
        StateStore(Path(env["INSTALLER_ENV_STATE_DIR"])),
    )
    env = {
        **env,
        "INSTALLER_ENV_OS_RELEASE": str(os_release_installer),
        "INSTALLER_ENV_CHPASSWD": "/nonexistent/chpasswd",
    }
    result = run_cli(env, "run")
    assert result.returncode == 0, result.stderr
    assert f"Password     {old.password}" in result.stdout
    assert (
        "! no new password: cannot set the password: /nonexistent/chpasswd is not installed" in result.stdout
    )
    assert StateStore(Path(env["INSTALLER_ENV_STATE_DIR"])).read() == old
