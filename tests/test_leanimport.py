"""The helper that imports pyroute2's and qrcode's submodules without their package __init__: it
works with the installed libraries, loads less, and falls back to the whole import when it cannot.

Each case runs in a fresh interpreter, as the helper changes `sys.modules` for the whole process.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _run(code: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_pyroute2_submodules_load_without_the_package_init_and_work() -> None:
    seen = _run(
        "import json, sys\n"
        "from installer_env import network, sshd\n"
        "snap = network.read()\n"
        "ports = sshd._ask_sock_diag()\n"
        "print(json.dumps({'problem': snap.problem,\n"
        "  'lo': any(i.name == 'lo' for i in snap.interfaces),\n"
        "  'init_ran': 'IPRoute' in vars(sys.modules['pyroute2']),\n"
        "  'modules': sum(m.startswith('pyroute2') for m in sys.modules),\n"
        "  'ports_ok': isinstance(ports, set)}))"
    )
    assert seen["problem"] is None
    assert seen["lo"] is True
    assert seen["ports_ok"] is True
    assert seen["init_ran"] is False
    whole = _run(
        "import json, sys, pyroute2\n"
        "print(json.dumps({'modules': sum(m.startswith('pyroute2') for m in sys.modules)}))"
    )
    assert int(str(seen["modules"])) < int(str(whole["modules"]))


def test_qr_codes_are_made_without_pillow() -> None:
    seen = _run(
        "import json, sys\n"
        "from installer_env import qr\n"
        "version, level, matrix = qr.encode('hello')\n"
        "print(json.dumps({'pil': 'PIL' in sys.modules, 'modules': len(matrix), 'level': level}))"
    )
    assert seen == {"pil": False, "modules": 21, "level": "H"}


def test_a_name_only_the_package_init_defines_still_works_afterwards() -> None:
    seen = _run(
        "import json, sys\n"
        "from installer_env import network, qr\n"
        "network.read()\n"
        "from pyroute2 import IPRoute\n"
        "import qrcode\n"
        "from qrcode.image.styles.moduledrawers import SquareModuleDrawer\n"
        "print(json.dumps({'iproute': IPRoute.__module__, 'qrcode': qrcode.QRCode.__module__,\n"
        "  'drawer': SquareModuleDrawer.__name__}))"
    )
    assert seen == {
        "iproute": "pyroute2.iproute.linux",
        "qrcode": "qrcode.main",
        "drawer": "SquareModuleDrawer",
    }


@pytest.mark.parametrize("broken", ["pyroute2.no_such_package", "pyroute2.config.version"])
def test_falls_back_to_the_whole_import_when_the_layout_is_not_as_expected(broken: str) -> None:
    # A listed package that does not exist, or is a plain module: the library is imported whole.
    seen = _run(
        "import json, sys\n"
        "from installer_env import leanimport\n"
        f"leanimport.SKIPPED_INITS['pyroute2'] = ('pyroute2', {broken!r})\n"
        "diag = leanimport.lean_import('pyroute2.netlink.diag')\n"
        "print(json.dumps({'diag': diag.DiagSocket.__name__,\n"
        "  'init_ran': 'IPRoute' in vars(sys.modules['pyroute2'])}))"
    )
    assert seen == {"diag": "DiagSocket", "init_ran": True}
