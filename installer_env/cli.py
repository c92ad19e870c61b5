"""Command line: argument parsing and dispatch only; the work happens in the core modules."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from installer_env import __version__, console, qr, rotation, sshd, status
from installer_env.config import ENV_PREFIX, Config, load_config
from installer_env.errors import InstallerEnvError
from installer_env.presentation import Viewer, present
from installer_env.session import Snapshot, collect
from installer_env.state import StateStore
from installer_env.textsafe import literal

log = logging.getLogger(__name__)


def _directory(text: str) -> Path:
    # Path("") is ".": an empty value would make the current directory the state dir (and chmod it).
    if not text:
        raise argparse.ArgumentTypeError("an empty path is not a directory")
    return Path(text)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="installer-env",
        description="Show how to reach this live installer (password, ssh, addresses, tor).",
    )
    p.add_argument("--version", action="version", version=f"installer-env {__version__}")
    # The common options are accepted before and after the command; SUPPRESS keeps a subcommand's
    # unset option from hiding one given before it.
    common = argparse.ArgumentParser(add_help=False)
    for parser, default in ((p, None), (common, argparse.SUPPRESS)):
        parser.add_argument(
            "--state-dir",
            type=_directory,
            default=default,
            help="where the shared state lives (default /run/installer-env)",
        )
        parser.add_argument(
            "--force-apply",
            action="store_true",
            default=default or False,
            help="set the password even though /etc/os-release does not say this is a live installer",
        )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, parents=[common])

    screens = [
        add(
            "run",
            "show this boot's password (the first console login makes it), then the screen (the default)",
        ),
        add(
            "login",
            "what a console login runs: acts only in the shell login(1) started on a configured console",
        ),
        add("demo", "show the screen with a private state; never touches this machine's password"),
        add("screen", "show the screen again, keeping the current password"),
    ]
    for screen in screens:
        screen.add_argument(
            "--plain",
            action="store_true",
            help="plain text that is reprinted on change (automatic on serial consoles and dumb terminals)",
        )
    add("status", "print the current state").add_argument(
        "--json", action="store_true", help="machine-readable, with stable keys"
    )
    qr_command = add("qr", "print only the QR code (password, onion address, addresses) to scan")
    qr_command.add_argument(
        "--ascii",
        action="store_true",
        help="pure ASCII: '##' pairs, no escape sequences (used by itself when TERM=dumb)",
    )
    qr_command.add_argument(
        "--invert",
        action="store_true",
        help="with --ascii: '#' marks light modules, for light-on-dark terminals",
    )
    add("rotate-password", "make and set a new password now")
    add("start-sshd", "start sshd through systemd")
    _net_parser(add("net", "wired network without DHCP: a static address, or back to DHCP"))
    restore = add(
        "restore-network",
        "kexec image: write systemd-networkd units for the network kexec/run saved (before networkd starts)",
    )
    restore.add_argument(
        "--from",
        dest="saved",
        type=Path,
        help="what kexec/run saved (default: the kexec_state_dir setting, /var/lib/installer-env/kexec)",
    )
    restore.add_argument(
        "--to",
        dest="units_dir",
        type=Path,
        default=Path("/run/systemd/network"),
        help="where to write the units (default /run/systemd/network)",
    )
    return p


def _net_parser(net: argparse.ArgumentParser) -> None:
    # Where changes go, for tests: a network namespace, a resolv.conf and a dhcpcd control socket
    # of their own. Hidden: on an installer these are this system's.
    hidden = argparse.ArgumentParser(add_help=False)
    hidden.add_argument("--netns", default=None, help=argparse.SUPPRESS)
    hidden.add_argument("--resolv-conf", type=Path, default=None, help=argparse.SUPPRESS)
    hidden.add_argument("--dhcpcd-socket", type=Path, default=None, help=argparse.SUPPRESS)
    actions = net.add_subparsers(dest="net_command", metavar="ACTION", required=True)
    static = actions.add_parser(
        "static",
        parents=[hidden],
        help="set a static address (and gateway, DNS) on an interface; its DHCP client lets go of it",
        description=(
            "Example: installer-env net static eth0 192.0.2.10/24 --gateway 192.0.2.1 --dns 192.0.2.53"
        ),
    )
    static.add_argument("interface")
    static.add_argument("addresses", nargs="+", metavar="ADDRESS/PREFIX", help="one IPv4 and/or one IPv6")
    static.add_argument("--gateway", action="append", default=[], help="default router (IPv4 and/or IPv6)")
    static.add_argument(
        "--dns", action="append", default=[], help="DNS server (repeat, or separate with commas)"
    )
    static.add_argument(
        "--onlink", action="store_true", help="the gateway is on this link even though outside the prefix"
    )
    static.add_argument(
        "--yes", action="store_true", help="apply even if this removes the only address ssh can reach"
    )
    dhcp = actions.add_parser("dhcp", parents=[hidden], help="remove the static configuration, back to DHCP")
    dhcp.add_argument("interface")
    dhcp.add_argument(
        "--yes", action="store_true", help="apply even if this removes the only address ssh can reach"
    )
    boot = actions.add_parser(
        "boot", parents=[hidden], help="apply ip= from the kernel command line (what the boot service runs)"
    )
    boot.add_argument("--cmdline", type=Path, default=Path("/proc/cmdline"), help=argparse.SUPPRESS)


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
    if not sys.stdout.isatty() and not (os.environ.get("COLUMNS") and os.environ.get("LINES")):
        return None
    size = shutil.get_terminal_size()
    return size.columns, size.lines


def print_status(snap: Snapshot, config: Config, as_json: bool) -> None:
    p = present(snap, Viewer.STATUS, qr_max_addrs=config.qr_max_addrs)
    if as_json:
        sys.stdout.write(json.dumps(status.document(p, snap), indent=2, ensure_ascii=True) + "\n")
        return
    text = status.text(p)
    size = _terminal_size()
    if size is not None:  # the QR code below the text, fitted to the terminal
        ascii_only = not qr.terminal_shows_half_blocks(sys.stdout)
        text += status.qr_block(p, size[0], size[1], ascii_only, colour=qr.terminal_shows_colour())
    sys.stdout.write(text)


def print_qr(snap: Snapshot, config: Config, pure_ascii: bool, invert: bool) -> int:
    """Just the code, fitted to the terminal like every other view; when not even the smallest
    code fits, the whole code is printed all the same (it can be scrolled or redirected)."""
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
    if rotation.not_applied_reason(config) is None:
        # `sshd -T` and systemctl take a while: the screen comes up meanwhile and shows sshd live.
        threading.Thread(target=ensure_sshd, args=(config,), name="ensure-sshd", daemon=True).start()
    return console.show(config, store, force_plain=plain, rotation_problem=rotation_problem)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
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
            print_status(collect(config, store), config, args.json)
            return 0
        if command == "qr":
            return print_qr(collect(config, store), config, args.ascii, args.invert)
        if command == "rotate-password":
            state = rotation.rotate(config, store, require_apply=True)
            note = "" if state.applied else f"; {state.note}"
            print(f"new password for {literal(state.user)} (generation {state.generation}){literal(note)}")
            return 0
        if command == "restore-network":
            return restore_network(args.saved or config.kexec_state_dir, args.units_dir)
        if command == "start-sshd":
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
