"""The core runs without a terminal and without textual/rich; `status --json` matches the README."""

from __future__ import annotations

import json
import pkgutil
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cli_runner import run_cli
from conftest import MakeConfig

import installer_env
from installer_env import rotation
from installer_env.state import StateStore

README = Path(__file__).resolve().parent.parent / "README.md"


def _core_modules() -> list[str]:
    names = [
        m.name
        for m in pkgutil.walk_packages(installer_env.__path__, "installer_env.")
        if m.name != "installer_env.ui" and not m.name.startswith("installer_env.ui.")
    ]
    # __main__ runs the command line on import; cli (which it calls) is covered.
    return ["installer_env", *sorted(n for n in names if n != "installer_env.__main__")]


def test_core_module_list_is_not_empty() -> None:
    modules = _core_modules()
    assert {
        "installer_env.cli",
        "installer_env.session",
        "installer_env.state",
        "installer_env.status",
    } <= set(modules)


@pytest.mark.parametrize("module", _core_modules())
def test_core_module_does_not_load_textual_or_rich(module: str) -> None:
    probe = (
        "import importlib, sys\n"
        f"importlib.import_module({module!r})\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"{module} loads {result.stdout.strip()}"


def _flatten(value: Any, path: str = "") -> set[str]:
    """Dotted key paths of the leaves; lists as `key[]`, their objects' keys as `key[].child`."""
    if isinstance(value, dict):
        paths: set[str] = set()
        for key, child in value.items():
            paths |= _flatten(child, f"{path}.{key}" if path else key)
        return paths
    if isinstance(value, list):
        paths = {f"{path}[]"}
        for item in value:
            if isinstance(item, dict):
                paths |= _flatten(item, f"{path}[]")
        return paths
    return {path}


def _documented_keys() -> set[str]:
    """The key paths in the README's `status --json` table.

    A row names a key path, siblings as `.name`, and for a list of objects (`key[]`) the objects'
    keys in the meaning column.
    """
    text = README.read_text(encoding="utf-8")
    section = text[text.index("`installer-env status --json` prints") :]
    section = section[: section.index("\n## ")]
    documented: set[str] = set()
    for row in re.findall(r"^\| (.+?) \| (.+?) \|$", section, flags=re.MULTILINE):
        keys = re.findall(r"`([^`]+)`", row[0])
        if not keys or keys[0] == "key":
            continue
        first = keys[0]
        parent = first.rsplit(".", 1)[0] if "." in first else ""
        for key in keys:
            full = f"{parent}{key}" if key.startswith(".") else key
            documented.add(full)
            if full.endswith("[]"):
                for child in re.findall(r"`([a-z_][a-z0-9_]*)`", row[1]):
                    documented.add(f"{full}.{child}")
    return documented


def _is_documented(path: str, documented: set[str]) -> bool:
    # An object documented as a whole (`network`, `qr`) may describe its keys in prose.
    parts = path.split(".")
    return any(".".join(parts[:n]) in documented for n in range(1, len(parts) + 1))


def test_status_json_without_a_terminal_matches_the_readme(
    isolated_env: dict[str, str], tmp_path: Path, make_config: MakeConfig
) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / "k")], check=True)
    env = {k: v for k, v in isolated_env.items() if k not in ("TERM", "COLUMNS", "LINES")}
    env["INSTALLER_ENV_SSH_HOST_KEYS"] = str(keys / "k.pub")
    empty = run_cli(env, "status", "--json")
    assert empty.returncode == 0, empty.stderr
    # A password (shown only, never applied) so that its keys appear too.
    rotation.rotate(make_config(), StateStore(Path(env["INSTALLER_ENV_STATE_DIR"])))
    result = run_cli(env, "status", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["password"] is not None

    documented = _documented_keys()
    assert {"schema", "password.password", "ssh.host_keys[].fingerprint", "ssh.problems[]"} <= documented
    actual = _flatten(doc) | _flatten(json.loads(empty.stdout))
    undocumented = sorted(p for p in actual if not _is_documented(p, documented))
    assert undocumented == [], f"keys missing from the README table: {undocumented}"
    top_level = {k for k in documented if "." not in k and "[" not in k}
    assert top_level <= doc.keys(), "README documents keys status --json does not print"
    for key in documented:
        head, _, rest = key.partition(".")
        if head in ("password", "ssh") and rest and "[]." not in key and not rest.endswith("[]"):
            assert rest in doc[head], key
