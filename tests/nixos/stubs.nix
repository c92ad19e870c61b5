# Test-only declarations of the NixOS options nixos-module/default.nix reads and sets, with the
# types, defaults and priorities nixpkgs declares (file named above each), so the module can be
# evaluated with nixpkgs' lib alone (no nixpkgs checkout). Where nixpkgs derives one option from
# another (getty's /etc/issue, torsocks), the stub does the same.
{ config, lib, ... }:

let
  inherit (lib) mkOption types;

  bool = default: mkOption { type = types.bool; inherit default; };
  nullOrBool = mkOption {
    type = types.nullOr types.bool;
    default = null;
  };
  package = mkOption { type = types.package; };
in
{
  options = {
    # nixos/modules/misc/assertions.nix
    assertions = mkOption {
      type = types.listOf types.unspecified;
      internal = true;
      default = [ ];
    };
    warnings = mkOption {
      internal = true;
      default = [ ];
      type = types.listOf types.str;
    };

    # nixos/modules/misc/version.nix
    system.nixos.variant_id = mkOption {
      type = types.nullOr (types.strMatching "^[a-z0-9._-]+$");
      default = null;
    };

    # nixos/modules/system/etc/etc.nix (only `text`; getty's `source` is written as text here)
    environment.etc = mkOption {
      type = types.attrsOf (types.submodule { options.text = mkOption { type = types.lines; }; });
      default = { };
    };
    # nixos/modules/config/system-path.nix
    environment.systemPackages = mkOption {
      type = types.listOf types.package;
      default = [ ];
    };

    # nixos/modules/services/networking/ssh/sshd.nix
    services.openssh = {
      enable = bool false;
      startWhenNeeded = bool false;
      inherit package;
      settings = mkOption {
        default = { };
        type = types.submodule {
          # settingsFormat.type: keyValue of bool, int, str or lists of str, each nullable
          freeformType = types.attrsOf (
            types.nullOr (
              types.oneOf [
                types.bool
                types.int
                types.str
                (types.listOf types.str)
              ]
            )
          );
          options = {
            PasswordAuthentication = mkOption {
              type = types.nullOr types.bool;
              default = true;
            };
            KbdInteractiveAuthentication = mkOption {
              type = types.nullOr types.bool;
              default = true;
            };
            UsePAM = mkOption {
              type = types.nullOr types.bool;
              default = true;
            };
            PermitRootLogin = mkOption {
              default = "prohibit-password";
              type = types.nullOr (
                types.enum [
                  "yes"
                  "without-password"
                  "prohibit-password"
                  "forced-commands-only"
                  "no"
                ]
              );
            };
          };
        };
      };
    };

    # nixos/lib/systemd-unit-options.nix (wantedBy of a service)
    systemd.services = mkOption {
      type = types.attrsOf (
        types.submodule {
          freeformType = types.attrsOf types.anything;
          options.wantedBy = mkOption {
            type = types.listOf types.str;
            default = [ ];
          };
        }
      );
      default = { };
    };

    # nixos/modules/services/security/tor.nix
    services.tor = {
      enable = bool false;
      inherit package;
      client.enable = bool false;
      controlSocket.enable = bool false;
      settings = mkOption {
        default = { };
        type = types.submodule {
          freeformType = types.attrsOf types.anything;
          # optionBool: nullOr bool, default null (the line is left out of torrc)
          options.CookieAuthentication = nullOrBool;
          options.CookieAuthFileGroupReadable = nullOrBool;
        };
      };
      # nixos/modules/services/security/torsocks.nix
      torsocks.enable = mkOption {
        type = types.bool;
        default = config.services.tor.enable && config.services.tor.client.enable;
      };
    };

    networking = {
      # nixos/modules/services/networking/wpa_supplicant.nix
      wireless.enable = bool false;
      # nixos/modules/services/networking/iwd.nix (mkEnableOption)
      wireless.iwd.enable = bool false;
      # nixos/modules/services/networking/networkmanager.nix
      networkmanager.enable = bool false;
      # nixos/modules/tasks/network-interfaces.nix
      useDHCP = bool true;
      tempAddresses = mkOption {
        type = types.enum [
          "default"
          "enabled"
          "disabled"
        ];
        default = "default"; # with IPv6 on, as nixpkgs' default is
      };
    };

    # nixos/modules/services/ttys/getty.nix
    services.getty = {
      autologinUser = mkOption {
        type = types.nullOr types.str;
        default = null;
      };
      greetingLine = mkOption { type = types.str; };
      helpLine = mkOption {
        type = types.lines;
        default = "";
      };
    };

    # nixos/modules/programs/bash/bash.nix
    programs.bash.loginShellInit = mkOption {
      type = types.lines;
      default = "";
    };

    # nixos/modules/config/console.nix
    console = {
      font = mkOption {
        type = types.nullOr (types.either types.str types.path);
        default = null;
      };
      earlySetup = bool false;
    };

    # nixos/modules/services/networking/avahi-daemon.nix
    services.avahi = {
      enable = bool false;
      nssmdns4 = bool false;
      publish.enable = bool false;
      publish.addresses = bool false;
    };
  };

  # nixos/modules/services/ttys/getty.nix: the greeting (mkDefault there) and the help line
  # make /etc/issue.
  config = {
    services.getty.greetingLine = lib.mkDefault ''<<< Welcome to NixOS (\m) - \l >>>'';
    environment.etc.issue.text = ''

      ${config.services.getty.greetingLine}
      ${config.services.getty.helpLine}

    '';
  };
}
