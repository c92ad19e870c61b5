"""The Tor v3 onion service that makes `torify ssh root@<id>.onion` work from anywhere.

Two ways to reach tor, chosen on their own: the system tor's control socket (or a configured control
port), or, when there is none, a tor this tool launches in <state_dir>/tor/. Either way the service
is added with ADD_ONION as a detached service, so it outlives this process and a second console
finds it instead of adding it twice. The key lives in <state_dir>/tor/ssh-onion.key (0600), so the
address survives re-logins and restarts of this tool and of tor.

- `model.py`: `TorStatus` (what views show), `TorProblem` (a failure in words), the two modes.
- `onion.py`: v3 addresses and their checksum, `OnionKey` (ed25519, enough to name its address).
- `keyfile.py`: tor's directory in the state dir, reading and saving the key, the lock consoles share.
- `control.py`: which tor (`choose_endpoint`), connecting with stem, ADD_ONION, deadlines off the loop.
- `launch.py`: the tor this tool starts when there is no system tor.
- `service.py`: the `follow()` session source and the one-shot `status()`.

stem is imported only by control.py, on first use; and the modules that talk to tor load on the
first use of their names, so a console with tor off (and `status`) imports the model and the
address checks alone.
"""

import importlib
from typing import TYPE_CHECKING, Any

from installer_env.tor.model import MODE_LAUNCHED, MODE_SYSTEM, TorProblem, TorStatus
from installer_env.tor.onion import KEY_TYPE, OnionKey, check_onion_address, is_onion_address, onion_address

if TYPE_CHECKING:
    from installer_env.tor.control import (
        CONTROL_SOCKET,
        VIRTUAL_PORT,
        Endpoint,
        call_with_deadline,
        choose_endpoint,
        parse_bootstrap,
    )
    from installer_env.tor.keyfile import KEY_FILE, TOR_DIR, ensure_key, key_path, read_key, tor_dir
    from installer_env.tor.launch import stop_launched
    from installer_env.tor.service import follow, status

_LAZY = {
    **dict.fromkeys(
        (
            "CONTROL_SOCKET",
            "VIRTUAL_PORT",
            "Endpoint",
            "call_with_deadline",
            "choose_endpoint",
            "parse_bootstrap",
        ),
        "control",
    ),
    **dict.fromkeys(("KEY_FILE", "TOR_DIR", "ensure_key", "key_path", "read_key", "tor_dir"), "keyfile"),
    "stop_launched": "launch",
    "follow": "service",
    "status": "service",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "CONTROL_SOCKET",
    "KEY_FILE",
    "KEY_TYPE",
    "MODE_LAUNCHED",
    "MODE_SYSTEM",
    "TOR_DIR",
    "VIRTUAL_PORT",
    "Endpoint",
    "OnionKey",
    "TorProblem",
    "TorStatus",
    "call_with_deadline",
    "check_onion_address",
    "choose_endpoint",
    "ensure_key",
    "follow",
    "is_onion_address",
    "key_path",
    "onion_address",
    "parse_bootstrap",
    "read_key",
    "status",
    "stop_launched",
    "tor_dir",
]
