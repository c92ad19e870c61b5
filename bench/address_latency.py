"""How long from an address change to the snapshot that shows it (target: 0.2 s or less).

Creates a network namespace with a veth pair, follows it with `network.watch`, then N times adds
an address with `ip addr add` and removes it with `ip addr del`, timing each from just before `ip`
starts to the first snapshot that shows the change. Needs root; deletes the namespace at the end.

    .venv/bin/python bench/address_latency.py [--runs 50]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import subprocess
import time
from collections.abc import AsyncIterator

from installer_env import network
from installer_env.network import NetworkSnapshot


async def ip(namespace: str, *args: str) -> None:
    process = await asyncio.create_subprocess_exec("ip", "-n", namespace, *args)
    if await process.wait() != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed")


async def until_offered(snapshots: AsyncIterator[NetworkSnapshot], host: str, offered: bool) -> None:
    async for snap in snapshots:
        if (host in snap.offered) == offered:
            return


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def measure(namespace: str, runs: int) -> tuple[list[float], list[float]]:
    added, removed = [], []
    snapshots = network.watch(namespace)
    await anext(snapshots)
    try:
        for run in range(runs):
            host = f"192.0.2.{run % 250 + 1}"
            start = time.perf_counter()
            await ip(namespace, "addr", "add", f"{host}/24", "dev", "va")
            await asyncio.wait_for(until_offered(snapshots, host, True), 5)
            added.append(time.perf_counter() - start)
            start = time.perf_counter()
            await ip(namespace, "addr", "del", f"{host}/24", "dev", "va")
            await asyncio.wait_for(until_offered(snapshots, host, False), 5)
            removed.append(time.perf_counter() - start)
    finally:
        await snapshots.aclose()
    return added, removed


def report(name: str, values: list[float]) -> None:
    ms = [v * 1000 for v in values]
    print(
        f"{name:<7} n={len(ms):<4} median {statistics.median(ms):6.1f} ms   "
        f"p95 {percentile(ms, 0.95):6.1f} ms   max {max(ms):6.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    namespace = f"ie-bench-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    try:
        for command in (
            ["link", "add", "va", "type", "veth", "peer", "name", "vb"],
            ["link", "set", "va", "up"],
            ["link", "set", "vb", "up"],
        ):
            subprocess.run(["ip", "-n", namespace, *command], check=True)
        added, removed = asyncio.run(measure(namespace, args.runs))
    finally:
        subprocess.run(["ip", "netns", "delete", namespace], check=False)
    print(f"address change -> snapshot (debounce {network.DEBOUNCE_SECONDS * 1000:.0f} ms, target 200 ms)")
    report("add", added)
    report("remove", removed)


if __name__ == "__main__":
    main()
