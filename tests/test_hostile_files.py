"""State and settings files as a hostile or unlucky user leaves them: FIFOs, links to /dev/zero,
nesting, huge numbers, NUL bytes, wrong types, wrong owners. Each case ends within a second or two
with its documented message and exit code, no traceback, and every file as it was."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_runner import COMMAND, run_cli
from screen_tools import flat
from terminal_capture import Tmux

from installer_env.state import LOCK_FILE, STATE_FILE

NOBODY = 65534
# Python starts, reads the settings and the state, and looks at sshd and the network: well under a
# second on an idle machine. A hang shows as the timeout; the bound leaves room for a busy one.
QUICK = 5.0

GOOD_STATE = {
    "version": 1,
    "password": {
        "password": "planted-password-words",
        "user": "root",
        "words": 3,
        "entropy_bits": 38.8,
        "generation": 7,
        "rotated_at": "2026-01-01T00:00:00+00:00",
        "applied": False,
        "note": "",
    },
}


def _good_state_text(**password: object) -> str:
    return json.dumps({**GOOD_STATE, "password": {**GOOD_STATE["password"], **password}})  # type: ignore[dict-item]


def _look(directory: Path) -> dict[str, tuple[int, int, int, bytes | str]]:
    """Every entry of `directory` (and what its links point to): type, mode, owner, content."""
    seen: dict[str, tuple[int, int, int, bytes | str]] = {}
    for entry in sorted(directory.iterdir()):
        st = entry.lstat()
        if stat.S_ISLNK(st.st_mode):
            content: bytes | str = os.readlink(entry)
        elif stat.S_ISREG(st.st_mode):
            content = entry.read_bytes()
        else:
            content = b""
        seen[entry.name] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, content)
    return seen


def _timed(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = run_cli(env, *args, timeout=30)
    return result, time.monotonic() - started


# ---------------------------------------------------------------- the state file


def _fifo(path: Path, elsewhere: Path) -> None:
    os.mkfifo(path, 0o600)


def _link_to_dev_zero(path: Path, elsewhere: Path) -> None:
    path.symlink_to("/dev/zero")


def _link_to_a_good_state(path: Path, elsewhere: Path) -> None:
    target = elsewhere / "good-state.json"
    target.write_text(_good_state_text())
    target.chmod(0o600)
    path.symlink_to(target)


def _writing(text: str | bytes, mode: int = 0o600, owner: int | None = None) -> Callable[[Path, Path], None]:
    def make(path: Path, elsewhere: Path) -> None:
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        path.chmod(mode)
        if owner is not None:
            os.chown(path, owner, owner)

    return make


def _directory(path: Path, elsewhere: Path) -> None:
    path.mkdir()


STATE_CASES: dict[str, tuple[Callable[[Path, Path], None], str]] = {
    "fifo": (_fifo, "it is a FIFO, not a regular file"),
    "link-to-dev-zero": (_link_to_dev_zero, "it is a symbolic link, not a regular file"),
    "link-to-a-good-state": (_link_to_a_good_state, "it is a symbolic link, not a regular file"),
    "directory": (_directory, "it is a directory, not a regular file"),
    "nested": (_writing("[" * 30_000 + "]" * 30_000), "is damaged (nested too deeply)"),
    "nested-object": (_writing('{"a":' * 10_000 + "1" + "}" * 10_000), "is damaged (nested too deeply)"),
    "5000-digits": (
        _writing(_good_state_text().replace('"generation": 7', '"generation": ' + "9" * 5000)),
        "is damaged (not JSON: Exceeds the limit",
    ),
    "4000-digits": (
        _writing(_good_state_text().replace('"generation": 7', '"generation": ' + "9" * 4000)),
        "is damaged (generation is out of range)",
    ),
    "huge-float": (
        _writing(_good_state_text().replace('"entropy_bits": 38.8', '"entropy_bits": 1e999')),
        "is damaged (entropy_bits is out of range)",
    ),
    "nan": (
        _writing(_good_state_text().replace('"entropy_bits": 38.8', '"entropy_bits": NaN')),
        "is damaged (not JSON: NaN is not a number)",
    ),
    "negative": (_writing(_good_state_text(generation=-1)), "is damaged (generation is out of range)"),
    "wrong-type": (_writing(_good_state_text(applied="yes")), "is damaged (applied has the wrong type)"),
    "nul-bytes": (_writing(b"\0" * 100), "is damaged (not JSON"),
    "too-large": (_writing(" " * 70_000 + _good_state_text()), "it is larger than 65536 bytes"),
    "world-writable": (_writing(_good_state_text(), mode=0o666), "other users may write it (mode 0666)"),
    "group-writable": (_writing(_good_state_text(), mode=0o620), "other users may write it (mode 0620)"),
    "owned-by-nobody": (_writing(_good_state_text(), owner=NOBODY), f"it belongs to uid {NOBODY}"),
}


@pytest.mark.parametrize("case", STATE_CASES)
def test_a_hostile_state_file_is_reported_not_trusted(
    isolated_env: dict[str, str], tmp_path: Path, case: str
) -> None:
    make, reason = STATE_CASES[case]
    state_dir = Path(isolated_env["INSTALLER_ENV_STATE_DIR"])
    state_dir.mkdir(mode=0o700)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    make(state_dir / STATE_FILE, elsewhere)
    before, before_elsewhere = _look(state_dir), _look(elsewhere)

    shown, seconds = _timed(isolated_env, "status", "--json")
    assert shown.returncode == 0, shown.stderr
    assert seconds < QUICK
    assert "Traceback" not in shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["password"] is None
    assert doc["password_problem"].startswith(f"state file {state_dir / STATE_FILE} ")
    assert reason in doc["password_problem"]
    assert _look(state_dir) == before
    assert _look(elsewhere) == before_elsewhere

    text, seconds = _timed(isolated_env, "status")
    assert text.returncode == 0, text.stderr
    assert seconds < QUICK
    assert "planted-password-words" not in text.stdout

    # A rotation replaces what is there (as the README says); what a link pointed to stays as it was.
    rotated, seconds = _timed(dict(isolated_env, INSTALLER_ENV_DEMO="1"), "rotate-password")
    assert seconds < QUICK
    if case == "directory":
        assert rotated.returncode == 3
        assert rotated.stderr.startswith(f"installer-env: cannot write to state directory {state_dir}")
        assert _look(state_dir)[STATE_FILE] == before[STATE_FILE]
    else:
        assert rotated.returncode == 0, rotated.stderr
        assert rotated.stdout.startswith("new password for root (generation 1)")
    assert "Traceback" not in rotated.stderr
    assert _look(elsewhere) == before_elsewhere


def test_a_state_dir_of_another_user_is_not_read(isolated_env: dict[str, str]) -> None:
    state_dir = Path(isolated_env["INSTALLER_ENV_STATE_DIR"])
    state_dir.mkdir(mode=0o700)
    (state_dir / STATE_FILE).write_text(_good_state_text())
    (state_dir / STATE_FILE).chmod(0o600)
    os.chown(state_dir / STATE_FILE, NOBODY, NOBODY)
    os.chown(state_dir, NOBODY, NOBODY)
    shown, seconds = _timed(isolated_env, "status", "--json")
    assert shown.returncode == 0, shown.stderr
    assert seconds < QUICK
    doc = json.loads(shown.stdout)
    assert doc["password"] is None
    assert f"state directory {state_dir} belongs to uid {NOBODY}, not to us" in doc["password_problem"]
    rotated = run_cli(dict(isolated_env, INSTALLER_ENV_DEMO="1"), "rotate-password")
    assert rotated.returncode == 3
    assert f"belongs to uid {NOBODY}" in rotated.stderr


@pytest.mark.parametrize("planted", ["link-to-a-file", "link-to-nowhere", "fifo", "foreign-file"])
def test_a_planted_lock_file_is_refused_and_left_alone(
    isolated_env: dict[str, str], tmp_path: Path, planted: str
) -> None:
    state_dir = Path(isolated_env["INSTALLER_ENV_STATE_DIR"])
    state_dir.mkdir(mode=0o700)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / "precious"
    target.write_text("not the installer's\n")
    target.chmod(0o644)
    lock = state_dir / LOCK_FILE
    if planted == "link-to-a-file":
        lock.symlink_to(target)
        message = f"{lock} is a symbolic link; remove it"
    elif planted == "link-to-nowhere":
        lock.symlink_to(elsewhere / "created-through-the-link")
        message = f"{lock} is a symbolic link; remove it"
    elif planted == "fifo":
        os.mkfifo(lock, 0o600)
        message = f"{lock} is not a regular file of ours; remove it"
    else:
        lock.write_text("")
        lock.chmod(0o644)
        os.chown(lock, NOBODY, NOBODY)
        message = f"{lock} is not a regular file of ours; remove it"
    before, before_elsewhere = _look(state_dir), _look(elsewhere)

    rotated, seconds = _timed(dict(isolated_env, INSTALLER_ENV_DEMO="1"), "rotate-password")
    assert seconds < QUICK
    assert rotated.returncode == 3
    assert rotated.stderr == f"installer-env: {message}\n"
    assert _look(state_dir) == before
    assert _look(elsewhere) == before_elsewhere  # no chmod, no file created through the link


# ---------------------------------------------------------------- the settings file


def _config_file(tmp_path: Path, make: Callable[[Path], None]) -> Path:
    path = tmp_path / "hostile-config.json"
    make(path)
    return path


def _config_text(text: str | bytes, mode: int = 0o644, owner: int | None = None) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        path.chmod(mode)
        if owner is not None:
            os.chown(path, owner, owner)

    return make


CONFIG_CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "fifo": (lambda p: os.mkfifo(p, 0o644), "is not used: it is a FIFO, not a regular file"),
    "link-to-dev-zero": (lambda p: p.symlink_to("/dev/zero"), "is not used: it is a character device"),
    "directory": (lambda p: p.mkdir(), "is not used: it is a directory, not a regular file"),
    "nested": (_config_text("[" * 100_000 + "]" * 100_000), "nested too deeply"),
    "nested-object": (_config_text('{"a":' * 50_000 + "1" + "}" * 50_000), "nested too deeply"),
    "5000-digits": (_config_text('{"password_words": ' + "9" * 5000 + "}"), "Exceeds the limit"),
    "4000-digits": (
        _config_text('{"password_words": ' + "9" * 4000 + "}"),
        "password_words must be between 1 and 20, not (a huge number)",
    ),
    "digits-as-text": (_config_text('{"ssh_port": "' + "9" * 5000 + '"}'), "setting ssh_port: '99999"),
    "nan": (_config_text('{"qr_max_addrs": NaN}'), "NaN is not a number"),
    "nul-in-state-dir": (
        _config_text('{"state_dir": "/tmp/a\\u0000b"}'),
        "setting state_dir: '/tmp/a\\x00b' is not valid (it contains a NUL byte)",
    ),
    "nul-in-chpasswd": (
        _config_text('{"chpasswd": "chpasswd\\u0000-x"}'),
        "setting chpasswd: 'chpasswd\\x00-x' is not valid (it contains a NUL byte)",
    ),
    "nul-in-consoles": (_config_text('{"consoles": ["tty1\\u0000"]}'), "setting consoles"),
    "escape-in-user": (
        _config_text('{"password_user": "ro\\u001bot"}'),
        "password_user is not a valid user name: 'ro\\x1bot'",
    ),
    "wrong-type": (_config_text('{"tor_enabled": [true]}'), "setting tor_enabled"),
    "too-large": (_config_text(" " * (1024 * 1024 + 1) + "{}"), "it is larger than 1048576 bytes"),
    "world-writable": (_config_text("{}", mode=0o666), "other users may write it (mode 0666)"),
    "owned-by-nobody": (_config_text("{}", owner=NOBODY), f"it belongs to uid {NOBODY}"),
}


@pytest.mark.parametrize("case", CONFIG_CASES)
@pytest.mark.parametrize("command", [("status", "--json"), ("rotate-password",)])
def test_a_hostile_config_file_exits_2_naming_file_and_setting(
    isolated_env: dict[str, str], tmp_path: Path, case: str, command: tuple[str, ...]
) -> None:
    make, message = CONFIG_CASES[case]
    path = _config_file(tmp_path, make)
    before = _look(tmp_path)
    result, seconds = _timed(dict(isolated_env, INSTALLER_ENV_CONFIG=str(path)), *command)
    assert seconds < QUICK
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("installer-env: ")
    assert str(path) in result.stderr
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert "\x1b" not in result.stderr
    assert len(result.stderr) < 400  # a 5000-digit value is not echoed back
    assert _look(tmp_path) == before
    assert not Path(isolated_env["INSTALLER_ENV_STATE_DIR"]).exists()


def test_a_bad_environment_value_names_the_variable(isolated_env: dict[str, str]) -> None:
    result = run_cli(dict(isolated_env, INSTALLER_ENV_SSH_PORT="9" * 5000), "status")
    assert result.returncode == 2
    assert result.stderr.startswith("installer-env: environment variable INSTALLER_ENV_SSH_PORT: ")
    assert len(result.stderr) < 400


def test_an_empty_state_dir_option_is_refused(isolated_env: dict[str, str], tmp_path: Path) -> None:
    """`Path("")` is the current directory: it must not become the state dir (and be chmodded)."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    cwd.chmod(0o755)
    env = dict(isolated_env, INSTALLER_ENV_DEMO="1")
    for args in (("rotate-password", "--state-dir", ""), ("--state-dir", "", "status")):
        result = subprocess.run(
            [*COMMAND, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=30, check=False
        )
        assert result.returncode == 2
        assert "--state-dir: an empty path is not a directory" in result.stderr
        assert stat.S_IMODE(cwd.stat().st_mode) == 0o755
        assert list(cwd.iterdir()) == []


@pytest.mark.skipif(not shutil.which("tmux"), reason="needs tmux")
def test_the_screen_comes_up_over_a_fifo_state_file(isolated_env: dict[str, str], tmp_path: Path) -> None:
    state_dir = Path(isolated_env["INSTALLER_ENV_STATE_DIR"])
    state_dir.mkdir(mode=0o700)
    os.mkfifo(state_dir / STATE_FILE, 0o600)
    env = dict(isolated_env, TERM="linux", LANG="C.UTF-8")
    screen = Tmux(f"installer-env-test-{os.getpid()}-{secrets.token_hex(4)}", 120, 40)
    try:
        screen.start([*COMMAND, "screen"], env)
        shown = screen.wait_for("x Quit")
        # The problem is said inside the password frame; where it wraps depends on the path's length.
        assert "FIFO,notaregularfile" in flat(shown.replace("│", "")), shown
        screen.keys("x")
        screen.wait_for("EXITED")
    finally:
        screen.close()
    assert stat.S_ISFIFO((state_dir / STATE_FILE).lstat().st_mode)


@pytest.mark.parametrize("kind", ["fifo", "world-writable"])
def test_an_os_release_that_cannot_be_trusted_means_not_an_installer(
    isolated_env: dict[str, str], tmp_path: Path, kind: str
) -> None:
    os_release = tmp_path / "os-release"
    if kind == "fifo":
        os.mkfifo(os_release, 0o644)
    else:
        os_release.write_text('ID=nixos\nVARIANT_ID="installer"\n')
        os_release.chmod(0o666)
    # /bin/false as chpasswd: should the check ever let this through, no password is set here.
    env = dict(isolated_env, INSTALLER_ENV_OS_RELEASE=str(os_release), INSTALLER_ENV_CHPASSWD="/bin/false")
    result, seconds = _timed(env, "rotate-password")
    assert seconds < QUICK
    assert result.returncode == 5
    assert "refusing to change root's password: this is not a live installer" in result.stderr
    assert not Path(env["INSTALLER_ENV_STATE_DIR"]).exists()
