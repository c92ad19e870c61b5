"""Command line: argument parsing and dispatch only; the work happens in the core modules."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from installer_env import __version__, rotation, sshd, status
from installer_env.config import Config, load_config
from installer_env.errors import InstallerEnvError
from installer_env.session import collect
from installer_env.state import StateStore


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
            type=Path,
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

    add("run", "rotate the password as on a console login, then show the screen (the default)")
    add("login", "what the console login runs: acts only on the configured consoles, never over ssh")
    add("demo", "show the screen with a private state; never touches this machine's password")
    add("status", "print the current state").add_argument(
        "--json", action="store_true", help="machine-readable, with stable keys"
    )
    add("rotate-password", "make and set a new password now")
    add("start-sshd", "start sshd through systemd")
    return p


def demo_state_dir() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"installer-env-demo-{os.getuid()}"


def on_configured_console(config: Config) -> bool:
    """True on the consoles the login hook is meant for; never inside an ssh session."""
    if os.environ.get("SSH_CONNECTION") or os.environ.get("SSH_TTY"):
        return False
    try:
        tty = os.ttyname(0)
    except OSError:
        return False
    return tty.removeprefix("/dev/") in config.consoles


def show(config: Config, store: StateStore) -> int:
    sys.stdout.write(status.to_text(collect(config, store)))
    return 0


def run(config: Config, store: StateStore) -> int:
    rotation.on_login(config, store)
    if rotation.not_applied_reason(config) is None:
        snap = sshd.status(config)
        if snap.installed and not snap.running:
            try:
                sshd.start(config)
            except InstallerEnvError as e:
                print(f"installer-env: {e}", file=sys.stderr)
    return show(config, store)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "run"
    overrides: dict[str, Any] = {}
    if args.state_dir is not None:
        overrides["state_dir"] = args.state_dir
    if args.force_apply:
        overrides["force_apply"] = True
    try:
        if command == "demo":
            overrides["demo"] = True
            overrides.setdefault("state_dir", demo_state_dir())
        config = load_config(overrides=overrides)
        store = StateStore(config.state_dir)
        if command == "status":
            snap = collect(config, store)
            sys.stdout.write(status.to_json(snap) + "\n" if args.json else status.to_text(snap))
            return 0
        if command == "rotate-password":
            state = rotation.rotate(config, store, require_apply=True)
            note = "" if state.applied else f"; {state.note}"
            print(f"new password for {state.user} (generation {state.generation}){note}")
            return 0
        if command == "start-sshd":
            sshd.start(config)
            return 0
        if command == "login" and not on_configured_console(config):
            return 0
        return run(config, store)
    except InstallerEnvError as e:
        print(f"installer-env: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
