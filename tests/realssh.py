"""A real sshd on a loopback port and throwaway users, for tests that log in with a password.

Nothing here touches the host's sshd or existing accounts: the server has its own config, host key,
pid file and port on 127.0.0.1 and only lets in users named `ie-test-*`, which the tests create and
delete themselves.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = "/usr/sbin/sshd"
USER_PREFIX = "ie-test-"
CLIENT_OPTIONS = [
    f"-o{option}"
    for option in (
        "StrictHostKeyChecking=no",
        "UserKnownHostsFile=/dev/null",
        "PubkeyAuthentication=no",
        "PreferredAuthentications=password,keyboard-interactive",
        "NumberOfPasswordPrompts=1",
        "ConnectTimeout=10",
        "LogLevel=ERROR",
    )
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class ThrowawayUser:
    name: str

    def shadow_hash(self) -> str:
        for line in Path("/etc/shadow").read_text(encoding="utf-8").splitlines():
            fields = line.split(":")
            if fields[0] == self.name:
                return fields[1]
        raise LookupError(f"{self.name} is not in /etc/shadow")


def create_user() -> ThrowawayUser:
    name = USER_PREFIX + secrets.token_hex(4)
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", name], check=True)
    return ThrowawayUser(name)


def delete_user(user: ThrowawayUser) -> None:
    # -f: also when a test left a process of the user behind; the mail spool may not exist.
    subprocess.run(["userdel", "--remove", "--force", user.name], check=False, capture_output=True)


class SshServer:
    """`sshd -D -e` with password authentication on a free 127.0.0.1 port."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.host_key = workdir / "ssh_host_ed25519_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.host_key)], check=True)
        # sshd refuses to start without its privilege separation directory; a host without a
        # running sshd may lack it. Creating an empty dir changes nothing else on the host.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.config = workdir / "sshd_config"
        self.log = workdir / "sshd.log"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    def write_config(self, port: int) -> None:
        self.config.write_text(
            f"Port {port}\n"
            "ListenAddress 127.0.0.1\n"
            f"HostKey {self.host_key}\n"
            f"PidFile {self.workdir / 'sshd.pid'}\n"
            "PasswordAuthentication yes\n"
            "KbdInteractiveAuthentication no\n"
            "PubkeyAuthentication no\n"
            "AuthorizedKeysFile none\n"
            "PermitRootLogin no\n"
            "PermitEmptyPasswords no\n"
            f"AllowUsers {USER_PREFIX}*\n"
            "UsePAM no\n"
            "MaxStartups 100\n"
            "LogLevel VERBOSE\n"
        )

    def start(self) -> None:
        for _ in range(3):  # another process may grab the free port before sshd binds it
            self.port = free_port()
            self.write_config(self.port)
            log = self.log.open("ab")
            self.process = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(self.config)], stdout=log, stderr=log, stdin=subprocess.DEVNULL
            )
            log.close()
            if self._wait_listening():
                return
            self.stop()
        raise RuntimeError(f"sshd did not start:\n{self.log.read_text(errors='replace')}")

    def _wait_listening(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.5):
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def login(self, user: str, password: str, command: str = "echo ok") -> subprocess.CompletedProcess[str]:
        """A real `ssh` password login; the password goes through SSH_ASKPASS, never argv or env."""
        secret_dir = self.workdir / f"askpass-{secrets.token_hex(4)}"
        secret_dir.mkdir(mode=0o700)
        try:
            secret = secret_dir / "password"
            fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(password + "\n")
            askpass = secret_dir / "askpass"
            askpass.write_text(f"#!/bin/sh\nexec cat {secret}\n")
            askpass.chmod(0o700)
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": str(self.workdir),
                "SSH_ASKPASS": str(askpass),
                "SSH_ASKPASS_REQUIRE": "force",
            }
            return subprocess.run(
                [
                    "ssh",
                    "-F",
                    "/dev/null",
                    "-p",
                    str(self.port),
                    *CLIENT_OPTIONS,
                    f"{user}@127.0.0.1",
                    command,
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=60,
                start_new_session=True,  # no controlling terminal: ssh can only ask SSH_ASKPASS
                check=False,
            )
        finally:
            for path in secret_dir.iterdir():
                path.unlink()
            secret_dir.rmdir()

    def can_log_in(self, user: str, password: str) -> bool:
        result = self.login(user, password)
        return result.returncode == 0 and result.stdout.strip() == "ok"
