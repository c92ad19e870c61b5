"""The console app: renders session snapshots, turns keys into intents on the core."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from textual import events, on
from textual.app import App, SuspendNotSupported
from textual.binding import Binding, BindingType
from textual.driver import Driver
from textual.drivers.linux_driver import LinuxDriver
from textual.reactive import Reactive, var
from textual.screen import Screen

from installer_env import rotation
from installer_env.config import Config
from installer_env.console import NESTED_ENV
from installer_env.errors import InstallerEnvError
from installer_env.presentation import Presentation
from installer_env.state import StateStore
from installer_env.ui.driver import QuietLinuxDriver
from installer_env.ui.screens.main import MainScreen

if TYPE_CHECKING:
    from installer_env.netapply import Environment
    from installer_env.session import Session, Snapshot


class InstallerApp(App[None]):
    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = False
    # The console has no mouse; keys only, all listed in the footer and in the help.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("w", "wifi", "Wi-Fi"),
        Binding("e", "network", "Wired"),
        Binding("n", "new_password", "New password"),
        Binding("q,f", "qr", "QR code", key_display="q"),
        Binding("s", "shell", "Shell"),
        Binding("question_mark,f1", "help", "Help", key_display="?"),
        Binding("x", "quit_to_shell", "Quit"),
        Binding("ctrl+c", "quit_to_shell", "Quit", show=False, priority=True),
    ]

    # Screens render the presentation (made once per snapshot), set in __init__ before any screen
    # watches it; the Wi-Fi and network screens read the snapshot's raw values, set with the session.
    snapshot: var[Snapshot] = var["Snapshot"](None, init=False)  # type: ignore[arg-type]
    presentation: var[Presentation] = var[Presentation](None, init=False)  # type: ignore[arg-type]
    message: var[str] = var("")  # one line under the details: results of keys, until replaced
    # The 16 ANSI colours as the console shows them. Textual's own default, not a value set in
    # __init__: setting it there makes Textual parse every stylesheet twice before the first frame.
    theme: Reactive[str] = Reactive("ansi-dark")

    def __init__(
        self,
        config: Config,
        store: StateStore,
        session: Session | Callable[[], Session],
        *,
        presentation: Presentation | None = None,
        follow_sources: bool = True,
    ) -> None:
        """`session`, or how to make it with `presentation`, its first snapshot's for the screen
        (`wording.for_screen`): the first frame is drawn from that presentation, and the session
        (which loads the session model) is made once the frame is out, or at the first key that
        needs it."""
        super().__init__()
        self.config = config
        self.store = store
        self.follow_sources = follow_sources
        self._session: Session | None = None
        self._make_session: Callable[[], Session] | None = None
        self._following = False
        if callable(session):
            assert presentation is not None, "a session made later needs its first presentation"
            self._make_session = session
        else:
            self._adopt(session)
            presentation = presentation or self._present(session.snapshot)
        self.set_reactive(InstallerApp.presentation, presentation)
        # Where the wired network screen applies changes: this system (tests: a namespace of theirs);
        # made with the screen on its first visit.
        self.network_environment: Environment | None = None
        self._signals_before: dict[signal.Signals, signal._HANDLER] = {}

        if presentation.password.rotation_problem:
            self.message = f"No new password: {presentation.password.rotation_problem}"

    @property
    def session(self) -> Session:
        """The session, made now if the first frame has not made it yet (a key pressed before)."""
        if self._session is None:
            assert self._make_session is not None
            self._adopt(self._make_session())
            assert self._session is not None
        return self._session

    def _adopt(self, session: Session) -> None:
        self._session = session
        self.set_reactive(InstallerApp.snapshot, session.snapshot)

    def get_default_screen(self) -> Screen[None]:
        return MainScreen(self.config, self.presentation)

    def on_mount(self) -> None:
        self._leave_on_signals(asyncio.get_running_loop())

    def on_ready(self) -> None:
        # The first frame is out (Textual's Ready, whatever screen is on top by then). The first
        # snapshot was just collected: the session and its sources (netlink, udev, inotify) wait
        # until it is on screen, where making them would delay the first frame.
        if not gc.isenabled():  # the console paused the cyclic garbage collector for the start
            # What the start made lives as long as the screen: frozen, the collector walks none
            # of it, neither now (one pass over all of it, while the frame is being written out)
            # nor when it runs later.
            gc.freeze()
            gc.enable()
        self._follow()

    def _follow(self) -> None:
        """Follow the session and run its sources: from the first frame on, or from a key that
        needs them before (a screen that shows the session's raw values)."""
        if self._following:
            return
        self._following = True
        from installer_env.session import run_sources

        session = self.session
        self.run_worker(self._follow_session(session), name="snapshots")
        if self.follow_sources:
            self.run_worker(
                run_sources(self.config, self.store, session), name="sources", exit_on_error=False
            )

    def _leave_on_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        """SIGHUP and SIGTERM leave as `x` does (a hang-up would otherwise end the process at once),
        so that the exit stops what this process started and has not handed over (a tor still
        starting).

        Not `loop.add_signal_handler`: its wake-up socket is inherited by children that libraries
        fork (pyroute2's helpers for another network namespace), and a SIGTERM sent to such a
        child would then read as this process's own. A child that inherits this handler dies as
        it would without it.
        """
        pid = os.getpid()

        def leave(signum: int, _frame: object) -> None:
            if os.getpid() != pid:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)
                return
            loop.call_soon_threadsafe(self.exit, None, 128 + signum)

        self._signals_before = {sig: signal.signal(sig, leave) for sig in (signal.SIGHUP, signal.SIGTERM)}

    @on(events.Unmount)
    def _restore_signals(self) -> None:
        for sig, handler in self._signals_before.items():
            signal.signal(sig, handler)

    def get_driver_class(self) -> type[Driver]:
        # Ours sleeps while the console is idle and leaves when the terminal goes away.
        driver = super().get_driver_class()
        return QuietLinuxDriver if driver is LinuxDriver else driver

    def _present(self, snap: Snapshot) -> Presentation:
        from installer_env.wording import for_screen

        return for_screen(snap, self.config)

    async def _follow_session(self, session: Session) -> None:
        async for snap in session.snapshots():
            if snap is not self.snapshot:
                self.presentation = self._present(snap)
                self.snapshot = snap

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The Wi-Fi and network screens need the footer's room for their own keys; these are one Esc away.
        own_keys = self._on_wifi_screen() or self._on_network_screen()
        return not (own_keys and action in ("wifi", "network", "new_password", "qr", "shell"))

    # The Wi-Fi screen (dbus-fast with it) and the wired network screen (the code that applies
    # addresses) are imported on their first visit, not before the first frame.
    def _on_screen(self, module: str, name: str) -> bool:
        screens = sys.modules.get(module)
        return screens is not None and isinstance(self.screen, getattr(screens, name))

    def _on_wifi_screen(self) -> bool:
        return self._on_screen("installer_env.ui.screens.wifi", "WifiScreen")

    def _on_network_screen(self) -> bool:
        return self._on_screen("installer_env.ui.screens.network", "NetworkScreen")

    def action_wifi(self) -> None:
        if not self.config.wifi_enabled:
            self.message = "The Wi-Fi helper is off (wifi_enabled). In a shell (s): iwctl station wlan0 ..."
            return
        if not self._on_wifi_screen():
            from installer_env.ui.screens.wifi import WifiScreen

            self._follow()  # the screen shows the session's raw snapshot
            self.push_screen(WifiScreen())

    def action_network(self) -> None:
        if not self._on_network_screen():
            from installer_env.netapply import Environment
            from installer_env.ui.screens.network import NetworkScreen

            if self.network_environment is None:
                self.network_environment = Environment(state_dir=self.config.state_dir, demo=self.config.demo)
            self._follow()  # the screen shows the session's raw snapshot
            self.push_screen(NetworkScreen(self.network_environment))

    def action_new_password(self) -> None:
        self.run_worker(self._rotate(), name="rotate", group="rotate", exclusive=True)

    async def _rotate(self) -> None:
        self.message = "Making a new password..."
        try:
            # chpasswd and the state lock may take a moment: never on the UI thread.
            state = await asyncio.to_thread(rotation.rotate, self.config, self.store)
        except InstallerEnvError as e:
            self.message = f"No new password: {e}"
            return
        from installer_env.session import NewPassword

        self.session.publish(NewPassword(state))
        if state.applied:
            self.message = f"New password set (generation {state.generation}); the old one no longer works."
        else:
            self.message = f"New password made (generation {state.generation}), {state.note}."

    # The screens a key opens load when it is first pressed, not before the first frame.

    def action_qr(self) -> None:
        from installer_env.ui.screens.qr_fullscreen import QrScreen

        if not isinstance(self.screen, QrScreen):
            self.push_screen(QrScreen(self.config))

    def action_help(self) -> None:
        from installer_env.ui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_shell(self) -> None:
        shell = os.environ.get("SHELL") or "/bin/sh"
        try:
            with self.suspend():
                print("Type exit to return to the installer screen.", flush=True)
                try:
                    subprocess.run([shell], check=False, env={**os.environ, NESTED_ENV: "1"})
                except OSError as e:
                    print(f"installer-env: cannot run {shell}: {e}", file=sys.stderr, flush=True)
        except SuspendNotSupported:  # no terminal to hand over (a web or test driver)
            self.message = "Cannot open a shell here: this terminal cannot be handed over."

    def action_quit_to_shell(self) -> None:
        self.exit()
