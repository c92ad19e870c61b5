"""The shared state under bad conditions: read-only, impossible or foreign dirs, damaged files."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any, get_type_hints

import pytest
from cli_runner import run_cli
from conftest import MakeConfig

from installer_env import rotation
from installer_env.errors import StateDirError
from installer_env.session import collect
from installer_env.state import STATE_FILE, PasswordState, StateStore, parse


@pytest.fixture
def read_only_mount(tmp_path: Path) -> Iterator[Path]:
    """A read-only tmpfs (root ignores permission bits, not a read-only mount) holding a state."""
    mount = tmp_path / "ro"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=False)


def _remount_read_only(mount: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)


def test_read_only_dir_refuses_and_keeps_the_state(
    make_config: MakeConfig, read_only_mount: Path, isolated_env: dict[str, str]
) -> None:
    config = make_config(state_dir=read_only_mount)
    store = StateStore(read_only_mount)
    before = rotation.rotate(config, store)
    _remount_read_only(read_only_mount)

    with pytest.raises(StateDirError, match="the file system is read-only"):
        rotation.rotate(config, store)
    assert store.read() == before  # readers still see the password

    env = dict(isolated_env, INSTALLER_ENV_STATE_DIR=str(read_only_mount))
    result = run_cli(env, "rotate-password", "--force-apply")
    assert result.returncode == 3
    assert result.stderr == (
        f"installer-env: cannot write to state directory {read_only_mount}: the file system is read-only "
        "(set INSTALLER_ENV_STATE_DIR or --state-dir to a writable directory)\n"
    )
    shown = run_cli(env, "status", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["password"]["password"] == before.password


def test_missing_dir_on_a_read_only_fs(read_only_mount: Path, isolated_env: dict[str, str]) -> None:
    _remount_read_only(read_only_mount)
    env = dict(isolated_env, INSTALLER_ENV_STATE_DIR=str(read_only_mount / "state"))
    result = run_cli(env, "rotate-password", "--force-apply")
    assert result.returncode == 3
    assert "cannot set up state directory" in result.stderr
    assert "the file system is read-only" in result.stderr
    assert result.stderr.count("\n") == 1
    status = run_cli(env, "status")
    assert status.returncode == 0
    assert "no password yet" in status.stdout


@pytest.mark.parametrize(
    ("make_dir", "reason"),
    [
        (lambda tmp: Path("/proc/ie-test-state"), "it does not exist and cannot be created there"),
        (lambda tmp: tmp / "file", "it exists and is not a directory"),
        (lambda tmp: tmp / "file" / "state", "a path component is not a directory"),
    ],
)
def test_impossible_state_dirs(
    isolated_env: dict[str, str], tmp_path: Path, make_dir: Callable[[Path], Path], reason: str
) -> None:
    (tmp_path / "file").write_text("")
    directory = make_dir(tmp_path)
    result = run_cli(dict(isolated_env), "rotate-password", "--force-apply", "--state-dir", str(directory))
    assert result.returncode == 3
    assert reason in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_a_dir_owned_by_someone_else_is_refused(make_config: MakeConfig, tmp_path: Path) -> None:
    directory = tmp_path / "foreign"
    directory.mkdir(mode=0o777)
    os.chown(directory, 65534, 65534)
    with pytest.raises(StateDirError, match="belongs to uid 65534"):
        rotation.rotate(make_config(state_dir=directory), StateStore(directory))
    assert list(directory.iterdir()) == []


def test_a_loose_dir_of_ours_is_tightened(make_config: MakeConfig, tmp_path: Path) -> None:
    directory = tmp_path / "loose"
    directory.mkdir()
    directory.chmod(0o755)
    rotation.rotate(make_config(state_dir=directory), StateStore(directory))
    assert directory.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize(
    "content",
    [
        b"{broken",
        b"\xff\xfe not utf-8",
        b"[]",
        b'{"version": 2, "password": {}}',
        b'{"version": 1, "password": "x"}',
        b'{"version": 1, "password": {"password": "a"}}',
        b'{"version": 1, "password": {"password": "a", "user": "root", "words": "4", "entropy_bits": 1,'
        b' "generation": 1, "rotated_at": "", "applied": true}}',
        b'{"version": 1, "password": {"password": "a", "user": "root", "words": 4, "entropy_bits": 1,'
        b' "generation": true, "rotated_at": "", "applied": true}}',
    ],
)
def test_a_damaged_state_file_is_reported_and_replaced(make_config: MakeConfig, content: bytes) -> None:
    config = make_config()
    store = StateStore(config.state_dir)
    store.prepare()
    store.path.write_bytes(content)
    with pytest.raises(StateDirError, match="is damaged"):
        store.read()
    snap = collect(config, store)
    assert snap.password is None
    assert snap.password_problem is not None
    assert "the next rotation replaces it" in snap.password_problem
    state = rotation.rotate(config, store)
    assert state.generation == 1
    assert store.read() == state


def test_state_round_trips(make_config: MakeConfig) -> None:
    config = make_config()
    store = StateStore(config.state_dir)
    assert store.read() is None
    state = rotation.rotate(config, store)
    assert store.read() == state
    assert json.loads((config.state_dir / STATE_FILE).read_text())["version"] == 1


def test_every_field_of_the_state_is_checked_by_its_declared_type() -> None:
    """The checks come from the dataclass: a field added there is checked without a second list."""
    good: dict[str, Any] = {
        "password": "a-b-c",
        "user": "root",
        "words": 3,
        "entropy_bits": 38.8,
        "generation": 2,
        "rotated_at": "2026-01-01T00:00:00+00:00",
        "applied": True,
        "note": "",
        "boot_id": "5b1a0f1e-0000-4000-8000-000000000000",
    }
    assert set(good) == {f.name for f in fields(PasswordState)}
    assert parse(json.dumps({"version": 1, "password": good}).encode()) == PasswordState(**good)
    wrong: dict[type, object] = {str: 5, int: "5", float: "5.0", bool: 1}
    for name, hint in get_type_hints(PasswordState).items():
        damaged = {**good, name: wrong[hint]}
        with pytest.raises(ValueError, match=f"{name} has the wrong type"):
            parse(json.dumps({"version": 1, "password": damaged}).encode())
