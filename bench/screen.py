"""The console screen's costs, next to the baseline that polls `ip -j addr` every 2 s and reprints.

Run as root from the checkout:
.venv/bin/python bench/screen.py [--runs 7] [--idle-seconds 60] [--settle-seconds 40] [--startup-only]

- exec to first frame with the QR code: `installer-env demo` on a pty (100x37, TERM=linux) until
  the first half-block glyph arrives; median of several runs; a later login of the boot (the
  password is made already), and a boot's first login (a new state dir: the password made first)
- RSS after start-up, from /proc
- idle CPU: user+system time over --idle-seconds of nothing happening, from --settle-seconds after
  the first frame (the first half-minute still does start-up work once: the first full look at
  sshd after 30 s, and the screen's first writes to memory it shared with the first snapshot's
  forked child, each a page fault), as % of one core; for the
  screen from /proc/<pid>/task/*/schedstat (nanoseconds on the CPU, all threads), clock ticks
  beside it (10 ms: 0.017 % of 60 s each, so +-1 tick is noise); for the baseline in clock ticks,
  which count its finished `ip` runs (schedstat cannot)
- address change to screen: in a network namespace of its own with a veth, from `ip addr add` to
  the new address in the program's output

Every figure is also given as a ratio to a reference measured in the same run, since absolute times
differ two- to three-fold between machines of one kind:
- first frame / wall time of `python -c "import textual.app"` (same venv); and the same for the
  smallest Textual app of that kind (bench/textual_floor.py): Textual's own floor; and for the
  main screen's own widgets and stylesheet with fixed content and none of the core
  (bench/textual_screen_floor.py): Textual's floor for this screen; the four interleaved, one of
  each a round, as the machine's speed drifts over a run, each round starting one later in turn
  (the first program of a round runs slower);
- exec to the password and ssh lines (written before textual is imported on TERM=linux) / first frame;
- idle RSS / peak RSS of that same `import textual.app` process;
- `installer-env status` (tor and Wi-Fi off) / a one-shot of the `ip -j addr` baseline, in wall
  time and in CPU time (user+system: less sensitive to a busy machine): answered by a session (the
  plain view runs meanwhile, as a console does on an installer), and `--collect` with none;
- idle CPU (tor and Wi-Fi off; then tor on with its own tor and Wi-Fi on) / the 2-s `ip` poll baseline.

Nothing is applied: the demo never sets a password and its state lives in a temp dir.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import resource
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
from dataclasses import dataclass, field, fields
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NETNS = f"ie-bench-{os.getpid()}"
QR_GLYPHS = ("▀".encode(), "▄".encode())
EARLY_PASSWORD = b"Looking up the addresses"  # the end of the early password (console.early_password)
EARLY_LOGINS = b"Log in with:"  # the logins of the early text (console.early_text)
TEXTUAL_STARTS = b"\x1b[?1049h"  # the first thing Textual's driver writes
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

    def schedstat(self) -> tuple[float, float]:
        """Seconds all threads of the process spent on a CPU, and runnable but waiting for one
        (from schedstat, in nanoseconds: finer than clock ticks)."""
        on_cpu = waiting = 0
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            with contextlib.suppress(OSError):
                fields = (task / "schedstat").read_text().split()
                on_cpu, waiting = on_cpu + int(fields[0]), waiting + int(fields[1])
        return on_cpu / 1e9, waiting / 1e9

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


def screen_env(tmp: Path, services: bool = False) -> dict[str, str]:
    """The demo's environment; `services`: tor (its own, offline) and Wi-Fi on, else both off."""
    (tmp / "config.json").write_text("{}")
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin",
        "HOME": str(tmp),
        "LANG": "C.UTF-8",
        "TERM": "linux",
        "INSTALLER_ENV_CONFIG": str(tmp / "config.json"),
        "INSTALLER_ENV_TOR_ENABLED": "1" if services else "0",
        "INSTALLER_ENV_WIFI_ENABLED": "1" if services else "0",
        # To measure another tree of the project with this venv (e.g. an older commit, exported).
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}),
    }


def screen_argv(tmp: Path, state: str = "state") -> list[str]:
    return [str(ROOT / ".venv/bin/installer-env"), "demo", "--state-dir", str(tmp / state)]


@dataclass
class Startup:
    """Per run, seconds from exec: the early password (TERM=linux), the early ssh logins, the first
    frame with the QR code; and the CPU time (user+system) the process had used by that frame."""

    password: list[float]
    logins: list[float]
    frame: list[float]
    frame_cpu: list[float]
    # Seconds the screen's own process (its threads, not the child) had spent on a CPU, and
    # runnable but waiting for one (what other processes took from it), by that frame (schedstat).
    frame_on_cpu: list[float] = field(default_factory=list)
    frame_wait: list[float] = field(default_factory=list)

    def add(self, other: Startup) -> None:
        for each in fields(self):
            getattr(self, each.name).extend(getattr(other, each.name))


def screen_floor_argv(tmp: Path) -> list[str]:
    """bench/textual_screen_floor.py, with a QR code of the size the demo shows drawn beforehand
    (three addresses, the short quiet zone of the code beside the text)."""
    from installer_env import qr

    code = qr.build("amber-otter-quilt-lantern", None, ["192.0.2.5", "[2001:db8::5]", "198.51.100.7"])
    lines = tmp / "qr-lines.txt"
    lines.write_text("\n".join(qr.half_block_lines(code.matrix, qr.QUIET_ZONE_SHORT)))
    return [sys.executable, str(ROOT / "bench/textual_screen_floor.py"), str(lines)]


def first_frame(argv: Sequence[str], env: dict[str, str], ready: Sequence[bytes], runs: int) -> Startup:
    result = Startup([], [], [], [])
    for _ in range(runs):
        proc = PtyProcess(argv, env)
        try:
            early: dict[bytes, float] = {}
            seconds = None
            for needle in (EARLY_PASSWORD, EARLY_LOGINS):
                seen = proc.read_until([needle, *ready], timeout=20)
                if seen is None or any(r in proc.output for r in ready):
                    seconds = seen  # no (more) early text: another TERM, an older tree
                    break
                early[needle] = seen
            else:
                seconds = proc.read_until(ready, timeout=20)
            if seconds is None:
                continue
            result.frame_cpu.append(proc.cpu_seconds())
            on_cpu, waiting = proc.schedstat()
            result.frame_on_cpu.append(on_cpu)
            result.frame_wait.append(waiting)
            result.frame.append(seconds)
            starts = proc.output.find(TEXTUAL_STARTS)
            for needle, times in ((EARLY_PASSWORD, result.password), (EARLY_LOGINS, result.logins)):
                if needle in early and proc.output.find(needle) < starts:
                    times.append(early[needle])
        finally:
            proc.close()
    return result


def idle(
    argv: Sequence[str], env: dict[str, str], ready: Sequence[bytes], seconds: float, settle: float = 3
) -> tuple[float, float, float]:
    """(RSS MiB, % of one core in clock ticks, % of one core from schedstat) of a program left alone
    for `seconds`, from `settle` seconds after it is up."""
    proc = PtyProcess(argv, env)
    try:
        proc.read_until(ready, timeout=20)
        proc.drain(settle)  # let start-up work settle
        before, on_cpu_before, start = proc.cpu_seconds(), proc.schedstat()[0], time.perf_counter()
        proc.drain(seconds)
        used, elapsed = proc.cpu_seconds() - before, time.perf_counter() - start
        on_cpu = proc.schedstat()[0] - on_cpu_before
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


@dataclass
class OneShot:
    wall: list[float]  # seconds per run
    cpu: list[float]  # user + system seconds per run (the process and its children)
    peak_rss: float  # MiB, the largest of the runs

    def add(self, other: OneShot) -> None:
        """`other`'s times as more runs of this; the peak RSS stays this one's."""
        self.wall.extend(other.wall)
        self.cpu.extend(other.cpu)

    @property
    def wall_s(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_s(self) -> float:
        return statistics.median(self.cpu)


def one_shot(argv: Sequence[str], env: dict[str, str], runs: int) -> OneShot:
    """Wall and CPU times of a command run to its end, and the largest peak RSS of those runs.
    CPU time is less sensitive to a busy machine than wall time."""
    result = OneShot([], [], 0.0)
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        result.wall.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        result.cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        # The largest of all children so far, and it may include a child's RSS from before exec.
        result.peak_rss = max(result.peak_rss, after.ru_maxrss / 1024)
    return result


def import_peak_rss(module: str, env: dict[str, str]) -> float:
    """Peak RSS (MiB) of a process that imports `module`, from its own VmHWM: the rusage of
    children can carry the RSS the process had before exec."""
    code = f"import {module}\nprint(open('/proc/self/status').read())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    line = next(x for x in out.stdout.splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


@contextlib.contextmanager
def answering_session(tmp: Path, env: dict[str, str]) -> Iterator[None]:
    """The plain view on the demo's state dir, up until it answers `status` (see statussocket)."""
    argv = [str(ROOT / ".venv/bin/installer-env"), "demo", "--plain", "--state-dir", str(tmp / "state")]
    session = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        try:
            from installer_env import statussocket
        except ImportError:  # an older tree, which has no session to ask
            time.sleep(3)
        else:
            deadline = time.monotonic() + 20
            while statussocket.ask(str(tmp / "state"), True, env) is None:
                if session.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the plain view never answered")
                time.sleep(0.2)
        yield
    finally:
        session.terminate()
        session.wait()


def row(name: str, value: float, reference: float, unit: str) -> tuple[str, str, str]:
    """A table row: what, the two absolute figures, and their ratio."""
    return name, f"{value:.3f} {unit} / {reference:.3f} {unit}", ratio(value, reference)


def median_of(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ratio(value: float, reference: float) -> str:
    return f"{value / reference:.2f}x" if reference > 0 else "n/a"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--idle-seconds", type=float, default=60)
    parser.add_argument("--settle-seconds", type=float, default=40, help="from the first frame to idle")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--startup-only", action="store_true", help="only the references, status, early text and first frame"
    )
    args = parser.parse_args()
    if shutil.which("ip") is None:
        print("needs iproute2 (ip)", file=sys.stderr)
        return 2
    baseline = [sys.executable, str(ROOT / "bench/ip_poll_baseline.py")]
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="installer-env-bench-") as tmp_name:
        tmp = Path(tmp_name)
        env = screen_env(tmp)
        textual_peak_rss = import_peak_rss("textual.app", env)  # its own VmHWM
        ip = one_shot([*baseline, "--once"], env, args.runs)
        status_argv = [str(ROOT / ".venv/bin/installer-env"), "status", "--state-dir", str(tmp / "state")]
        # No session to ask; an older tree has no --collect (its status always collects).
        collect_flag = (
            ["--collect"]
            if subprocess.run(
                [*status_argv, "--collect"], env=env, capture_output=True, check=False
            ).returncode
            == 0
            else []
        )
        collected = one_shot([*status_argv, *collect_flag], env, args.runs)
        with answering_session(tmp, env):  # as on an installer: a console runs the screen or plain view
            status = one_shot(status_argv, env, args.runs)
        # The session made this boot's password: every first frame below is a later login's, which
        # shows it. `import textual.app`, that first frame, a first login's (a state dir of its own
        # each time: the password made first) and Textual's two floors, one of each a round: the
        # machine's speed drifts over a run (by a third within minutes here), and a ratio of
        # medians taken apart drifts with it. Each round starts one later in that order: a program
        # run first in a round took 8-13 ms longer here than the same program run second.
        textual = OneShot([], [], textual_peak_rss)
        startup, first_login, floor, screen_floor = (Startup([], [], [], []) for _ in range(4))
        floor_argv = [sys.executable, str(ROOT / "bench/textual_floor.py")]
        screen_floor_run = screen_floor_argv(tmp)
        for run in range(args.runs):
            measures: list[tuple[OneShot | Startup, list[str]]] = [
                (textual, [sys.executable, "-c", "import textual.app"]),
                (startup, screen_argv(tmp)),
                (first_login, screen_argv(tmp, f"first-login-{run}")),
                (floor, floor_argv),
                (screen_floor, screen_floor_run),
            ]
            turn = run % len(measures)
            for into, argv in measures[turn:] + measures[:turn]:
                if isinstance(into, OneShot):
                    into.add(one_shot(argv, env, 1))
                else:
                    into.add(first_frame(argv, env, QR_GLYPHS, 1))
        print(
            f"reference `import textual.app`: {summary(textual.wall, 's')}, CPU {textual.cpu_s:.3f} s,"
            f" peak RSS {textual.peak_rss:.1f} MiB"
        )
        print(f"reference one-shot `ip -j addr` script: {summary(ip.wall, 's')}, CPU {ip.cpu_s:.3f} s")
        frames = startup.frame
        frame_s = statistics.median(frames) if frames else float("nan")
        frame_cpu = statistics.median(startup.frame_cpu) if frames else float("nan")
        password_s = statistics.median(startup.password) if startup.password else float("nan")
        logins_s = statistics.median(startup.logins) if startup.logins else float("nan")
        floor_s = statistics.median(floor.frame) if floor.frame else float("nan")
        floor_cpu = statistics.median(floor.frame_cpu) if floor.frame else float("nan")
        screen_floor_s = statistics.median(screen_floor.frame) if screen_floor.frame else float("nan")
        screen_floor_cpu = statistics.median(screen_floor.frame_cpu) if screen_floor.frame else float("nan")
        rows = [
            row("exec to first frame with the QR code / import textual.app", frame_s, textual.wall_s, "s"),
            row(
                "the same, a boot's first login (the password made first)",
                statistics.median(first_login.frame) if first_login.frame else float("nan"),
                textual.wall_s,
                "s",
            ),
            row(
                "Textual's floor: the smallest such app's first frame / import textual.app",
                floor_s,
                textual.wall_s,
                "s",
            ),
            row(
                "Textual's floor for this screen: its widgets and stylesheet, fixed content, no core",
                screen_floor_s,
                textual.wall_s,
                "s",
            ),
            row("the same in CPU time (user+system, by the first frame)", frame_cpu, textual.cpu_s, "s"),
            (
                "the screen's process waiting for a CPU by its first frame (schedstat) / the frame",
                f"{median_of(startup.frame_wait) * 1000:.1f} ms / {frame_s:.3f} s",
                f"{median_of(startup.frame_wait) / frame_s:.1%}",
            ),
            (
                "the same for Textual's floor for this screen",
                f"{median_of(screen_floor.frame_wait) * 1000:.1f} ms / {screen_floor_s:.3f} s",
                f"{median_of(screen_floor.frame_wait) / screen_floor_s:.1%}",
            ),
            row("Textual's floor in CPU time", floor_cpu, textual.cpu_s, "s"),
            row("Textual's floor for this screen in CPU time", screen_floor_cpu, textual.cpu_s, "s"),
            row("exec to the password on the console (TERM=linux) / first frame", password_s, frame_s, "s"),
            row("exec to the ssh lines on the console (TERM=linux) / first frame", logins_s, frame_s, "s"),
            row(
                "`installer-env status` (tor, Wi-Fi off), a console's session answers / one-shot ip -j addr",
                status.wall_s,
                ip.wall_s,
                "s",
            ),
            row(
                "the same in CPU time (user+system; the session's share not counted)",
                status.cpu_s,
                ip.cpu_s,
                "s",
            ),
            row(
                "`installer-env status --collect` (no session: looks everything up) / one-shot ip -j addr",
                collected.wall_s,
                ip.wall_s,
                "s",
            ),
            row("the same in CPU time", collected.cpu_s, ip.cpu_s, "s"),
        ]
        if not args.startup_only:
            settle = args.settle_seconds
            rss, cpu, on_cpu = idle(screen_argv(tmp), env, QR_GLYPHS, args.idle_seconds, settle)
            floor_rss, _, _ = idle(floor_argv, env, QR_GLYPHS, 1)
            base_rss, base_cpu, _ = idle(baseline, env, [b"ssh root@"], args.idle_seconds, settle)
            _, cpu_services, on_cpu_services = idle(
                screen_argv(tmp), screen_env(tmp, services=True), QR_GLYPHS, args.idle_seconds, settle
            )
            rows[2:2] = [
                (
                    "RSS of the idle screen / peak RSS of import textual.app",
                    f"{rss:.1f} / {textual.peak_rss:.1f} MiB",
                    ratio(rss, textual.peak_rss),
                ),
                (
                    "Textual's floor: the smallest such app's RSS / peak RSS of import textual.app",
                    f"{floor_rss:.1f} / {textual.peak_rss:.1f} MiB",
                    ratio(floor_rss, textual.peak_rss),
                ),
            ]
            # The screen's idle CPU from schedstat (nanoseconds: a handful of sshd checks is a few
            # clock ticks); the baseline's from clock ticks, which also count its finished `ip` runs.
            rows += [
                (
                    "idle CPU (tor, Wi-Fi off) / 2-s ip poll",
                    f"{on_cpu:.3f} % (ticks: {cpu:.3f} %) / {base_cpu:.3f} %",
                    ratio(on_cpu, base_cpu),
                ),
                (
                    "idle CPU (own tor, Wi-Fi on) / 2-s ip poll",
                    f"{on_cpu_services:.3f} % (ticks: {cpu_services:.3f} %) / {base_cpu:.3f} %",
                    ratio(on_cpu_services, base_cpu),
                ),
            ]
        print()
        print("| measure | absolute | ratio |")
        print("| --- | --- | --- |")
        for name, absolute, value in rows:
            print(f"| {name} | {absolute} | {value} |")
        print()
        print(f"first frame: {summary(frames, 's')}; a first login: {summary(first_login.frame, 's')}")
        print(f"password: {summary(startup.password, 's')}; ssh lines: {summary(startup.logins, 's')}")
        print(f"status: answered {summary(status.wall, 's')}; collected {summary(collected.wall, 's')}")
        if not args.startup_only:
            print(f"RSS: screen {rss:.1f} MiB; baseline {base_rss:.1f} MiB")
            print(
                f"idle CPU over {args.idle_seconds:g} s from {settle:g} s after the first frame:"
                f" screen {cpu:.3f} % of a core ({on_cpu:.3f} % from schedstat);"
                f" with tor and Wi-Fi {cpu_services:.3f} % ({on_cpu_services:.3f} %);"
                f" baseline {base_cpu:.3f} %"
            )
        if args.startup_only:
            print("address change: skipped (--startup-only)")
        elif os.geteuid() == 0:
            change = address_change(screen_argv(tmp), env, QR_GLYPHS, args.runs)
            base_change = address_change(baseline, env, [b"ssh root@"], args.runs)
            print(f"address change to screen: screen {summary(change, 's')}")
            print(f"                          baseline {summary(base_change, 's')}")
        else:
            print("address change: skipped (needs root for a network namespace)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
