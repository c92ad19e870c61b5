# The kexec installer: the netboot image with installer-env, as nixos-kexec-installer-<system>.tar.gz.
#   nix build .#kexec
#   curl -L <url>/nixos-kexec-installer-x86_64-linux.tar.gz | tar -xzf- -C /root; /root/kexec/run
# It keeps the old system's SSH host keys, authorized keys, machine-id and network (see docs/kexec.md).
{ modulesPath, ... }:
{
  imports = [
    "${modulesPath}/installer/netboot/netboot-minimal.nix"
    ./default.nix
    ./kexec/module.nix
  ];

  services.installer-env.enable = true;
}
