"""Runs inside the VT guest (tests/vm/run-vt-vm.sh) as the host's hands: it starts the screen on
tty1, runs `installer-env status --json`, dumps what the VT holds, loads the framebuffer driver.

The host writes numbered JSON requests into OUT/cmd/ and reads the answers from OUT/reply/ (both
over the writable 9p share); keys and screenshots go through QEMU's monitor instead, as a person
at the console would make them.
"""

from __future__ import annotations

import argparse
import array
import base64
import fcntl
import json
import os
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

TTY = "/dev/tty1"
GIO_UNIMAP = 0x4B66
T0 = time.monotonic()


def say(*parts: object) -> None:
    print(f"[guest-agent {time.monotonic() - T0:6.2f}s]", *parts, flush=True)


def vt_size() -> tuple[int, int]:
    header = Path("/dev/vcsa1").read_bytes()[:4]
    return header[1], header[0]  # columns, rows


def unimap() -> list[tuple[int, int]]:
    """The console font's (unicode, glyph position) pairs: which characters the VT can show."""
    with open(TTY, "rb") as tty:
        count = 4096
        while True:
            entries = array.array("H", [0] * (2 * count))
            address, _ = entries.buffer_info()
            # struct unimapdesc { unsigned short entry_ct; struct unipair *entries; }
            buf = bytearray(count.to_bytes(2, "little") + bytes(6) + address.to_bytes(8, "little"))
            try:
                fcntl.ioctl(tty, GIO_UNIMAP, buf)
            except OSError:
                count *= 2
                if count > 65536:
                    raise
                continue
            got = int.from_bytes(buf[:2], "little")
            return [(entries[2 * i], entries[2 * i + 1]) for i in range(got)]


class Agent:
    def __init__(self, out: Path, python: str, repo: Path) -> None:
        self.out = out
        self.python = python
        self.repo = repo
        self.screen: subprocess.Popen[bytes] | None = None
        self.env = dict(os.environ, TERM="linux", INSTALLER_ENV_FORCE_APPLY="1")

    def op_status(self, _: dict[str, Any]) -> dict[str, Any]:
        run = subprocess.run(
            [self.python, "-m", "installer_env", "status", "--json"],
            capture_output=True,
            check=True,
            env=self.env,
            timeout=120,
        )
        return {"status": json.loads(run.stdout)}

    def op_rotate(self, _: dict[str, Any]) -> dict[str, Any]:
        subprocess.run(
            [self.python, "-m", "installer_env", "rotate-password"],
            check=True,
            env=self.env,
            timeout=120,
            stdout=subprocess.DEVNULL,
        )
        return {}

    def op_kill(self, _: dict[str, Any]) -> dict[str, Any]:
        if self.screen is not None and self.screen.poll() is None:
            self.screen.kill()
            self.screen.wait(timeout=30)
        return {}

    def op_launch(self, request: dict[str, Any]) -> dict[str, Any]:
        self.op_kill(request)
        log = self.out / request["log"]
        tty = os.open(TTY, os.O_RDWR)
        try:
            # A session of its own with tty1 as its controlling terminal, as a console login has.
            self.screen = subprocess.Popen(
                [self.python, str(self.repo / "tests/vm/vt_screen.py"), str(log), "screen"],
                stdin=tty,
                stdout=tty,
                stderr=tty,
                env=self.env,
                cwd="/root",
                start_new_session=True,
                preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 1),  # noqa: PLW1509
            )
        finally:
            os.close(tty)
        return {"pid": self.screen.pid}

    def op_wait_exit(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.screen is not None, "no screen was launched"
        try:
            code = self.screen.wait(timeout=request.get("timeout", 60))
        except subprocess.TimeoutExpired:
            return {"exited": False}
        return {"exited": True, "code": code}

    def op_dump(self, _: dict[str, Any]) -> dict[str, Any]:
        vcsa = Path("/dev/vcsa1").read_bytes()
        vcsu = Path("/dev/vcsu1").read_bytes()
        return {"vcsa": base64.b64encode(vcsa).decode(), "vcsu": base64.b64encode(vcsu).decode()}

    def op_unimap(self, _: dict[str, Any]) -> dict[str, Any]:
        return {"unimap": unimap()}

    def op_framebuffer(self, request: dict[str, Any]) -> dict[str, Any]:
        subprocess.run(["modprobe", request["driver"]], check=True, timeout=120)
        deadline = time.monotonic() + 60
        while vt_size() != tuple(request["size"]):
            if time.monotonic() > deadline:
                raise RuntimeError(f"tty1 stayed {vt_size()} after modprobe {request['driver']}")
            time.sleep(0.2)
        Path("/dev/vcsu1").read_bytes()  # the VT keeps the characters written from now on
        return {}

    def serve(self) -> None:
        cmd, reply = self.out / "cmd", self.out / "reply"
        Path("/dev/vcsu1").read_bytes()  # the VT keeps the characters written from now on
        columns, rows = vt_size()
        ready = self.out / ".agent-ready.tmp"  # renamed: the host never reads half a file
        ready.write_text(json.dumps({"columns": columns, "rows": rows}))
        ready.rename(self.out / "agent-ready")
        say(f"ready, tty1 is {columns}x{rows}")
        seq = 0
        while True:
            request_file = cmd / f"{seq}.json"
            if not request_file.exists():
                time.sleep(0.05)
                continue
            request = json.loads(request_file.read_text())
            op = request["op"]
            if op == "stop":
                return
            try:
                answer = {"ok": True, **getattr(self, f"op_{op}")(request)}
            except Exception as e:
                answer = {"ok": False, "error": f"{type(e).__name__}: {e}"}
            if op != "dump" or not answer["ok"]:
                say(op, "ok" if answer["ok"] else answer["error"])
            tmp = reply / f".{seq}.tmp"
            tmp.write_text(json.dumps(answer))
            tmp.rename(reply / f"{seq}.json")
            seq += 1


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--repo", type=Path, required=True)
    args = parser.parse_args()
    (args.out / "cmd").mkdir(exist_ok=True)
    (args.out / "reply").mkdir(exist_ok=True)
    Agent(args.out, sys.executable, args.repo).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
