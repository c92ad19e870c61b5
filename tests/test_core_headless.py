"""The core runs without a terminal and without textual/rich; `status --json` matches its reference,
docs/status.schema.json, which documents every key and allows no other."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import screen_data
import status_schema
from cli_runner import run_cli
from conftest import MakeConfig

import installer_env
from installer_env import rotation, status
from installer_env.state import StateStore


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


def _objects(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every object schema in the reference, with its key path."""
    found = [(path, node)] if "properties" in node else []
    for key, child in node.get("properties", {}).items():
        found += _objects(child, f"{path}.{key}" if path else key)
    if "items" in node:
        found += _objects(node["items"], f"{path}[]")
    return found


def test_the_reference_documents_every_key_and_allows_no_other() -> None:
    jsonschema.Draft202012Validator.check_schema(status_schema.schema())
    objects = _objects(status_schema.schema())
    assert len(objects) >= 15
    for path, node in objects:
        assert node.get("additionalProperties") is False, path
        assert set(node["required"]) == set(node["properties"]), path
        for key, child in node["properties"].items():
            assert child.get("description"), f"{path}.{key} has no description"


def test_status_json_without_a_terminal_matches_the_reference(
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
    assert doc["ssh"]["host_keys"]
    status_schema.validate(json.loads(empty.stdout))
    status_schema.validate(doc)
    # And with tor and everything in the screen's snapshot.
    status_schema.validate(status.to_dict(screen_data.snapshot()))


@pytest.mark.parametrize(
    "where",
    [("password",), ("network", "interfaces", 0), ("network", "interfaces", 0, "hardware"), ("tor",), ()],
    ids=["password", "interface", "hardware", "tor", "top"],
)
def test_an_undocumented_key_fails_the_check(where: tuple[str | int, ...]) -> None:
    doc = status.to_dict(screen_data.snapshot())
    node: Any = doc
    for step in where:
        node = node[step]
    node["bogus"] = 1
    with pytest.raises(jsonschema.ValidationError, match="bogus"):
        status_schema.validate(doc)
