"""Where the console screen's start-up time and memory go, stage by stage, next to Textual's own.

Run from the checkout: .venv/bin/python bench/startup_parts.py [--runs 5]

`installer-env demo` runs on a pty (100x37, TERM=linux, tor and Wi-Fi off) as in bench/screen.py,
but started through this script, which notes the process's CPU time (user+system, all threads) and
RSS at each stage: the core imported, textual imported, the screen's modules imported, the first
snapshot collected, the app mounted, its first frame drawn (the first refresh), and 3 s later (the
sources started). Beside them, in fresh interpreters: `import textual.app` and the smallest app of
the same kind (bench/textual_floor.py): Textual's own cost, which no change here can lower.
Medians of --runs runs; the stages overlap where threads do (the snapshot is collected while the
UI thread imports textual), so each stage is "by then", not "for this".
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from screen import QR_GLYPHS, PtyProcess, first_frame, import_peak_rss, one_shot, screen_env  # noqa: E402

STAGES = (
    "core imported",
    "textual imported",
    "screen imported",
    "snapshot collected",
    "app mounted",
    "first frame",
    "sources running",
)


def _mark(marks: list[tuple[str, float, float]], name: str) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open("/proc/self/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024
    marks.append((name, usage.ru_utime + usage.ru_stime, rss))


def inside(out: str, argv: list[str]) -> None:
    """The demo itself, with a note at each stage (written to `out` when it ends)."""
    marks: list[tuple[str, float, float]] = []
    try:
        import installer_env.commands  # noqa: F401
        from installer_env import cli

        _mark(marks, "core imported")
        import textual.app  # noqa: F401

        _mark(marks, "textual imported")
        import installer_env.ui.app as ui_app
        from installer_env import console

        _mark(marks, "screen imported")
        collect = console.collect  # type: ignore[attr-defined]

        def noting_collect(*args, **kwargs):  # type: ignore[no-untyped-def]
            snapshot = collect(*args, **kwargs)
            _mark(marks, "snapshot collected")
            return snapshot

        console.collect = noting_collect  # type: ignore[attr-defined]
        on_mount = ui_app.InstallerApp.on_mount

        def noting_on_mount(self: ui_app.InstallerApp) -> None:
            on_mount(self)
            _mark(marks, "app mounted")
            self.call_after_refresh(lambda: _mark(marks, "first frame"))
            self.set_timer(3, lambda: _mark(marks, "sources running"))

        ui_app.InstallerApp.on_mount = noting_on_mount  # type: ignore[method-assign]
        sys.argv = ["installer-env", *argv]
        cli.main()
    finally:
        Path(out).write_text(json.dumps(marks))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--inside", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        inside(args.inside[0], args.inside[1:])
        return 0
    with tempfile.TemporaryDirectory(prefix="installer-env-parts-") as tmp_name:
        tmp = Path(tmp_name)
        env = screen_env(tmp)
        textual = one_shot([sys.executable, "-c", "import textual.app"], env, args.runs)
        textual_rss = import_peak_rss("textual.app", env)
        floor = first_frame([sys.executable, str(ROOT / "bench/textual_floor.py")], env, QR_GLYPHS, args.runs)
        runs: dict[str, list[tuple[float, float]]] = {stage: [] for stage in STAGES}
        out = tmp / "marks.json"
        for _ in range(args.runs):
            argv = [sys.executable, __file__, "--inside", str(out), "demo", "--state-dir", str(tmp / "state")]
            proc = PtyProcess(argv, env)
            try:
                proc.read_until(QR_GLYPHS, 20)
                proc.drain(4)
                proc.proc.send_signal(signal.SIGTERM)  # the screen leaves as `x` does: the notes get written
                deadline = time.monotonic() + 10
                while proc.proc.poll() is None and time.monotonic() < deadline:
                    proc.drain(0.1)
            finally:
                proc.close()
            deadline = time.monotonic() + 5
            while not out.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            for name, cpu, rss in json.loads(out.read_text()):
                runs[name].append((cpu, rss))
            out.unlink()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
    print(f"import textual.app: CPU {textual.cpu_s:.3f} s, peak RSS {textual_rss:.1f} MiB (the reference)")
    floor_cpu = statistics.median(floor.frame_cpu)
    ratio = floor_cpu / textual.cpu_s
    print(f"Textual's floor (smallest such app), first frame: CPU {floor_cpu:.3f} s ({ratio:.2f}x)")
    print()
    print("| stage (by then) | CPU s | / import textual.app | RSS MiB | / its peak RSS |")
    print("| --- | --- | --- | --- | --- |")
    for stage in STAGES:
        if not runs[stage]:
            continue
        cpu = statistics.median(c for c, _ in runs[stage])
        rss = statistics.median(r for _, r in runs[stage])
        print(f"| {stage} | {cpu:.3f} | {cpu / textual.cpu_s:.2f}x | {rss:.1f} | {rss / textual_rss:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
