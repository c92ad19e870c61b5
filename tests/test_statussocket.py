"""`status` answered by the session a console runs: the same text as looking everything up, for
little more than Python's start-up; and never from, or to, a process of another user."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from cli_runner import run_cli, started_cli
from conftest import MakeConfig

from installer_env import sshd, statussocket
from installer_env.session import Session, collect
from installer_env.state import StateStore

NOBODY = 65534


@pytest.fixture
def env(isolated_env: dict[str, str], tmp_path: Path, os_release_plain: Path) -> dict[str, str]:
    key = tmp_path / "keys" / "ssh_host_ed25519_key"
    key.parent.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    values = dict(isolated_env, INSTALLER_ENV_SSH_HOST_KEYS=str(key.with_suffix(".pub")))
    values.update(INSTALLER_ENV_SSHD="/nonexistent", INSTALLER_ENV_OS_RELEASE=str(os_release_plain))
    values.pop("TERM", None)
    return values


def _wait_for_answer(state_dir: str, env: dict[str, str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while statussocket.ask(state_dir, True, env) is None:
        assert time.monotonic() < deadline, "the session never answered"
        time.sleep(0.1)


@pytest.fixture
def session(env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """A plain-view session (what a serial console runs) on this test's state dir."""
    state_dir = env["INSTALLER_ENV_STATE_DIR"]
    with started_cli(env, "demo", "--plain", "--state-dir", state_dir):
        _wait_for_answer(state_dir, env)
        yield state_dir


def test_the_answer_is_what_status_finds_itself(env: dict[str, str], session: str) -> None:
    # A terminal's size, TERM and encoding: the QR code in half blocks under the text.
    sized = dict(env, COLUMNS="100", LINES="60", TERM="linux", PYTHONIOENCODING="utf-8")
    outputs = {}
    for args, environ in ((("status",), sized), (("status", "--json"), env), (("status",), env)):
        served = run_cli(environ, *args)
        collected = run_cli(environ, *args, "--collect")
        assert served.returncode == collected.returncode == 0, served.stderr + collected.stderr
        assert served.stdout == collected.stdout
        outputs[args, environ is sized] = served.stdout
    assert "▀" in outputs[("status",), True]
    assert "QR code" not in outputs[("status",), False]  # into a pipe: the text alone
    assert json.loads(outputs[("status", "--json"), False])["password"]["password"]  # the session made one


def test_an_answered_status_loads_nothing_of_the_core(env: dict[str, str], session: str) -> None:
    # What made `status` five times a one-shot `ip -j addr`: the core and pyroute2.
    answered = run_cli(env, "status")
    assert answered.returncode == 0
    probe = (
        "import sys\nfrom installer_env.cli import main\nassert main(['status']) == 0\n"
        "print([m for m in sys.modules if m.startswith(('pyroute2', 'installer_env.session', 'textual'))],"
        " file=sys.stderr)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == answered.stdout
    assert result.stderr.strip() == "[]"


def test_with_no_session_status_looks_itself(env: dict[str, str]) -> None:
    assert statussocket.ask(env["INSTALLER_ENV_STATE_DIR"], False, env) is None
    result = run_cli(env, "status")
    assert result.returncode == 0
    assert "no password yet" in result.stdout


def test_other_settings_are_not_answered_from_this_session(env: dict[str, str], session: str) -> None:
    other = dict(env, INSTALLER_ENV_QR_MAX_ADDRS="1")
    assert statussocket.ask(session, True, other) is None
    assert statussocket.ask(session, True, env) is not None
    # Another state dir, given on the command line: another socket name, no session there.
    assert statussocket.ask(session + "-other", True, env) is None


def test_a_second_session_on_the_same_state_leaves_the_answer_to_the_first(
    env: dict[str, str], session: str
) -> None:
    with started_cli(env, "demo", "--plain", "--state-dir", session) as second:
        time.sleep(2)
        assert second.poll() is None  # still up: not answering is no failure
        assert statussocket.ask(session, True, env) is not None


@contextmanager
def as_nobody(work: Callable[[], bytes]) -> Iterator[int]:
    """`work()` in a forked child that became user nobody (the interpreter and its modules are
    already loaded: nobody cannot read the venv); yields the pipe its result arrives on."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.write(write, work())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    try:
        yield read
    finally:
        os.close(read)
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _read_all(fd: int) -> bytes:
    data = b""
    while chunk := os.read(fd, 65536):
        data += chunk
    return data


@pytest.mark.root
def test_another_user_gets_no_answer(env: dict[str, str], session: str) -> None:
    def ask_raw() -> bytes:  # as `ask` does, without its own check of the session's user
        settings = {k: v for k, v in env.items() if k.startswith("INSTALLER_ENV_")}
        request = {"protocol": statussocket.PROTOCOL, "json": True, "state_dir": None, "settings": settings}
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(statussocket.socket_name(session))
            try:
                sock.sendall(json.dumps(request).encode() + b"\n")
                return b"answer:" + statussocket._read_to_end(sock)
            except (BrokenPipeError, ConnectionResetError):  # closed before it read the request
                return b"answer:"

    with as_nobody(ask_raw) as result:
        assert _read_all(result) == b"answer:"  # closed unanswered
    with as_nobody(lambda: repr(statussocket.ask(session, True, env)).encode()) as result:
        assert _read_all(result) == b"None"
    assert statussocket.ask(session, True, env) is not None  # the session's own user is answered


@pytest.mark.root
def test_an_answer_from_another_users_socket_is_never_printed(env: dict[str, str]) -> None:
    # Anyone can bind an abstract name: a user's process squats on the state dir's name first.
    state_dir = env["INSTALLER_ENV_STATE_DIR"]

    def squat() -> bytes:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
            server.bind(statussocket.socket_name(state_dir))
            server.listen(4)
            os.write(write_ready, b"ready")
            while True:
                conn, _ = server.accept()
                with conn:
                    conn.recv(65536)
                    conn.sendall(b'{"ok": true, "output": "FORGED\\n"}\n')

    read_ready, write_ready = os.pipe()
    with as_nobody(squat):
        os.close(write_ready)
        assert os.read(read_ready, 5) == b"ready"
        os.close(read_ready)
        assert statussocket.ask(state_dir, False, env) is None
        result = run_cli(env, "status")
        assert result.returncode == 0
        assert "FORGED" not in result.stdout
        assert "Password" in result.stdout  # looked up by status itself


def test_a_stuck_session_is_given_up_on(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    state_dir = env["INSTALLER_ENV_STATE_DIR"]
    monkeypatch.setattr(statussocket, "TIMEOUT_SECONDS", 0.5)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stuck:
        stuck.bind(statussocket.socket_name(state_dir))
        stuck.listen(1)  # connections wait in the backlog; nothing ever answers
        started = time.monotonic()
        assert statussocket.ask(state_dir, False, env) is None
        assert time.monotonic() - started < 5


def test_a_garbled_or_overlong_answer_is_not_printed(env: dict[str, str]) -> None:
    state_dir = env["INSTALLER_ENV_STATE_DIR"]
    for reply in (b"not json\n", b'{"ok": true}\n', b'{"ok": "yes", "output": "x"}\n', b"[1]\n", None):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
            server.bind(statussocket.socket_name(state_dir))
            server.listen(1)

            def answer(server: socket.socket = server, reply: bytes | None = reply) -> None:
                conn, _ = server.accept()
                with conn:
                    conn.recv(65536)
                    if reply is None:  # more than any status could be
                        chunk = b"x" * 65536
                        try:
                            for _ in range(statussocket.ANSWER_LIMIT // len(chunk) + 2):
                                conn.sendall(chunk)
                        except OSError:
                            pass
                    else:
                        conn.sendall(reply)

            thread = threading.Thread(target=answer)
            thread.start()
            assert statussocket.ask(state_dir, False, env) is None, reply
            thread.join()


def test_long_state_dirs_get_a_name_that_fits() -> None:
    long_dir = "/tmp/" + "d" * 300
    name = statussocket.socket_name(long_dir)
    assert len(name) <= statussocket.NAME_LIMIT
    assert name != statussocket.socket_name(long_dir + "x")
    assert statussocket.socket_name("/run/installer-env") == b"\0installer-env-status:/run/installer-env"


@pytest.mark.parametrize(
    ("environ", "tty", "expected"),
    [
        ({"COLUMNS": "100", "LINES": "40", "TERM": "linux"}, False, (100, 40)),  # set: even into a pipe
        ({"TERM": "xterm"}, False, None),  # a pipe, no size: no code
        ({"COLUMNS": "0", "LINES": "x"}, False, None),
    ],
)
def test_terminal_facts(environ: dict[str, str], tty: bool, expected: tuple[int, int] | None) -> None:
    read, write = os.pipe()
    with os.fdopen(write, "w", encoding="utf-8") as stream:
        facts = statussocket.terminal_facts(stream, environ)
    os.close(read)
    if expected is None:
        assert facts is None
    else:
        assert facts is not None
        assert (facts["columns"], facts["rows"], facts["encoding"]) == (*expected, "utf-8")


async def test_a_session_that_cannot_listen_goes_on_without_answering(
    make_config: MakeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config()
    session = Session(collect(config, StateStore(config.state_dir)))
    monkeypatch.setattr(statussocket, "socket_name", lambda state_dir: b"\0" + b"x" * 200)  # too long
    async with asyncio.timeout(5):
        await statussocket.serve(config, session, sshd.ListeningPorts())  # returns; no crash to restart


def test_garbled_requests_leave_the_session_answering(env: dict[str, str], session: str) -> None:
    settings = {k: v for k, v in env.items() if k.startswith("INSTALLER_ENV_")}
    requests = [
        b"\xff\xfe not json\n",
        b"[]\n",
        b'{"protocol": 99}\n',
        json.dumps({"protocol": 1, "settings": {"INSTALLER_ENV_X": 1}}).encode() + b"\n",
        json.dumps({"protocol": 1, "settings": settings, "terminal": {"columns": "wide"}}).encode() + b"\n",
        json.dumps({"protocol": 1, "settings": settings, "state_dir": 7, "json": "yes"}).encode() + b"\n",
        b"x" * (statussocket.REQUEST_LIMIT + 10),  # no end of line within the limit
    ]
    for request in requests:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(statussocket.socket_name(session))
            with suppress(OSError):
                sock.sendall(request)
                sock.shutdown(socket.SHUT_WR)
                reply = statussocket._read_to_end(sock)
                assert b'"ok": true' not in reply or b'"output"' in reply, reply
    assert statussocket.ask(session, True, env) is not None
