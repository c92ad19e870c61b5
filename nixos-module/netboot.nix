# The minimal NixOS netboot image (kernel, initrd, iPXE script) with installer-env on its consoles.
#   nix build .#netboot
{ modulesPath, ... }:
{
  imports = [
    "${modulesPath}/installer/netboot/netboot-minimal.nix"
    ./default.nix
  ];

  services.installer-env.enable = true;
}
