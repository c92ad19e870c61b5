"""Runs inside the VT bench guest (bench/vt_vm.sh): starts `installer-env demo` on tty1 (TERM=linux)
and reads what the VT holds (/dev/vcsu1) every few milliseconds until the first full frame.

Per run: seconds from launch to the password readable on the VT, to the ssh line, and to the first
full frame (the password on screen and the footer's keys on the last row, so the frame's write
reached the bottom; at 80x25 the main screen shows no QR code, it is one key away); and every row
seen before that frame which is neither blank, nor a row of one of the early text's two steps, nor
a row of that frame (or the start of one such row, as the VT takes a write in pieces): a flash of
garbage, if there was any.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import statistics
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

TTY = "/dev/tty1"
FOOTER_KEYS = ("Quit", "Help")


def vt_size() -> tuple[int, int]:
    header = Path("/dev/vcsa1").read_bytes()[:4]
    return header[1], header[0]  # columns, rows


def rows(columns: int) -> list[str]:
    """The VT's text, row by row (UCS-4 per cell)."""
    data = Path("/dev/vcsu1").read_bytes()
    text = data.decode("utf-32-le", errors="replace")
    return [text[i : i + columns].rstrip() for i in range(0, len(text), columns)]


def clear_tty() -> None:
    with open(TTY, "w") as tty:
        tty.write("\x1b[0m\x1b[H\x1b[2J\x1b[?25h")


def launch(python: str, state_dir: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    tty = os.open(TTY, os.O_RDWR)
    try:
        # A session of its own with tty1 as its controlling terminal, as a console login has.
        return subprocess.Popen(
            [python, "-m", "installer_env", "demo", "--state-dir", str(state_dir)],
            stdin=tty,
            stdout=tty,
            stderr=tty,
            env=env,
            cwd="/root",
            start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 1),  # noqa: PLW1509
        )
    finally:
        os.close(tty)


def password_of(state_dir: Path) -> str | None:
    try:
        return str(json.loads((state_dir / "state.json").read_text())["password"]["password"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def one_run(python: str, env: dict[str, str], work: Path, timeout: float) -> dict[str, Any]:
    columns, _ = vt_size()
    state_dir = work / f"state-{time.monotonic_ns()}"
    clear_tty()
    samples: list[tuple[float, list[str]]] = []
    start = time.monotonic()
    proc = launch(python, state_dir, env)
    password = None
    seen_password = seen_ssh = frame = None
    try:
        while time.monotonic() - start < timeout:
            now = time.monotonic() - start
            screen = rows(columns)
            if not samples or samples[-1][1] != screen:
                samples.append((now, screen))
            password = password or password_of(state_dir)
            text = "\n".join(screen)
            if password and seen_password is None and password in text:
                seen_password = now
            if seen_ssh is None and "ssh root@" in text:
                seen_ssh = now
            last = next((r for r in reversed(screen) if r), "")
            # The footer is the frame's last row; at 80x25 the code itself is one key away (q).
            if password and password in text and all(k in last for k in FOOTER_KEYS):
                frame = now
                break
            time.sleep(0.01)
    finally:
        proc.kill()
        proc.wait()
    if frame is None:
        return {"error": "no full frame", "last": samples[-1][1] if samples else []}
    frame_rows = samples[-1][1]
    early_rows = _early_rows(samples)
    garbage = []
    for at, screen in samples[:-1]:
        for i, row in enumerate(screen):
            allowed = {"", frame_rows[i] if i < len(frame_rows) else "", *early_rows.get(i, ())}
            if row not in allowed and not any(a.startswith(row) for a in allowed if a):
                garbage.append({"at": round(at, 3), "row": i, "text": row})
    return {
        "password_s": seen_password,
        "ssh_line_s": seen_ssh,
        "frame_s": frame,
        "states_before_frame": len(samples) - 1,
        "garbage_rows": garbage[:20],
        "garbage_count": len(garbage),
        "frame_text": frame_rows,
        "early_text": [sorted(early_rows.get(i, ())) for i in range(len(frame_rows))],
    }


EARLY_STEPS_DONE = ("Looking up the addresses...", "Starting the installer screen...")


def _early_rows(samples: list[tuple[float, list[str]]]) -> dict[int, set[str]]:
    """Row by row, what the early text's two steps (console.early_password, then early_text) put
    there once each was written whole."""
    rows: dict[int, set[str]] = {}
    for _, screen in samples:
        if any(done in screen for done in EARLY_STEPS_DONE):
            for i, row in enumerate(screen):
                rows.setdefault(i, set()).add(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=180)
    parser.add_argument("--label", default="this tree")
    parser.add_argument("--pythonpath", default="", help="another tree of the project to measure")
    args = parser.parse_args()
    env = dict(os.environ, TERM="linux", INSTALLER_ENV_TOR_ENABLED="0", INSTALLER_ENV_WIFI_ENABLED="0")
    if args.pythonpath:
        env["PYTHONPATH"] = args.pythonpath
    work = Path("/tmp/vt-bench")
    work.mkdir(exist_ok=True)
    runs = []
    for i in range(args.runs):
        result = one_run(sys.executable, env, work, args.timeout)
        runs.append(result)
        brief = {k: result.get(k) for k in ("password_s", "ssh_line_s", "frame_s", "garbage_count", "error")}
        print(f"[vt-bench] {args.label} run {i + 1}: {json.dumps(brief)}", flush=True)
    good = [r for r in runs if "error" not in r]

    def median(key: str) -> float | None:
        values = [r[key] for r in good if r.get(key) is not None]
        return statistics.median(values) if values else None

    summary = {
        "label": args.label,
        "runs": runs,
        "password_s": median("password_s"),
        "ssh_line_s": median("ssh_line_s"),
        "frame_s": median("frame_s"),
        "vt": list(vt_size()),
        "load": Path("/proc/loadavg").read_text().split()[:3],
    }
    out = args.out / f"vt-bench-{args.label.replace(' ', '-')}.json"
    out.write_text(json.dumps(summary, indent=1))
    print(
        f"[vt-bench] {args.label}: password {summary['password_s']}, ssh line {summary['ssh_line_s']},"
        f" full frame {summary['frame_s']} (medians of {len(good)} runs)",
        flush=True,
    )
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
