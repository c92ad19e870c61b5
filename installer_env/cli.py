"""Command line: argument parsing and dispatch only; the work happens in the core modules.

Nothing of the core is imported before the arguments are read: `status` asks the session a console
already runs (statussocket) and prints its answer, for little more than Python's own start-up. Every
other command, and `status` when no session answers, runs in `commands`.
"""

from __future__ import annotations

import argparse
import os
import sys

from installer_env import __version__

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (2 ms of `status`)
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path


def _path(text: str) -> Path:
    from pathlib import Path

    return Path(text)


def _directory(text: str) -> Path:
    # Path("") is ".": an empty value would make the current directory the state dir (and chmod it).
    if not text:
        raise argparse.ArgumentTypeError("an empty path is not a directory")
    return _path(text)


def _parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with `only`, that command's part alone (building every command's
    parser takes argparse several milliseconds: a third of what `status` costs when answered, and
    part of every console's wait for its screen)."""
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
    for name, (help, arguments) in _COMMANDS.items():
        if only is None or name == only:
            arguments(sub.add_parser(name, help=help, description=help, parents=[common]))
    return p


def _screen_parser(screen: argparse.ArgumentParser) -> None:
    screen.add_argument(
        "--plain",
        action="store_true",
        help="plain text that is reprinted on change (automatic on serial consoles and dumb terminals)",
    )


def _qr_parser(qr_command: argparse.ArgumentParser) -> None:
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


def _restore_parser(restore: argparse.ArgumentParser) -> None:
    restore.add_argument(
        "--from",
        dest="saved",
        type=_path,
        help="what kexec/run saved (default: the kexec_state_dir setting, /var/lib/installer-env/kexec)",
    )
    restore.add_argument(
        "--to",
        dest="units_dir",
        type=_path,
        default="/run/systemd/network",
        help="where to write the units (default /run/systemd/network)",
    )


def _no_arguments(_: argparse.ArgumentParser) -> None:
    pass


def _net_parser(net: argparse.ArgumentParser) -> None:
    # Where changes go, for tests: a network namespace, a resolv.conf and a dhcpcd control socket
    # of their own. Hidden: on an installer these are this system's.
    hidden = argparse.ArgumentParser(add_help=False)
    hidden.add_argument("--netns", default=None, help=argparse.SUPPRESS)
    hidden.add_argument("--resolv-conf", type=_path, default=None, help=argparse.SUPPRESS)
    hidden.add_argument("--dhcpcd-socket", type=_path, default=None, help=argparse.SUPPRESS)
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
    boot.add_argument("--cmdline", type=_path, default="/proc/cmdline", help=argparse.SUPPRESS)


def _status_parser(status: argparse.ArgumentParser) -> None:
    status.add_argument("--json", action="store_true", help="machine-readable, with stable keys")
    status.add_argument(
        "--collect",
        action="store_true",
        help="look everything up now rather than ask the session a console runs (the same facts, slower)",
    )


# Every command: its help and its own arguments, in the order `--help` lists them.
_COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "run": (
        "show this boot's password (the first console login makes it), then the screen (the default)",
        _screen_parser,
    ),
    "login": (
        "what a console login runs: acts only in the shell login(1) started on a configured console",
        _screen_parser,
    ),
    "demo": ("show the screen with a private state; never touches this machine's password", _screen_parser),
    "screen": ("show the screen again, keeping the current password", _screen_parser),
    "status": ("print the current state", _status_parser),
    "qr": ("print only the QR code (password, onion address, addresses) to scan", _qr_parser),
    "rotate-password": ("make and set a new password now", _no_arguments),
    "start-sshd": ("start sshd through systemd", _no_arguments),
    "net": ("wired network without DHCP: a static address, or back to DHCP", _net_parser),
    "restore-network": (
        "kexec image: write systemd-networkd units for the network kexec/run saved (before networkd starts)",
        _restore_parser,
    ),
}


def _command_of(argv: Sequence[str]) -> str | None:
    """The command word, found the way the parser finds it (after the common options), or None."""
    words = iter(argv)
    for word in words:
        if word == "--state-dir":
            next(words, None)
        elif not (word.startswith("--state-dir=") or word == "--force-apply"):
            return word
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # A command (not asking for help) needs its own part of the command line alone.
    command = _command_of(argv)
    only = command if command in _COMMANDS and not {"-h", "--help"} & set(argv) else None
    args = _parser(only).parse_args(argv)
    if args.command == "status" and not args.collect:
        from installer_env import statussocket

        state_dir = os.fspath(args.state_dir) if args.state_dir is not None else None
        answer = statussocket.ask(state_dir, args.json)
        if answer is not None:
            sys.stdout.write(answer)
            return 0
    from installer_env import commands

    return commands.run_command(args)
