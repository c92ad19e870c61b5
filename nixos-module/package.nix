# installer-env as a Python application: `python3Packages.callPackage ./package.nix { }`.
{
  lib,
  buildPythonApplication,
  setuptools,
  textual,
  qrcode,
  stem,
  pyudev,
  pyroute2,
  asyncinotify,
  dbus-fast,
  xkcdpass,
  pytestCheckHook,
  pytest-asyncio,
}:

buildPythonApplication {
  pname = "installer-env";
  inherit ((lib.importTOML ../pyproject.toml).project) version;
  pyproject = true;

  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../pyproject.toml
      ../README.md
      ../LICENSE
      ../installer_env
      ../tests
    ];
  };

  build-system = [ setuptools ];

  dependencies = [
    textual
    qrcode
    stem
    pyudev
    pyroute2
    asyncinotify
    dbus-fast
    xkcdpass
  ];

  nativeCheckInputs = [
    pytestCheckHook
    pytest-asyncio
  ];

  # Most of the suite needs root and real services (sshd on a loopback port, tor, a private
  # dbus-daemon, network namespaces, chpasswd on a throwaway user, zbarimg), none of which the
  # build sandbox has; CI runs those. Here: the settings and the screen, which need only Python,
  # a temp dir and no network.
  enabledTestPaths = [
    "tests/test_config.py"
    "tests/test_netconfig.py"
    "tests/test_ui.py"
  ];

  pythonImportsCheck = [
    "installer_env"
    "installer_env.cli"
    "installer_env.commands" # cli.py imports it only after reading its arguments
    "installer_env.session" # the session model: commands.py and console.py import it where used
    "installer_env.wording" # the words of every view: the screen imports them after its first frame
  ];

  meta = {
    description = "The console of a NixOS live installer: password, ssh, addresses, tor and Wi-Fi on one screen, and a QR code";
    license = lib.licenses.mit;
    mainProgram = "installer-env";
    platforms = lib.platforms.linux;
  };
}
