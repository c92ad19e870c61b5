"""Soak: a running screen through thousands of address flaps and hundreds of password rotations.

Run as root from the checkout: .venv/bin/python bench/soak.py [--flaps 2000] [--rotations 250]

`installer-env demo` runs on a pty (100x37, TERM=linux) in a network namespace of its own with a
veth. Before and after the soak, the same measurements of the same process, so "before" is the
reference for "after":
- RSS (VmRSS from /proc)
- idle CPU: user+system time over --idle-seconds with nothing happening, % of one core
- address latency: from `ip addr add` of a new address to that address in the screen's output
- rotation latency: from a rotation (the state file renamed into place, as `rotate-password` and
  other consoles do) to the new password in the screen's output
The soak in between: --flaps add/del pairs of an address (through `ip -batch`, in chunks), with
--rotations rotations spread over them, then one round trip through the shell (key `s`, `exit`);
the pty is read all along, as a terminal would.

Nothing is applied: the demo never sets a password and its state lives in a temp dir.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from screen import QR_GLYPHS, PtyProcess, namespace, screen_argv, screen_env

from installer_env import rotation
from installer_env.config import Config
from installer_env.state import StateStore


@dataclass(frozen=True)
class Rig:
    """The screen under test, the namespace it watches, and the state it shows."""

    proc: PtyProcess
    run: Sequence[str]  # runs a command in the namespace
    store: StateStore
    config: Config


@dataclass(frozen=True)
class Figures:
    rss_mib: float
    idle_cpu_percent: float
    address_s: list[float]
    rotation_s: list[float]


def wait_for(proc: PtyProcess, needle: bytes, since: float, timeout: float = 10.0) -> float | None:
    """Seconds from `since` (perf_counter) until `needle` is in what the screen wrote since the last
    clear, or None."""
    seen = proc.read_until([needle], timeout)
    return None if seen is None else seen - (since - proc.started)


def clear(proc: PtyProcess) -> None:
    proc.drain(0.3)
    proc.output = b""


def measure(rig: Rig, tag: int, probes: int, idle: float) -> Figures:
    proc, run = rig.proc, rig.run
    clear(proc)
    before, start = proc.cpu_seconds(), time.perf_counter()
    proc.drain(idle)
    cpu = (proc.cpu_seconds() - before) / (time.perf_counter() - start) * 100
    address_s, rotation_s = [], []
    for i in range(probes):
        address = f"10.{tag}.{i}.1"
        clear(proc)
        start = time.perf_counter()
        subprocess.run([*run, "ip", "addr", "add", f"{address}/24", "dev", "bench0"], check=True)
        if (seen := wait_for(proc, address.encode(), start)) is not None:
            address_s.append(seen)
        subprocess.run([*run, "ip", "addr", "del", f"{address}/24", "dev", "bench0"], check=True)
        clear(proc)
        start = time.perf_counter()
        state = rotation.rotate(rig.config, rig.store)
        if (seen := wait_for(proc, state.password.encode(), start)) is not None:
            rotation_s.append(seen)
    proc.output = b""
    return Figures(proc.rss_mib(), cpu, address_s, rotation_s)


def soak(rig: Rig, flaps: int, rotations: int) -> float:
    """The flaps and rotations, as fast as they go; returns the seconds it took."""
    proc, run = rig.proc, rig.run
    chunk = 50
    chunks = max(1, flaps // chunk)
    rotate_every = max(1, chunks // max(1, rotations))
    done_rotations = 0
    start = time.perf_counter()
    for c in range(chunks):
        lines = "".join(
            f"addr add 10.77.{i % 250}.1/24 dev bench0\naddr del 10.77.{i % 250}.1/24 dev bench0\n"
            for i in range(c * chunk, (c + 1) * chunk)
        )
        subprocess.run([*run, "ip", "-batch", "-"], input=lines, text=True, check=True)
        # Rotations spread over the flaps; the rest (when there are more than chunks) in a burst.
        burst = 1 if c % rotate_every == 0 else 0
        if c == chunks - 1:
            burst = rotations - done_rotations
        for _ in range(min(burst, rotations - done_rotations)):
            rotation.rotate(rig.config, rig.store)
            done_rotations += 1
        proc.drain(0.01)
        proc.output = b""
    proc.drain(2)  # let the screen catch up before measuring again
    proc.output = b""
    return time.perf_counter() - start


def shell_round_trip(proc: PtyProcess) -> bool:
    """Key `s`, then `exit` in the shell: the screen suspends and resumes (its input thread too)."""
    clear(proc)
    os.write(proc.master, b"s")
    if proc.read_until([b"Type exit"], timeout=10) is None:
        return False
    proc.output = b""
    os.write(proc.master, b"exit\r")
    back = proc.read_until([b"Quit"], timeout=10) is not None
    proc.drain(2)
    proc.output = b""
    return back


def summary(values: list[float]) -> str:
    if not values:
        return "no result"
    return (
        f"median {statistics.median(values) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms ({len(values)})"
    )


def ratio(after: float, before: float) -> str:
    return f"{after / before:.2f}x" if before > 0 else "n/a"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--flaps", type=int, default=2000)
    parser.add_argument("--rotations", type=int, default=250)
    parser.add_argument("--probes", type=int, default=7)
    parser.add_argument("--idle-seconds", type=float, default=10)
    args = parser.parse_args()
    if os.geteuid() != 0 or shutil.which("ip") is None:
        print("needs root and iproute2 (a network namespace of its own)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="installer-env-soak-") as tmp_name, namespace() as run:
        tmp = Path(tmp_name)
        env = screen_env(tmp)
        config = Config(state_dir=tmp / "state", demo=True, tor_enabled=False, wifi_enabled=False)
        store = StateStore(config.state_dir)
        proc = PtyProcess([*run, *screen_argv(tmp)], env)
        try:
            if proc.read_until(QR_GLYPHS, timeout=30) is None:
                print("the screen did not come up", file=sys.stderr)
                return 1
            proc.drain(3)  # start-up work settles
            rig = Rig(proc, run, store, config)
            before = measure(rig, 11, args.probes, args.idle_seconds)
            seconds = soak(rig, args.flaps, args.rotations)
            shell_ok = shell_round_trip(proc)
            after = measure(rig, 12, args.probes, args.idle_seconds)
            alive = proc.proc.poll() is None
        finally:
            proc.close()
    print(
        f"soak: {args.flaps} address flaps and {args.rotations} rotations in {seconds:.1f} s;"
        f" then a round trip through the shell (key s, exit): {'done' if shell_ok else 'FAILED'};"
        f" screen alive: {alive}"
    )
    print(
        f"RSS: before {before.rss_mib:.1f} MiB, after {after.rss_mib:.1f} MiB "
        f"({ratio(after.rss_mib, before.rss_mib)}, {after.rss_mib - before.rss_mib:+.1f} MiB)"
    )
    print(
        f"idle CPU over {args.idle_seconds:g} s: before {before.idle_cpu_percent:.3f} %, "
        f"after {after.idle_cpu_percent:.3f} % of a core"
    )
    for name, b, a in (
        ("address latency", before.address_s, after.address_s),
        ("rotation latency", before.rotation_s, after.rotation_s),
    ):
        med = ratio(statistics.median(a), statistics.median(b)) if a and b else "n/a"
        print(f"{name}: before {summary(b)}; after {summary(a)} (median {med})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
