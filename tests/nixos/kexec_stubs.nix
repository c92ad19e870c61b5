# Test-only declarations of the NixOS options nixos-module/kexec/module.nix sets or reads, with
# NixOS's types, so it can be evaluated with nixpkgs' lib alone (next to stubs.nix).
{ lib, ... }:

let
  inherit (lib) mkOption types;
  bool = default: mkOption { type = types.bool; inherit default; };
in
{
  options = {
    system.build = mkOption {
      type = types.attrsOf types.unspecified;
      default = { };
    };
    system.boot.loader.kernelFile = mkOption { type = types.str; };
    boot.kernelParams = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    boot.initrd = {
      extraFiles = mkOption {
        type = types.attrsOf (types.submodule { options.source = mkOption { type = types.unspecified; }; });
        default = { };
      };
      postMountCommands = mkOption {
        type = types.lines;
        default = "";
      };
      systemd.enable = bool false;
      systemd.storePaths = mkOption {
        type = types.listOf types.unspecified;
        default = [ ];
      };
      systemd.services = mkOption {
        type = types.attrsOf (types.attrsOf types.anything);
        default = { };
      };
    };
    networking.useNetworkd = bool false;
    systemd.network.enable = bool false;
  };
}
