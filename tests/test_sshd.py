"""sshd: a real server on a loopback port, real logins with the rotated password, real host keys."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_runner import run_cli
from conftest import MakeConfig
from realssh import SshServer, ThrowawayUser, free_port

from installer_env import rotation, sshd, status
from installer_env.errors import SshdError
from installer_env.session import Session, collect, follow_sshd
from installer_env.state import StateStore

KEYGEN_LINE = re.compile(r"^(\d+) (SHA256:[A-Za-z0-9+/]+) .* \(([A-Z0-9-]+)\)$")


def test_rotated_password_logs_in_and_the_old_one_is_refused(
    sshd_server: SshServer, throwaway_user: ThrowawayUser, make_config: MakeConfig, os_release_installer: Path
) -> None:
    config = make_config(password_user=throwaway_user.name, os_release=os_release_installer)
    store = StateStore(config.state_dir)

    first = rotation.rotate(config, store, require_apply=True)
    assert first.applied
    assert sshd_server.can_log_in(throwaway_user.name, first.password)

    second = rotation.rotate(config, store, require_apply=True)
    assert second.password != first.password
    refused = sshd_server.login(throwaway_user.name, first.password)
    assert refused.returncode != 0
    assert "ok" not in refused.stdout
    assert sshd_server.can_log_in(throwaway_user.name, second.password)


def test_status_sees_the_listening_sshd_and_its_port(sshd_server: SshServer, make_config: MakeConfig) -> None:
    config = make_config(
        sshd="/usr/sbin/sshd",
        sshd_config=sshd_server.config,
        ssh_host_keys=f"{sshd_server.host_key}.pub",
    )
    st = sshd.status(config)
    assert (st.installed, st.running, st.listening, st.port_known) == (True, True, True, True)
    assert st.port == sshd_server.port
    assert st.problems == ()
    assert [k.type for k in st.host_keys] == ["ED25519"]
    assert f"listening on port {sshd_server.port}" in status.to_text(
        collect(config, StateStore(config.state_dir))
    )


def test_netlink_and_proc_agree_on_listening_ports(sshd_server: SshServer) -> None:
    # Asked of netlink itself: `listening_ports()` falls back to /proc, which would compare /proc with itself.
    from_netlink = sshd._ask_sock_diag()
    assert sshd_server.port in from_netlink
    assert from_netlink == sshd._listening_ports_from_proc()


async def test_the_loops_question_agrees_with_the_threads_and_falls_back_to_proc(
    sshd_server: SshServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ports = sshd.ListeningPorts()
    try:
        assert await ports.listens(sshd_server.port)
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))  # bound, never listening
            assert not await ports.listens(unused.getsockname()[1])
        with socket.create_server(("::1", 0), family=socket.AF_INET6) as v6_only:
            assert await ports.listens(v6_only.getsockname()[1])  # the IPv6 question, asked second

        def broken(name: str) -> object:
            raise OSError("no sock_diag here")

        ports.close()
        monkeypatch.setattr(sshd, "lean_import", broken)
        assert await ports.listens(sshd_server.port)  # from /proc/net/tcp
    finally:
        ports.close()


async def test_follower_sees_sshd_stop_and_a_listener_come_back_without_a_full_look(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    server = SshServer(tmp_path / "sshd")
    server.start()
    try:
        config = make_config(
            sshd="/usr/sbin/sshd", sshd_config=server.config, ssh_host_keys=f"{server.host_key}.pub"
        )
        session = Session(collect(config, StateStore(config.state_dir)))
        assert session.snapshot.ssh.listening
        # Only the cheap listening check runs on the timer here: the change alone triggers a full look.
        ports = sshd.ListeningPorts()
        follower = asyncio.create_task(
            follow_sshd(config, session, ports, interval=0.1, full_look_every=3600)
        )
        try:
            server.stop()
            await _until(session, lambda ssh: not ssh.listening)
            with socket.create_server(("127.0.0.1", server.port)):
                ssh = await _until(session, lambda ssh: ssh.listening)
                assert ssh.port == server.port
                assert [k.type for k in ssh.host_keys] == ["ED25519"]
        finally:
            follower.cancel()
    finally:
        server.stop()


async def _until(session: Session, check: Callable[[sshd.SshdStatus], bool]) -> sshd.SshdStatus:
    async with asyncio.timeout(2.0):
        async for snap in session.snapshots():
            if check(snap.ssh):
                return snap.ssh
    raise AssertionError("snapshots ended")


def test_status_says_when_nothing_listens_on_the_configured_port(
    sshd_server: SshServer, make_config: MakeConfig, tmp_path: Path
) -> None:
    other = tmp_path / "sshd_config"
    unused = free_port()
    other.write_text(sshd_server.config.read_text().replace(f"Port {sshd_server.port}", f"Port {unused}"))
    st = sshd.status(make_config(sshd="/usr/sbin/sshd", sshd_config=other))
    assert st.port == unused
    assert st.running  # the test's sshd process
    assert not st.listening
    assert f"nothing listens on port {st.port}" in st.problems[0]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("Port abc\n", "Badly formatted port number"),
        (None, "No such file or directory"),
    ],
)
def test_a_failing_sshd_t_is_reported_not_hidden(
    make_config: MakeConfig, tmp_path: Path, content: str | None, reason: str
) -> None:
    path = tmp_path / "sshd_config"
    if content is not None:
        path.write_text(content)
    config = make_config(sshd="/usr/sbin/sshd", sshd_config=path)
    st = sshd.status(config)
    assert st.port == 22
    assert not st.port_known
    problem = next(p for p in st.problems if "-T" in p)
    assert reason in problem
    assert "showing port 22" in problem
    text = status.to_text(collect(config, StateStore(config.state_dir)))
    assert reason in text


def test_missing_sshd_is_reported_and_start_refuses(make_config: MakeConfig) -> None:
    config = make_config(sshd="/nonexistent/sshd")
    st = sshd.status(config)
    assert not st.installed
    assert st.problems[0] == "sshd is not installed (/nonexistent/sshd not found)"
    with pytest.raises(SshdError, match="not installed"):
        sshd.start(config)


def _keygen(path: Path, key_type: str, bits: int | None) -> None:
    args = ["ssh-keygen", "-q", "-t", key_type, "-N", "", "-C", f"test {key_type}", "-f", str(path)]
    if bits is not None:
        args += ["-b", str(bits)]
    subprocess.run(args, check=True)


def test_fingerprints_equal_ssh_keygen(make_config: MakeConfig, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    for key_type, bits in [("ed25519", None), ("ecdsa", 256), ("ecdsa", 384), ("ecdsa", 521)]:
        _keygen(keys / f"ssh_host_{key_type}{bits or ''}_key", key_type, bits)
    for bits in (2048, 3072):
        _keygen(keys / f"ssh_host_rsa{bits}_key", "rsa", bits)

    found, problems = sshd.host_keys(str(keys / "ssh_host_*_key.pub"))
    assert problems == ()
    ours = {(k.type, k.bits, k.fingerprint, k.path) for k in found}
    theirs = set()
    for pub in keys.glob("*.pub"):
        out = subprocess.run(["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True, check=True)
        match = KEYGEN_LINE.match(out.stdout.strip())
        assert match, out.stdout
        theirs.add((match[3], int(match[1]), match[2], str(pub)))
    assert len(theirs) == 6
    assert ours == theirs
    assert {(t, b) for t, b, _, _ in ours} == {
        ("ED25519", 256),
        ("ECDSA", 256),
        ("ECDSA", 384),
        ("ECDSA", 521),
        ("RSA", 2048),
        ("RSA", 3072),
    }


def test_bad_host_key_files_give_a_problem_line_each(make_config: MakeConfig, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    _keygen(keys / "ssh_host_ed25519_key", "ed25519", None)
    good = (keys / "ssh_host_ed25519_key.pub").read_text().split()
    bad = {
        "garbage": "this is not a key\n",
        "empty": "",
        "notbase64": "ssh-ed25519 %%%not-base64%%% x\n",
        "truncated": f"ssh-ed25519 {good[1][:20]}\n",
        "mismatch": f"ssh-rsa {good[1]}\n",
        "binary": "\x00\xff\xfe garbage",
        "nonascii": "ssh-ed25519 AAAA\u00e9\u00e9 x\n",
        "huge": "ssh-ed25519 " + "A" * 200_000,
        "evil\x1b[2J\nname": "junk\n",
    }
    for name, content in bad.items():
        (keys / f"ssh_host_{name}_key.pub").write_text(content, encoding="utf-8", errors="surrogateescape")
    (keys / "ssh_host_dir_key.pub").mkdir()
    os.mkfifo(keys / "ssh_host_fifo_key.pub")  # must not block the status
    (keys / "ssh_host_dangling_key.pub").symlink_to(keys / "nowhere")

    found, problems = sshd.host_keys(str(keys / "ssh_host_*_key.pub"))
    assert [k.type for k in found] == ["ED25519"]
    assert len(problems) == len(bad) + 3
    assert all(p.startswith("host key ") for p in problems)
    assert any("No such file or directory" in p for p in problems)
    assert any("Is a directory" in p for p in problems)
    assert sum("key data is not base64" in p for p in problems) == 2
    assert any("fifo_key.pub: not a regular file" in p for p in problems)

    config = make_config(ssh_host_keys=str(keys / "ssh_host_*_key.pub"), sshd="/nonexistent")
    text = status.to_text(collect(config, StateStore(config.state_dir)))
    assert "\x1b" not in text
    assert "\\x1b[2J\\x0aname" in text
    assert sum(line.startswith("             ! host key ") for line in text.splitlines()) == len(problems)


def test_cli_start_sshd_failures_exit_6(isolated_env: dict[str, str]) -> None:
    missing = run_cli(dict(isolated_env, INSTALLER_ENV_SSHD="/nonexistent"), "start-sshd")
    assert missing.returncode == 6
    assert (
        missing.stderr == "installer-env: cannot start sshd: it is not installed (/nonexistent not found)\n"
    )
    # A unit that does not exist: fails with or without systemd, and never touches this host's sshd.
    unit = f"ie-test-{secrets.token_hex(4)}.service"
    failed = run_cli(
        dict(isolated_env, INSTALLER_ENV_SSHD="/usr/sbin/sshd", INSTALLER_ENV_SSHD_UNIT=unit), "start-sshd"
    )
    assert failed.returncode == 6
    if shutil.which("systemctl") is None:  # a minimal system without systemd
        assert (
            failed.stderr
            == "installer-env: cannot start sshd: systemctl not found; start /usr/sbin/sshd by hand\n"
        )
    else:
        assert failed.stderr.startswith(f"installer-env: cannot start sshd ({unit}): ")
    assert failed.stderr.count("\n") == 1
    assert "Traceback" not in failed.stderr
