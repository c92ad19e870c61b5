"""The one place that words the session: `present` makes a snapshot's `Presentation` for a viewer.

See `presentation` for what it holds and who renders it. Outside text (hostnames, SSIDs, interface
names, the state file) goes through `textsafe.literal` here, so every text of a presentation is
safe to print.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

from installer_env import kexec, network, qr
from installer_env.network import NetworkSnapshot
from installer_env.password_text import PasswordFacts, password_facts, title
from installer_env.presentation import (
    Command,
    HostKeyLine,
    Note,
    Presentation,
    SshFacts,
    Tone,
    TorFacts,
    Viewer,
    WifiFacts,
)
from installer_env.session import Snapshot
from installer_env.sshd import SshdStatus
from installer_env.textsafe import literal
from installer_env.tor import MODE_LAUNCHED, TorStatus
from installer_env.wifi.model import WifiStatus

if TYPE_CHECKING:
    from installer_env.config import Config


def ssh_port(ssh: SshdStatus) -> int:
    """The port ssh has to use: sshd's own when known; 22 (ssh's default) when `sshd -T` failed."""
    return ssh.port if ssh.port_known else qr.SSH_PORT


def present(
    snap: Snapshot,
    viewer: Viewer = Viewer.STATUS,
    *,
    qr_max_addrs: int = qr.DEFAULT_MAX_ADDRS,
    wifi_enabled: bool = False,
) -> Presentation:
    """`wifi_enabled`: for a view that runs the sources, whether a missing `wifi` is still to come
    (its first snapshot leaves Wi-Fi to the follower) rather than switched off."""
    user = literal(snap.password.user) if snap.password else "root"
    port = ssh_port(snap.ssh)
    logins, note = _logins(snap, viewer, user, port)
    ssh = _ssh(snap.ssh)
    tor = _tor(snap.tor, viewer, user)
    wifi = _wifi(snap.wifi, viewer, wifi_enabled)
    password = password_facts(snap.password, snap.password_problem, snap.rotation_problem)
    name = literal(snap.hostname)
    mdns = literal(snap.mdns_name) if snap.mdns_name else None
    net = snap.network
    onion = tor.onion if tor is not None else None
    return Presentation(
        viewer=viewer,
        hostname=name,
        mdns_name=mdns,
        title=title(snap.hostname, snap.mdns_name),
        password=password,
        logins=logins,
        logins_note=note,
        network_problem=literal(net.problem) if net is not None and net.problem else None,
        network_lines=_network_lines(net),
        kexec_lines=_kexec_lines(snap.kexec),
        ssh=ssh,
        tor=tor,
        wifi=wifi,
        problems=_problems(password, ssh, net, tor, wifi),
        qr_content=qr.Content.of(
            snap.password.password if snap.password else None,
            onion,
            net.offered if net is not None else (),
            qr_max_addrs,
            port,
        ),
    )


def for_screen(snap: Snapshot, config: Config) -> Presentation:
    """The console screen's presentation: its first (made by the first snapshot's child) and every
    later one (made by the app) come from here."""
    return present(snap, Viewer.SCREEN, qr_max_addrs=config.qr_max_addrs, wifi_enabled=config.wifi_enabled)


def _logins(snap: Snapshot, viewer: Viewer, user: str, port: int) -> tuple[tuple[Command, ...], Note | None]:
    program = "ssh " if port == qr.SSH_PORT else f"ssh -p {port} "
    net = snap.network
    where = (
        {a.host: literal(i.name) for i in net.interfaces for a in i.addresses if a.offered}
        if net is not None
        else {}
    )
    hosts = net.offered if net is not None else ()
    commands = [Command(program, f"{user}@{literal(h)}", where.get(h)) for h in hosts]
    if snap.mdns_name:
        commands.append(Command(program, f"{user}@{literal(snap.mdns_name)}", "mDNS"))
    note = None
    if net is None:
        note = Note("looking at the network...", Tone.MUTED)
    elif not hosts:
        how = "press w for Wi-Fi" if viewer is Viewer.SCREEN else "or set up Wi-Fi (iwctl)"
        note = Note(f"no address yet: plug in a cable, {how}", Tone.WARN)
    return tuple(commands), note


def _ssh(ssh: SshdStatus) -> SshFacts:
    port = ssh_port(ssh)
    if not ssh.installed:
        state = Note("not installed", Tone.BAD)
    elif ssh.listening:
        state = Note(f"listening on port {ssh.port}", Tone.GOOD)
    elif ssh.running:
        state = Note(f"running, but not listening on port {ssh.port}", Tone.WARN)
    else:
        state = Note("not running", Tone.BAD)
    keys = tuple(HostKeyLine(k.type, k.bits, k.fingerprint) for k in ssh.host_keys)
    return SshFacts(state, port, keys, tuple(literal(p) for p in ssh.problems))


def _tor(t: TorStatus | None, viewer: Viewer, user: str) -> TorFacts | None:
    if t is None:
        return None
    via = "own tor" if t.mode == MODE_LAUNCHED else "system tor"
    onion = qr.onion_host(t.onion_address)
    # The command works once tor holds the service; the same condition for every view.
    holds = onion is not None and (t.service_added or t.published)
    login = Command("torify ssh ", f"{user}@{onion}") if holds else None
    error = literal(t.error) if t.error else None
    progress = None
    if t.waiting_for_system:  # the image's tor has not started yet; none of our own meanwhile
        state = Note("waiting for the system tor to start", Tone.MUTED)
    elif t.published:
        state = Note("published: reachable over Tor", Tone.GOOD)
    elif t.reachable:
        progress = t.bootstrap_percent
        if t.bootstrap_percent >= 100:  # bootstrapped is not reachable yet: the descriptor goes up
            state = Note("bootstrapped, publishing the onion service", Tone.ACCENT)
        else:
            phase = f": {literal(t.bootstrap_phase)}" if t.bootstrap_phase else ""
            state = Note(f"bootstrapping {t.bootstrap_percent}%{phase}", Tone.ACCENT)
    elif viewer.runs_sources and error is None:
        # This process starts tor itself (its first snapshot has no one-shot look's advice in it).
        state = Note("starting...", Tone.MUTED)
    else:
        state = Note("not reachable", Tone.WARN)
    return TorFacts(via, onion, login, state, progress, error)


def _wifi(wifi: WifiStatus | None, viewer: Viewer, enabled: bool) -> WifiFacts | None:
    if wifi is None:
        if viewer.runs_sources and enabled:  # the follower has not reported yet
            return WifiFacts(Note("looking for iwd...", Tone.MUTED), None, ("looking for iwd...",), None)
        return None
    on_screen = viewer is Viewer.SCREEN
    if wifi.problem is not None:
        problem = literal(wifi.problem)
        return WifiFacts(Note(problem, Tone.MUTED), None, (f"! {problem}",), problem)
    lines = []
    for dev in wifi.devices:
        where = f"{literal(dev.name)} ({literal(dev.adapter)})"
        if dev.connected_ssid is not None and dev.state == "connected":
            lines.append(f"connected to {literal(dev.connected_ssid)} on {where}")
        elif dev.state == "off":
            lines.append(f"{where} switched off")
        else:
            lines.append(f"{where} {literal(dev.state)}, {len(dev.networks)} networks in range")
    device = wifi.device
    if device is None:
        return WifiFacts(Note("no Wi-Fi adapter", Tone.MUTED), None, tuple(lines), None)
    connected = wifi.connected
    if connected is not None:
        summary = Note(f"connected to {literal(connected.ssid)} ({literal(device.name)})", Tone.GOOD)
        return WifiFacts(summary, None, tuple(lines), None)
    summary = Note(f"{literal(device.name)} {literal(device.state)}", Tone.WARN)
    return WifiFacts(summary, "press w to connect" if on_screen else None, tuple(lines), None)


def _kexec_lines(boot: kexec.KexecBoot | None) -> tuple[str, ...]:
    if boot is None:
        return ()
    keys = len(boot.host_keys())
    kept = [f"{keys} SSH host key{'' if keys == 1 else 's'}"] if keys else []
    kept += [kexec.KINDS[kind] for kind in ("authorized-keys", "machine-id") if boot.has(kind)]
    lines = ["booted by kexec; kept " + (", ".join(kept) if kept else "nothing") + " of the old system"]
    if boot.network is None:
        lines.append("! network not restored (see journalctl -u installer-env-restore-network)")
    else:
        for r in boot.network.restored:
            how = [*r.static_addresses, *(["DHCP"] if r.dhcp else [])]
            # Wrapped to fit an 80-column serial console beside the label.
            text = f"{literal(r.name)} ({r.mac}): {', '.join(how) or 'routes only'}"
            lines += textwrap.wrap(text, 66, subsequent_indent="  ", break_on_hyphens=False)
            lines += [f"  route {literal(t)}" for t in r.routes]
            lines += [f"  {literal(r.note)}"] if r.note else []
        lines += [f"not restored: {literal(s.what)} ({literal(s.reason)})" for s in boot.network.skipped]
    return tuple(lines)


def _network_lines(net: NetworkSnapshot | None) -> tuple[str, ...]:
    if net is None:
        return ()
    if net.problem is not None:
        return (f"! {literal(net.problem)}",)
    lines = []
    for interface in net.interfaces:
        if interface.loopback:
            continue
        parts = [interface.state, "carrier" if interface.carrier else "no carrier"]
        parts += [literal(interface.mac)] if interface.mac else []
        parts += ["wireless"] if interface.wireless else []
        parts.append(literal(interface.hardware.description))
        lines.append(f"{literal(interface.name)}  {', '.join(parts)}")
        for address in interface.addresses:
            why = network.why_not_offered(interface, address)
            lines.append(f"  {address.address}/{address.prefixlen}" + (f" ({why})" if why else ""))
    return tuple(lines) or ("(no network interfaces)",)


def _problems(
    password: PasswordFacts,
    ssh: SshFacts,
    net: NetworkSnapshot | None,
    tor: TorFacts | None,
    wifi: WifiFacts | None,
) -> tuple[str, ...]:
    problems: list[str] = []
    if password.rotation_problem:
        problems.append(f"no new password: {password.rotation_problem}")
    if password.secret is None and not password.rotation_problem and password.missing:
        problems.append(password.missing)
    if password.not_applied:
        problems.append(f"password not applied: {password.not_applied}")
    if ssh.state.tone is not Tone.GOOD:
        problems.append(f"sshd {ssh.state.text}")
    problems += ssh.problems
    if net is not None and net.problem:
        problems.append(literal(net.problem))
    if tor is not None and tor.error:
        problems.append(f"tor: {tor.error}")
    if wifi is not None and wifi.problem:
        problems.append(f"Wi-Fi: {wifi.problem}")
    return tuple(problems)
