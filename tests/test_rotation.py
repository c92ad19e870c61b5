"""Rotation policy and the shared state: who may apply, two writers at once, readers following."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import multiprocessing.synchronize
import os
import re
import shutil
import stat
import time
from pathlib import Path

import pytest
from cli_runner import run_cli
from conftest import MakeConfig
from realssh import SshServer, ThrowawayUser

from installer_env import rotation
from installer_env.config import Config
from installer_env.errors import NotAnInstallerError
from installer_env.session import Session, collect, follow_password
from installer_env.state import LOCK_FILE, STATE_FILE, PasswordState, StateStore


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_off_installer_refuses_without_force(make_config: MakeConfig, throwaway_user: ThrowawayUser) -> None:
    config = make_config(password_user=throwaway_user.name)  # a Debian os-release
    store = StateStore(config.state_dir)
    shadow = throwaway_user.shadow_hash()
    with pytest.raises(NotAnInstallerError, match="not a live installer"):
        rotation.rotate(config, store, require_apply=True)
    assert store.read() is None
    assert throwaway_user.shadow_hash() == shadow

    # A console login off an installer still shows a password, clearly not applied.
    shown = rotation.on_login(config, store)
    assert not shown.applied
    assert "not a live installer" in shown.note
    assert throwaway_user.shadow_hash() == shadow


def test_cli_off_installer_exits_5(
    isolated_env: dict[str, str], throwaway_user: ThrowawayUser, tmp_path: Path
) -> None:
    plain = tmp_path / "os-release"
    plain.write_text("ID=debian\nVARIANT_ID=server\n")
    env = dict(
        isolated_env, INSTALLER_ENV_PASSWORD_USER=throwaway_user.name, INSTALLER_ENV_OS_RELEASE=str(plain)
    )
    shadow = throwaway_user.shadow_hash()
    result = run_cli(env, "rotate-password")
    assert result.returncode == 5
    assert result.stderr.startswith("installer-env: refusing to change")
    assert "--force-apply" in result.stderr
    assert result.stderr.count("\n") == 1
    assert throwaway_user.shadow_hash() == shadow
    assert not (tmp_path / "state" / STATE_FILE).exists()


@pytest.mark.parametrize(
    "line",
    ["VARIANT_ID=installer", 'VARIANT_ID="installer"', "VARIANT_ID='installer'", "  VARIANT_ID=installer  "],
)
def test_fake_installer_os_release_applies(
    make_config: MakeConfig, throwaway_user: ThrowawayUser, tmp_path: Path, line: str
) -> None:
    os_release = tmp_path / "os-release"
    os_release.write_text(f'NAME=NixOS\nID=nixos\n{line}\nVERSION_ID="25.05"\n')
    config = make_config(password_user=throwaway_user.name, os_release=os_release)
    shadow = throwaway_user.shadow_hash()
    state = rotation.rotate(config, StateStore(config.state_dir), require_apply=True)
    assert state.applied
    assert state.note == ""
    assert throwaway_user.shadow_hash() != shadow


@pytest.mark.parametrize(
    "line", ["VARIANT_ID=installer-ish", "#VARIANT_ID=installer", "VARIANT=installer", "VARIANT_ID=", ""]
)
def test_other_os_releases_do_not_apply(make_config: MakeConfig, tmp_path: Path, line: str) -> None:
    os_release = tmp_path / "os-release"
    os_release.write_text(f"ID=nixos\n{line}\n")
    config = make_config(password_user="ie-test-never-created", os_release=os_release)
    with pytest.raises(NotAnInstallerError):
        rotation.rotate(config, StateStore(config.state_dir), require_apply=True)


def test_demo_never_applies(
    make_config: MakeConfig, throwaway_user: ThrowawayUser, os_release_installer: Path
) -> None:
    config = make_config(
        password_user=throwaway_user.name, os_release=os_release_installer, force_apply=True, demo=True
    )
    store = StateStore(config.state_dir)
    shadow = throwaway_user.shadow_hash()
    for state in (rotation.rotate(config, store, require_apply=True), rotation.on_login(config, store)):
        assert not state.applied
        assert state.note.startswith("demo mode")
    assert throwaway_user.shadow_hash() == shadow
    assert store.read() == state


def test_boot_id_is_the_kernels(tmp_path: Path) -> None:
    real = rotation.boot_id()
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", real)
    assert rotation.boot_id() == real  # stable within this boot
    assert rotation.boot_id(tmp_path / "missing") == ""


def test_logins_of_one_boot_share_one_password(
    make_config: MakeConfig, throwaway_user: ThrowawayUser, os_release_installer: Path
) -> None:
    """tty1, then ttyS0, then tty1 again after a logout: one password, set once."""
    config = make_config(password_user=throwaway_user.name, os_release=os_release_installer)
    store = StateStore(config.state_dir)
    first = rotation.on_login(config, store, this_boot="boot-a")
    assert first.applied
    assert first.boot_id == "boot-a"
    shadow = throwaway_user.shadow_hash()
    for _console in ("ttyS0", "tty1"):
        assert rotation.on_login(config, store, this_boot="boot-a") == first
    assert throwaway_user.shadow_hash() == shadow, "a later login set the password again"

    # A person asks for a new one (`n`, rotate-password): later logins keep that one.
    asked = rotation.rotate(config, store, require_apply=True)
    assert asked.password != first.password
    assert asked.generation == 2
    assert rotation.on_login(config, store, this_boot=asked.boot_id) == asked


def test_the_first_login_of_the_next_boot_makes_a_new_password(make_config: MakeConfig) -> None:
    config = make_config()  # a state directory that outlives the boot
    store = StateStore(config.state_dir)
    before = rotation.on_login(config, store, this_boot="boot-a")
    after = rotation.on_login(config, store, this_boot="boot-b")
    assert after.password != before.password
    assert (after.generation, after.boot_id) == (2, "boot-b")
    assert rotation.on_login(config, store, this_boot="boot-b") == after


def test_rotate_on_login_off_keeps_the_password_across_boots(
    make_config: MakeConfig, throwaway_user: ThrowawayUser, os_release_installer: Path
) -> None:
    config = make_config(
        password_user=throwaway_user.name, os_release=os_release_installer, rotate_on_login=False
    )
    store = StateStore(config.state_dir)
    first = rotation.on_login(config, store, this_boot="boot-a")
    assert rotation.on_login(config, store, this_boot="boot-a") == first
    shadow = throwaway_user.shadow_hash()
    # The next boot starts without it (a live system's /etc/shadow is new): it is set again.
    kept = rotation.on_login(config, store, this_boot="boot-b")
    assert (kept.password, kept.generation, kept.rotated_at) == (
        first.password,
        first.generation,
        first.rotated_at,
    )
    assert kept.boot_id == "boot-b"
    assert kept.applied
    assert throwaway_user.shadow_hash() != shadow  # chpasswd ran again (a new salt)


def test_a_login_after_the_machine_became_an_installer_applies(
    make_config: MakeConfig, throwaway_user: ThrowawayUser, os_release_installer: Path
) -> None:
    """A password shown as "not applied" is not reused once it may be applied."""
    config = make_config(password_user=throwaway_user.name)  # a Debian os-release
    store = StateStore(config.state_dir)
    shown = rotation.on_login(config, store, this_boot="boot-a")
    assert not shown.applied
    installer = make_config(password_user=throwaway_user.name, os_release=os_release_installer)
    applied = rotation.on_login(installer, store, this_boot="boot-a")
    assert applied.applied
    assert applied.generation == 2


def _login_at_once(config: Config, barrier: multiprocessing.synchronize.Barrier, out: Path) -> None:
    barrier.wait(30)
    state = rotation.on_login(config, StateStore(config.state_dir), this_boot="boot-a")
    out.write_text(json.dumps([state.password, state.generation]))


def test_consoles_logging_in_at_once_converge(
    make_config: MakeConfig, throwaway_user: ThrowawayUser, os_release_installer: Path, tmp_path: Path
) -> None:
    """The autologins of tty1, ttyS0 and hvc0 at boot: one password, one chpasswd."""
    config = make_config(password_user=throwaway_user.name, os_release=os_release_installer)
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(3)
    outputs = [tmp_path / f"login-{i}.json" for i in range(3)]
    workers = [context.Process(target=_login_at_once, args=(config, barrier, out)) for out in outputs]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    results = {tuple(json.loads(out.read_text())) for out in outputs}
    assert len(results) == 1
    [(_password, generation)] = results
    assert generation == 1


def _rotate_many(config: Config, barrier: multiprocessing.synchronize.Barrier, times: int, out: Path) -> None:
    os.umask(0)  # the modes must not depend on the caller's umask
    barrier.wait(30)
    store = StateStore(config.state_dir)
    generations = [rotation.rotate(config, store, require_apply=True).generation for _ in range(times)]
    out.write_text(json.dumps(generations))


def test_concurrent_writers_leave_one_consistent_state(
    make_config: MakeConfig,
    throwaway_user: ThrowawayUser,
    sshd_server: SshServer,
    os_release_installer: Path,
    tmp_path: Path,
) -> None:
    processes, times = 3, 20
    config = make_config(password_user=throwaway_user.name, os_release=os_release_installer)
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(processes)  # all start rotating at the same moment
    outputs = [tmp_path / f"generations-{i}.json" for i in range(processes)]
    workers = [context.Process(target=_rotate_many, args=(config, barrier, times, out)) for out in outputs]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(300)
        assert worker.exitcode == 0
    generations = [g for out in outputs for g in json.loads(out.read_text())]

    assert sorted(generations) == list(range(1, processes * times + 1))  # each rotation counted once
    directory = config.state_dir
    assert sorted(p.name for p in directory.iterdir()) == sorted([LOCK_FILE, STATE_FILE])  # no temp files
    assert _mode(directory) == 0o700
    assert _mode(directory / STATE_FILE) == 0o600
    assert _mode(directory / LOCK_FILE) == 0o600
    raw = json.loads((directory / STATE_FILE).read_text())
    final = StateStore(directory).read()
    assert final is not None
    assert raw["password"]["generation"] == final.generation == processes * times
    # The password chpasswd set last is the one every console shows.
    assert sshd_server.can_log_in(throwaway_user.name, final.password)


def _rotate_once(config: Config) -> None:
    rotation.rotate(config, StateStore(config.state_dir))


async def _rotate_in_other_process(config: Config) -> float:
    """Rotate from another process; returns when its rename is certainly done."""
    process = multiprocessing.get_context("fork").Process(target=_rotate_once, args=(config,))
    process.start()
    await asyncio.to_thread(process.join, 30)
    assert process.exitcode == 0
    return time.monotonic()


async def test_watch_sees_another_process_rotating_within_a_second(make_config: MakeConfig) -> None:
    config = make_config()
    store = StateStore(config.state_dir)
    watch = store.watch()
    assert await anext(watch) is None
    for generation in (1, 2, 3):
        await _rotate_in_other_process(config)
        state = await asyncio.wait_for(anext(watch), timeout=1.0)
        assert state is not None
        assert state.generation == generation
    await watch.aclose()


async def test_watch_is_woken_by_the_rotation_not_by_a_timer(make_config: MakeConfig) -> None:
    config = make_config()
    store = StateStore(config.state_dir)
    store.prepare()
    watch = store.watch(interval=3600)  # were it looking on a timer, it would not look again for an hour
    assert await anext(watch) is None
    await _rotate_in_other_process(config)
    state = await asyncio.wait_for(anext(watch), timeout=1.0)
    assert state is not None
    assert state.generation == 1
    await watch.aclose()


async def test_watch_follows_a_state_directory_made_later_and_made_again(make_config: MakeConfig) -> None:
    config = make_config()
    store = StateStore(config.state_dir)
    assert not config.state_dir.exists()
    watch = store.watch(interval=0.1)
    assert await anext(watch) is None
    for _ in range(2):
        await _rotate_in_other_process(config)
        state = await asyncio.wait_for(anext(watch), timeout=1.0)
        assert state is not None
        assert state.generation == 1
        shutil.rmtree(config.state_dir)  # gone: the watch looks again until it is back
        assert await asyncio.wait_for(anext(watch), timeout=1.0) is None
    await watch.aclose()


async def test_follow_password_updates_the_session_within_a_second(make_config: MakeConfig) -> None:
    config = make_config()
    store = StateStore(config.state_dir)
    rotation.rotate(config, store)
    session = Session(collect(config, store))
    follower = asyncio.create_task(follow_password(store, session))
    snapshots = session.snapshots()
    try:
        first = await anext(snapshots)
        assert first.password is not None
        assert first.password.generation == 1
        await _rotate_in_other_process(config)
        deadline = time.monotonic() + 1.0
        latest: PasswordState | None = first.password
        while latest is None or latest.generation != 2:
            snap = await asyncio.wait_for(anext(snapshots), timeout=max(deadline - time.monotonic(), 0.01))
            latest = snap.password
        assert latest == store.read()
        assert snap.password_problem is None

        (config.state_dir / STATE_FILE).write_text("{broken")
        snap = await asyncio.wait_for(anext(snapshots), timeout=1.0)
        assert snap.password is None
        assert snap.password_problem is not None
        assert "damaged" in snap.password_problem
    finally:
        follower.cancel()
        await snapshots.aclose()
