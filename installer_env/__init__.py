"""installer-env: the console of a NixOS live installer, ready for a remote install in seconds."""

__version__ = "0.1.0"
