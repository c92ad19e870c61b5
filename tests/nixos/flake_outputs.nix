# Calls flake.nix's outputs with a stand-in nixpkgs (nixpkgs' lib, fake package set and nixosSystem)
# and lists what it exposes, so the tests can hold it to what the README promises.
{ lib }:

let
  flake = import ../../flake.nix;
  systems = [
    "x86_64-linux"
    "aarch64-linux"
  ];
  named = name: {
    type = "derivation";
    inherit name;
  };
  pkgsFor = system: {
    stdenv.hostPlatform.system = system;
    python3Packages.callPackage = path: _: named "callPackage ${baseNameOf path}";
    symlinkJoin = args: named "${args.name}: ${lib.concatMapStringsSep " " (p: p.name) args.paths}";
    testers.runNixOSTest = test: named "runNixOSTest ${baseNameOf test}";
  };
  nixpkgs = {
    lib = lib // {
      nixosSystem =
        { modules }:
        {
          config.system.build = lib.genAttrs [
            "isoImage"
            "kernel"
            "netbootRamdisk"
            "netbootIpxeScript"
            "kexecInstallerTarball"
          ] named;
          modules = map (m: if builtins.isPath m then baseNameOf m else m) modules;
        };
    };
    legacyPackages = lib.genAttrs systems pkgsFor;
  };
  self = flake.outputs { inherit self nixpkgs; };
  names = lib.mapAttrs (_: lib.mapAttrs (_: p: p.name));
in
{
  packages = names self.packages;
  checks = names self.checks;
  nixosConfigurations = lib.mapAttrs (_: c: c.modules) self.nixosConfigurations;
  nixosModule = baseNameOf self.nixosModules.default;
  nixpkgsUrl = flake.inputs.nixpkgs.url;
}
