# Evaluates nixos-module/default.nix against stubs.nix plus `extra` (a module) and returns the parts
# of the resulting configuration the tests check, as JSON-friendly values.
#   nix-instantiate --eval --strict --json tests/nixos/eval.nix --arg lib 'import <nixpkgs lib>' ...
{
  lib,
  # Directory standing in for the package's store path (bin/installer-env in it).
  packageDir,
  extra ? { },
}:

let
  fake =
    name: outPath:
    {
      type = "derivation";
      inherit name outPath;
      meta.mainProgram = name;
    };
  store = name: fake name "/nix/store/00000000000000000000000000000000-${name}";

  evaluated = lib.evalModules {
    modules = [
      ./stubs.nix
      ../../nixos-module/default.nix
      {
        _module.args.pkgs = {
          shadow = store "shadow";
        };
        services.openssh.package = store "openssh";
        services.tor.package = store "tor";
        services.installer-env.enable = lib.mkDefault true;
        services.installer-env.package = fake "installer-env" packageDir;
      }
      extra
    ];
  };
  inherit (evaluated) config;
in
{
  failedAssertions = map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);
  configJson = config.environment.etc."installer-env/config.json".text or null;
  variantId = config.system.nixos.variant_id;
  inherit (config.services) openssh tor avahi;
  sshdWantedBy = config.systemd.services.sshd.wantedBy or null;
  inherit (config.networking) wireless networkmanager useDHCP tempAddresses;
  autologinUser = config.services.getty.autologinUser;
  issue = config.environment.etc.issue.text;
  loginShellInit = config.programs.bash.loginShellInit;
  inherit (config) console;
  systemPackages = map (p: p.name) config.environment.systemPackages;
}
