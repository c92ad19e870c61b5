"""What the console screen loads before its first frame: only what that frame needs.

dbus-fast (the Wi-Fi helper) and stem (tor) load when their feature is used, so a console with
them off never pays for them; netlink is asked with the standard library.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

DEFERRED = ("dbus_fast", "stem", "pyroute2")


def _loaded_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint(','.join(sorted({{m.split('.')[0] for m in sys.modules}})))\n"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return set(result.stdout.strip().split(","))


def test_the_screen_path_loads_no_dbus_stem_or_pyroute2() -> None:
    loaded = _loaded_after("import installer_env.cli, installer_env.console, installer_env.ui.app")
    assert "textual" in loaded  # the probe did load the screen
    assert loaded.isdisjoint(DEFERRED), sorted(loaded.intersection(DEFERRED))


@pytest.mark.parametrize(
    ("code", "module"),
    [
        ("from installer_env import wifi\nwifi.read_status", "dbus_fast"),
        ("from installer_env.ui.screens.wifi import WifiScreen", "dbus_fast"),
    ],
    ids=["wifi-source", "wifi-screen"],
)
def test_the_wifi_helper_loads_dbus_fast_when_used(code: str, module: str) -> None:
    assert module in _loaded_after(code)
