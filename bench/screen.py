"""The console screen's costs, next to the baseline that polls `ip -j addr` every 2 s and reprints.

Run as root from the checkout: .venv/bin/python bench/screen.py [--idle-seconds 60]

- exec to first frame with the QR code: `installer-env demo` on a pty (100x37, TERM=linux) until
  the first half-block glyph arrives; median of several runs
- RSS after start-up, from /proc
- idle CPU: user+system time over --idle-seconds of nothing happening, as % of one core; in clock
  ticks (10 ms: 0.017 % of 60 s each, so +-1 tick is in the noise), and for the screen also from
  /proc/<pid>/task/*/schedstat (nanoseconds on the CPU, all threads; not the baseline's children)
- address change to screen: in a network namespace of its own with a veth, from `ip addr add` to
  the new address in the program's output

Nothing is applied: the demo never sets a password and its state lives in a temp dir.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NETNS = f"ie-bench-{os.getpid()}"
QR_GLYPHS = ("▀".encode(), "▄".encode())
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class PtyProcess:
    """A program on a pseudo-terminal of a fixed size; everything it writes is kept with timestamps."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], size: tuple[int, int] = (100, 37)) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
        )
        os.close(slave)
        self.master = master
        self.output = b""

    def read_until(self, needles: Sequence[bytes], timeout: float) -> float | None:
        """Seconds since start when any needle first appears in the output, or None on timeout."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.01)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    return None
                self.output += chunk
                if any(n in self.output for n in needles):
                    return time.perf_counter() - self.started
        return None

    def drain(self, seconds: float) -> None:
        self.read_until([b"\x00never\x00"], seconds)

    def cpu_seconds(self) -> float:
        """User + system time of the process and its finished children (the baseline's `ip` runs)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
        return (utime + stime + cutime + cstime) / CLOCK_TICKS

    def on_cpu_seconds(self) -> float:
        """Time all threads of the process spent on a CPU, in nanoseconds from schedstat."""
        total = 0
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            with contextlib.suppress(OSError):
                total += int((task / "schedstat").read_text().split()[0])
        return total / 1e9

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, 9)
        self.proc.wait()
        os.close(self.master)


def screen_env(tmp: Path) -> dict[str, str]:
    (tmp / "config.json").write_text("{}")
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin",
        "HOME": str(tmp),
        "LANG": "C.UTF-8",
        "TERM": "linux",
        "INSTALLER_ENV_CONFIG": str(tmp / "config.json"),
        "INSTALLER_ENV_TOR_ENABLED": "0",
        "INSTALLER_ENV_WIFI_ENABLED": "0",
    }


def screen_argv(tmp: Path) -> list[str]:
    return [str(ROOT / ".venv/bin/installer-env"), "demo", "--state-dir", str(tmp / "state")]


def first_frame(argv: Sequence[str], env: dict[str, str], ready: Sequence[bytes], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        proc = PtyProcess(argv, env)
        try:
            seconds = proc.read_until(ready, timeout=20)
            if seconds is not None:
                times.append(seconds)
        finally:
            proc.close()
    return times


def idle(
    argv: Sequence[str], env: dict[str, str], ready: Sequence[bytes], seconds: float
) -> tuple[float, float, float]:
    """(RSS MiB, % of one core in clock ticks, % of one core from schedstat) of a program left alone
    for `seconds` after it is up."""
    proc = PtyProcess(argv, env)
    try:
        proc.read_until(ready, timeout=20)
        proc.drain(3)  # let start-up work settle
        before, on_cpu_before, start = proc.cpu_seconds(), proc.on_cpu_seconds(), time.perf_counter()
        proc.drain(seconds)
        used, elapsed = proc.cpu_seconds() - before, time.perf_counter() - start
        on_cpu = proc.on_cpu_seconds() - on_cpu_before
        return proc.rss_mib(), used / elapsed * 100, on_cpu / elapsed * 100
    finally:
        proc.close()


@contextlib.contextmanager
def namespace() -> Iterator[list[str]]:
    """A network namespace with one veth end up in it: `ip addr add` there is a real netlink event."""
    subprocess.run(["ip", "netns", "add", NETNS], check=True)
    try:
        run = ["ip", "netns", "exec", NETNS]
        subprocess.run(["ip", "link", "add", "bench0", "type", "veth", "peer", "name", "bench1"], check=True)
        subprocess.run(["ip", "link", "set", "bench0", "netns", NETNS], check=True)
        subprocess.run(["ip", "link", "set", "bench1", "up"], check=True)  # carrier for bench0
        subprocess.run([*run, "ip", "link", "set", "bench0", "up"], check=True)
        subprocess.run([*run, "ip", "link", "set", "lo", "up"], check=True)
        yield run
    finally:
        subprocess.run(["ip", "link", "del", "bench1"], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", NETNS], capture_output=True, check=False)


def address_change(
    argv: Sequence[str], env: dict[str, str], ready: Sequence[bytes], runs: int
) -> list[float]:
    times = []
    with namespace() as run:
        proc = PtyProcess([*run, *argv], env)
        try:
            proc.read_until(ready, timeout=20)
            proc.drain(2.5)
            for i in range(runs):
                address = f"10.99.{i}.1"
                start = time.perf_counter()
                subprocess.run([*run, "ip", "addr", "add", f"{address}/24", "dev", "bench0"], check=True)
                seen = proc.read_until([address.encode()], timeout=10)
                if seen is not None:
                    times.append(seen - (start - proc.started))
                proc.drain(1 + i % 2 * 0.7)  # land at different points of the baseline's 2 s cycle
        finally:
            proc.close()
    return times


def summary(values: list[float], unit: str, scale: float = 1.0) -> str:
    if not values:
        return "no result"
    median, worst = statistics.median(values) * scale, max(values) * scale
    return f"median {median:.3f} {unit}, max {worst:.3f} {unit} ({len(values)} runs)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--idle-seconds", type=float, default=60)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    if shutil.which("ip") is None:
        print("needs iproute2 (ip)", file=sys.stderr)
        return 2
    baseline = [sys.executable, str(ROOT / "bench/ip_poll_baseline.py")]
    with tempfile.TemporaryDirectory(prefix="installer-env-bench-") as tmp_name:
        tmp = Path(tmp_name)
        env = screen_env(tmp)
        frames = first_frame(screen_argv(tmp), env, QR_GLYPHS, args.runs)
        print(f"exec to first frame with the QR code: {summary(frames, 's')}")
        rss, cpu, on_cpu = idle(screen_argv(tmp), env, QR_GLYPHS, args.idle_seconds)
        base_rss, base_cpu, _ = idle(baseline, env, [b"ssh root@"], args.idle_seconds)
        print(f"RSS: screen {rss:.1f} MiB; baseline {base_rss:.1f} MiB")
        print(
            f"idle CPU over {args.idle_seconds:g} s: screen {cpu:.3f} % of a core"
            f" ({on_cpu:.3f} % from schedstat); baseline {base_cpu:.3f} %"
        )
        if os.geteuid() == 0:
            change = address_change(screen_argv(tmp), env, QR_GLYPHS, args.runs)
            base_change = address_change(baseline, env, [b"ssh root@"], args.runs)
            print(f"address change to screen: screen {summary(change, 's')}")
            print(f"                          baseline {summary(base_change, 's')}")
        else:
            print("address change: skipped (needs root for a network namespace)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
