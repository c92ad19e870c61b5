# VM test: `pkgs.testers.runNixOSTest ./test.nix` (the flake's checks.<system>.vm-test).
# A live installer boots, root's autologin on tty1 shows the screen with a fresh password, the
# login on tty2 shows the same one, and a second machine logs in over ssh with it.
{
  name = "installer-env";

  nodes = {
    installer = {
      imports = [ ./default.nix ];
      # What the installer profiles set (installation-device.nix); the module requires it. The
      # profiles themselves would pull the whole installer (channel, documentation) into the test.
      system.nixos.variant_id = "installer";
      services.installer-env = {
        enable = true;
        # Not ttyS0 and hvc0: the test driver's own shell and log run there.
        consoles = [
          "tty1"
          "tty2"
        ];
      };
    };

    client =
      { pkgs, ... }:
      {
        environment.systemPackages = [ pkgs.sshpass ];
      };
  };

  testScript = ''
    import json
    import re
    import shlex

    STATE_DIR = "/run/installer-env"
    ONION_KEY = f"{STATE_DIR}/tor/ssh-onion.key"

    start_all()
    installer.wait_for_unit("multi-user.target")
    installer.wait_for_unit("sshd.service")
    installer.wait_for_unit("tor.service")

    with subtest("os-release keeps VARIANT_ID=installer (nixos-anywhere relies on it)"):
        installer.succeed("grep -Ex 'VARIANT_ID=\"?installer\"?' /etc/os-release")

    with subtest("the settings file is the one the module generated"):
        settings = json.loads(installer.succeed("cat /etc/installer-env/config.json"))
        assert settings["consoles"] == ["tty1", "tty2"], settings

    with subtest("the tty1 autologin sets a password and the screen shows it"):
        installer.wait_until_succeeds(f"test -s {STATE_DIR}/state.json", timeout=120)
        status = json.loads(installer.succeed("installer-env status --json"))
        secret = status["password"]
        assert secret is not None and secret["applied"], status
        assert secret["user"] == "root" and secret["words"] == 4, secret
        installer.wait_until_tty_matches("1", re.escape(secret["password"]))

    with subtest("the login on a second console shows the same password"):
        installer.send_key("alt-f2")
        installer.wait_until_tty_matches("2", re.escape(secret["password"]))
        second = json.loads(installer.succeed("installer-env status --json"))["password"]
        assert second["generation"] == secret["generation"], (secret, second)
        assert second["boot_id"] == installer.succeed("cat /proc/sys/kernel/random/boot_id").strip()

    with subtest("status --json is valid JSON with the stable keys"):
        again = json.loads(installer.succeed("installer-env status --json"))
        assert again["schema"] == 1, again
        assert again["password"]["password"] == secret["password"], "the password changed without a login"

    with subtest("a second machine logs in over ssh with that password"):
        client.wait_for_unit("multi-user.target")
        # sshpass -e reads the password from SSHPASS, not from its command line.
        out = client.succeed(
            f"SSHPASS={shlex.quote(secret['password'])} sshpass -e "
            "ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o PubkeyAuthentication=no "
            "root@installer id -un"
        )
        assert out.strip() == "root", out
        client.fail(
            "SSHPASS=wrong-horse-battery-staple sshpass -e "
            "ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o PubkeyAuthentication=no "
            "root@installer true"
        )

    with subtest("the onion service key is private to root"):
        installer.wait_until_succeeds(f"test -s {ONION_KEY}", timeout=120)
        mode = installer.succeed(f"stat -c '%a %U' {ONION_KEY}").strip()
        assert mode == "600 root", mode
  '';
}
