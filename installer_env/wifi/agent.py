"""iwd's Agent: hands over the passphrase the user typed for the one network being connected.

It lives only in memory, for the duration of one connect call, and is exported on the connection
that calls Connect(), because iwd asks the agent of the caller first.
"""

# No `from __future__ import annotations`: dbus-fast reads the D-Bus signatures of the agent's
# methods from their live annotations, and a string "None" would not parse.
from dbus_fast import DBusError
from dbus_fast.annotations import DBusObjectPath, DBusStr
from dbus_fast.service import ServiceInterface, method

from installer_env.wifi.names import AGENT, AGENT_CANCELED

AGENT_PATH = "/org/installer_env/wifi_agent"


class PassphraseAgent(ServiceInterface):
    def __init__(self) -> None:
        super().__init__(AGENT)
        self._network: str | None = None
        self._passphrase: str | None = None
        self.asked = False
        self.cancel_reason: str | None = None

    def offer(self, network: str | None, passphrase: str | None) -> None:
        """Answer the next request for `network` (any network when None: hidden ones have no path yet)."""
        self._network, self._passphrase = network, passphrase
        self.asked, self.cancel_reason = False, None

    def withdraw(self) -> None:
        self._network = self._passphrase = None

    @method()
    def Release(self) -> None:
        self.withdraw()

    @method()
    def RequestPassphrase(self, network: DBusObjectPath) -> DBusStr:
        self.asked = True
        if self._passphrase is None or (self._network is not None and network != self._network):
            raise DBusError(AGENT_CANCELED, "no passphrase was given for this network")
        return self._passphrase

    @method()
    def RequestPrivateKeyPassphrase(self, network: DBusObjectPath) -> DBusStr:
        raise DBusError(AGENT_CANCELED, "802.1X is not supported here")

    @method()
    def RequestUserPassword(self, network: DBusObjectPath, user: DBusStr) -> DBusStr:
        raise DBusError(AGENT_CANCELED, "802.1X is not supported here")

    @method()
    def Cancel(self, reason: DBusStr) -> None:
        self.cancel_reason = reason
