"""Passwords: the EFF long list, `secrets`, real chpasswd on a throwaway user, never in argv or env."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Sequence
from pathlib import Path

import pytest
from cli_runner import run_cli
from conftest import MakeConfig
from realssh import SshServer, ThrowawayUser

from installer_env import password, rotation
from installer_env.errors import PasswordApplyError
from installer_env.state import STATE_FILE, StateStore


def _split_words(text: str, words: int) -> list[str] | None:
    """Split a password back into `words` list words (a few EFF words contain "-" themselves)."""
    pool = set(password.wordlist())
    parts = text.split(password.SEPARATOR)

    def walk(i: int, left: int) -> list[str] | None:
        if i == len(parts):
            return [] if left == 0 else None
        for j in range(i + 1, min(i + 2, len(parts)) + 1):
            word = password.SEPARATOR.join(parts[i:j])
            if word in pool and (rest := walk(j, left - 1)) is not None:
                return [word, *rest]
        return None

    return walk(0, words)


def test_word_list_is_the_eff_long_list() -> None:
    words = password.wordlist()
    assert len(words) == 7776
    assert len(set(words)) == 7776
    assert list(words) == sorted(words)
    assert words[0] == "abacus"
    assert words[-1] == "zoom"
    assert {"drop-down", "felt-tip", "t-shirt", "yo-yo"} <= set(words)
    assert all(re.fullmatch(r"[a-z]+(-[a-z]+)?", w) for w in words)


def test_entropy() -> None:
    assert password.entropy_bits(4) == 51.7
    assert password.entropy_bits(1) == 12.9
    assert password.entropy_bits(6) == 77.5


@pytest.mark.parametrize("words", [1, 4, 7])
def test_generate_joins_list_words_with_a_dash(words: int) -> None:
    for _ in range(50):
        made = password.generate(words)
        assert _split_words(made, words) is not None, made


def test_words_come_from_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    chosen: list[Sequence[str]] = []

    def spy(seq: Sequence[str]) -> str:
        chosen.append(seq)
        return seq[len(chosen)]

    monkeypatch.setattr(secrets, "choice", spy)
    assert password.generate(3) == "abdomen-abdominal-abide"
    assert len(chosen) == 3
    assert all(len(seq) == 7776 for seq in chosen)


def test_passwords_differ() -> None:
    assert len({password.generate(4) for _ in range(200)}) == 200


def test_chpasswd_sets_the_password_for_real(throwaway_user: ThrowawayUser, sshd_server: SshServer) -> None:
    before = throwaway_user.shadow_hash()
    new = password.generate(4)
    password.apply(throwaway_user.name, new)
    after = throwaway_user.shadow_hash()
    assert after != before
    assert after.startswith("$")
    assert new not in after
    assert sshd_server.can_log_in(throwaway_user.name, new)


def test_missing_chpasswd_is_a_clear_error(throwaway_user: ThrowawayUser) -> None:
    before = throwaway_user.shadow_hash()
    with pytest.raises(PasswordApplyError, match=r"/nonexistent/chpasswd is not installed"):
        password.apply(throwaway_user.name, "a-b-c-d", chpasswd="/nonexistent/chpasswd")
    assert throwaway_user.shadow_hash() == before


def test_unrunnable_chpasswd_is_a_clear_error(throwaway_user: ThrowawayUser, tmp_path: Path) -> None:
    not_executable = tmp_path / "chpasswd"
    not_executable.write_text("#!/bin/sh\nexit 0\n")  # mode 0644: even root may not run it
    with pytest.raises(PasswordApplyError, match=r"failed to run \(.*Permission denied"):
        password.apply(throwaway_user.name, "a-b-c-d", chpasswd=str(not_executable))


def test_failing_chpasswd_keeps_the_old_state(make_config: MakeConfig, tmp_path: Path) -> None:
    config = make_config(force_apply=True, password_user="ie-test-no-such-user")
    store = StateStore(config.state_dir)
    with pytest.raises(PasswordApplyError) as info:
        rotation.rotate(config, store, require_apply=True)
    assert "cannot set the password for ie-test-no-such-user" in str(info.value)
    assert "\n" not in str(info.value)
    assert store.read() is None
    assert sorted(p.name for p in config.state_dir.iterdir()) == ["state.lock"]


def test_cli_missing_chpasswd_exits_4_and_keeps_the_old_password(
    isolated_env: dict[str, str], throwaway_user: ThrowawayUser, tmp_path: Path
) -> None:
    env = dict(isolated_env, INSTALLER_ENV_PASSWORD_USER=throwaway_user.name)
    first = run_cli(env, "rotate-password", "--force-apply")
    assert first.returncode == 0, first.stderr
    stored = (tmp_path / "state" / STATE_FILE).read_text()
    shadow = throwaway_user.shadow_hash()

    env["INSTALLER_ENV_CHPASSWD"] = "/nonexistent/chpasswd"
    result = run_cli(env, "rotate-password", "--force-apply")
    assert result.returncode == 4
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(
        "installer-env: cannot set the password: /nonexistent/chpasswd is not installed"
    )
    assert "Traceback" not in result.stderr
    assert (tmp_path / "state" / STATE_FILE).read_text() == stored
    assert throwaway_user.shadow_hash() == shadow


def test_password_never_in_argv_or_env_of_started_processes(
    isolated_env: dict[str, str], throwaway_user: ThrowawayUser, tmp_path: Path
) -> None:
    trace = tmp_path / "execve.trace"
    env = dict(isolated_env, INSTALLER_ENV_PASSWORD_USER=throwaway_user.name)
    strace = ["strace", "-f", "-v", "-e", "trace=execve", "-s", "4096", "-o", str(trace)]
    result = run_cli(env, "rotate-password", "--force-apply", prefix=strace, timeout=120)
    assert result.returncode == 0, result.stderr
    state = json.loads((tmp_path / "state" / STATE_FILE).read_text())["password"]
    assert state["applied"]
    secret = state["password"]
    text = trace.read_text(errors="replace")
    executed = re.findall(r'execve\("([^"]+)", \[(.*?)\], \[(.*?)\]', text)
    programs = [Path(path).name for path, _, _ in executed]
    assert "chpasswd" in programs, programs  # the apply step really ran under the trace
    chpasswd_env = next(envp for path, _, envp in executed if path.endswith("chpasswd"))
    assert "INSTALLER_ENV_PASSWORD_USER" in chpasswd_env  # -v printed the environment
    assert secret not in text
    for word in secret.split("-"):
        assert f'"{word}"' not in text
    assert secret not in result.stdout + result.stderr
