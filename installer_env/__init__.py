"""installer-env: the console of a NixOS live installer, ready for a remote install in seconds."""

__version__ = "0.1.0"

# Read before the rest of the core is imported (`status` asks the running session first): kept here.
ENV_PREFIX = "INSTALLER_ENV_"  # settings in the environment: INSTALLER_ENV_<FIELD>
DEFAULT_STATE_DIR = "/run/installer-env"
