"""Where the console screen's start-up time and memory go, stage by stage, next to Textual's own.

Run from the checkout: .venv/bin/python bench/startup_parts.py [--runs 5]

`installer-env demo` runs on a pty (100x37, TERM=linux, tor and Wi-Fi off) as in bench/screen.py,
but started through this script, which notes the process's wall time since exec, its CPU time
(user+system, all threads, and the first snapshot's child once it has answered) and its RSS at
each stage: the core imported (where the child starts), the child's answer (the first look: the
snapshot worded, its QR codes made), textual and the screen imported (the app starts), the app
mounted, its first frame drawn (Textual's Ready), and 3 s later (the session made and the
sources started). Beside them, in fresh interpreters: `import textual.app` and the
smallest app of the same kind (bench/textual_floor.py): Textual's own cost, which no change here
can lower. Medians of --runs runs; the child's snapshot overlaps the imports, so each stage is
"by then", not "for this".
"""

from __future__ import annotations

import argparse
import builtins
import json
import os
import resource
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from screen import QR_GLYPHS, PtyProcess, first_frame, import_peak_rss, one_shot, screen_env  # noqa: E402

STAGES = (
    "core imported",
    "the child's first look received",
    "textual and the screen imported",
    "app mounted",
    "first frame",
    "sources running",
)

Mark = tuple[str, float, float, float]  # stage, wall s since exec, CPU s, RSS MiB


def _since_exec() -> float:
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: start time, ticks since boot
    return time.clock_gettime(time.CLOCK_BOOTTIME) - started


def _mark(marks: list[Mark], name: str) -> None:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the snapshot's child, once reaped
    cpu = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    with open("/proc/self/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024
    marks.append((name, _since_exec(), cpu, rss))


def inside(out: str, argv: list[str]) -> None:
    """The demo itself, with a note at each stage (written to `out` when it ends)."""
    marks: list[Mark] = []
    try:
        import installer_env.commands  # noqa: F401
        from installer_env import cli, console

        _mark(marks, "core imported")
        in_child = console.in_child

        def noting_in_child(work):  # type: ignore[no-untyped-def]
            result = in_child(work)

            def noting_result():  # type: ignore[no-untyped-def]
                snapshot = result()
                _mark(marks, "the child's first look received")
                return snapshot

            return noting_result

        console.in_child = noting_in_child
        # The app's module loads where `console` imports it, after the fork: it is noted there.
        real_import = builtins.__import__

        def noting_import(name, *args, **kwargs):  # type: ignore[no-untyped-def]
            module = real_import(name, *args, **kwargs)
            if name == "installer_env.ui.app":
                builtins.__import__ = real_import
                _note_the_app(sys.modules[name], marks)
            return module

        builtins.__import__ = noting_import
        sys.argv = ["installer-env", *argv]
        cli.main()
    finally:
        Path(out).write_text(json.dumps(marks))


def _note_the_app(ui_app: Any, marks: list[Mark]) -> None:
    run = ui_app.InstallerApp.run

    def noting_run(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        _mark(marks, "textual and the screen imported")
        return run(self, *args, **kwargs)

    on_mount = ui_app.InstallerApp.on_mount

    def noting_on_mount(self):  # type: ignore[no-untyped-def]
        on_mount(self)
        _mark(marks, "app mounted")
        self.set_timer(3, lambda: _mark(marks, "sources running"))

    on_ready = ui_app.InstallerApp.on_ready

    def noting_on_ready(self):  # type: ignore[no-untyped-def]
        _mark(marks, "first frame")  # Textual's Ready: the first frame is out; the session comes next
        on_ready(self)

    ui_app.InstallerApp.run = noting_run
    ui_app.InstallerApp.on_mount = noting_on_mount
    ui_app.InstallerApp.on_ready = noting_on_ready


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
        runs: dict[str, list[tuple[float, float, float]]] = {stage: [] for stage in STAGES}
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
            for name, wall, cpu, rss in json.loads(out.read_text()):
                runs[name].append((wall, cpu, rss))
            out.unlink()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
    print(
        f"import textual.app: wall {textual.wall_s:.3f} s, CPU {textual.cpu_s:.3f} s,"
        f" peak RSS {textual_rss:.1f} MiB (the reference)"
    )
    floor_wall, floor_cpu = statistics.median(floor.frame), statistics.median(floor.frame_cpu)
    print(
        f"Textual's floor (smallest such app), first frame: wall {floor_wall:.3f} s"
        f" ({floor_wall / textual.wall_s:.2f}x), CPU {floor_cpu:.3f} s ({floor_cpu / textual.cpu_s:.2f}x)"
    )
    print()
    ratio = "/ import textual.app"
    print(f"| stage (by then) | wall s | {ratio} | CPU s | {ratio} | RSS MiB | / its peak RSS |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for stage in STAGES:
        if not runs[stage]:
            continue
        wall, cpu, rss = (statistics.median(run[i] for run in runs[stage]) for i in range(3))
        print(
            f"| {stage} | {wall:.3f} | {wall / textual.wall_s:.2f}x | {cpu:.3f} | {cpu / textual.cpu_s:.2f}x"
            f" | {rss:.1f} | {rss / textual_rss:.2f}x |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
