"""What the console screen loads before its first frame: only what that frame needs, and the rest off
the thread that draws it.

dbus-fast (the Wi-Fi helper) and stem (tor) load when their feature is used, so a console with
them off never pays for them. The first snapshot is collected by a child process while this one
imports textual, and handed over worded and with its QR codes made (`console.FirstLook`): the
session model, the network code, pyroute2 and qrcode load in this process after the first frame,
with the session and its sources.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

NOT_ON_THE_SCREEN_PATH = ("dbus_fast", "stem", "pyroute2", "asyncinotify")

# `installer-env demo` as a console runs it, up to the moment the screen would start: the app's
# `run` notes what the process has loaded by then and what the first snapshot holds.
FIRST_SNAPSHOT_PROBE = """
import json, sys
from installer_env import cli, console
import installer_env.ui.app as ui_app

seen = {}

def run(self, *args, **kwargs):
    seen["loaded"] = sorted(sys.modules)
    seen["collecting_garbage"] = __import__("gc").isenabled()
    seen["logins"] = [c.text for c in self.presentation.logins]
    seen["network_problem"] = self.session.snapshot.network.problem  # makes the session
    seen["interfaces"] = len(self.session.snapshot.network.interfaces)
    from installer_env.wording import for_screen
    seen["worded_here"] = for_screen(self.session.snapshot, self.config) == self.presentation

ui_app.InstallerApp.run = run
console.choose = lambda *args, **kwargs: console.View.SCREEN  # as on a console, without one
sys.argv = ["installer-env", "demo", "--state-dir", sys.argv[1]]
cli.main()
print(json.dumps(seen))
"""


def _run_probe(probe: str, tmp_path: Path, **environ: str) -> subprocess.CompletedProcess[str]:
    """A probe above, in a fresh interpreter, with its state directory under `tmp_path`."""
    return subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path / "state")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **environ},
    )


def _loaded_modules_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint(','.join(sorted(sys.modules)))\n"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return set(result.stdout.strip().split(","))


def _loaded_after(code: str) -> set[str]:
    """The top-level packages loaded."""
    return {m.split(".")[0] for m in _loaded_modules_after(code)}


def test_the_screen_path_loads_no_dbus_stem_pyroute2_or_asyncinotify() -> None:
    loaded = _loaded_after("import installer_env.cli, installer_env.console, installer_env.ui.app")
    assert "textual" in loaded  # the probe did load the screen
    assert loaded.isdisjoint(NOT_ON_THE_SCREEN_PATH), sorted(loaded.intersection(NOT_ON_THE_SCREEN_PATH))


# What a console's login loads before the password can be written: the session model (netlink,
# sshd, tor, Wi-Fi, the QR code) and asyncio load after it.
BEFORE_THE_PASSWORD = ("installer_env.commands", "installer_env.console", "installer_env.password_text")
AFTER_THE_PASSWORD = (
    "asyncio",
    "installer_env.session",
    "installer_env.presentation",
    "installer_env.status",
    "installer_env.network",
    "installer_env.qr",
    "installer_env.plain",
)

EARLY_PASSWORD_PROBE = """
import json, sys
from installer_env import cli, console

seen = {}
write = sys.stdout.write

def noting_write(text):
    if "Password" in text and "loaded" not in seen:
        seen["loaded"] = sorted(sys.modules)
    return write(text)

sys.stdout.write = noting_write
console.choose = lambda *args, **kwargs: console.View.SCREEN  # as on a console, without one

def stop(work):  # where the first snapshot would start: the password is out by then
    raise SystemExit(0)

console.in_child = stop
sys.argv = ["installer-env", "demo", "--state-dir", sys.argv[1]]
try:
    cli.main()
except SystemExit:
    pass
sys.stderr.write(json.dumps(seen))
"""


# Loaded only where a password is made or set (the first console login of a boot, `n`): a login
# that shows this boot's password again needs none of it.
MAKING_A_PASSWORD = ("installer_env.password", "secrets", "hmac")


def test_the_login_imports_no_session_model_before_the_password() -> None:
    loaded = _loaded_modules_after("import installer_env.commands")
    assert set(BEFORE_THE_PASSWORD) <= loaded
    assert loaded.isdisjoint(AFTER_THE_PASSWORD), sorted(loaded.intersection(AFTER_THE_PASSWORD))
    assert loaded.isdisjoint(MAKING_A_PASSWORD), sorted(loaded.intersection(MAKING_A_PASSWORD))


def test_on_the_vt_the_password_is_written_before_the_session_model_loads(tmp_path: Path) -> None:
    result = _run_probe(EARLY_PASSWORD_PROBE, tmp_path, TERM="linux")
    assert "Password" in result.stdout, result.stdout + result.stderr
    loaded = set(json.loads(result.stderr.splitlines()[-1])["loaded"])
    assert "installer_env.password_text" in loaded
    assert loaded.isdisjoint(AFTER_THE_PASSWORD), sorted(loaded.intersection(AFTER_THE_PASSWORD))


# Loaded in the first snapshot's child, and in the screen's process only after its first frame.
AFTER_THE_FIRST_FRAME = (
    "pyroute2",
    "qrcode",
    "asyncinotify",  # the state directory is watched once the sources start
    "installer_env.session",
    "installer_env.wording",
    "installer_env.network",
    "installer_env.sshd",
    "installer_env.tor",
    "installer_env.status",
    "installer_env.ui.screens.help",  # the screens a key opens
    "installer_env.ui.screens.qr_fullscreen",
)


def test_the_first_snapshot_is_collected_and_worded_by_a_child_process(tmp_path: Path) -> None:
    """Its addresses come through pyroute2 and its QR code through qrcode, neither of which this
    process has loaded when the app starts: the child loaded them, on a CPU of its own, and
    handed over the screen's presentation. The session is made from its snapshot after that."""
    result = _run_probe(FIRST_SNAPSHOT_PROBE, tmp_path)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.splitlines()[-1])
    loaded = set(seen["loaded"])
    assert "textual.app" in loaded  # the probe got as far as the screen
    assert loaded.isdisjoint(AFTER_THE_FIRST_FRAME), sorted(
        m for m in loaded if m.split(".")[0] in AFTER_THE_FIRST_FRAME or m in AFTER_THE_FIRST_FRAME
    )
    assert not any(m.startswith(("pyroute2.", "qrcode.")) for m in loaded)
    assert seen["network_problem"] is None
    assert seen["interfaces"] >= 1  # lo at least
    assert seen["logins"]  # the mDNS name at least
    assert seen["worded_here"]  # the child's presentation is the one of the snapshot it handed over
    assert seen["collecting_garbage"] is False  # until the first frame is out (the app enables it)


def test_the_screens_first_snapshot_runs_sshd_before_netlink_not_beside_it(tmp_path: Path) -> None:
    """The child collects beside this process's imports, one on each CPU: `sshd -T` beside the
    child's own work would be a third process taking turns with both (see `session.collect`)."""
    probe = (
        "import gc, json, os, sys\n"
        "from installer_env import cli, console, session\n"
        "import installer_env.ui.app as ui_app\n"
        "real_collect, calls = session.collect, sys.argv[2]\n"
        "def noting_collect(*args, **kwargs):\n"
        "    with open(calls, 'a') as f:\n"
        "        f.write(json.dumps({'pid': os.getpid(), 'gc': gc.isenabled(), **kwargs}) + '\\n')\n"
        "    return real_collect(*args, **kwargs)\n"
        "session.collect = noting_collect\n"
        "ui_app.InstallerApp.run = lambda self, *args, **kwargs: None\n"
        "console.choose = lambda *args, **kwargs: console.View.SCREEN\n"
        "sys.argv = ['installer-env', 'demo', '--state-dir', sys.argv[1]]\n"
        "cli.main()\n"
        "print(os.getpid())\n"
    )
    calls = tmp_path / "collect-calls"
    result = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path / "state"), str(calls)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (call,) = [json.loads(line) for line in calls.read_text().splitlines()]
    assert call["pid"] != int(result.stdout.split()[-1])  # the child's
    assert call["live"] is True
    assert call["spare_cpu"] is False
    assert call["gc"] is False  # a process that exits once it has answered never collects


def _first_look_file(tmp_path: Path, terminal: tuple[int, int] | None) -> Path:
    """A first look made in another process, as the child makes it."""
    maker = (
        "import pickle, sys\n"
        "from installer_env import console\n"
        "import screen_data\n"
        f"look = console.first_look(screen_data.config(), screen_data.snapshot(), {terminal!r})\n"
        "sys.stdout.buffer.write(pickle.dumps(look))\n"
    )
    made = subprocess.run(
        [sys.executable, "-c", maker],
        capture_output=True,
        timeout=60,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)},
    )
    path = tmp_path / "look.pickle"
    path.write_bytes(made.stdout)
    return path


def _drawn_without_qrcode_or_the_session_model(look: Path, drawing: str) -> None:
    loaded = _loaded_modules_after(
        "import pickle\n"
        f"look = pickle.loads(open({str(look)!r}, 'rb').read())\n"
        f"look.adopt_qr_codes()\n{drawing}"
    )
    assert "installer_env.presentation" in loaded
    unwanted = {m for m in loaded if m.split(".")[0] == "qrcode" or m in AFTER_THE_FIRST_FRAME}
    assert not unwanted, sorted(unwanted)


def test_the_first_looks_qr_codes_are_drawn_without_qrcode_or_the_session_model(tmp_path: Path) -> None:
    """A first look made in one process for a terminal of unknown size holds every code: drawn in
    another, fitted to two spaces as the screen's layouts do, it loads neither qrcode nor the
    session model there."""
    _drawn_without_qrcode_or_the_session_model(
        _first_look_file(tmp_path, None),
        "wide = look.presentation.fit_qr(100, 37)\n"  # both hosts: 45 modules, 49x25 with 2
        "narrow = look.presentation.fit_qr(47, 24)\n"  # neither: 41 modules, 45x23
        "assert (wide.omitted, narrow.omitted) == (0, 2), (wide, narrow)\n",
    )


def test_a_first_look_for_a_terminal_holds_the_codes_its_layout_tries_there(tmp_path: Path) -> None:
    """At 100x37 the code with both hosts fits beside the text: the child makes that one code
    alone, and the screen lays out its first frame there without making another."""
    look = _first_look_file(tmp_path, (100, 37))
    _drawn_without_qrcode_or_the_session_model(
        look,
        "from installer_env.ui import layout\n"
        "assert sorted(look.qr_codes) == [2], sorted(look.qr_codes)\n"
        "chosen = layout.choose(100, 37, look.presentation.fit_qr)\n"
        "assert chosen.kind is layout.Kind.WIDE and chosen.code.omitted == 0, chosen\n",
    )


def test_the_wired_network_screen_and_what_applies_addresses_load_on_its_first_visit() -> None:
    probe = (
        "import json, sys, installer_env.cli, installer_env.console, installer_env.ui.app\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('installer_env'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    deferred = {"installer_env.netapply", "installer_env.netconfig", "installer_env.ui.screens.network"}
    assert deferred.isdisjoint(json.loads(result.stdout)), result.stdout


@pytest.mark.parametrize(
    ("code", "module"),
    [
        ("from installer_env import wifi\nwifi.read_status", "dbus_fast"),
        ("from installer_env.ui.screens.wifi import WifiScreen", "dbus_fast"),
        (
            "import asyncio, tempfile, pathlib\n"
            "from installer_env.dirwatch import DirectoryChanges\n"
            "async def main():\n"
            "    DirectoryChanges(pathlib.Path(tempfile.gettempdir())).close()\n"
            "asyncio.run(main())",
            "asyncinotify",
        ),
    ],
    ids=["wifi-source", "wifi-screen", "directory-watch"],
)
def test_a_deferred_library_loads_when_its_feature_is_used(code: str, module: str) -> None:
    assert module in _loaded_after(code)


# Reading addresses, following their events and asking sock_diag, as the screen does.
NETLINK_PROBE = """
import asyncio, json, sys
from installer_env import network, sshd

async def first_of_watch():
    async for snap in network.watch():
        return snap

snap = network.read()
assert snap.problem is None and snap.interfaces, snap
assert asyncio.run(first_of_watch()) == snap
sshd.listening_ports()
print(json.dumps(sorted(m for m in sys.modules if m.startswith("pyroute2") or m.split(".")[0] == "unittest")))
"""


def test_netlink_loads_the_link_and_address_messages_of_pyroute2_not_its_whole_rtnetlink() -> None:
    """pyroute2's rtnetlink sockets parse with every message class it has (traffic control,
    neighbours, routes) and bring `unittest.mock` along: about twice the time and memory."""
    result = subprocess.run(
        [sys.executable, "-c", NETLINK_PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout))
    wanted = {"pyroute2.netlink.rtnl.ifinfmsg", "pyroute2.netlink.rtnl.ifaddrmsg", "pyroute2.netlink.diag"}
    assert wanted <= loaded
    unwanted = {"unittest", "pyroute2.netlink.rtnl.marshal", "pyroute2.netlink.rtnl.tcmsg"}
    unwanted.add("pyroute2.iproute.linux")
    assert loaded.isdisjoint(unwanted), sorted(loaded & unwanted)
    assert len(loaded) <= 45, len(loaded)  # 37 now; the whole rtnetlink socket is 143


# ---------------------------------------------------------------- console.in_child
# Each in a fresh interpreter: in_child forks only a process with no other thread, which the test
# runner, after other tests, may not be.


def _in_fresh_interpreter(code: str) -> Any:
    probe = f"import json, os, signal, threading\nfrom installer_env.console import in_child\n{code}"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_in_child_runs_the_work_in_another_process_and_returns_its_result() -> None:
    here, pid, value, reaped = _in_fresh_interpreter(
        "pid, value = in_child(lambda: (os.getpid(), {'an': ('answer', 1)}))()\n"
        "try:\n"
        "    os.waitpid(pid, os.WNOHANG)\n"
        "    reaped = False\n"
        "except ChildProcessError:\n"
        "    reaped = True\n"
        "print(json.dumps([os.getpid(), pid, value, reaped]))"
    )
    assert pid != here
    assert value == {"an": ["answer", 1]}
    assert reaped  # no zombie left


def test_an_error_in_the_child_is_raised_here() -> None:
    raised = _in_fresh_interpreter(
        "def failing():\n"
        "    raise PermissionError('cannot read /run/x: a reason the person needs')\n"
        "result = in_child(failing)\n"
        "try:\n"
        "    result()\n"
        "except PermissionError as e:\n"
        "    print(json.dumps(str(e)))"
    )
    assert raised == "cannot read /run/x: a reason the person needs"


def test_a_child_that_dies_without_an_answer_leaves_the_work_to_this_process() -> None:
    here, ran_in = _in_fresh_interpreter(
        "here = os.getpid()\n"
        "def dies_in_the_child():\n"
        "    if os.getpid() != here:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return os.getpid()\n"
        "print(json.dumps([here, in_child(dies_in_the_child)()]))"
    )
    assert ran_in == here


def test_with_another_thread_running_the_work_is_not_forked() -> None:
    here, ran_in = _in_fresh_interpreter(
        "stop = threading.Event()\n"
        "threading.Thread(target=stop.wait).start()\n"
        "ran_in = in_child(os.getpid)()\n"
        "stop.set()\n"
        "print(json.dumps([os.getpid(), ran_in]))"
    )
    assert ran_in == here


async def test_the_first_frame_parses_the_stylesheet_once_in_the_consoles_theme(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The theme is the app's default, not set after Textual made its stylesheet: a theme set in
    `__init__` has Textual parse every sheet twice before the first frame (once per theme)."""
    import screen_data
    from textual.css import parse, stylesheet

    parsed: list[str] = []
    real_parse = parse.parse  # as the stylesheet module calls it, on a sheet not parsed before

    def noting_parse(scope: str, css: str, read_from: Any, **kwargs: Any) -> Any:
        parsed.append(str(read_from[0]))
        return real_parse(scope, css, read_from, **kwargs)

    monkeypatch.setattr(stylesheet, "parse", noting_parse)
    app = screen_data.app()
    async with app.run_test(size=(100, 37)) as pilot:
        await pilot.pause()
        assert app.theme == "ansi-dark"
        assert app.stylesheet._variables["background"] == app.get_theme("ansi-dark").background  # type: ignore[union-attr]
    assert [p for p in parsed if p.endswith("app.tcss")] == [
        str(Path(__file__).parent.parent / "installer_env/ui/app.tcss")
    ]
