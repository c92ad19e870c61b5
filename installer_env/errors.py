"""Errors a person can act on. Each carries the process exit code documented in the README."""

from __future__ import annotations


class InstallerEnvError(Exception):
    """Base class: the message is shown as is, never with a traceback."""

    exit_code = 1


class ConfigError(InstallerEnvError):
    exit_code = 2


class StateDirError(InstallerEnvError):
    exit_code = 3


class PasswordApplyError(InstallerEnvError):
    exit_code = 4


class NotAnInstallerError(InstallerEnvError):
    exit_code = 5


class SshdError(InstallerEnvError):
    exit_code = 6
