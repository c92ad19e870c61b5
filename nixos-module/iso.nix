# The minimal NixOS installation CD with installer-env on its consoles.
#   nix build .#iso
# Without flakes: nix-build '<nixpkgs/nixos>' -A config.system.build.isoImage -I nixos-config=./iso.nix
{ modulesPath, ... }:
{
  imports = [
    "${modulesPath}/installer/cd-dvd/installation-cd-minimal.nix"
    ./default.nix
  ];

  services.installer-env.enable = true;
}
