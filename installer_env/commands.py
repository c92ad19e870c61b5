"""What each command does, once `cli` has parsed its arguments (and `status` found no session
to answer it): the work itself happens in the core modules.

A console's login comes through here: what it needs before the password is on screen loads at
once, the session model (netlink, sshd, the QR code) in the commands that use it."""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from installer_env import ENV_PREFIX, console, rotation
from installer_env.config import Config, load_config
from installer_env.errors import InstallerEnvError
from installer_env.state import StateStore
from installer_env.textsafe import literal

if TYPE_CHECKING:
    from installer_env.session import Snapshot

log = logging.getLogger(__name__)


def restore_network(saved: Path, units_dir: Path) -> int:
    from installer_env import kexec_network  # its unit writing is for this command alone

    if not (saved / kexec_network.ADDRS_FILE).exists():
        print(f"installer-env: no saved network in {saved} (not started by kexec/run): nothing to restore")
        return 0
    result = kexec_network.plan_from_dir(saved)
    kexec_network.write(result, units_dir, saved)
    for r in result.restored:
        how = [*r.static_addresses, *(["DHCP"] if r.dhcp else []), *(f"route {t}" for t in r.routes)]
        print(f"{literal(r.name)} ({r.mac}): {', '.join(how)}" + (f"; {literal(r.note)}" if r.note else ""))
    for skipped in result.skipped:
        print(f"not restored: {literal(skipped.what)}: {literal(skipped.reason)}")
    count = len(result.units)
    print(f"{count} unit{'' if count == 1 else 's'} in {units_dir}")
    return 0


def demo_state_dir() -> Path:
    import tempfile

    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"installer-env-demo-{os.getuid()}"


def _in_ssh_session() -> bool:
    return bool(os.environ.get("SSH_CONNECTION") or os.environ.get("SSH_TTY"))


def on_configured_console(config: Config) -> bool:
    """True on the consoles the login hook is meant for; never inside an ssh session."""
    if _in_ssh_session():
        return False
    try:
        tty = os.ttyname(0)
    except OSError:
        return False
    return tty.removeprefix("/dev/") in config.consoles


def _terminal_size() -> tuple[int, int] | None:
    """(columns, rows) of the terminal on stdout, or of COLUMNS/LINES; None when there is neither."""
    from installer_env import statussocket

    facts = statussocket.terminal_facts(sys.stdout, os.environ)
    return None if facts is None else (facts["columns"], facts["rows"])


def print_status(snap: Snapshot, config: Config, as_json: bool) -> None:
    from installer_env import status, statussocket

    facts = None if as_json else statussocket.terminal_facts(sys.stdout, os.environ)
    terminal = status.Terminal.from_facts(facts) if facts is not None else None
    sys.stdout.write(status.output(snap, config, as_json, terminal))


def print_qr(snap: Snapshot, config: Config, pure_ascii: bool, invert: bool) -> int:
    """Just the code, fitted to the terminal like every other view; when not even the smallest
    code fits, the whole code is printed all the same (it can be scrolled or redirected)."""
    from installer_env import qr
    from installer_env.presentation import Viewer
    from installer_env.wording import present

    p = present(snap, Viewer.STATUS, qr_max_addrs=config.qr_max_addrs)
    pure_ascii = pure_ascii or invert
    ascii_only = pure_ascii or not qr.terminal_shows_half_blocks(sys.stdout)
    size = _terminal_size()
    columns, rows = (size[0], size[1] - 1) if size is not None else (None, None)
    fitted = p.fit_qr(columns, rows, ascii_only)
    if isinstance(fitted, qr.TooSmall):
        assert size is not None
        print(
            f"installer-env: the QR code needs {fitted.columns}x{fitted.rows} characters, the terminal has "
            f"{size[0]}x{size[1]}: enlarge it or use a smaller font",
            file=sys.stderr,
        )
        fitted = p.fit_qr(ascii_only=ascii_only, max_quiet=qr.QUIET_ZONE_SHORT)
    assert isinstance(fitted, qr.Fitted)
    colour = not pure_ascii and qr.terminal_shows_colour()
    lines = qr.render(fitted.code.matrix, fitted.quiet_zone, ascii_only, invert, colour)
    sys.stdout.write("\n".join(lines) + "\n")
    if fitted.omitted:
        held = len(fitted.code.addrs)
        print(
            f"installer-env: the code holds {held} of {held + fitted.omitted} addresses "
            "(installer-env status lists them all)",
            file=sys.stderr,
        )
    if not p.scannable:
        print(f"installer-env: {p.password.missing}; the code has no password", file=sys.stderr)
    return 0


def ensure_sshd(config: Config) -> None:
    from installer_env import sshd

    # A running sshd process settles it without `sshd -T`, which the first snapshot runs meanwhile.
    if sshd.sshd_binary(config) is None or sshd.sshd_processes():
        return
    snap = sshd.status(config)  # none runs: something may still listen on its port (socket activation)
    if snap.installed and not snap.running:
        try:
            sshd.start(config)
        except InstallerEnvError as e:
            log.warning("%s", e)  # the screen shows sshd's state and how to start it


def run(config: Config, store: StateStore, plain: bool = False, rotate: bool = True) -> int:
    rotation_problem = None
    if rotate:
        try:
            rotation.on_login(config, store)
        except InstallerEnvError as e:
            # The screen comes up all the same: it still shows how to reach this machine (the old
            # password, if there is one, still works) and says why there is no new one.
            rotation_problem = str(e)
    # `sshd -T` and systemctl take a while: the screen comes up meanwhile and shows sshd live.
    meanwhile = (
        functools.partial(ensure_sshd, config) if rotation.not_applied_reason(config) is None else None
    )
    return console.show(
        config, store, force_plain=plain, rotation_problem=rotation_problem, meanwhile=meanwhile
    )


def run_command(args: argparse.Namespace) -> int:
    command = args.command or "run"
    overrides: dict[str, Any] = {}
    if args.state_dir is not None:
        overrides["state_dir"] = args.state_dir
    if args.force_apply:
        overrides["force_apply"] = True
    if command == "login" and (_in_ssh_session() or console.nested()):
        return 0  # before reading the config: a broken one must not greet every ssh login
    try:
        if command == "demo":
            overrides["demo"] = True
            # --state-dir, then INSTALLER_ENV_STATE_DIR, then the demo's own place; never the
            # config file's (that is the live installer's state).
            if "state_dir" not in overrides and not os.environ.get(ENV_PREFIX + "STATE_DIR"):
                overrides["state_dir"] = demo_state_dir()
        config = load_config(overrides=overrides)
        store = StateStore(config.state_dir)
        if command == "status":
            from installer_env.session import collect

            print_status(collect(config, store), config, args.json)
            return 0
        if command == "qr":
            from installer_env.session import collect

            return print_qr(collect(config, store), config, args.ascii, args.invert)
        if command == "rotate-password":
            state = rotation.rotate(config, store, require_apply=True)
            note = "" if state.applied else f"; {state.note}"
            print(f"new password for {literal(state.user)} (generation {state.generation}){literal(note)}")
            return 0
        if command == "restore-network":
            return restore_network(args.saved or config.kexec_state_dir, args.units_dir)
        if command == "start-sshd":
            from installer_env import sshd

            sshd.start(config)
            return 0
        if command == "net":
            from installer_env import netcli

            return netcli.run(args, config)
        if command == "login" and not (on_configured_console(config) and console.started_by_login()):
            return 0  # su -, sudo -i, bash -l and other consoles: no screen, no new password
        return run(config, store, plain=getattr(args, "plain", False), rotate=command != "screen")
    except InstallerEnvError as e:
        print(f"installer-env: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
