"""Plain text mode for serial consoles and dumb terminals: no full-screen redraws, no cursor moves.

It prints the status (the same text as `installer-env status`) and the QR code when it fits, then
prints again only when something changed, so an IPMI serial-over-LAN log stays readable.
"""

from __future__ import annotations

import asyncio
import shutil
from typing import TextIO

from installer_env import qr, status
from installer_env.config import Config
from installer_env.presentation import Viewer
from installer_env.session import Session, Snapshot, run_sources
from installer_env.state import StateStore
from installer_env.wording import present

SETTLE_SECONDS = 0.5
FOOTER = "Ctrl-C: leave to the shell (type installer-env screen to come back)."


def render(
    snap: Snapshot,
    columns: int,
    rows: int,
    half_blocks: bool,
    *,
    max_addrs: int = qr.DEFAULT_MAX_ADDRS,
    wifi_enabled: bool = False,
) -> str:
    """The status, then the QR code fitted to the terminal on its own (the status scrolls above).
    Without half blocks the code is pure ASCII: a dumb terminal takes no colours."""
    p = present(snap, Viewer.PLAIN, qr_max_addrs=max_addrs, wifi_enabled=wifi_enabled)
    return status.text(p) + status.qr_block(p, columns, rows, not half_blocks, colour=False)


async def follow(
    session: Session,
    out: TextIO,
    *,
    columns: int,
    rows: int,
    half_blocks: bool,
    max_addrs: int = qr.DEFAULT_MAX_ADDRS,
    wifi_enabled: bool = False,
    settle: float = SETTLE_SECONDS,
) -> None:
    """Print the current snapshot, then again after changes that alter the text, at most once per
    `settle` seconds (several sources change at once at start-up: one reprint for all of them)."""
    latest = session.snapshot
    changed = asyncio.Event()

    async def receive() -> None:
        nonlocal latest
        async for snap in session.snapshots():
            latest = snap
            changed.set()

    receiver = asyncio.create_task(receive())
    last: str | None = None
    try:
        while True:
            await changed.wait()
            changed.clear()
            text = render(latest, columns, rows, half_blocks, max_addrs=max_addrs, wifi_enabled=wifi_enabled)
            if text != last:
                if last is not None:
                    out.write("\n" + "-" * min(columns, 80) + "\n")
                out.write(text + FOOTER + "\n")
                out.flush()
                last = text
            await asyncio.sleep(settle)
    finally:
        receiver.cancel()


async def run(config: Config, store: StateStore, session: Session, out: TextIO) -> None:
    size = shutil.get_terminal_size((80, 24))
    half_blocks = qr.terminal_shows_half_blocks(out)
    async with asyncio.TaskGroup() as group:
        group.create_task(run_sources(config, store, session), name="sources")
        group.create_task(
            follow(
                session,
                out,
                columns=size.columns,
                rows=size.lines,
                half_blocks=half_blocks,
                max_addrs=config.qr_max_addrs,
                wifi_enabled=config.wifi_enabled,
            )
        )
