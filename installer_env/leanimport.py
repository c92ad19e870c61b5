"""Import a library's submodules without running its package `__init__`.

Some kept libraries import everything from their top-level `__init__`: `import pyroute2` loads
163 modules (about 50 ms of CPU and 6 MiB more than the rtnetlink and sock_diag submodules used
here), and qrcode's `moduledrawers` package imports Pillow for image drawers a text renderer never
uses. Importing `pyroute2.iproute.linux` still runs `pyroute2/__init__.py` first, since Python
runs every parent package's `__init__`. So the packages in `SKIPPED_INITS` are registered in
`sys.modules` from their spec with their `__init__` not run; their submodules then import as
usual. A name that only the `__init__` defines (`from pyroute2 import IPRoute` elsewhere in the
process) runs that `__init__` on first use, so other code in the process keeps working. If any
step fails (a new library layout, another importer), it falls back to the ordinary import.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
import threading
from importlib.machinery import ModuleSpec
from types import ModuleType

log = logging.getLogger(__name__)

# Top-level library -> its packages whose __init__ is skipped, outermost first.
SKIPPED_INITS = {
    # The package __init__ imports every socket class of the library; pyroute2.iproute's imports
    # the BSD, Windows and mock variants besides the Linux one.
    "pyroute2": ("pyroute2", "pyroute2.iproute"),
    # qrcode/__init__ is harmless but must not run before its moduledrawers package is in place
    # (it imports qrcode.main, which needs it); moduledrawers/__init__ imports Pillow.
    "qrcode": ("qrcode", "qrcode.image", "qrcode.image.styles", "qrcode.image.styles.moduledrawers"),
}

_lock = threading.RLock()  # an import under it may itself import through the helper


def lean_import(name: str) -> ModuleType:
    """The module `name` (e.g. "pyroute2.netlink.diag"), its library's listed `__init__`s not run."""
    with _lock:
        try:
            for package in SKIPPED_INITS.get(name.partition(".")[0], ()):
                if package not in sys.modules:
                    _register_without_init(package)
            return importlib.import_module(name)
        except Exception as e:
            log.debug("importing %s without package __init__ failed, importing it whole: %s", name, e)
            _drop_placeholders(name.partition(".")[0])
    return importlib.import_module(name)


def _register_without_init(package: str) -> None:
    spec = importlib.util.find_spec(package)  # finds, never runs: the parent is registered already
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        raise ImportError(f"{package} is not a package")
    module = importlib.util.module_from_spec(spec)
    module.__dict__["__getattr__"] = _on_first_missing_name(module, spec)
    sys.modules[package] = module
    parent, _, child = package.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)


def _on_first_missing_name(module: ModuleType, spec: ModuleSpec) -> object:
    """The module's PEP 562 `__getattr__`: a submodule is imported (`from pyroute2 import config`,
    which the library itself does); any other name runs the skipped `__init__` once."""

    def __getattr__(name: str) -> object:
        if name.startswith("__"):
            raise AttributeError(name)
        if importlib.util.find_spec(f"{module.__name__}.{name}") is not None:
            return importlib.import_module(f"{module.__name__}.{name}")
        module.__dict__.pop("__getattr__", None)
        assert spec.loader is not None
        spec.loader.exec_module(module)
        return getattr(module, name)

    return __getattr__


def _drop_placeholders(library: str) -> None:
    for package in SKIPPED_INITS.get(library, ()):
        module = sys.modules.get(package)
        if module is not None and "__getattr__" in module.__dict__:
            del sys.modules[package]
