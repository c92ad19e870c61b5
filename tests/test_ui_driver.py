"""The input driver leans on private parts of Textual: its xterm parser, the parser's pending-Esc
deadline and the Linux driver's input-thread hooks. Here is what it uses, so a Textual that changes
them fails this test rather than the console."""

from __future__ import annotations

import inspect

from textual import events
from textual._parser import ParseError
from textual._time import get_time
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

from installer_env.ui.driver import QuietLinuxDriver, _pending_ms


def test_the_private_textual_parts_the_driver_uses_are_still_there() -> None:
    parser = XTermParser(False)
    assert parser._timeout_time is None
    assert _pending_ms(parser) is None  # nothing pending: poll() sleeps until input
    assert list(parser.feed("\x1b")) == []  # a lone Esc: maybe the start of a sequence
    assert parser._timeout_time is not None
    assert parser._timeout_time > get_time() - 1
    pending = _pending_ms(parser)
    assert pending is not None
    assert 0 <= pending <= 1000
    parser._timeout_time = get_time() - 1  # as if the pause had passed
    keys = [m for m in parser.tick() if isinstance(m, events.Key)]
    assert [k.key for k in keys] == ["escape"]
    assert [m.key for m in parser.feed("a") if isinstance(m, events.Key)] == ["a"]
    assert issubclass(ParseError, Exception)

    # The Linux driver hooks the subclass overrides, with the signatures it overrides them with.
    for name in ("run_input_thread", "start_application_mode", "close", "disable_input"):
        assert list(inspect.signature(getattr(LinuxDriver, name)).parameters) == ["self"], name
    assert issubclass(QuietLinuxDriver, LinuxDriver)
    source = inspect.getsource(LinuxDriver.disable_input)
    assert "self.exit_event.set()" in source
    assert "self._key_thread.join()" in source
