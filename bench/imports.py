"""What the library imports cost, whole and as the project imports them (installer_env.leanimport).

Run from the checkout: .venv/bin/python bench/imports.py [--runs 9]

Each variant runs in fresh interpreters that have already imported what every variant needs anyway
(asyncio, json, logging, ...), so the figures are the variant's own: CPU time (user+system, less
sensitive to a busy machine than wall time), RSS growth, and modules loaded; medians of the runs.
The same steps, module by module: `python -X importtime -c "<the variant's code>"`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

COMMON = "import asyncio, concurrent.futures, json, logging, socket, struct, subprocess, threading"

VARIANTS = {
    "pyroute2: import pyroute2 (the package __init__)": ("import pyroute2", "pyroute2"),
    "pyroute2: the submodules used, through leanimport": (
        "from installer_env.leanimport import lean_import\n"
        "for m in ('pyroute2.iproute.linux', 'pyroute2.netlink.rtnl.iprsocket', 'pyroute2.netlink.rtnl',"
        " 'pyroute2.netlink', 'pyroute2.netns', 'pyroute2.netlink.diag'):\n"
        "    lean_import(m)",
        "pyroute2",
    ),
    "qrcode: import qrcode (pulls in Pillow where installed)": ("import qrcode", "qrcode"),
    "qrcode: qrcode.main through leanimport": (
        "from installer_env.leanimport import lean_import\nlean_import('qrcode.main')",
        "qrcode",
    ),
    "textual: import textual.app": ("import textual.app", "textual"),
}

PROBE = """
import resource, sys
{common}
import installer_env.leanimport
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
before_modules = set(sys.modules)
rss, start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, cpu()
{code}
used = cpu() - start
grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) / 1024
import json
new = set(sys.modules) - before_modules
print(json.dumps({{"cpu_ms": used * 1000, "rss_mib": grown,
    "modules": sum(m.split(".")[0] == {library!r} for m in new), "all_modules": len(new),
    "pil": "PIL" in sys.modules}}))
"""


def measure(code: str, library: str, runs: int) -> dict[str, float]:
    results = []
    for _ in range(runs):
        probe = PROBE.format(common=COMMON, code=code, library=library)
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout))
    return {key: statistics.median(float(r[key]) for r in results) for key in results[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    print("| import | CPU ms | RSS MiB | modules of the library | modules in all | Pillow loaded |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, (code, library) in VARIANTS.items():
        m = measure(code, library, args.runs)
        print(
            f"| {name} | {m['cpu_ms']:.0f} | {m['rss_mib']:.1f} | {m['modules']:.0f} | {m['all_modules']:.0f}"
            f" | {'yes' if m['pil'] else 'no'} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
