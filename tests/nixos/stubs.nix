# Test-only declarations of the NixOS options nixos-module/default.nix sets, with NixOS's types
# and defaults, so the module can be evaluated with nixpkgs' lib alone (no nixpkgs checkout).
{ lib, ... }:

let
  inherit (lib) mkOption types;

  bool = default: mkOption { type = types.bool; inherit default; };
  package = mkOption { type = types.package; };
in
{
  options = {
    assertions = mkOption {
      type = types.listOf types.unspecified;
      default = [ ];
    };

    system.nixos.variant_id = mkOption {
      type = types.nullOr (types.strMatching "^[a-z0-9._-]+$");
      default = null;
    };

    environment.etc = mkOption {
      type = types.attrsOf (types.submodule { options.text = mkOption { type = types.lines; }; });
      default = { };
    };
    environment.systemPackages = mkOption {
      type = types.listOf types.package;
      default = [ ];
    };

    services.openssh = {
      enable = bool false;
      startWhenNeeded = bool false;
      inherit package;
      settings = mkOption {
        type = types.attrsOf types.anything;
        default = { };
      };
    };

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

    services.tor = {
      enable = bool false;
      inherit package;
      client.enable = bool false;
      torsocks.enable = bool false;
      controlSocket.enable = bool false;
      settings = mkOption {
        type = types.attrsOf types.anything;
        default = { };
      };
    };

    networking = {
      wireless.enable = bool false;
      wireless.iwd.enable = bool false;
      networkmanager.enable = bool false;
      useDHCP = bool true;
      tempAddresses = mkOption {
        type = types.enum [
          "default"
          "enabled"
          "disabled"
        ];
        default = "default";
      };
    };

    services.getty.autologinUser = mkOption {
      type = types.nullOr types.str;
      default = null;
    };

    programs.bash.loginShellInit = mkOption {
      type = types.lines;
      default = "";
    };

    console = {
      font = mkOption {
        type = types.nullOr (types.either types.str types.path);
        default = null;
      };
      earlySetup = bool false;
    };

    services.avahi = {
      enable = bool false;
      nssmdns4 = bool false;
      publish.enable = bool false;
      publish.addresses = bool false;
    };
  };
}
