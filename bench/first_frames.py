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

from screen import QR_GLYPHS, Startup, first_frame, screen_argv, screen_env, screen_floor_argv


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--first-login", action="store_true")
    parser.add_argument("trees", nargs="+", metavar="label=path")
    args = parser.parse_args()
    trees = [tuple(tree.split("=", 1)) for tree in args.trees]
    if any(len(tree) != 2 for tree in trees):
        parser.error("each tree is label=path")
    if any(label == "floor" for label, _ in trees):
        parser.error("'floor' names Textual's floor for the screen: label the tree otherwise")
    with tempfile.TemporaryDirectory(prefix="installer-env-bench-") as tmp_name:
        tmp = Path(tmp_name)
        base = screen_env(tmp)
        envs = {
            label: base if path == "." else {**base, "PYTHONPATH": str(Path(path).resolve())}
            for label, path in trees
        }
        for label, _ in trees:  # each tree's boot password made, its bytecode written
            first_frame(screen_argv(tmp, f"state-{label}"), envs[label], QR_GLYPHS, 1)
        floor_argv = screen_floor_argv(tmp)
        results = {label: Startup([], [], [], []) for label in [*(label for label, _ in trees), "floor"]}
        jobs = list(results)
        for run in range(args.runs):
            turn = run % len(jobs)
            for label in jobs[turn:] + jobs[:turn]:
                state = f"first-{label}-{run}" if args.first_login else f"state-{label}"
                argv = floor_argv if label == "floor" else screen_argv(tmp, state)
                env = base if label == "floor" else envs[label]
                results[label].add(first_frame(argv, env, QR_GLYPHS, 1))
    print(f"{args.runs} rounds; medians: wall from exec, the screen's process on a CPU and waiting for one")
    print("| tree | first frame | on a CPU | waiting for a CPU | runs |")
    print("| --- | --- | --- | --- | --- |")
    for label, result in results.items():
        if not result.frame:
            print(f"| {label} | no result | | | 0 |")
            continue
        measured = (result.frame, result.frame_on_cpu, result.frame_wait)
        wall, on_cpu, waiting = (statistics.median(values) * 1000 for values in measured)
        print(f"| {label} | {wall:.1f} ms | {on_cpu:.1f} ms | {waiting:.1f} ms | {len(result.frame)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
