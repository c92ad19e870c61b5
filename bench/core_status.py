"""How long the core takes for what a console login and `status` do, and what `status --json` costs.

Run as root from the checkout: .venv/bin/python bench/core_status.py
Nothing is applied: the state lives in a temp dir and the password is only shown.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from installer_env import password, rotation, sshd
from installer_env.config import Config
from installer_env.session import collect
from installer_env.state import StateStore


def per_call_ms(action: Callable[[], object], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        action()
    return (time.perf_counter() - start) / repeat * 1000


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = Config(state_dir=Path(tmp) / "state", os_release=Path(tmp) / "no-os-release")
        store = StateStore(config.state_dir)
        rotation.rotate(config, store)
        results = {
            "password.generate(4) ms": per_call_ms(lambda: password.generate(4), 1000),
            "rotation.rotate (not applied) ms": per_call_ms(lambda: rotation.rotate(config, store), 200),
            "StateStore.read ms": per_call_ms(store.read, 1000),
            "StateStore.signature ms (on each inotify wake-up)": per_call_ms(store.signature, 1000),
            "sshd.listening_ports ms (the 5 s check)": per_call_ms(sshd.listening_ports, 1000),
            "sshd.status, port known ms (the full look)": per_call_ms(lambda: sshd.status(config, 22), 50),
            "collect() incl. sshd -T ms": per_call_ms(lambda: collect(config, store), 10),
        }
        empty = Path(tmp) / "config.json"
        empty.write_text("{}")
        env = dict(os.environ, INSTALLER_ENV_STATE_DIR=str(config.state_dir), INSTALLER_ENV_CONFIG=str(empty))
        command = [sys.executable, "-m", "installer_env", "status", "--json"]
        start = time.perf_counter()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        results["status --json process wall ms"] = (time.perf_counter() - start) * 1000
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        results["status --json process peak RSS MiB"] = peak_kib / 1024
    print(json.dumps({k: round(v, 3) for k, v in results.items()}, indent=2))


if __name__ == "__main__":
    main()
