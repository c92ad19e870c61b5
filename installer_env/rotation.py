"""The password policy: when to make a new one, and whether this machine may have it applied."""

from __future__ import annotations

import datetime

from installer_env import password
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


def rotate(config: Config, store: StateStore, *, require_apply: bool = False) -> PasswordState:
    """Make, set and publish a new password, all under the state lock.

    With require_apply, a machine that must not get the password refuses (NotAnInstallerError)
    instead of recording a password that is shown but not set.
    """
    reason = not_applied_reason(config)
    if reason is not None and require_apply and not config.demo:
        why = reason.removeprefix("not applied: ")
        raise NotAnInstallerError(f"refusing to change {config.password_user}'s password: {why}")
    with store.locked():
        previous = store.read_or_none()
        state = PasswordState(
            password=password.generate(config.password_words),
            user=config.password_user,
            words=config.password_words,
            entropy_bits=password.entropy_bits(config.password_words),
            generation=(previous.generation + 1) if previous else 1,
            rotated_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            applied=reason is None,
            note=reason or "",
        )
        with store.staged(state):
            if reason is None:
                password.apply(config.password_user, state.password, config.chpasswd)
    return state


def on_login(config: Config, store: StateStore) -> PasswordState:
    """A console login: rotate when the policy says so, else keep the current password."""
    if not config.rotate_on_login:
        current = store.read_or_none()
        if current is not None and current.user == config.password_user:
            return current
    return rotate(config, store)
