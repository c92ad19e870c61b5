"""Which view a console gets (the screen, plain text, or one print), and the way back to the shell.

The screen is the only path that imports textual, and it imports it while the first snapshot is
collected by a child process (netlink, `sshd -T` and friends), so the QR code is on screen as soon
as possible: importing is CPU work, and a thread of this process would take turns with it. The
child also words the snapshot and makes its QR codes (`FirstLook`), so this process draws the
first frame with none of the session model loaded, and loads it after. On the Linux VT, where
that can take many seconds, the password is written first as plain text, before the session model
is imported (this module loads little; see `password_text`), then the ssh logins once the
snapshot has the addresses; the first frame paints over them. Whatever happens to the screen, the
user lands at the shell with a line saying how to come back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import gc
import os
import re
import shutil
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, TypeVar

from installer_env import password_text
from installer_env.config import Config
from installer_env.hostname import names
from installer_env.state import StateStore, read_password

if TYPE_CHECKING:
    from installer_env.presentation import Presentation
    from installer_env.qr import QrCode
    from installer_env.session import Session, Snapshot

RETURN_HINT = "Type installer-env screen to return to the installer screen."
# Clear the screen and put the cursor in the top left corner.
CLEAR = "\x1b[H\x1b[2J"
# Set for the shell the screen opens (key s), so that shell's login hook does not start a second
# screen inside the first.
NESTED_ENV = "INSTALLER_ENV_NESTED"
CLEAR_HIDE_CURSOR = "\x1b[H\x1b[2J\x1b[?25l"
HOME = "\x1b[H"
CLEAR_BELOW = "\x1b[J"
CLEAR_LINE = "\x1b[K"
SHOW_CURSOR = "\x1b[?25h"


T = TypeVar("T")


class View(enum.StrEnum):
    SCREEN = "screen"  # the Textual app, on a VT or a capable terminal
    PLAIN = "plain"  # reprint on change: serial consoles, dumb terminals
    ONCE = "once"  # not a terminal at all (a pipe, a log): print the status once


# Serial and hypervisor consoles: 8250/16550 UARTs, ARM PL011, virtio/Xen hvc, USB serial adapters.
SERIAL_TTY = re.compile(r"(ttyS|ttyAMA|hvc|ttyUSB|ttyACM|ttymxc|ttyPS|ttySAC)\d+")
DUMB_TERMS = frozenset({"", "dumb", "unknown"})


def is_serial(tty: str | None) -> bool:
    return tty is not None and SERIAL_TTY.fullmatch(tty.removeprefix("/dev/")) is not None


def plain_wanted(environ: Mapping[str, str], tty: str | None) -> bool:
    """True where a full-screen app would misbehave: dumb or unknown terminals, serial lines."""
    return environ.get("TERM", "").strip().lower() in DUMB_TERMS or is_serial(tty)


def tty_name() -> str | None:
    try:
        return os.ttyname(sys.stdout.fileno())
    except (OSError, ValueError):
        return None


def choose(environ: Mapping[str, str], tty: str | None, force_plain: bool, keyboard: bool = True) -> View:
    """`tty`: the terminal stdout goes to; `keyboard`: whether stdin is a terminal too."""
    if force_plain:
        return View.PLAIN
    if tty is None:
        return View.ONCE
    if plain_wanted(environ, tty) or not keyboard:
        return View.PLAIN
    return View.SCREEN


def nested() -> bool:
    return bool(os.environ.get(NESTED_ENV))


# The program that starts a console login's shell (agetty -> login(1) -> shell): shadow's and
# util-linux's login both fork and wait for the shell. `su -`, `sudo -i` and `bash -l` are login
# shells as well, but their parent is su, sudo or another shell.
LOGIN_PROGRAM = "login"


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ")".
    fields = stat.rpartition(")")[2].split()
    return int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else None


def started_by_login(shell: int | None = None) -> bool:
    """True when `shell` (default: our parent, the login shell running the hook) is the shell
    login(1) started, i.e. a person's (or the autologin's) login on a console."""
    parent = _parent_of(os.getppid() if shell is None else shell)
    if parent is None:
        return False
    try:
        comm = Path(f"/proc/{parent}/comm").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return comm.strip() == LOGIN_PROGRAM


def show(
    config: Config,
    store: StateStore,
    *,
    force_plain: bool = False,
    rotation_problem: str | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> int:
    """`meanwhile`: work for a thread of its own (starting sshd), started once the screen's early
    password is out and its first snapshot's child forked (a fork wants no other thread)."""
    view = choose(os.environ, tty_name(), force_plain, keyboard=sys.stdin.isatty())

    def first_snapshot() -> Snapshot:
        from installer_env.session import collect

        # The screen and plain mode run the sources themselves: Wi-Fi and tor come from them. The
        # screen's is collected by a child beside the process that imports textual (`_screen`).
        snap = collect(config, store, live=view is not View.ONCE, spare_cpu=view is not View.SCREEN)
        return dataclasses.replace(snap, rotation_problem=rotation_problem)

    if view is not View.SCREEN:
        _start(meanwhile)
    if view is View.ONCE:
        from installer_env import status

        sys.stdout.write(status.to_text(first_snapshot()))
        return 0
    if view is View.PLAIN:
        import asyncio

        from installer_env import plain
        from installer_env.session import Session

        session = Session(first_snapshot())
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(plain.run(config, store, session, sys.stdout))
        print(RETURN_HINT)
        return 0
    return _screen(config, store, first_snapshot, rotation_problem, meanwhile)


def _start(meanwhile: Callable[[], None] | None) -> None:
    if meanwhile is not None:
        threading.Thread(target=meanwhile, name="meanwhile", daemon=True).start()


def early_text_wanted(environ: Mapping[str, str]) -> bool:
    """On the Linux VT (a real console: possibly an old laptop or a small board), where importing
    textual and laying out the first frame can take many seconds."""
    return environ.get("TERM", "") == "linux"


def early_password(config: Config, store: StateStore, rotation_problem: str | None) -> str:
    """The password alone, as soon as it is known (the addresses take a while on a slow machine),
    on a cleared console with the cursor hidden."""
    state, problem = read_password(store)
    facts = password_text.password_facts(state, problem, rotation_problem)
    lines = [password_text.title(*names(config)), "", *password_text.password_lines(facts)]
    return CLEAR_HIDE_CURSOR + "\n".join(lines) + "\n\nLooking up the addresses...\n"


def early_text(snap: Snapshot) -> str:
    """The password and the ssh logins, written over the early password from the top: the lines
    both share stay where they are. The VT has no alternate screen: the screen's first frame then
    paints every cell over this text."""
    from installer_env import status
    from installer_env.presentation import Viewer
    from installer_env.wording import present

    # Plain text with no keys yet: the plain view's words.
    essentials = status.essentials(present(snap, Viewer.PLAIN))
    text = essentials.replace("\n", CLEAR_LINE + "\n")  # no tail of a longer line stays
    return HOME + text + CLEAR_BELOW + "\nStarting the installer screen...\n"


@dataclasses.dataclass(frozen=True)
class FirstLook:
    """The first snapshot as the screen's first frame takes it: already worded, with its QR codes
    made, and the snapshot itself pickled. Made in the child (`in_child`), so that the UI thread
    draws the first frame with none of the session model, the network code or qrcode loaded;
    the app unpickles the snapshot (loading the model) once that frame is out."""

    presentation: Presentation  # the screen's (`wording.for_screen`)
    qr_codes: dict[int, QrCode]  # the codes its first frame tries (`first_look`)
    snapshot: bytes  # the pickled `Snapshot`

    def adopt_qr_codes(self) -> None:
        from installer_env import qr

        qr.adopt(self.presentation.qr_content, self.qr_codes)

    def session(self) -> Session:
        import pickle

        from installer_env.session import Session

        return Session(pickle.loads(self.snapshot))  # noqa: S301 (our own child's, or our own)


def first_look(config: Config, snap: Snapshot, terminal: tuple[int, int] | None = None) -> FirstLook:
    """The first snapshot made ready for the screen (see `FirstLook`). `terminal`: the (columns,
    rows) the screen starts at, as Textual reads them: the codes are those its layout tries there
    (each takes a few milliseconds; one, on a terminal wide enough for the largest beside the
    text), and the screen makes any other when it needs it. None: every code it may draw."""
    import pickle

    from installer_env import qr, wording

    presentation = wording.for_screen(snap, config)
    content = presentation.qr_content
    if terminal is None:
        codes = qr.codes_for(content)
    else:
        from installer_env.ui import layout

        layout.choose(*terminal, presentation.fit_qr if presentation.scannable else None)
        codes = qr.codes_made(content)
    return FirstLook(presentation, codes, pickle.dumps(snap))


def in_child(work: Callable[[], T]) -> Callable[[], T]:
    """`work()` started in a forked child now; the function returned waits for its result.

    The child runs beside this process on another CPU, where a thread would share one interpreter
    lock with the UI thread's imports. The result comes back pickled through a pipe. The child
    forks only while this process has no other thread (a fork copies no thread, and a lock one
    held would stay locked in the child); otherwise, or if the child dies without an answer, the
    work runs here, when the result is asked for. An exception in the child is raised here.
    """
    if threading.active_count() > 1:
        return work
    import pickle

    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return work
    if pid == 0:  # the child: never returns, never runs the parent's exit handlers
        try:
            os.close(read_end)
            try:
                answer: tuple[bool, object] = (True, work())
            except Exception as e:
                answer = (False, e)
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(pickle.dumps(answer))
        finally:
            os._exit(0)
    os.close(write_end)

    def result() -> T:
        with os.fdopen(read_end, "rb") as pipe:
            data = pipe.read()
        os.waitpid(pid, 0)
        try:
            ok, value = pickle.loads(data)  # noqa: S301 (from our own child, through a pipe only it had)
        except Exception:  # no answer (killed, out of memory) or one that does not unpickle
            return work()
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    return result


def _screen(
    config: Config,
    store: StateStore,
    first_snapshot: Callable[[], Snapshot],
    rotation_problem: str | None,
    meanwhile: Callable[[], None] | None,
) -> int:
    early = early_text_wanted(os.environ)

    def first() -> FirstLook:
        """The first snapshot (its ssh logins then written on the VT), made ready for the screen."""
        snap = first_snapshot()
        if early:  # before the answer: the app, which paints over it, waits for that
            sys.stdout.write(early_text(snap))
            sys.stdout.flush()
        size = shutil.get_terminal_size()  # as Textual's driver reads it
        return first_look(config, snap, (size.columns, size.lines))

    try:
        if early:
            sys.stdout.write(early_password(config, store, rotation_problem))
        sys.stdout.flush()  # nothing buffered is copied into the child
        sys.stderr.flush()
        # No cyclic garbage collection until the first frame is out (the app enables it again at
        # Textual's Ready, with what the start made frozen): start-up makes little cyclic
        # garbage, and the collector's passes over all that the imports create cost the first
        # frame about 11 ms here. The child exits as soon as it has answered, without collecting.
        gc.disable()
        # The child imports the session model, collects and words; this process imports only
        # what the first frame draws meanwhile, and the model after that frame (FirstLook).
        look = in_child(first)
        _start(meanwhile)
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=1) as pool:
            # A thread waits for the child (without the interpreter lock), or does its work if
            # there is no child, while this one imports textual.
            pending = pool.submit(look)
            from installer_env.ui.app import InstallerApp

            first_seen = pending.result()
        first_seen.adopt_qr_codes()
        app = InstallerApp(config, store, first_seen.session, presentation=first_seen.presentation)
        try:
            app.run()
        except Exception as e:  # the app restores the terminal itself; this is the last net
            print(f"installer-env: the screen stopped: {e}", file=sys.stderr)
            code = 1
        else:
            code = app.return_code or 0
    finally:
        gc.enable()  # where the app stopped before its first frame
        if early:  # Textual shows the cursor when it stops; not if it never started
            sys.stdout.write(SHOW_CURSOR)
            sys.stdout.flush()
    leave(sys.stdout, os.environ)
    return code


def leave(stream: TextIO, environ: Mapping[str, str]) -> None:
    """The way back to the screen, on a line of its own on a clean console. A Linux VT ignores the
    alternate screen that terminal emulators restore on exit: the screen's last frame would stay,
    with the hint printed over it, so the console is cleared first."""
    if environ.get("TERM", "").startswith("linux"):
        stream.write(CLEAR)
    stream.write(RETURN_HINT + "\n")
    stream.flush()
