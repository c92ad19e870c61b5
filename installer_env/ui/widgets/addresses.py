"""How to log in: one `ssh user@host` line per address the machine offers, then its mDNS name."""

from __future__ import annotations

from collections.abc import Sequence

from installer_env.presentation import Command, Note
from installer_env.ui.widgets.lines import LabelledBlock, Part, styled


class AddressList(LabelledBlock):
    LABEL = "Login"

    def show(self, logins: Sequence[Command], note: Note | None, problem: str | None) -> None:
        rows: list[list[Part]] = []
        for login in logins:
            if login.where == "mDNS":
                continue  # after the note and the problem, as the fallback it is
            rows.append(_row(login))
        if note is not None:
            rows.append([styled(note)])
        if problem:
            rows.append([("! " + problem, "$warning")])
        rows += [_row(login) for login in logins if login.where == "mDNS"]
        self.set_lines(rows)


def _row(login: Command) -> list[Part]:
    row: list[Part] = [(login.program, "$text-muted"), (login.target, "bold")]
    if login.where:
        row.append((f"  {login.where}", "$text-muted"))
    return row
