"""The screen's first frame for several trees of the project side by side, with Textual's floor for
the screen: wall time from exec to the QR code on the pty, and the screen's own process's time on a
CPU and waiting for one by then (schedstat, its threads, not the first snapshot's child).

Run from the checkout: .venv/bin/python bench/first_frames.py [--runs 30] [--first-login] TREE...

TREE is `label=path`, path a directory holding an `installer_env` (for an older commit: `git
archive <commit> installer_env | tar -x -C <path>`), or `label=.` for the checkout. Each round
runs every tree once and the floor once, each round starting one later in that order: a program
run first in a round took 8-13 ms longer here than the same program run second. Every first frame
is a later login of the boot (the password made before), or with --first-login a boot's first.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from screen import QR_GLYPHS, PtyProcess, screen_argv, screen_env, screen_floor_argv


def first_frame(argv: list[str], env: dict[str, str]) -> tuple[float, float, float] | None:
    """(wall ms from exec to the QR code, ms on a CPU, ms waiting for one), None on a timeout."""
    proc = PtyProcess(argv, env)
    try:
        seconds = proc.read_until(QR_GLYPHS, timeout=20)
        if seconds is None:
            return None
        on_cpu, waiting = proc.schedstat()
        return seconds * 1000, on_cpu * 1000, waiting * 1000
    finally:
        proc.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--first-login", action="store_true")
    parser.add_argument("trees", nargs="+", metavar="label=path")
    args = parser.parse_args()
    trees = [tuple(tree.split("=", 1)) for tree in args.trees]
    if any(len(tree) != 2 for tree in trees):
        parser.error("each tree is label=path")
    with tempfile.TemporaryDirectory(prefix="installer-env-bench-") as tmp_name:
        tmp = Path(tmp_name)
        base = screen_env(tmp)
        envs = {
            label: base if path == "." else {**base, "PYTHONPATH": str(Path(path).resolve())}
            for label, path in trees
        }
        for label, _ in trees:  # each tree's boot password made, its bytecode written
            first_frame(screen_argv(tmp, f"state-{label}"), envs[label])
        floor_argv = screen_floor_argv(tmp)
        results: dict[str, list[tuple[float, float, float]]] = {label: [] for label, _ in trees}
        results["floor"] = []
        jobs = [label for label, _ in trees] + ["floor"]
        for run in range(args.runs):
            turn = run % len(jobs)
            for label in jobs[turn:] + jobs[:turn]:
                state = f"first-{label}-{run}" if args.first_login else f"state-{label}"
                argv = floor_argv if label == "floor" else screen_argv(tmp, state)
                result = first_frame(argv, base if label == "floor" else envs[label])
                if result is not None:
                    results[label].append(result)
    print(f"{args.runs} rounds; medians: wall from exec, the screen's process on a CPU and waiting for one")
    print("| tree | first frame | on a CPU | waiting for a CPU | runs |")
    print("| --- | --- | --- | --- | --- |")
    for label, rows in results.items():
        if not rows:
            print(f"| {label} | no result | | | 0 |")
            continue
        wall, on_cpu, waiting = (statistics.median(r[i] for r in rows) for i in range(3))
        print(f"| {label} | {wall:.1f} ms | {on_cpu:.1f} ms | {waiting:.1f} ms | {len(rows)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
