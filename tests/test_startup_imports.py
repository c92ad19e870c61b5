"""What the console screen loads before its first frame: only what that frame needs, and the rest off
the thread that draws it.

dbus-fast (the Wi-Fi helper) and stem (tor) load when their feature is used, so a console with
them off never pays for them. pyroute2 (netlink) is needed for the first frame's addresses, but is
imported by the first snapshot's thread while the UI thread imports textual; asyncinotify loads
when the sources start, after the first frame.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

NOT_ON_THE_SCREEN_PATH = ("dbus_fast", "stem", "pyroute2", "asyncinotify")

# The UI thread's imports (what `installer-env` runs before the screen's first frame), then the
# first snapshot collected on a thread of its own, as `console.show` does; an audit hook notes the
# thread that imports each package first.
FIRST_SNAPSHOT_PROBE = """
import json, sys, threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

importers = {}

def note(event, args):
    # By top-level name: pyroute2's own package is registered without an import (see leanimport).
    if event == "import" and args[0].split(".")[0] in ("pyroute2", "asyncinotify", "textual"):
        importers.setdefault(args[0].split(".")[0], threading.current_thread().name)

sys.addaudithook(note)
import installer_env.cli, installer_env.console, installer_env.ui.app
from installer_env.config import Config
from installer_env.session import collect
from installer_env.state import StateStore

tmp = Path(sys.argv[1])
config = Config(
    state_dir=tmp / "state",
    os_release=tmp / "no-os-release",
    ssh_host_keys=str(tmp / "no-keys" / "*.pub"),
    tor_enabled=False,
    wifi_enabled=False,
)
before = sorted({m.split(".")[0] for m in sys.modules})
with ThreadPoolExecutor(max_workers=1, thread_name_prefix="first-snapshot") as pool:
    snapshot = pool.submit(collect, config, StateStore(config.state_dir)).result()
print(json.dumps({
    "before": before,
    "importers": importers,
    "main": threading.main_thread().name,
    "network_problem": snapshot.network.problem,
    "interfaces": len(snapshot.network.interfaces),
}))
"""


def _loaded_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint(','.join(sorted({{m.split('.')[0] for m in sys.modules}})))\n"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return set(result.stdout.strip().split(","))


def test_the_screen_path_loads_no_dbus_stem_pyroute2_or_asyncinotify() -> None:
    loaded = _loaded_after("import installer_env.cli, installer_env.console, installer_env.ui.app")
    assert "textual" in loaded  # the probe did load the screen
    assert loaded.isdisjoint(NOT_ON_THE_SCREEN_PATH), sorted(loaded.intersection(NOT_ON_THE_SCREEN_PATH))


def test_pyroute2_is_imported_by_the_first_snapshot_not_by_the_ui_thread(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", FIRST_SNAPSHOT_PROBE, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["importers"]["textual"] == seen["main"]  # the hook sees the UI thread's imports
    assert "pyroute2" not in seen["before"]
    # The first snapshot read the addresses through pyroute2, on a thread other than the UI's.
    assert seen["network_problem"] is None
    assert seen["interfaces"] >= 1  # lo at least
    assert seen["importers"]["pyroute2"] != seen["main"], seen["importers"]
    assert "asyncinotify" not in seen["importers"]  # the state directory is watched once sources start


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
