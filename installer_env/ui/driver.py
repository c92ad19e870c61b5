"""Textual's Linux terminal driver, with an input thread that sleeps until there is something to do.

Textual's input thread wakes ten times a second to see whether it should stop: on a console left
alone for hours that is most of the screen's CPU time. Here stopping wakes the thread through a
pipe instead, and it waits on the terminal with no timeout, except while half an escape sequence is
pending (a lone Esc is only known to be one after a short pause). The same thread notices a
terminal that went away (end of input, a hang-up) and asks the app to leave, where Textual's
thread would keep reading nothing.

The wake-up pipe lives exactly as long as one input thread: Textual closes the driver when it
suspends (the shell key) and starts application mode again on resume, so each start opens a new pipe
and each close shuts it. A pipe kept across a suspend would be watched after it was closed: poll()
then reports the stale descriptor at once, forever (a spinning core), or reads away whatever file
next gets its number.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
from codecs import getincrementaldecoder
from typing import Any

from textual._parser import ParseError
from textual._time import get_time
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

HANGUP_RETURN_CODE = 1


class _WakingEvent(threading.Event):
    """An Event whose set() also wakes a thread blocked in poll() on the pipe's other end."""

    def __init__(self) -> None:
        super().__init__()
        self.wake_fd: int | None = None  # the pipe of the running input thread, if there is one

    def set(self) -> None:
        super().set()
        if self.wake_fd is not None:
            with contextlib.suppress(OSError):  # full: a wake-up is pending anyway
                os.write(self.wake_fd, b"\0")


class QuietLinuxDriver(LinuxDriver):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._wake_read: int | None = None
        self._waking = _WakingEvent()
        # Textual's disable_input() sets this and joins the input thread.
        self.exit_event = self._waking

    def start_application_mode(self) -> None:
        self._close_wake_pipe()  # a start without a close before it
        self._wake_read, self._waking.wake_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        super().start_application_mode()  # type: ignore[no-untyped-call]  # starts the input thread

    def run_input_thread(self) -> None:
        wake_read = self._wake_read
        assert wake_read is not None, "start_application_mode opens the pipe first"
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode
        poller = select.poll()
        poller.register(self.fileno, select.POLLIN)
        poller.register(wake_read, select.POLLIN)
        try:
            while not self.exit_event.is_set():
                for fd, _events in poller.poll(_pending_ms(parser)):
                    if fd == wake_read:
                        _drain(wake_read)
                        continue
                    data = self._read()
                    if data is None:  # woken without input (a signal, another reader)
                        continue
                    if not data:
                        self._hung_up()
                        return
                    for message in parser.feed(decode(data)):
                        self.process_message(message)
                for message in parser.tick():
                    self.process_message(message)
        finally:
            with contextlib.suppress(EOFError, ParseError):
                for _ in parser.feed(""):
                    pass

    def _read(self) -> bytes | None:
        """Input, b"" when the terminal is gone (end of file, or EIO from a pty whose other end
        closed), None when there is nothing after all."""
        try:
            return os.read(self.fileno, 4096)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            return b""

    def _hung_up(self) -> None:
        """The terminal is gone: leave the app (the login's shell hint goes nowhere, harmlessly)."""
        self._loop.call_soon_threadsafe(lambda: self._app.exit(return_code=HANGUP_RETURN_CODE))

    def close(self) -> None:
        """Called on quit and on every suspend, after the input thread has stopped."""
        super().close()
        self._close_wake_pipe()

    def _close_wake_pipe(self) -> None:
        for fd in (self._wake_read, self._waking.wake_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._wake_read = self._waking.wake_fd = None


def _pending_ms(parser: XTermParser) -> int | None:
    """How long poll() may wait: forever, unless the parser waits to tell a lone Esc from a sequence.

    `_timeout_time` is private to Textual's parser (tests/test_ui_driver.py pins what is used here).
    """
    deadline: float | None = parser._timeout_time
    if deadline is None:
        return None
    return max(0, int((deadline - get_time()) * 1000) + 1)


def _drain(fd: int) -> None:
    with contextlib.suppress(BlockingIOError, OSError):
        while os.read(fd, 4096):
            pass
