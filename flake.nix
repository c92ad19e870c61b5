{
  description = "installer-env: the console of a NixOS live installer (password, ssh, tor, Wi-Fi, QR code)";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

      installer =
        system: profile:
        lib.nixosSystem {
          modules = [
            profile
            { nixpkgs.hostPlatform = system; }
          ];
        };
      # iso-x86_64-linux, netboot-aarch64-linux, kexec-x86_64-linux, ...
      images = lib.listToAttrs (
        lib.concatMap (system: [
          (lib.nameValuePair "iso-${system}" (installer system ./nixos-module/iso.nix))
          (lib.nameValuePair "netboot-${system}" (installer system ./nixos-module/netboot.nix))
          (lib.nameValuePair "kexec-${system}" (installer system ./nixos-module/kexec.nix))
        ]) systems
      );
    in
    {
      nixosModules.default = ./nixos-module;

      nixosConfigurations = images;

      packages = forAllSystems (
        pkgs:
        let
          inherit (pkgs.stdenv.hostPlatform) system;
          netboot = self.nixosConfigurations."netboot-${system}".config.system.build;
        in
        {
          default = pkgs.python3Packages.callPackage ./nixos-module/package.nix { };
          iso = self.nixosConfigurations."iso-${system}".config.system.build.isoImage;
          netboot = pkgs.symlinkJoin {
            name = "installer-env-netboot";
            paths = [
              netboot.kernel
              netboot.netbootRamdisk
              netboot.netbootIpxeScript
            ];
          };
          # result/nixos-kexec-installer-<system>.tar.gz
          kexec = self.nixosConfigurations."kexec-${system}".config.system.build.kexecInstallerTarball;
        }
      );

      checks = forAllSystems (pkgs: {
        package = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        vm-test = pkgs.testers.runNixOSTest ./nixos-module/test.nix;
      });
    };
}
