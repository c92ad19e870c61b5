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
  ssh = config.services.openssh;
  autologin = config.services.getty.autologinUser;

  # See the priorities note in `config` below.
  moduleDefault = lib.mkOverride 900;
  overProfile = lib.mkImageMediaOverride;

  # Whether the generated password can log in over ssh. With PAM (NixOS's default), sshd.nix gives
  # the sshd PAM service password checking only when PasswordAuthentication == true, and
  # keyboard-interactive logins go through the same PAM stack; without PAM, sshd checks passwords
  # itself unless PasswordAuthentication is false (a null leaves sshd's default, yes).
  sshSetting = name: ssh.settings.${name} or null;
  passwordLogin =
    if sshSetting "UsePAM" == true then
      sshSetting "PasswordAuthentication" == true
    else
      sshSetting "PasswordAuthentication" != false;

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
      description = "A new password for each boot (its first console login); false keeps it across reboots when state_dir outlives them.";
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
    tor_system = mkOption {
      type = types.bool;
      default = false;
      description = "The image runs a system tor at the control socket or port: wait for it at boot instead of starting one.";
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

  user = cfg.settings.password_user;

  loginHook = import ./login-hook.nix {
    inherit (cfg.settings) consoles;
    program = lib.getExe cfg.package;
  };

  # /etc/issue, above each login prompt (and printed before each autologin).
  helpLine = lib.concatStringsSep "\n" (
    [
      ''
        installer-env shows ${user}'s password, this machine's addresses and ssh host keys, and a
        QR code for `clan machines install --png` on ${lib.concatStringsSep ", " cfg.settings.consoles}.
        Log in over ssh as ${user} with that password. Back to the screen: `installer-env screen`;
        as text: `installer-env status`.''
    ]
    ++ lib.optional cfg.tor.enable "Over Tor: `torify ssh ${user}@<the onion address on the screen>`."
    ++ lib.optional cfg.wifi.enable "Wi-Fi: press `w` on the screen, or run `iwctl`."
  );

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
      description = ''
        The first console login of each boot makes a new password; later console logins of that
        boot (other consoles, the same one after a logout) show it, and only a person replaces it
        (`n`, `installer-env rotate-password`). false keeps the password across reboots when
        settings.state_dir outlives them.
      '';
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
        # The installer profiles set it; this module never does, so importing it into an ordinary
        # system cannot make nixos-anywhere skip kexec, nor let the tool change root's password.
        assertion = config.system.nixos.variant_id == "installer";
        message = ''
          services.installer-env runs only on a live installer image, and this system is not one
          (system.nixos.variant_id = ${builtins.toJSON config.system.nixos.variant_id}, not "installer").
          Import an installer profile, for example
          "''${modulesPath}/installer/cd-dvd/installation-cd-minimal.nix" or
          "''${modulesPath}/installer/netboot/netboot-minimal.nix", or build your own image with
          system.nixos.variant_id = "installer". That value puts VARIANT_ID=installer in
          /etc/os-release: nixos-anywhere then skips kexec, and the tool sets root's password.
        '';
      }
      {
        assertion = cfg.settings.consoles != [ ];
        message = "services.installer-env.consoles is empty: the screen would show nowhere.";
      }
      {
        assertion = ssh.enable;
        message = ''
          services.installer-env needs sshd, but services.openssh.enable = false: nobody could log in
          with the password the screen and its QR code show.
        '';
      }
      {
        assertion = passwordLogin;
        message = ''
          services.installer-env shows a password to log in with over ssh, but sshd accepts none here
          (services.openssh.settings.PasswordAuthentication = ${builtins.toJSON (sshSetting "PasswordAuthentication")}):
          the QR code's password cannot log in, nor can nixos-anywhere or clan with it. Leave
          PasswordAuthentication to the module on the installer image, or disable services.installer-env.
        '';
      }
      {
        assertion = cfg.settings.password_user != "root" || sshSetting "PermitRootLogin" == "yes";
        message = ''
          services.installer-env sets root's password, but services.openssh.settings.PermitRootLogin =
          ${builtins.toJSON (sshSetting "PermitRootLogin")}: root cannot log in over ssh with it.
          Installers (nixos-anywhere, clan) log in as root; keep PermitRootLogin = "yes" on the image.
        '';
      }
      {
        assertion = autologin == null || autologin == "root";
        message = ''
          services.getty.autologinUser = ${builtins.toJSON autologin}: the consoles would log in as
          ${toString autologin}, whose shell cannot set ${cfg.settings.password_user}'s password (chpasswd needs
          root), so the screen could not show one. Use "root" (the module's choice) or null (a
          login prompt; the screen starts when root logs in).
        '';
      }
      {
        assertion = !(cfg.wifi.enable && (config.networking.networkmanager.enable || config.networking.wireless.enable));
        message = ''
          services.installer-env.wifi.enable joins Wi-Fi through iwd, but
          ${if config.networking.networkmanager.enable then "networking.networkmanager.enable" else "networking.wireless.enable"}
          is true: two daemons would fight over the Wi-Fi device. Set
          services.installer-env.wifi.enable = false to keep the other one.
        '';
      }
    ];

    services.installer-env.settings = {
      password_words = mkDefault cfg.passwordWords;
      rotate_on_login = mkDefault cfg.rotateOnLogin;
      consoles = mkDefault cfg.consoles;
      tor_enabled = mkDefault cfg.tor.enable;
      tor_system = mkDefault cfg.tor.enable; # services.tor below: getty can log in before tor.service
      wifi_enabled = mkDefault cfg.wifi.enable;
    };

    environment.etc."installer-env/config.json".text = settingsFile;
    environment.systemPackages = [ cfg.package ];

    # Priorities (lib/modules.nix): a plain definition is 100, mkDefault 1000, an option's default
    # 1500. `moduleDefault` (900) wins over other modules' mkDefault and loses to a user's plain
    # setting, which the assertions above then judge. `overProfile` (mkImageMediaOverride, 60)
    # replaces what the installer profile sets at normal priority (its "nixos" autologin, its
    # help text, NetworkManager); a user's mkForce (50) still wins over it.
    services.openssh = {
      enable = moduleDefault true;
      settings.PermitRootLogin = moduleDefault "yes";
      settings.PasswordAuthentication = moduleDefault true;
    };
    # Older installer profiles keep sshd stopped (mkOverride 50 [ ]). Root's password is empty until
    # the first console login sets one, and sshd refuses empty passwords, so starting it is safe.
    systemd.services.sshd.wantedBy = mkIf (ssh.enable && !ssh.startWhenNeeded) (
      mkForce [ "multi-user.target" ]
    );

    services.tor = mkIf cfg.tor.enable {
      enable = moduleDefault true;
      # SOCKS on 127.0.0.1:9050 and torsocks/torify, so `torify ssh` works from the image too.
      client.enable = moduleDefault true;
      torsocks.enable = moduleDefault true;
      # /run/tor/control, group tor; the tool (root) adds the onion service through it.
      controlSocket.enable = moduleDefault true;
      settings = {
        CookieAuthentication = moduleDefault true;
        CookieAuthFileGroupReadable = moduleDefault true;
      };
    };

    networking.wireless.iwd.enable = mkIf cfg.wifi.enable (moduleDefault true);
    # The installer profiles turn these on; each fights iwd for the Wi-Fi device.
    networking.wireless.enable = mkIf cfg.wifi.enable (overProfile false);
    networking.networkmanager.enable = mkIf cfg.wifi.enable (overProfile false);

    # DHCP on every wired and wireless link is nixpkgs' default (networking.useDHCP) and is left
    # alone: NetworkManager and many configurations set it with mkDefault, and would conflict.
    # Stable addresses only: the ones on screen and in the QR code stay valid.
    networking.tempAddresses = moduleDefault "disabled";

    # A static address from ip= on the kernel command line (a netboot or boot menu entry carries
    # it), for networks without DHCP. After dhcpcd: it tells dhcpcd to let go of that interface.
    systemd.services.installer-env-net-boot = {
      description = "installer-env: static network from ip= on the kernel command line";
      wantedBy = [ "multi-user.target" ];
      after = [
        "network-pre.target"
        "dhcpcd.service"
        "systemd-networkd.service"
      ];
      before = [ "network-online.target" ];
      unitConfig.ConditionKernelCommandLine = "ip";
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = "${lib.getExe cfg.package} net boot";
      };
    };

    # The profile logs "nixos" in; setting a password (chpasswd) needs root.
    services.getty.autologinUser = overProfile "root";
    # /etc/issue above every login prompt: the profile's text names the "nixos" user, empty
    # passwords and nmtui or wpa_cli, none of which holds with this module.
    services.getty.helpLine = overProfile helpLine;
    programs.bash.loginShellInit = mkIf (cfg.settings.consoles != [ ]) loginHook;

    console = mkIf (cfg.consoleFont != null) {
      font = moduleDefault cfg.consoleFont;
      earlySetup = moduleDefault true;
    };

    services.avahi = {
      enable = moduleDefault true;
      nssmdns4 = moduleDefault true;
      publish = {
        enable = moduleDefault true;
        addresses = moduleDefault true;
      };
    };
  };
}
