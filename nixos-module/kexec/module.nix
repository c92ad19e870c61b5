# What turns a netboot image into the kexec installer (imported by ../kexec.nix):
# - system.build.kexecInstallerTarball: nixos-kexec-installer-<system>.tar.gz with kexec/run (checked
#   with shellcheck here), static kexec and ip, the kernel and the netboot initrd;
# - the first stage moves what kexec/run saved out of the initrd before anything else runs
#   (./restore: SSH host keys 0600, root's authorized_keys 0600 in 0700, machine-id);
# - `installer-env restore-network` turns the saved `ip --json` state into systemd-networkd units
#   before network-pre.target.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.services.installer-env;
  build = config.system.build;
  platform = pkgs.stdenv.hostPlatform;
  # kexec/run compares this with `uname -m`.
  arch = platform.uname.processor;
  kernelParams = toString config.boot.kernelParams;
  stateDir = cfg.settings.kexec_state_dir;
  restoreScript = pkgs.writeScript "installer-env-kexec-restore" (builtins.readFile ./restore);

  tarball = pkgs.runCommand "nixos-kexec-installer-${platform.system}" {
    nativeBuildInputs = [ pkgs.buildPackages.shellcheck ];
  } ''
    mkdir -p kexec "$out"
    sed -e 's|@arch@|${arch}|' -e 's|@init@|${build.toplevel}/init|' \
      -e 's|@kernelParams@|${kernelParams}|' ${./run} >kexec/run
    chmod 755 kexec/run
    if grep -q '@[a-zA-Z]*@' kexec/run; then echo "kexec/run: unsubstituted placeholder" >&2; exit 1; fi
    shellcheck -s sh kexec/run
    install -m 755 ${pkgs.pkgsStatic.kexec-tools}/bin/kexec kexec/kexec
    install -m 755 ${pkgs.pkgsStatic.iproute2}/bin/ip kexec/ip
    install -m 644 ${build.kernel}/${config.system.boot.loader.kernelFile} kexec/bzImage
    install -m 644 ${build.netbootRamdisk}/initrd kexec/initrd
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1 -czf "$out/nixos-kexec-installer-${platform.system}.tar.gz" kexec
  '';
in
{
  config = lib.mkIf cfg.enable {
    assertions = [
      {
        # They are pasted into kexec/run between single quotes, and into a sed expression.
        assertion = !(lib.hasInfix "'" kernelParams || lib.hasInfix "|" kernelParams || lib.hasInfix "\\" kernelParams || lib.hasInfix "&" kernelParams);
        message = "boot.kernelParams of the kexec image must not contain ', |, & or \\: ${kernelParams}";
      }
    ];

    system.build.kexecInstallerTarball = tarball;

    # Nobody watches the screen of a rented server; its serial console (IPMI SOL, a provider's web
    # console) shows installer-env's plain view. The last console= is /dev/console.
    boot.kernelParams = [
      "console=tty0"
      (if platform.isAarch64 then "console=ttyAMA0,115200" else "console=ttyS0,115200")
    ];

    # First stage, scripted initrd: the root is mounted at $targetRoot, nothing of it has run yet.
    boot.initrd.extraFiles."/installer-env-kexec-restore".source = restoreScript;
    boot.initrd.postMountCommands = lib.mkIf (!config.boot.initrd.systemd.enable) ''
      sh /installer-env-kexec-restore "$targetRoot"
    '';
    # First stage, systemd initrd: the same once /sysroot is mounted, before the switch to it.
    boot.initrd.systemd.storePaths = [ restoreScript ];
    boot.initrd.systemd.services.installer-env-kexec-restore = {
      description = "Move what kexec/run saved on the old system into the new root";
      wantedBy = [ "initrd.target" ];
      after = [ "initrd-fs.target" ];
      before = [ "initrd.target" "initrd-nixos-activation.service" ];
      unitConfig.DefaultDependencies = false;
      serviceConfig.Type = "oneshot";
      serviceConfig.ExecStart = "/bin/sh ${restoreScript} /sysroot";
    };

    # The old system's addresses and routes, matched by MAC, before networkd configures anything.
    networking.useNetworkd = lib.mkDefault true;
    systemd.network.enable = true;
    systemd.services.installer-env-restore-network = {
      description = "systemd-networkd units for the network kexec/run saved";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-pre.target" ];
      before = [ "network-pre.target" "systemd-networkd.service" ];
      unitConfig.ConditionPathExists = "${stateDir}/addrs.json";
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = "${lib.getExe cfg.package} restore-network";
      };
    };
  };
}
