"""How to log in: one `ssh user@host` line per address the machine offers, then its mDNS name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from installer_env.textsafe import literal
from installer_env.ui.widgets.lines import LabelledBlock, Part


class AddressList(LabelledBlock):
    LABEL = "Login"

    def show(
        self,
        user: str,
        hosts: Sequence[str] | None,
        mdns_name: str | None,
        problem: str | None = None,
        interfaces: Mapping[str, str] | None = None,
    ) -> None:
        """`hosts` as they go after `user@` (IPv6 in brackets); None while addresses are unknown."""
        user = literal(user)
        interfaces = interfaces or {}
        rows: list[list[Part]] = []
        for host in hosts or ():
            row: list[Part] = [("ssh ", "$text-muted"), (f"{user}@{literal(host)}", "bold")]
            if host in interfaces:
                row.append((f"  {literal(interfaces[host])}", "$text-muted"))
            rows.append(row)
        if hosts is None:
            rows.append([("looking at the network...", "$text-muted")])
        elif not hosts:
            rows.append([("no address yet: plug in a cable, or press w for Wi-Fi", "$warning")])
        if problem:
            rows.append([("! " + literal(problem), "$warning")])
        if mdns_name:
            rows.append(
                [("ssh ", "$text-muted"), (f"{user}@{literal(mdns_name)}", "bold"), ("  mDNS", "$text-muted")]
            )
        self.set_lines(rows)
