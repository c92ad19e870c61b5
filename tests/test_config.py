"""Settings: file, then environment, then command line; every mistake is exit 2 with one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_runner import run_cli

from installer_env.config import Config, load_config
from installer_env.errors import ConfigError


def test_layers_override_each_other(tmp_path: Path) -> None:
    file = tmp_path / "config.json"
    file.write_text('{"password_words": 6, "password_user": "alice", "consoles": ["tty1"]}')
    env = {
        "INSTALLER_ENV_CONFIG": str(file),
        "INSTALLER_ENV_PASSWORD_WORDS": "5",
        "INSTALLER_ENV_MDNS": "off",
    }
    config = load_config(env, overrides={"state_dir": tmp_path})
    assert (config.password_words, config.password_user, config.mdns) == (5, "alice", False)
    assert config.consoles == ("tty1",)
    assert config.state_dir == tmp_path
    assert load_config(
        {"INSTALLER_ENV_CONFIG": str(file), "INSTALLER_ENV_CONSOLES": "ttyS1, hvc0"}
    ).consoles == (
        "ttyS1",
        "hvc0",
    )
    assert load_config({"INSTALLER_ENV_CONFIG": str(file), "INSTALLER_ENV_SSH_PORT": ""}).ssh_port is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "cannot read config file"),
        ("[1, 2]", "must hold a JSON object"),
        ('{"pasword_words": 4}', "unknown setting 'pasword_words'"),
        ('{"password_words": 0}', "password_words must be between 1 and 20"),
        ('{"password_words": 4.5}', "expected a whole number"),
        ('{"password_words": null}', "setting password_words"),
        ('{"password_words": "many"}', "setting password_words"),
        ('{"password_user": "a:b"}', "not a valid user name"),
        ('{"password_user": ""}', "not a valid user name"),
        ('{"ssh_port": 70000}', "ssh_port must be a TCP port"),
        ('{"state_dir": 5}', "expected a path"),
        ('{"demo": "maybe"}', "expected true or false"),
        ('{"consoles": [1]}', "expected a list of strings"),
        ("\xff", "cannot read config file"),
    ],
)
def test_bad_config_file_exits_2(
    isolated_env: dict[str, str], tmp_path: Path, content: str, message: str
) -> None:
    file = tmp_path / "bad.json"
    file.write_bytes(content.encode("latin-1"))
    result = run_cli(dict(isolated_env, INSTALLER_ENV_CONFIG=str(file)), "status")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("installer-env: ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    with pytest.raises(ConfigError):
        load_config({"INSTALLER_ENV_CONFIG": str(file)})


@pytest.mark.parametrize(
    ("name", "value"),
    [("PASSWORD_WORDS", "abc"), ("PASSWORD_WORDS", "21"), ("FORCE_APPLY", "perhaps"), ("STATE_DIR", "")],
)
def test_bad_environment_exits_2(isolated_env: dict[str, str], name: str, value: str) -> None:
    result = run_cli(dict(isolated_env, **{f"INSTALLER_ENV_{name}": value}), "status", "--json")
    assert result.returncode == 2
    assert result.stderr.startswith("installer-env: ")
    assert result.stderr.count("\n") == 1


def test_missing_explicit_config_file(isolated_env: dict[str, str], tmp_path: Path) -> None:
    result = run_cli(dict(isolated_env, INSTALLER_ENV_CONFIG=str(tmp_path / "nope.json")), "status")
    assert result.returncode == 2
    assert "does not exist" in result.stderr


def test_bad_command_line_exits_2(isolated_env: dict[str, str]) -> None:
    result = run_cli(isolated_env, "no-such-command")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_defaults_are_the_documented_ones() -> None:
    config = Config()
    assert config.state_dir == Path("/run/installer-env")
    assert (config.password_words, config.password_user, config.rotate_on_login) == (4, "root", True)
    assert (config.force_apply, config.demo) == (False, False)
