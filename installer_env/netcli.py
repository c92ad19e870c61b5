"""`installer-env net static|dhcp|boot`: the network screen's work for scripts, serial consoles and boot."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from installer_env import netapply, network
from installer_env.config import Config
from installer_env.errors import NetworkConfigError
from installer_env.netapply import Environment, Outcome
from installer_env.netconfig import (
    BootNetwork,
    InvalidConfig,
    StaticFields,
    fields_from_words,
    parse_cmdline,
)
from installer_env.textsafe import literal

FIELD_NAMES = {
    "interface": "interface",
    "ipv4": "IPv4 address",
    "gateway4": "IPv4 gateway",
    "ipv6": "IPv6 address",
    "gateway6": "IPv6 gateway",
    "dns": "DNS",
}


def environment(args: argparse.Namespace, config: Config) -> Environment:
    resolv_conf: Path | None = args.resolv_conf
    socket: Path | None = args.dhcpcd_socket
    return Environment(
        state_dir=config.state_dir,
        netns=args.netns,
        dhcp=netapply.Dhcpcd(socket) if socket is not None else None,
        resolver=netapply.ResolvConfFile(resolv_conf) if resolv_conf is not None else None,
        demo=config.demo,
    )


def invalid_words(e: InvalidConfig) -> str:
    lines = [f"  {FIELD_NAMES.get(k, k)}: {literal(v)}" for k, v in e.errors.items()]
    return "not applied, nothing was changed:\n" + "\n".join(lines)


def _print(outcome: Outcome) -> None:
    print(outcome.summary)
    for note in outcome.notes:
        print(f"  {note}")


def run(args: argparse.Namespace, config: Config) -> int:
    env = environment(args, config)
    try:
        if args.net_command == "static":
            return _static(args, env)
        if args.net_command == "dhcp":
            if not args.yes:
                lost = netapply.lost_on_dhcp(network.read(env.netns), args.interface)
                if lost:
                    raise NetworkConfigError(
                        f"this removes {', '.join(lost)}, the only address ssh reaches this machine at "
                        "until a lease comes: run again with --yes to hand it to DHCP anyway"
                    )
            _print(netapply.apply_dhcp(args.interface, env))
            return 0
        return boot(args.cmdline, env)
    except InvalidConfig as e:
        print(f"installer-env: {invalid_words(e)}", file=sys.stderr)
        return NetworkConfigError.exit_code


def _static(args: argparse.Namespace, env: Environment) -> int:
    dns = [d for word in args.dns for d in word.split(",") if d]
    fields = fields_from_words(args.interface, args.addresses, args.gateway, dns, args.onlink)
    config = netapply.check(fields, env)
    if not args.yes:
        keep = [str(a.ip) for a in config.addresses]
        lost = netapply.lost_hosts(network.read(env.netns), config.interface, keep)
        if lost:
            raise NetworkConfigError(
                f"this removes {', '.join(lost)}, the only address ssh reaches this machine at "
                "(an ssh session over it drops): run again with --yes to apply it anyway"
            )
    _print(netapply.apply_static(fields, env))
    return 0


def _boot_interface(entry: BootNetwork, env: Environment) -> str:
    """The interface of an `ip=` entry without one: the only wired interface, as the kernel picks."""
    if entry.interface:
        return entry.interface
    wired = [
        i for i in network.read(env.netns).interfaces if not i.loopback and not i.wireless and i.kind is None
    ]
    if len(wired) > 1:
        wired = [i for i in wired if i.carrier] or wired
    if len(wired) != 1:
        names = ", ".join(literal(i.name) for i in wired) or "none"
        raise NetworkConfigError(f"{entry.source}: name the interface (wired ones: {names})")
    return wired[0].name


def _merge(first: StaticFields, second: StaticFields) -> StaticFields:
    """Two `ip=` entries for one interface (dracut: one IPv4, one IPv6) as one configuration."""
    return StaticFields(
        interface=first.interface,
        ipv4=first.ipv4 or second.ipv4,
        gateway4=first.gateway4 or second.gateway4,
        ipv6=first.ipv6 or second.ipv6,
        gateway6=first.gateway6 or second.gateway6,
        dns=" ".join(dict.fromkeys(f"{first.dns} {second.dns}".split())),
        onlink=first.onlink or second.onlink,
    )


def boot(cmdline_path: Path, env: Environment) -> int:
    """Apply every static `ip=` of the kernel command line; DHCP ones are the DHCP client's job."""
    try:
        cmdline = parse_cmdline(cmdline_path.read_text())
    except OSError as e:
        print(f"installer-env: cannot read {cmdline_path}: {e}", file=sys.stderr)
        return NetworkConfigError.exit_code
    failed = False
    for problem in cmdline.problems:
        print(f"installer-env: {literal(problem)}", file=sys.stderr)
        failed = True
    wanted: dict[str, StaticFields] = {}
    for entry in cmdline.entries:
        if entry.method != "static" or entry.static is None:
            print(f"{literal(entry.source)}: {entry.method}, left to the DHCP client")
            continue
        try:
            interface = _boot_interface(entry, env)
        except NetworkConfigError as e:
            print(f"installer-env: {e}", file=sys.stderr)
            failed = True
            continue
        fields = dataclasses.replace(
            entry.static,
            interface=interface,
            dns=" ".join(filter(None, (entry.static.dns, *cmdline.nameservers))),
            onlink=True,  # the kernel's ip= sets the gateway whatever the netmask says
        )
        wanted[interface] = _merge(wanted[interface], fields) if interface in wanted else fields
    for fields in wanted.values():
        try:
            _print(netapply.apply_static(fields, env))
        except InvalidConfig as e:
            print(f"installer-env: ip= for {literal(fields.interface)}: {invalid_words(e)}", file=sys.stderr)
            failed = True
        except NetworkConfigError as e:
            print(f"installer-env: {e}", file=sys.stderr)
            failed = True
    return NetworkConfigError.exit_code if failed else 0
