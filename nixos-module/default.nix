# The installer-env console on a NixOS live installer: root autologin runs the screen on the
# chosen consoles, sshd takes root's generated password, tor carries an onion service for ssh,
# iwd joins Wi-Fi, avahi answers <hostname>.local. Import it next to an installer profile
# (see iso.nix and netboot.nix) and set `services.installer-env.enable = true`.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.services.installer-env;
  inherit (lib) mkDefault mkForce mkIf mkOption types;

  consoleName = types.strMatching "[A-Za-z0-9]+";
  passwordWordCount = types.ints.between 1 20;
  nullOrPort = types.nullOr types.port;

  # One option per field of installer_env.config.Config, under the same name: the JSON file the
  # tool reads is exactly this attribute set, so nothing is translated twice.
  settingsOptions = {
    state_dir = mkOption {
      type = types.str;
      default = "/run/installer-env";
      description = "Shared state: the password every console shows, the onion service key.";
    };
    password_words = mkOption {
      type = passwordWordCount;
      description = "Diceware words per password (12.9 bits each).";
    };
    password_user = mkOption {
      type = types.str;
      default = "root";
      description = "Whose password is generated and set.";
    };
    rotate_on_login = mkOption {
      type = types.bool;
      description = "A new password on each console login, else keep the current one.";
    };
    os_release = mkOption {
      type = types.str;
      default = "/etc/os-release";
      description = "Where `VARIANT_ID=installer` is looked for before a password is set.";
    };
    force_apply = mkOption {
      type = types.bool;
      default = false;
      description = "Set the password even where os-release does not say live installer.";
    };
    demo = mkOption {
      type = types.bool;
      default = false;
      description = "Never set a password (the screen labels it \"not applied\").";
    };
    chpasswd = mkOption {
      type = types.str;
      default = lib.getExe' pkgs.shadow "chpasswd";
      defaultText = lib.literalExpression ''lib.getExe' pkgs.shadow "chpasswd"'';
      description = "The program that sets the password (reads `user:password` on stdin).";
    };
    consoles = mkOption {
      type = types.listOf consoleName;
      description = "ttys on which `installer-env login` shows the screen.";
    };
    sshd = mkOption {
      type = types.str;
      default = lib.getExe' config.services.openssh.package "sshd";
      defaultText = lib.literalExpression ''lib.getExe' config.services.openssh.package "sshd"'';
      description = "The sshd binary, for `sshd -T` (port, host keys).";
    };
    sshd_config = mkOption {
      type = types.str;
      default = "/etc/ssh/sshd_config";
      description = "sshd's configuration file.";
    };
    sshd_unit = mkOption {
      type = types.str;
      default = "sshd.service";
      description = "sshd's systemd unit, started if it is not running.";
    };
    ssh_host_keys = mkOption {
      type = types.str;
      default = "/etc/ssh/ssh_host_*_key.pub";
      description = "Glob of the host keys whose fingerprints are shown.";
    };
    ssh_port = mkOption {
      type = nullOrPort;
      default = null;
      description = "The ssh port shown; `null` asks `sshd -T`.";
    };
    tor_enabled = mkOption {
      type = types.bool;
      description = "Run an onion service for ssh.";
    };
    tor_control_socket = mkOption {
      type = types.nullOr types.str;
      default = "/run/tor/control";
      description = "tor's control socket.";
    };
    tor_control_port = mkOption {
      type = nullOrPort;
      default = null;
      description = "tor's control port on localhost, when there is no socket.";
    };
    tor_binary = mkOption {
      type = types.str;
      # Without tor.enable the store path would pull tor into the image for nothing.
      default = if cfg.tor.enable then lib.getExe' config.services.tor.package "tor" else "tor";
      defaultText = lib.literalExpression ''lib.getExe' config.services.tor.package "tor"'';
      description = "The tor binary (the tool starts its own tor when there is no control socket).";
    };
    tor_control_password_file = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "A file holding tor's control password, for a tor without cookie authentication.";
    };
    wifi_enabled = mkOption {
      type = types.bool;
      description = "The Wi-Fi helper (talks to iwd).";
    };
    mdns = mkOption {
      type = types.bool;
      default = config.services.avahi.enable;
      defaultText = lib.literalExpression "config.services.avahi.enable";
      description = "Show `<hostname>.local`.";
    };
    qr_max_addrs = mkOption {
      type = types.ints.between 0 20;
      default = 3;
      description = "At most this many addresses in the QR code (the screen lists all).";
    };
    kexec_state_dir = mkOption {
      type = types.str;
      default = "/var/lib/installer-env/kexec";
      description = "Where the kexec image keeps what kexec/run saved on the old system (see kexec.nix).";
    };
  };

  settingsFile = builtins.toJSON cfg.settings;

  loginHook = ''
    # installer-env: the screen on the installer's consoles, never in an ssh session. Ctrl-C or a
    # failure leaves this shell usable; the trap keeps an interrupt from cutting /etc/profile short.
    if [ -z "''${SSH_CONNECTION-}" ] && [ -z "''${SSH_TTY-}" ]; then
      case "$(tty 2>/dev/null)" in
        ${lib.concatMapStringsSep "|" (c: "/dev/${c}") cfg.settings.consoles})
          trap : INT
          ${lib.getExe cfg.package} login || echo "installer-env stopped (exit status $?); this is a shell." >&2
          trap - INT
          ;;
      esac
    fi
  '';
in
{
  options.services.installer-env = {
    enable = lib.mkEnableOption "the installer-env console screen (password, ssh, tor, Wi-Fi, QR code) on a live installer";

    package = mkOption {
      type = types.package;
      default = pkgs.python3Packages.callPackage ./package.nix { };
      defaultText = lib.literalExpression "pkgs.python3Packages.callPackage ./package.nix { }";
      description = "The installer-env package.";
    };

    passwordWords = mkOption {
      type = passwordWordCount;
      default = 4;
      description = "Diceware words in root's generated password (4 words: 51.7 bits).";
    };

    rotateOnLogin = mkOption {
      type = types.bool;
      default = true;
      description = "Make a new password on each console login; false keeps the current one until reboot.";
    };

    tor.enable = mkOption {
      type = types.bool;
      default = true;
      description = "Run tor with an onion service for ssh, and a SOCKS client so `torify ssh` works.";
    };

    wifi.enable = mkOption {
      type = types.bool;
      default = true;
      description = "Run iwd and the on-screen Wi-Fi helper; wpa_supplicant and NetworkManager are turned off.";
    };

    consoles = mkOption {
      type = types.listOf consoleName;
      default = [
        "tty1"
        "ttyS0"
        "hvc0"
      ];
      description = "Consoles (tty names without /dev/) where the root autologin shows the screen.";
    };

    consoleFont = mkOption {
      type = types.nullOr (types.either types.str types.path);
      # kbd's default8x16 holds the whole CP437 set (▀ ▄ █ ▌ ▐ ░ ▒ ▓, single and double box
      # lines) in 256 glyphs, so the VT keeps its 16 foreground colours (512-glyph fonts take one
      # bit of colour); Lat2-Terminus16 lacks ▀ ▄ ▌ ▐ ▓ and the double lines.
      default = "default8x16";
      example = "eurlatgr";
      description = ''
        Console font, loaded in the initrd. It must have the CP437 block elements and box
        lines the screen draws. `null` leaves `console.font` alone (the kernel's built-in
        fonts are CP437 too, and it picks a 16x32 one on large screens).
      '';
    };

    settings = mkOption {
      type = types.submodule { options = settingsOptions; };
      default = { };
      description = ''
        Everything written to /etc/installer-env/config.json, one attribute per setting of
        the tool (see the README). The options above set the common ones.
      '';
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        # nixos-anywhere skips kexec on a live installer, and the tool only sets a password there.
        assertion = config.system.nixos.variant_id == "installer";
        message = ''
          services.installer-env needs system.nixos.variant_id = "installer" (VARIANT_ID=installer
          in /etc/os-release), not ${builtins.toJSON config.system.nixos.variant_id}.
        '';
      }
      {
        assertion = cfg.settings.consoles != [ ];
        message = "services.installer-env.consoles is empty: the screen would show nowhere.";
      }
    ];

    system.nixos.variant_id = mkDefault "installer";

    services.installer-env.settings = {
      password_words = mkDefault cfg.passwordWords;
      rotate_on_login = mkDefault cfg.rotateOnLogin;
      consoles = mkDefault cfg.consoles;
      tor_enabled = mkDefault cfg.tor.enable;
      wifi_enabled = mkDefault cfg.wifi.enable;
    };

    environment.etc."installer-env/config.json".text = settingsFile;
    environment.systemPackages = [ cfg.package ];

    services.openssh = {
      enable = true;
      settings.PermitRootLogin = "yes";
      settings.PasswordAuthentication = true;
    };
    # Older installer profiles keep sshd stopped (mkOverride 50 [ ]). Root's password is empty until
    # the first console login sets one, and sshd refuses empty passwords, so starting it is safe.
    systemd.services.sshd.wantedBy = mkIf (!config.services.openssh.startWhenNeeded) (
      mkForce [ "multi-user.target" ]
    );

    services.tor = mkIf cfg.tor.enable {
      enable = true;
      # SOCKS on 127.0.0.1:9050 and torsocks/torify, so `torify ssh` works from the image too.
      client.enable = true;
      torsocks.enable = true;
      # /run/tor/control, group tor; the tool (root) adds the onion service through it.
      controlSocket.enable = true;
      settings = {
        CookieAuthentication = true;
        CookieAuthFileGroupReadable = true;
      };
    };

    networking.wireless.iwd.enable = mkIf cfg.wifi.enable true;
    # The installer profiles turn these on; each fights iwd for the Wi-Fi device.
    networking.wireless.enable = mkIf cfg.wifi.enable (mkForce false);
    networking.networkmanager.enable = mkIf cfg.wifi.enable (mkForce false);

    # DHCP on every wired and wireless link is nixpkgs' default (networking.useDHCP) and is left
    # alone: NetworkManager and many configurations set it with mkDefault, and would conflict.
    # Stable addresses only: the ones on screen and in the QR code stay valid.
    networking.tempAddresses = mkDefault "disabled";

    services.getty.autologinUser = mkForce "root";
    programs.bash.loginShellInit = mkIf (cfg.settings.consoles != [ ]) loginHook;

    console = mkIf (cfg.consoleFont != null) {
      font = cfg.consoleFont;
      earlySetup = true;
    };

    services.avahi = {
      enable = true;
      nssmdns4 = true;
      publish = {
        enable = true;
        addresses = true;
      };
    };
  };
}
