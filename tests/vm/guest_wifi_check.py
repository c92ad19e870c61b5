"""Runs inside the Wi-Fi VM (tests/vm/run-wifi-vm.sh) against the real iwd: the project's own client.

Writes a JSON report (checks with pass/fail and details, timings, benchmark figures) and exits
non-zero if any check failed. Every check is independent of the ones before where possible, so
one failure does not hide the others.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from installer_env.textsafe import literal
from installer_env.wifi import IwdClient, WifiDevice, WifiError, WifiErrorKind, WifiNetwork, WifiStatus

WPA_SSID = "installer-test"
PASSPHRASE = "correct horse battery"
HOSTILE_SSID_BYTES = b"[bold]x[/]\x1b[31m$(reboot)"
HIDDEN_SSID = "attic"
T0 = time.monotonic()


def say(*parts: object) -> None:
    print(f"[guest-py {time.monotonic() - T0:6.2f}s]", *parts, flush=True)


class Report:
    def __init__(self) -> None:
        self.checks: dict[str, dict[str, Any]] = {}
        self.timings: dict[str, float] = {}
        self.bench: dict[str, Any] = {}

    async def check(self, name: str, body: Callable[[], Awaitable[dict[str, Any]]]) -> bool:
        started = time.monotonic()
        try:
            details = dict(await body())
            ok = True
        except Exception as e:
            details = {"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc(limit=4)}
            ok = False
        details["seconds"] = round(time.monotonic() - started, 2)
        self.checks[name] = {"pass": ok, **details}
        say(f"CHECK {name}: {'PASS' if ok else 'FAIL'}", json.dumps(details, ensure_ascii=True)[:300])
        return ok

    def to_json(self) -> str:
        passed = all(c["pass"] for c in self.checks.values())
        doc = {"pass": passed, "checks": self.checks, "timings": self.timings, "bench": self.bench}
        return json.dumps(doc, indent=1, ensure_ascii=True)


def expect(ok: object, detail: object = "") -> None:
    """A check of the report (not a pytest assert: this runs as a plain program in the guest)."""
    if not ok:
        raise AssertionError(detail)


def device(status: WifiStatus) -> WifiDevice:
    if status.device is None:
        raise AssertionError(f"no Wi-Fi device: {status.problem}")
    return status.device


def connected(status: WifiStatus) -> WifiNetwork:
    if status.connected is None:
        raise AssertionError(f"not connected: {status}")
    return status.connected


def network(status: WifiStatus, ssid: str) -> WifiNetwork:
    for net in device(status).networks:
        if net.ssid == ssid:
            return net
    raise AssertionError(f"{ssid!r} not among {[n.ssid for n in device(status).networks]!r}")


async def wait_for_station(wifi: IwdClient, timeout: float = 40.0) -> WifiStatus:
    deadline = time.monotonic() + timeout
    while True:
        status = await wifi.status()
        if status.device is not None and status.device.has_station:
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"no iwd station after {timeout:g}s: {status.problem}")
        await asyncio.sleep(0.2)


async def scan_until(wifi: IwdClient, ssids: set[str], tries: int = 4) -> WifiStatus:
    """hwsim beacons can be missed by one scan under TCG; a few scans find them all."""
    status = await wifi.status()
    for _ in range(tries):
        status = await wifi.scan()
        if ssids <= {n.ssid for n in device(status).networks}:
            return status
    return status


async def forget_all(wifi: IwdClient) -> None:
    for known in (await wifi.status()).known_networks:
        await wifi.forget(known)


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--bench", type=int, default=0)
    args = parser.parse_args()
    report = Report()
    hostile = HOSTILE_SSID_BYTES.decode("utf-8")

    wifi = IwdClient()
    await wifi.open()
    status = await wait_for_station(wifi)
    report.timings["iwd_ready_uptime"] = float(Path("/proc/uptime").read_text().split()[0])
    say("iwd ready:", status.device)

    async def scan() -> dict[str, Any]:
        st = await scan_until(wifi, {WPA_SSID, hostile})
        names = [n.ssid for n in device(st).networks]
        wpa = network(st, WPA_SSID)
        expect((wpa.security, wpa.known, wpa.connected) == ("psk", False, False), wpa)
        expect(-100 < wpa.signal_dbm < 0 and 0 <= wpa.bars <= 4, wpa)
        expect(HIDDEN_SSID not in names, names)
        return {
            "networks": [[literal(n.ssid), n.security, n.signal_dbm, n.bars] for n in device(st).networks]
        }

    async def hostile_ssid_is_literal() -> dict[str, Any]:
        net = network(await wifi.status(), hostile)
        expect(net.ssid.encode("utf-8") == HOSTILE_SSID_BYTES, net.ssid.encode("utf-8"))
        shown = literal(net.ssid)
        expect(shown == "[bold]x[/]\\x1b[31m$(reboot)", shown)
        expect("\x1b" not in shown)
        return {"ssid_hex": net.ssid.encode("utf-8").hex(), "shown": shown, "security": net.security}

    async def wrong_passphrase() -> dict[str, Any]:
        started = time.monotonic()
        try:
            await wifi.connect(WPA_SSID, "definitely not it")
        except WifiError as e:
            took = round(time.monotonic() - started, 2)
            expect(e.kind == WifiErrorKind.WRONG_PASSPHRASE, (e.kind, e.message))
            st = await wifi.status()
            expect(st.device is not None and device(st).state != "connected", st.device)
            expect(not st.known_networks, st.known_networks)
            return {"kind": str(e.kind), "message": e.message, "connect_seconds": took}
        raise AssertionError("a wrong passphrase connected")

    async def connect() -> dict[str, Any]:
        started = time.monotonic()
        st = await wifi.connect(WPA_SSID, PASSPHRASE)
        took = round(time.monotonic() - started, 2)
        expect(st.connected is not None and connected(st).ssid == WPA_SSID, st)
        expect(st.device is not None and device(st).state == "connected", st.device)
        expect([k.ssid for k in st.known_networks] == [WPA_SSID], st.known_networks)
        report.timings["client_connect_first"] = took
        return {"connect_seconds": took, "state": device(st).state}

    async def forget() -> dict[str, Any]:
        st = await wifi.forget(WPA_SSID)
        expect(not st.known_networks, st.known_networks)
        deadline = time.monotonic() + 10
        while (st.device is None or device(st).state != "disconnected") and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            st = await wifi.status()
        expect(st.device is not None and device(st).state == "disconnected", st.device)
        return {"state": device(st).state}

    async def open_hostile_network() -> dict[str, Any]:
        st = await wifi.connect(network(await wifi.status(), hostile))
        expect(st.connected is not None and connected(st).ssid.encode("utf-8") == HOSTILE_SSID_BYTES)
        await wifi.forget(hostile)
        return {"connected_shown": literal(connected(st).ssid)}

    async def hidden_network() -> dict[str, Any]:
        st = await wifi.connect_hidden(HIDDEN_SSID, PASSPHRASE)
        expect(st.connected is not None and connected(st).ssid == HIDDEN_SSID, st)
        hidden = [(k.ssid, k.hidden) for k in st.known_networks]
        await wifi.forget(HIDDEN_SSID)
        return {"known": hidden}

    await report.check("scan", scan)
    await report.check("hostile_ssid_listed_literally", hostile_ssid_is_literal)
    await report.check("wrong_passphrase_says_so", wrong_passphrase)
    await report.check("connect_with_passphrase", connect)
    await report.check("forget", forget)
    await report.check("open_network_with_hostile_name", open_hostile_network)
    await report.check("hidden_network_by_name", hidden_network)
    if args.bench:
        await report.check("bench", lambda: bench(wifi, args.bench, report))
    await wifi.close()
    args.out.write_text(report.to_json())
    return 0 if all(c["pass"] for c in report.checks.values()) else 1


async def bench(wifi: IwdClient, rounds: int, report: Report) -> dict[str, Any]:
    """Connect time to the WPA2 network from 'disconnected, not known' (a full handshake with the
    passphrase each time): this client (an open client, and a fresh one) vs iwctl."""
    await forget_all(wifi)
    results: dict[str, list[float]] = {"client": [], "client_fresh": [], "iwctl": []}
    for _ in range(rounds):
        for how, runs in results.items():
            await scan_until(wifi, {WPA_SSID})
            started = time.monotonic()
            if how == "client":
                await wifi.connect(WPA_SSID, PASSPHRASE)
            elif how == "client_fresh":
                async with IwdClient() as fresh:
                    await fresh.connect(WPA_SSID, PASSPHRASE)
            else:
                # A throwaway passphrase of the test network: iwctl only takes it in argv.
                done = await asyncio.to_thread(
                    subprocess.run,
                    ["iwctl", "--passphrase", PASSPHRASE, "station", "wlan0", "connect", WPA_SSID],
                    capture_output=True,
                    check=False,
                )
                expect(done.returncode == 0, done.stdout + done.stderr)
            took = time.monotonic() - started
            st = await wifi.status()
            expect(st.connected is not None and connected(st).ssid == WPA_SSID, (how, st))
            runs.append(round(took, 3))
            await forget_all(wifi)
    summary = {how: {"median_s": statistics.median(v), "runs_s": v} for how, v in results.items()}
    report.bench = summary
    return summary


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
