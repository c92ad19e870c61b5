"""Run `installer-env` as a separate process, as a console login or a script would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

COMMAND = [sys.executable, "-m", "installer_env"]


def run_cli(
    env: dict[str, str], *args: str, prefix: Sequence[str] = (), timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """stdin is /dev/null and output is captured: no terminal, like cron or a serial script."""
    return subprocess.run(
        [*prefix, *COMMAND, *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        check=False,
    )


@contextmanager
def started_cli(
    env: dict[str, str],
    *args: str,
    stdin: int = subprocess.DEVNULL,
    stdout: int = subprocess.DEVNULL,
    stderr: int = subprocess.DEVNULL,
    prefix: Sequence[str] = (),
) -> Iterator[subprocess.Popen[str]]:
    """A CLI process that may stay up (a screen), in a session of its own; on leaving, what still
    runs of its process group is stopped (SIGTERM, then SIGKILL)."""
    process = subprocess.Popen(
        [*prefix, *COMMAND, *args],
        env=env,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        text=True,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def console_login_prefix(directory: Path) -> list[str]:
    """A prefix that runs a command as a console login's shell does: a program named `login`
    starts a shell, which runs the command as its child (agetty -> login(1) -> bash -> command)."""
    login = directory / "login"
    # `; exit` keeps bash from exec'ing the command in place of the shell.
    login.write_text('#!/bin/bash\nbash -c \'"$@"; exit $?\' shell "$@"\n')
    login.chmod(0o755)
    return [str(login)]
