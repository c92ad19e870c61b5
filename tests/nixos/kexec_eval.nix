# Evaluates nixos-module/default.nix with nixos-module/kexec/module.nix (what kexec.nix adds to the
# netboot image) against the stubs, with a stand-in package set whose store paths are directories
# of the test (`storeDir`), and returns what the tests check, including the tarball's build script.
{
  lib,
  packageDir,
  storeDir,
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
      ./kexec_stubs.nix
      ../../nixos-module/default.nix
      ../../nixos-module/kexec/module.nix
      {
        _module.args.pkgs = {
          shadow = store "shadow";
          stdenv.hostPlatform = {
            system = "x86_64-linux";
            uname.processor = "x86_64";
            isAarch64 = false;
          };
          buildPackages.shellcheck = store "shellcheck";
          pkgsStatic.kexec-tools = fake "kexec-tools" "${storeDir}/kexec-tools";
          pkgsStatic.iproute2 = fake "iproute2" "${storeDir}/iproute2";
          writeScript = name: _text: fake name "${storeDir}/${name}";
          runCommand =
            name: env: script:
            fake name "${storeDir}/${name}" // { inherit env script; };
        };
        services.openssh.package = store "openssh";
        services.tor.package = store "tor";
        services.installer-env.enable = true;
        services.installer-env.package = fake "installer-env" packageDir;
        system.build = {
          toplevel = store "nixos-system";
          kernel = fake "kernel" "${storeDir}/kernel";
          netbootRamdisk = fake "netboot-ramdisk" "${storeDir}/ramdisk";
        };
        system.boot.loader.kernelFile = "bzImage";
        boot.kernelParams = [ "init_on_free=1" ];
        # What netboot-minimal.nix (through installation-device.nix) sets in the real image.
        system.nixos.variant_id = "installer";
      }
      extra
    ];
  };
  inherit (evaluated) config;
  tarball = config.system.build.kexecInstallerTarball;
in
{
  failedAssertions = map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);
  tarballName = tarball.name;
  buildScript = tarball.script;
  inherit (config.boot) kernelParams;
  inherit (config.boot.initrd) postMountCommands;
  initrdFiles = lib.mapAttrs (_: f: toString f.source) config.boot.initrd.extraFiles;
  initrdService = config.boot.initrd.systemd.services.installer-env-kexec-restore;
  restoreNetwork = config.systemd.services.installer-env-restore-network;
  inherit (config.networking) useNetworkd;
  networkd = config.systemd.network.enable;
  configJson = config.environment.etc."installer-env/config.json".text;
}
