"""The password policy: when to make a new one, and whether this machine may have it applied.

`password` (with `secrets`, which loads OpenSSL's digests) is imported where a password is made or
set (`_publish`): a console login that shows this boot's password again needs none of it.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from installer_env.config import Config
from installer_env.errors import NotAnInstallerError
from installer_env.osrelease import is_live_installer
from installer_env.state import PasswordState, StateStore


def not_applied_reason(config: Config) -> str | None:
    """None when the password may be set on this machine, else why not, in words."""
    if config.demo:
        return "demo mode: not applied to this machine"
    if config.force_apply or is_live_installer(config.os_release):
        return None
    return (
        f"not applied: this is not a live installer (no VARIANT_ID=installer in {config.os_release}); "
        "--force-apply sets it anyway"
    )


BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def boot_id(path: Path = BOOT_ID) -> str:
    """This boot's identity (the kernel's random boot_id); empty where there is none."""
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def rotate(config: Config, store: StateStore, *, require_apply: bool = False) -> PasswordState:
    """Make, set and publish a new password, all under the state lock: a person asked for one.

    With require_apply, a machine that must not get the password refuses (NotAnInstallerError)
    instead of recording a password that is shown but not set.
    """
    reason = not_applied_reason(config)
    if reason is not None and require_apply and not config.demo:
        why = reason.removeprefix("not applied: ")
        raise NotAnInstallerError(f"refusing to change {config.password_user}'s password: {why}")
    with store.locked():
        previous = store.read_or_none()
        return _publish(config, store, previous=previous, reason=reason, this_boot=boot_id())


def on_login(config: Config, store: StateStore, this_boot: str | None = None) -> PasswordState:
    """A console login. The password belongs to one boot: the first console login of a boot makes
    it, every later one (another console, a login after a logout) shows the same. So the
    autologins of tty1, ttyS0 and hvc0 at boot converge on one password, and a code scanned on one
    console stays valid; only a person (`n`, `rotate-password`) replaces it.

    rotate_on_login = false keeps a password from an earlier boot too (a state_dir that outlives a
    reboot) and sets it again, since a live system starts each boot without it.
    Decided under the state lock, so consoles logging in at once make one password, not three.
    """
    if this_boot is None:
        this_boot = boot_id()
    reason = not_applied_reason(config)
    with store.locked():
        current = store.read_or_none()
        if current is not None and current.user == config.password_user:
            if current.boot_id == this_boot and current.applied == (reason is None):
                return current
            if not config.rotate_on_login:
                return _publish(
                    config, store, previous=current, reason=reason, this_boot=this_boot, kept=True
                )
        return _publish(config, store, previous=current, reason=reason, this_boot=this_boot)


def _publish(
    config: Config,
    store: StateStore,
    *,
    previous: PasswordState | None,
    reason: str | None,
    this_boot: str,
    kept: bool = False,
) -> PasswordState:
    """Make a new password, set it (unless `reason` says why not) and record it for `this_boot`;
    the lock is held.

    `kept`: the previous password again (same words, generation and time), not a new one.
    """
    from installer_env import password

    if kept and previous is not None:
        secret = previous.password
        words, generation, rotated_at = previous.words, previous.generation, previous.rotated_at
    else:
        secret = password.generate(config.password_words)
        words = config.password_words
        generation = (previous.generation if previous else 0) + 1
        rotated_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    state = PasswordState(
        password=secret,
        user=config.password_user,
        words=words,
        entropy_bits=password.entropy_bits(words),
        generation=generation,
        rotated_at=rotated_at,
        applied=reason is None,
        note=reason or "",
        boot_id=this_boot,
    )
    with store.staged(state):
        if reason is None:
            password.apply(config.password_user, state.password, config.chpasswd)
    return state
