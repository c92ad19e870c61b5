"""How every view words the password: its facts, the title line, and its lines of plain text.

Apart from `presentation` and `status`, which load the whole session model (netlink, sshd, tor,
Wi-Fi, the QR code): on a Linux VT the password is written from these before any of that is
imported (`console.early_password`), and the views say it in the same words afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from installer_env.textsafe import literal

if TYPE_CHECKING:
    from installer_env.state import PasswordState

LABEL_WIDTH = 13  # the text views' left column: "Password     ", "SSH          "


@dataclass(frozen=True)
class PasswordFacts:
    """The password as every view shows it: the secret, or why there is none, and its caveats."""

    user: str
    secret: str | None  # None: no password at all; `missing` says why
    missing: str | None
    applied: bool
    not_applied: str | None  # why the password was only shown, not set
    detail: str | None  # "4 words, 51.7 bits, generation 3, <when>"
    rotation_problem: str | None  # why this login could not make a new one


def title(hostname: str, mdns_name: str | None) -> str:
    name = literal(hostname)
    return f"installer-env on {name}" + (f" ({literal(mdns_name)})" if mdns_name else "")


def password_facts(
    pw: PasswordState | None, password_problem: str | None, rotation_problem: str | None
) -> PasswordFacts:
    """From the snapshot's three password fields alone: the VT shows them before the first
    snapshot is collected (console.early_password)."""
    user = literal(pw.user) if pw else "root"
    rotation = literal(rotation_problem) if rotation_problem else None
    if pw is None:
        # With no password at all, why this login could not make one says more than "none yet".
        missing = rotation or literal(password_problem or "no password yet")
        return PasswordFacts(user, None, missing, False, None, None, rotation)
    detail = (
        f"{pw.words} words, {pw.entropy_bits:g} bits, generation {pw.generation}, {literal(pw.rotated_at)}"
    )
    not_applied = None if pw.applied else literal(pw.note)
    return PasswordFacts(user, literal(pw.password), None, pw.applied, not_applied, detail, rotation)


def labelled(label: str, lines: list[str] | tuple[str, ...]) -> list[str]:
    """`label` in the left column of the first line, the others indented to match."""
    return [f"{label if i == 0 else '':<{LABEL_WIDTH}}{line}" for i, line in enumerate(lines)]


def password_lines(pw: PasswordFacts) -> list[str]:
    """The password, or why there is none, as the text views write it."""
    failed = [f"! no new password: {pw.rotation_problem}"] if pw.rotation_problem else []
    if pw.secret is None:
        if failed:  # the reason this login made none says more than "no password yet"
            return labelled("Password", ["(none)", *failed])
        return labelled("Password", [f"(none) {pw.missing or ''}".rstrip()])
    lines = [pw.secret]
    if pw.applied:
        lines.append(f"set for {pw.user}; {pw.detail}")
    else:
        lines += [f"NOT APPLIED - {pw.not_applied}", f"{pw.detail}"]
    return labelled("Password", lines + failed)
