"""The NixOS module: every .nix file parses, and the module evaluated with nixpkgs' lib sets what a
live installer needs, over the installer profile's own settings.

The evaluation runs `lib.evalModules` on nixos-module/default.nix plus tests/nixos/stubs.nix
(declarations of the NixOS options the module sets, with NixOS's types), so it needs nixpkgs' `lib`
directory but not nixpkgs: NIXPKGS_LIB names it (a nixpkgs or nixpkgs.lib checkout, or its lib/);
without it, `<nixpkgs/lib>` on NIX_PATH is used when there is one. No Debian, PyPI or npm package
ships nixpkgs' lib, so on a machine with none of these the evaluation tests skip and say so.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from installer_env import tor
from installer_env.config import Config, load_config

ROOT = Path(__file__).resolve().parent.parent
EVAL_NIX = ROOT / "tests" / "nixos" / "eval.nix"
FLAKE_OUTPUTS_NIX = ROOT / "tests" / "nixos" / "flake_outputs.nix"
VM_TEST_NIX = ROOT / "nixos-module" / "test.nix"
LOGIN_HOOK_NIX = ROOT / "nixos-module" / "login-hook.nix"
CONFIG_FIELDS = {f.name for f in dataclasses.fields(Config)}
# What nixos-module/ promises: the module, the package, three images, the VM test; and the flake.
DELIVERED_NIX = {
    "flake.nix",
    "nixos-module/default.nix",
    "nixos-module/package.nix",
    "nixos-module/iso.nix",
    "nixos-module/netboot.nix",
    "nixos-module/kexec.nix",
    "nixos-module/kexec/module.nix",
    "nixos-module/test.nix",
    "nixos-module/login-hook.nix",
}

# What nixpkgs' installer profile (nixos/modules/profiles/installation-device.nix, which
# installation-cd-minimal.nix and netboot-minimal.nix import; older and current releases together)
# sets that the module has to win against or live with, at the priorities it sets them.
INSTALLER_PROFILE = """{ lib, ... }: {
  system.nixos.variant_id = lib.mkDefault "installer";
  services.getty.autologinUser = "nixos";
  services.getty.helpLine = ''
    The "nixos" and "root" accounts have empty passwords.

    To log in over ssh you must set a password for either "nixos" or "root"
    with `passwd` (prefix with `sudo` for "root"), or add your public key to
    /home/nixos/.ssh/authorized_keys or /root/.ssh/authorized_keys.

    To set up a wireless connection, run `nmtui`.
  '';
  services.openssh.enable = lib.mkDefault true;
  services.openssh.settings.PermitRootLogin = lib.mkDefault "yes";
  networking.networkmanager.enable = true;
  networking.wireless.enable = lib.mkDefault true;
  systemd.services.sshd.wantedBy = lib.mkOverride 50 [ ];
}"""


def _nix_instantiate() -> str:
    found = shutil.which("nix-instantiate")
    assert found, "nix-instantiate is missing: install Debian's nix-bin (scripts/dev test does)"
    return found


def _nix_env(tmp: Path) -> dict[str, str]:
    """Keep nix's state, logs and caches in the test's temp dir, away from this machine's."""
    env = dict(os.environ)
    env.update(
        NIX_STATE_DIR=str(tmp / "nix-state"),
        NIX_LOG_DIR=str(tmp / "nix-log"),
        XDG_CACHE_HOME=str(tmp / "cache"),
        HOME=str(tmp),
    )
    return env


EVAL = ("--eval", "--strict", "--json", "--readonly-mode")


def run_nix_instantiate(
    tmp: Path, *args: str, timeout: float = 60, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """nix-instantiate with `args`, its state kept in `tmp`; the caller looks at the result."""
    return subprocess.run(
        [_nix_instantiate(), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_nix_env(tmp),
        check=False,
    )


NO_NIXPKGS_LIB = (
    "nixpkgs' lib is not on this machine (no NIXPKGS_LIB, no <nixpkgs/lib> on NIX_PATH), and no "
    "Debian, PyPI or npm package ships it: the NixOS module is parsed but not evaluated. Set "
    "NIXPKGS_LIB to the lib/ of a nixpkgs or nixpkgs.lib checkout to evaluate it"
)


def _nixpkgs_lib_on_nix_path() -> str | None:
    if not os.environ.get("NIX_PATH"):
        return None
    result = subprocess.run(
        [_nix_instantiate(), "--find-file", "nixpkgs/lib"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.stdout.strip() or None if result.returncode == 0 else None


def _nixpkgs_lib() -> Path:
    raw = os.environ.get("NIXPKGS_LIB") or _nixpkgs_lib_on_nix_path()
    if not raw:
        pytest.skip(NO_NIXPKGS_LIB)
    path = Path(raw)
    if (path / "lib" / "default.nix").is_file():
        path = path / "lib"
    assert (path / "default.nix").is_file(), f"NIXPKGS_LIB={raw} holds no nixpkgs lib (no default.nix)"
    return path


@pytest.fixture
def fake_package(tmp_path: Path) -> Path:
    """A stand-in for the package's store path: bin/installer-env records its arguments, then fails."""
    out = tmp_path / "installer-env"
    (out / "bin").mkdir(parents=True)
    script = out / "bin" / "installer-env"
    script.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/calls\nexit 7\n')
    script.chmod(0o755)
    return out


class EvalError(Exception):
    """nix-instantiate refused the configuration; the message is its stderr."""


def nix_eval(tmp_path: Path, file: Path, *args: str) -> Any:
    """`nix-instantiate --eval --strict --json` of `file`, called with nixpkgs' lib and `args`."""
    lib = f'import "{_nixpkgs_lib()}"'
    result = run_nix_instantiate(tmp_path, *EVAL, str(file), "--arg", "lib", lib, *args, timeout=120)
    if result.returncode != 0:
        raise EvalError(result.stderr)
    return json.loads(result.stdout)


def evaluate(tmp_path: Path, package_dir: Path, extra: str = "{ }") -> dict[str, Any]:
    """The checked parts of the configuration (see tests/nixos/eval.nix) with module `extra` added."""
    value = nix_eval(tmp_path, EVAL_NIX, "--argstr", "packageDir", str(package_dir), "--arg", "extra", extra)
    assert isinstance(value, dict)
    return value


def _with_profile(body: str) -> str:
    """A user's configuration `body` (a module body) next to the installer profile."""
    return f"{{ lib, ... }}: {{\n  imports = [ ({INSTALLER_PROFILE}) ];\n  {body}\n}}"


def settings_of(evaluated: dict[str, Any]) -> dict[str, Any]:
    text = evaluated["configJson"]
    assert isinstance(text, str), "no /etc/installer-env/config.json"
    value = json.loads(text)
    assert isinstance(value, dict)
    return value


def test_every_nix_file_parses(tmp_path: Path) -> None:
    files = sorted(
        p.relative_to(ROOT).as_posix()
        for p in ROOT.rglob("*.nix")
        if not {".venv", ".git", "result"} & set(p.relative_to(ROOT).parts)
    )
    assert set(files) >= DELIVERED_NIX, f"missing: {sorted(DELIVERED_NIX - set(files))}"
    for name in files:
        result = run_nix_instantiate(tmp_path, "--parse", name, cwd=ROOT)
        assert result.returncode == 0, f"{name} does not parse:\n{result.stderr}"


def test_the_parse_check_catches_broken_nix(tmp_path: Path) -> None:
    broken = tmp_path / "broken.nix"
    broken.write_text("{ config, ... }: { services.foo = { enable = true; }\n")
    result = run_nix_instantiate(tmp_path, "--parse", str(broken))
    assert result.returncode != 0


def test_package_check_phase_runs_tests_that_exist() -> None:
    text = (ROOT / "nixos-module" / "package.nix").read_text()
    block = re.search(r"enabledTestPaths = \[(.*?)\];", text, re.S)
    assert block, "package.nix selects no tests for its check phase"
    paths = re.findall(r'"([^"]+)"', block.group(1))
    assert paths
    for path in paths:
        assert (ROOT / path).is_file(), f"package.nix runs {path}, which does not exist"


def test_generated_settings_are_exactly_the_tool_settings(tmp_path: Path, fake_package: Path) -> None:
    settings = settings_of(evaluate(tmp_path, fake_package))
    assert set(settings) == CONFIG_FIELDS, (
        f"config.json and Config differ: only in the module {sorted(set(settings) - CONFIG_FIELDS)}, "
        f"only in Config {sorted(CONFIG_FIELDS - set(settings))}"
    )
    path = tmp_path / "config.json"
    path.write_text(json.dumps(settings))
    config = load_config(env={"INSTALLER_ENV_CONFIG": str(path)})
    assert config.password_words == 4
    assert config.rotate_on_login is True
    assert config.consoles == ("tty1", "ttyS0", "hvc0")
    assert config.tor_enabled is True
    assert config.tor_control_socket == Path("/run/tor/control")
    assert config.tor_system is True  # the image runs tor: wait for it at boot, never start a second one
    assert config.wifi_enabled is True
    assert config.mdns is True
    assert config.state_dir == Path("/run/installer-env")
    assert config.os_release == Path("/etc/os-release")
    assert config.force_apply is False
    assert config.demo is False
    # Store paths, not PATH lookups: sshd is not on root's PATH on NixOS.
    assert re.fullmatch(r"/nix/store/[0-9a-z]{32}-openssh/bin/sshd", config.sshd)
    assert re.fullmatch(r"/nix/store/[0-9a-z]{32}-shadow/bin/chpasswd", config.chpasswd)
    assert re.fullmatch(r"/nix/store/[0-9a-z]{32}-tor/bin/tor", config.tor_binary)


def test_options_reach_the_settings_and_the_system(tmp_path: Path, fake_package: Path) -> None:
    evaluated = evaluate(
        tmp_path,
        fake_package,
        _with_profile(
            """services.installer-env = {
    passwordWords = 6;
    rotateOnLogin = false;
    consoles = [ "ttyS1" ];
    tor.enable = false;
    wifi.enable = false;
    consoleFont = null;
    settings.ssh_port = 2222;
  };
  # What the NetworkManager module adds while it is on; the module must not fight it.
  networking.useDHCP = lib.mkDefault false;"""
        ),
    )
    settings = settings_of(evaluated)
    assert settings["password_words"] == 6
    assert settings["rotate_on_login"] is False
    assert settings["consoles"] == ["ttyS1"]
    assert settings["tor_enabled"] is False
    assert settings["tor_system"] is False
    assert settings["wifi_enabled"] is False
    assert settings["ssh_port"] == 2222
    assert settings["tor_binary"] == "tor", "tor's store path would put tor in the image"
    assert "/dev/ttyS1)" in evaluated["loginShellInit"]
    assert "/dev/tty1" not in evaluated["loginShellInit"]
    assert evaluated["tor"]["enable"] is False
    assert evaluated["wireless"]["iwd"]["enable"] is False
    # Without Wi-Fi the profile's network manager stays as the profile set it.
    assert evaluated["networkmanager"]["enable"] is True
    assert evaluated["useDHCP"] is False
    assert evaluated["console"]["font"] is None
    assert evaluated["failedAssertions"] == []


def test_a_live_installer_over_the_installer_profile(tmp_path: Path, fake_package: Path) -> None:
    evaluated = evaluate(tmp_path, fake_package, INSTALLER_PROFILE)
    assert evaluated["failedAssertions"] == []
    assert evaluated["variantId"] == "installer"
    # ssh: root logs in with the generated password; sshd starts at boot despite the profile.
    ssh = evaluated["openssh"]
    assert ssh["enable"] is True
    assert ssh["settings"]["PermitRootLogin"] == "yes"
    assert ssh["settings"]["PasswordAuthentication"] is True
    assert evaluated["sshdWantedBy"] == ["multi-user.target"]
    # tor: a control socket for the onion service, a SOCKS client and torify.
    tor = evaluated["tor"]
    assert tor["enable"] is True
    assert tor["controlSocket"]["enable"] is True
    assert tor["client"]["enable"] is True
    assert tor["torsocks"]["enable"] is True
    assert tor["settings"]["CookieAuthentication"] is True
    # Wi-Fi: iwd alone; the profile's wpa_supplicant and NetworkManager are forced off.
    assert evaluated["wireless"]["iwd"]["enable"] is True
    assert evaluated["wireless"]["enable"] is False
    assert evaluated["networkmanager"]["enable"] is False
    assert evaluated["useDHCP"] is True  # nixpkgs' default: DHCP on wired and wireless links
    assert evaluated["tempAddresses"] == "disabled"
    # Consoles: root, not the profile's "nixos", and a font with the CP437 blocks, set early.
    assert evaluated["autologinUser"] == "root"
    assert "installer-env screen" in evaluated["issue"]
    assert evaluated["console"] == {"font": "default8x16", "earlySetup": True}
    assert "installer-env login" in evaluated["loginShellInit"]
    avahi = evaluated["avahi"]
    assert avahi["enable"] is True
    assert avahi["nssmdns4"] is True
    assert avahi["publish"] == {"enable": True, "addresses": True}
    assert "installer-env" in evaluated["systemPackages"]


def test_without_an_installer_profile_the_build_fails_and_says_how(
    tmp_path: Path, fake_package: Path
) -> None:
    """Importing the module must not turn an ordinary system into a "live installer"."""
    evaluated = evaluate(tmp_path, fake_package)
    assert evaluated["variantId"] is None, "the module set system.nixos.variant_id itself"
    [message] = evaluated["failedAssertions"]
    assert "not one" in message
    assert "variant_id = null" in message
    assert "installation-cd-minimal.nix" in message
    assert 'system.nixos.variant_id = "installer"' in message
    # An image of one's own that says it is an installer passes.
    own = evaluate(tmp_path, fake_package, '{ system.nixos.variant_id = "installer"; }')
    assert own["failedAssertions"] == []


def _failures(evaluated: dict[str, Any]) -> str:
    return "\n".join(evaluated["failedAssertions"])


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ("services.openssh.settings.PasswordAuthentication = false;", "password cannot log in"),
        ("services.openssh.settings.PasswordAuthentication = null;", "password cannot log in"),
        ('services.openssh.settings.PermitRootLogin = "prohibit-password";', "root cannot log in"),
        ("services.openssh.enable = false;", "services.openssh.enable = false"),
        ('services.getty.autologinUser = lib.mkForce "nixos";', "whose shell cannot set root's password"),
        ("networking.networkmanager.enable = lib.mkForce true;", "two daemons would fight"),
    ],
)
def test_a_users_own_setting_wins_and_the_module_says_what_breaks(
    tmp_path: Path, fake_package: Path, setting: str, words: str
) -> None:
    """Ordinary hardening evaluates (no "conflicting definition values") and then fails with
    the module's own words for what would not work."""
    evaluated = evaluate(tmp_path, fake_package, _with_profile(setting))
    assert words in _failures(evaluated), _failures(evaluated)
    assert len(evaluated["failedAssertions"]) == 1


@pytest.mark.parametrize(
    ("setting", "check"),
    [
        # Without PAM, sshd checks passwords itself; its default (null: no line) is yes.
        (
            "services.openssh.settings = { UsePAM = false; PasswordAuthentication = null; };",
            lambda e: e["openssh"]["settings"]["UsePAM"] is False,
        ),
        # Settings that agree with the module's are fine at any priority.
        (
            'services.openssh.settings = { PermitRootLogin = "yes"; PasswordAuthentication = true; };',
            lambda e: e["openssh"]["settings"]["PermitRootLogin"] == "yes",
        ),
        ('console.font = "ter-v16n";', lambda e: e["console"] == {"font": "ter-v16n", "earlySetup": True}),
        ("console.earlySetup = false;", lambda e: e["console"]["earlySetup"] is False),
        ("services.getty.autologinUser = lib.mkForce null;", lambda e: e["autologinUser"] is None),
        ('services.getty.autologinUser = lib.mkForce "root";', lambda e: e["autologinUser"] == "root"),
        ("services.avahi.enable = false;", lambda e: e["avahi"]["enable"] is False),
        ("services.tor.client.enable = false;", lambda e: e["tor"]["client"]["enable"] is False),
        ('networking.tempAddresses = "default";', lambda e: e["tempAddresses"] == "default"),
        (
            'services.getty.helpLine = lib.mkForce "Our own words.";',
            lambda e: "Our own words." in e["issue"] and "installer-env" not in e["issue"],
        ),
    ],
)
def test_a_users_own_choice_that_works_wins_quietly(
    tmp_path: Path, fake_package: Path, setting: str, check: Any
) -> None:
    evaluated = evaluate(tmp_path, fake_package, _with_profile(setting))
    assert evaluated["failedAssertions"] == []
    assert check(evaluated), setting


def test_other_modules_defaults_do_not_conflict(tmp_path: Path, fake_package: Path) -> None:
    """A hardening module's mkDefault loses to the module's choice instead of conflicting."""
    evaluated = evaluate(
        tmp_path,
        fake_package,
        _with_profile(
            """services.openssh.settings.PasswordAuthentication = lib.mkDefault false;
  services.openssh.settings.PermitRootLogin = lib.mkDefault "no";
  console.font = lib.mkDefault "Lat2-Terminus16";
  networking.tempAddresses = lib.mkDefault "enabled";
  services.tor.settings.CookieAuthentication = lib.mkDefault false;"""
        ),
    )
    assert evaluated["failedAssertions"] == []
    assert evaluated["openssh"]["settings"]["PasswordAuthentication"] is True
    assert evaluated["openssh"]["settings"]["PermitRootLogin"] == "yes"
    assert evaluated["console"]["font"] == "default8x16"
    assert evaluated["tempAddresses"] == "disabled"
    assert evaluated["tor"]["settings"]["CookieAuthentication"] is True


def test_issue_tells_what_is_true_on_this_image(tmp_path: Path, fake_package: Path) -> None:
    issue = evaluate(tmp_path, fake_package, INSTALLER_PROFILE)["issue"]
    assert "nmtui" not in issue
    assert "wpa_cli" not in issue
    assert not re.search(r"\bnixos\b", issue), issue
    assert "empty password" not in issue
    assert "installer-env screen" in issue
    assert "iwctl" in issue
    assert "`w`" in issue
    assert "torify ssh root@" in issue
    assert "tty1, ttyS0, hvc0" in issue

    quiet = evaluate(
        tmp_path,
        fake_package,
        _with_profile("services.installer-env = { tor.enable = false; wifi.enable = false; };"),
    )["issue"]
    assert "iwctl" not in quiet
    assert "torify" not in quiet
    assert "installer-env screen" in quiet


def test_another_os_release_variant_fails_the_build(tmp_path: Path, fake_package: Path) -> None:
    evaluated = evaluate(
        tmp_path, fake_package, '{ lib, ... }: { system.nixos.variant_id = lib.mkForce "live"; }'
    )
    assert len(evaluated["failedAssertions"]) == 1
    assert 'variant_id = "installer"' in evaluated["failedAssertions"][0]
    assert '"live"' in evaluated["failedAssertions"][0]


def test_no_console_fails_the_build(tmp_path: Path, fake_package: Path) -> None:
    evaluated = evaluate(tmp_path, fake_package, "{ services.installer-env.consoles = [ ]; }")
    assert any("consoles is empty" in m for m in evaluated["failedAssertions"])
    assert evaluated["loginShellInit"] == ""


def test_invalid_option_values_are_rejected(tmp_path: Path, fake_package: Path) -> None:
    with pytest.raises(EvalError, match="passwordWords"):
        evaluate(tmp_path, fake_package, "{ services.installer-env.passwordWords = 0; }")
    with pytest.raises(EvalError, match="consoles"):
        evaluate(tmp_path, fake_package, '{ services.installer-env.consoles = [ "tty1; reboot" ]; }')


def test_disabled_module_changes_nothing(tmp_path: Path, fake_package: Path) -> None:
    evaluated = evaluate(tmp_path, fake_package, "{ services.installer-env.enable = false; }")
    assert evaluated["configJson"] is None
    assert evaluated["openssh"]["enable"] is False
    assert evaluated["tor"]["enable"] is False
    assert evaluated["autologinUser"] is None
    assert evaluated["loginShellInit"] == ""
    assert evaluated["systemPackages"] == []


class LoginHook:
    """The generated /etc/profile hook, sourced by a login shell that one of several programs
    started, with `tty` (a fake on PATH) naming the console. The fake package records its
    arguments in `calls`."""

    def __init__(self, tmp_path: Path, text: str) -> None:
        self.dir = tmp_path
        self.calls = tmp_path / "calls"
        self.file = tmp_path / "hook.sh"
        self.file.write_text(text)
        self.bin = tmp_path / "fake-bin"
        self.bin.mkdir(exist_ok=True)
        # What login(1) is for the hook: a program named `login` that starts the shell and waits.
        self.login = tmp_path / "login"
        self.login.write_text('#!/bin/bash\nbash "$@"\nexit $?\n')
        self.login.chmod(0o755)

    def run(self, tty: str, via: str = "login", **env: str) -> subprocess.CompletedProcess[str]:
        fake_tty = self.bin / "tty"
        fake_tty.write_text(f"#!/bin/sh\necho {tty}\n")
        fake_tty.chmod(fake_tty.stat().st_mode | stat.S_IXUSR)
        # The shell under test: PATH set again after any /etc/profile, then the hook, then a mark
        # that the shell went on.
        body = f'PATH="{self.bin}:$PATH"; . "{self.file}"; echo shell-continues'
        starts = {
            "login": [str(self.login), "-c", body],
            # A login shell typed in the console's shell (its parent is that shell).
            "bash -l": [str(self.login), "-c", f"bash --noprofile -l -c {_sh_quote(body)}; exit $?"],
            # `su -` to root from the console's shell: su starts the login shell.
            "su -": [str(self.login), "-c", f"su - root -c {_sh_quote(body)}; exit $?"],
        }
        clean = {k: v for k, v in os.environ.items() if not k.startswith("SSH_")}
        clean.update(env)
        return subprocess.run(starts[via], capture_output=True, text=True, timeout=60, env=clean, check=False)

    def take_calls(self) -> list[str]:
        if not self.calls.exists():
            return []
        calls = self.calls.read_text().splitlines()
        self.calls.unlink()
        return calls


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def generate_login_hook(tmp_path: Path, consoles: list[str], program: str) -> str:
    """nixos-module/login-hook.nix with these arguments: builtins only, so no nixpkgs needed."""
    args = json.dumps({"consoles": consoles, "program": program})
    expr = f"import {LOGIN_HOOK_NIX} (builtins.fromJSON {json.dumps(args)})"
    result = run_nix_instantiate(tmp_path, *EVAL, "--expr", expr)
    assert result.returncode == 0, result.stderr
    text = json.loads(result.stdout)
    assert isinstance(text, str)
    return text


@pytest.fixture
def login_hook(tmp_path: Path, fake_package: Path) -> LoginHook:
    program = str(fake_package / "bin" / "installer-env")
    return LoginHook(tmp_path, generate_login_hook(tmp_path, ["tty1", "ttyS0", "hvc0"], program))


def test_the_module_installs_the_login_hook(tmp_path: Path, fake_package: Path) -> None:
    evaluated = evaluate(tmp_path, fake_package)
    program = str(fake_package / "bin" / "installer-env")
    assert evaluated["loginShellInit"] == generate_login_hook(tmp_path, ["tty1", "ttyS0", "hvc0"], program)


def test_login_hook_runs_the_screen_on_consoles_only(login_hook: LoginHook) -> None:
    on_console = login_hook.run("/dev/ttyS0")
    assert login_hook.take_calls() == ["login"]
    # The fake exits 7: the shell says so and goes on.
    assert on_console.returncode == 0
    assert on_console.stdout.strip() == "shell-continues"
    assert "exit status 7" in on_console.stderr

    for tty, env in [
        ("/dev/tty2", {}),
        ("/dev/pts/3", {}),
        ("not a tty", {}),
        ("/dev/tty1", {"SSH_CONNECTION": "192.0.2.7 50000 192.0.2.5 22"}),
        ("/dev/tty1", {"SSH_TTY": "/dev/tty1"}),
    ]:
        result = login_hook.run(tty, **env)
        assert result.stdout.strip() == "shell-continues", (tty, env, result.stderr)
        assert login_hook.take_calls() == [], f"the screen ran on {tty} with {env}"


def test_login_hook_only_for_the_shell_login_started(login_hook: LoginHook) -> None:
    """`bash -l` on tty1 is a login shell too, but a shell started it: no screen, no password."""
    nested = login_hook.run("/dev/tty1", via="bash -l")
    assert nested.stdout.strip() == "shell-continues", nested.stderr
    assert login_hook.take_calls() == []
    # The same shell started by login does run it: the check above can fail.
    login_hook.run("/dev/tty1")
    assert login_hook.take_calls() == ["login"]


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("su"), reason="`su - root` needs root and su")
def test_login_hook_not_for_su(login_hook: LoginHook) -> None:
    result = login_hook.run("/dev/tty1", via="su -")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "shell-continues", result.stderr
    assert login_hook.take_calls() == []


def test_login_hook_on_a_second_console_asks_for_the_same_screen(login_hook: LoginHook) -> None:
    """Each console's login runs `installer-env login`; the tool makes the password on the first
    one of a boot and shows the same on the others (test_rotation: one password per boot)."""
    login_hook.run("/dev/tty1")
    login_hook.run("/dev/ttyS0")
    assert login_hook.take_calls() == ["login", "login"]


def test_flake_exposes_package_module_images_and_checks(tmp_path: Path) -> None:
    outputs = nix_eval(tmp_path, FLAKE_OUTPUTS_NIX)
    assert outputs["nixpkgsUrl"].startswith("github:NixOS/nixpkgs/")
    assert outputs["nixosModule"] == "nixos-module"
    for system in ("x86_64-linux", "aarch64-linux"):
        assert outputs["packages"][system] == {
            "default": "callPackage package.nix",
            "iso": "isoImage",
            "netboot": "installer-env-netboot: kernel netbootRamdisk netbootIpxeScript",
            "kexec": "kexecInstallerTarball",
        }
        assert outputs["checks"][system] == {
            "package": "callPackage package.nix",
            "vm-test": "runNixOSTest test.nix",
        }
        for image in ("iso", "netboot", "kexec"):
            assert outputs["nixosConfigurations"][f"{image}-{system}"] == [
                f"{image}.nix",
                {"nixpkgs": {"hostPlatform": system}},
            ]


def test_vm_test_script_compiles_and_looks_where_the_tool_writes(tmp_path: Path) -> None:
    result = run_nix_instantiate(tmp_path, *EVAL, "--expr", f"(import {VM_TEST_NIX}).testScript")
    assert result.returncode == 0, result.stderr
    script = json.loads(result.stdout)
    compile(script, str(VM_TEST_NIX), "exec")  # a SyntaxError fails here, not an hour into a VM run
    state_dir = re.search(r'^STATE_DIR = "([^"]+)"$', script, re.M)
    onion_key = re.search(r'^ONION_KEY = f"\{STATE_DIR\}/([^"]+)"$', script, re.M)
    assert state_dir, "test.nix names no STATE_DIR"
    assert onion_key, "test.nix names no ONION_KEY"
    config = Config()
    assert Path(state_dir.group(1)) == config.state_dir
    assert config.state_dir / onion_key.group(1) == tor.key_path(config)


def test_vm_test_machine_passes_the_modules_assertions(tmp_path: Path, fake_package: Path) -> None:
    """The VM test's installer node, evaluated here, is an installer the module accepts."""
    evaluated = evaluate(tmp_path, fake_package, f"(import {VM_TEST_NIX}).nodes.installer")
    assert evaluated["failedAssertions"] == []
    assert evaluated["variantId"] == "installer"
    assert settings_of(evaluated)["consoles"] == ["tty1", "tty2"]


KEXEC_EVAL_NIX = ROOT / "tests" / "nixos" / "kexec_eval.nix"


def evaluate_kexec(tmp_path: Path, package_dir: Path, extra: str = "{ }") -> dict[str, Any]:
    """kexec/module.nix over the module (see tests/nixos/kexec_eval.nix); store paths under tmp_path."""
    store = tmp_path / "store"
    store.mkdir(exist_ok=True)
    value = nix_eval(
        tmp_path,
        KEXEC_EVAL_NIX,
        *("--argstr", "packageDir", str(package_dir), "--argstr", "storeDir", str(store)),
        *("--arg", "extra", extra),
    )
    assert isinstance(value, dict)
    return value


def test_kexec_image_restores_before_sshd_and_networkd(tmp_path: Path, fake_package: Path) -> None:
    kexec = evaluate_kexec(tmp_path, fake_package)
    assert kexec["failedAssertions"] == []
    # The serial console last: it becomes /dev/console, where the plain view shows.
    assert kexec["kernelParams"] == ["init_on_free=1", "console=tty0", "console=ttyS0,115200"]
    restore = kexec["initrdFiles"]["/installer-env-kexec-restore"]
    assert kexec["postMountCommands"].strip() == 'sh /installer-env-kexec-restore "$targetRoot"'
    service = kexec["initrdService"]
    assert service["serviceConfig"]["ExecStart"] == f"/bin/sh {restore} /sysroot"
    assert "initrd.target" in service["wantedBy"]
    assert "initrd-nixos-activation.service" in service["before"]

    network = kexec["restoreNetwork"]
    assert network["serviceConfig"]["ExecStart"] == f"{fake_package}/bin/installer-env restore-network"
    assert set(network["before"]) == {"network-pre.target", "systemd-networkd.service"}
    assert network["unitConfig"]["ConditionPathExists"] == "/var/lib/installer-env/kexec/addrs.json"
    assert kexec["useNetworkd"] is True
    assert kexec["networkd"] is True
    settings = json.loads(kexec["configJson"])
    assert load_config(
        env={}, overrides={"kexec_state_dir": Path(settings["kexec_state_dir"])}
    ).kexec_state_dir == (Path(network["unitConfig"]["ConditionPathExists"]).parent)


def test_kexec_tarball_build_script_makes_the_tarball(tmp_path: Path, fake_package: Path) -> None:
    """The build script as Nix would run it, with this machine's tools standing in for the static ones."""
    kexec = evaluate_kexec(tmp_path, fake_package)
    assert kexec["tarballName"] == "nixos-kexec-installer-x86_64-linux"
    store = tmp_path / "store"
    for name, source in (("kexec-tools/bin/kexec", "kexec"), ("iproute2/bin/ip", "ip")):
        (store / name).parent.mkdir(parents=True)
        found = shutil.which(source)
        assert found, f"{source} is missing: scripts/dev test installs it"
        shutil.copy(found, store / name)
    (store / "kernel").mkdir()
    (store / "kernel" / "bzImage").write_bytes(b"kernel")
    (store / "ramdisk").mkdir()
    (store / "ramdisk" / "initrd").write_bytes(b"initrd")
    # ${./run} is a store path in the script; here it is the file in this checkout.
    script = re.sub(
        r"/nix/store/[0-9a-z]{32}-run\b", str(ROOT / "nixos-module" / "kexec" / "run"), kexec["buildScript"]
    )
    out = tmp_path / "out"
    build = tmp_path / "build"
    build.mkdir()
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=build,
        env=dict(os.environ, out=str(out)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    tarball = out / "nixos-kexec-installer-x86_64-linux.tar.gz"
    with tarfile.open(tarball) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert set(members) == {"kexec", *(f"kexec/{n}" for n in ("run", "kexec", "ip", "bzImage", "initrd"))}
        assert {(m.uid, m.gid) for m in members.values()} == {(0, 0)}
        assert members["kexec/run"].mode == 0o755
        assert members["kexec/kexec"].mode == 0o755
        run_file = tar.extractfile("kexec/run")
        assert run_file is not None
        run_text = run_file.read().decode()
    assert "ARCH='x86_64'\n" in run_text
    assert "INIT='/nix/store/00000000000000000000000000000000-nixos-system/init'\n" in run_text
    assert "KERNEL_PARAMS='init_on_free=1 console=tty0 console=ttyS0,115200'\n" in run_text
    assert "shellcheck -s sh kexec/run" in kexec["buildScript"]


def test_kexec_kernel_params_that_would_break_run_fail_the_build(tmp_path: Path, fake_package: Path) -> None:
    kexec = evaluate_kexec(tmp_path, fake_package, "{ boot.kernelParams = [ \"x='y'\" ]; }")
    assert len(kexec["failedAssertions"]) == 1
    assert "must not contain" in kexec["failedAssertions"][0]
