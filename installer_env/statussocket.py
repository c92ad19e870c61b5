"""`installer-env status` answered by the session a console already runs.

The console screen and the plain view follow every fact as it changes (netlink, inotify, sock_diag,
tor, iwd). `status` used to look everything up again: Python, the core and pyroute2 for an answer
the session already holds, five times the cost of a script that prints `ip -j addr`. Now the session
listens on a local socket and `status` asks it first; when no session answers (none runs, another
state directory or settings, a stuck one), `status` collects the facts itself as before. Both paths
render through `status.output`, so their answers are the same text.

The socket is an abstract Unix socket (no file to leave behind when a session dies; the kernel frees
the name with the last descriptor), named after the state directory. Anyone may bind an abstract
name, so both ends check the other's user through SO_PEERCRED: the answer holds the root password,
and a process of another user must neither read it nor pass off an answer of its own.

This module is the client too, which runs before anything else of the core: it imports nothing
heavier than `json` and `socket`. The server's imports come with the session that runs it.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys

from installer_env import DEFAULT_STATE_DIR, ENV_PREFIX

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (2 ms of `status`)
if TYPE_CHECKING:
    import asyncio
    from collections.abc import Mapping
    from typing import Any, TextIO

    from installer_env.config import Config
    from installer_env.session import Session
    from installer_env.sshd import ListeningPorts

NAME_PREFIX = b"\0installer-env-status:"
NAME_LIMIT = 107  # sun_path is 108 bytes, the leading NUL included
REQUEST_LIMIT = 64 * 1024
ANSWER_LIMIT = 4 * 1024 * 1024
TIMEOUT_SECONDS = 2.0  # a session stuck this long is not asked again: `status` collects itself
PROTOCOL = 1
# How a session acts, not what it shows: a demo session answers `status --state-dir` of its directory.
NOT_COMPARED = frozenset({"demo", "force_apply"})


def socket_name(state_dir: str) -> bytes:
    """The abstract socket name for a state directory (absolute; a long path is hashed)."""
    path = os.path.abspath(state_dir).encode("utf-8", "surrogateescape")
    name = NAME_PREFIX + path
    if len(name) > NAME_LIMIT:
        import hashlib

        name = NAME_PREFIX + b"sha256:" + hashlib.sha256(path).hexdigest().encode()
    return name


def _peer_uid(sock: socket.socket) -> int:
    _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    return int(uid)


def terminal_facts(stream: TextIO, environ: Mapping[str, str]) -> dict[str, Any] | None:
    """What the QR code under the text is fitted to: the terminal's size (COLUMNS and LINES win, as
    with shutil), the stream's encoding and TERM; None when the output is no terminal and no size is
    set (a pipe, a file: no code)."""
    columns, rows = _positive(environ.get("COLUMNS")), _positive(environ.get("LINES"))
    tty = stream.isatty()
    if not tty and not (columns and rows):
        return None
    if not (columns and rows):
        try:
            size = os.get_terminal_size(stream.fileno())
        except (OSError, ValueError):
            size = os.terminal_size((80, 24))
        columns, rows = columns or size.columns or 80, rows or size.lines or 24
    return {"columns": columns, "rows": rows, "encoding": stream.encoding, "term": environ.get("TERM", "")}


def _positive(text: str | None) -> int:
    try:
        value = int(text or "")
    except ValueError:
        return 0
    return max(value, 0)


# --- the client: `installer-env status` ---------------------------------------------------------------


def ask(state_dir: str | None, as_json: bool, environ: Mapping[str, str] | None = None) -> str | None:
    """The session's answer to `status` (`--state-dir` as given), or None: then collect."""
    env = os.environ if environ is None else environ
    settings = {k: v for k, v in env.items() if k.startswith(ENV_PREFIX)}
    where = state_dir or settings.get(ENV_PREFIX + "STATE_DIR") or DEFAULT_STATE_DIR
    request = {
        "protocol": PROTOCOL,
        "json": as_json,
        "state_dir": os.path.abspath(state_dir) if state_dir else None,
        "settings": settings,
        "terminal": None if as_json else terminal_facts(sys.stdout, env),
    }
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as sock:
            sock.settimeout(TIMEOUT_SECONDS)
            sock.connect(socket_name(where))
            if _peer_uid(sock) != os.geteuid():
                return None  # someone else's socket under our name: never trusted with the answer
            sock.sendall(json.dumps(request).encode() + b"\n")
            data = _read_to_end(sock)
        reply = json.loads(data)
    except (OSError, ValueError):  # no session, a refusal, a stuck or broken one
        return None
    if isinstance(reply, dict) and reply.get("ok") is True and isinstance(reply.get("output"), str):
        return str(reply["output"])
    return None


def _read_to_end(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := sock.recv(65536):
        size += len(chunk)
        if size > ANSWER_LIMIT:
            raise ValueError("the answer is too long")
        chunks.append(chunk)
    return b"".join(chunks)


# --- the server: a source of the session -----------------------------------------------------------


async def serve(config: Config, session: Session, ports: ListeningPorts) -> None:
    """Answer `status` from the session's snapshot until cancelled. Another session answering for
    this state directory already (a second console) is left to it."""
    import asyncio
    import errno
    import logging

    log = logging.getLogger(__name__)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        listener.bind(socket_name(str(config.state_dir)))
        listener.listen(16)
    except OSError as e:
        # Not answering is no failure: `status` then looks itself. Not retried, not a crash loop.
        listener.close()
        if e.errno == errno.EADDRINUSE:
            log.debug("another session answers status for %s", config.state_dir)
        else:
            log.warning("status is not answered by this session: %s", e)
        return

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if _peer_uid(writer.get_extra_info("socket")) != os.geteuid():
                return  # the password is in the answer: the session's own user alone
            line = await asyncio.wait_for(reader.readline(), TIMEOUT_SECONDS)
            reply = await _reply(line, config, session, ports)
            writer.write(json.dumps(reply, ensure_ascii=True).encode() + b"\n")
            await writer.drain()
        except Exception as e:  # whatever a request holds, the session goes on
            log.debug("status request not answered: %r", e)
        finally:
            writer.close()

    server = await asyncio.start_unix_server(answer, sock=listener, limit=REQUEST_LIMIT)
    async with server:
        await server.serve_forever()


async def _reply(line: bytes, config: Config, session: Session, ports: ListeningPorts) -> dict[str, Any]:
    import dataclasses
    from pathlib import Path

    from installer_env import status
    from installer_env.config import load_config
    from installer_env.errors import InstallerEnvError
    from installer_env.session import refresh_sshd

    request = json.loads(line)
    if not isinstance(request, dict) or request.get("protocol") != PROTOCOL:
        return {"ok": False, "why": "unknown request"}
    settings = request.get("settings")
    if not isinstance(settings, dict) or not all(isinstance(v, str) for v in settings.values()):
        return {"ok": False, "why": "unknown request"}
    try:  # the settings `status` would have read itself: this session's, or it looks itself
        given = request.get("state_dir")  # --state-dir, made absolute by `ask`
        theirs = load_config(
            env=settings, overrides={"state_dir": Path(given)} if isinstance(given, str) else {}
        )
    except InstallerEnvError as e:
        return {"ok": False, "why": str(e)}
    if not _same_settings(theirs, config):
        return {"ok": False, "why": "other settings"}
    await refresh_sshd(
        config, session, ports
    )  # sshd is checked every few seconds: not behind a script's start
    snap = dataclasses.replace(session.snapshot, rotation_problem=None)  # a login's news, not status's
    facts = request.get("terminal")
    terminal = status.Terminal.from_facts(facts) if isinstance(facts, dict) else None
    return {"ok": True, "output": status.output(snap, config, bool(request.get("json")), terminal)}


def _same_settings(a: Config, b: Config) -> bool:
    import dataclasses

    return all(
        getattr(a, f.name) == getattr(b, f.name) for f in dataclasses.fields(a) if f.name not in NOT_COMPARED
    )
