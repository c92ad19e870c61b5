"""iwd's objects (GetManagedObjects, variants unwrapped) as a `WifiStatus`: pure, no bus."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from installer_env.wifi.errors import MSG_NO_ADAPTER
from installer_env.wifi.model import KnownNetwork, WifiDevice, WifiErrorKind, WifiNetwork, WifiStatus
from installer_env.wifi.names import ADAPTER, DEVICE, KNOWN_NETWORK, NETWORK, STATION

Objects = Mapping[str, Mapping[str, Mapping[str, Any]]]  # path -> interface -> property -> value


def status_from_objects(objects: Objects, ordered: Mapping[str, Sequence[tuple[str, float]]]) -> WifiStatus:
    """`ordered`: for each station path, its networks as GetOrderedNetworks ranks them (path, dBm)."""
    devices = [
        _device(path, ifaces, objects, ordered.get(path, ()))
        for path, ifaces in objects.items()
        if DEVICE in ifaces
    ]
    known = [
        KnownNetwork(
            path=path,
            ssid=str(kn.get("Name", "")),
            security=str(kn.get("Type", "")),
            hidden=bool(kn.get("Hidden", False)),
            autoconnect=bool(kn.get("AutoConnect", True)),
            last_connected=kn.get("LastConnectedTime"),
        )
        for path, ifaces in objects.items()
        if (kn := ifaces.get(KNOWN_NETWORK)) is not None
    ]
    known.sort(key=lambda k: (k.last_connected or "", k.ssid), reverse=True)
    devices.sort(key=lambda d: d.name)
    if not devices:
        return WifiStatus(
            known_networks=tuple(known), problem=MSG_NO_ADAPTER, problem_kind=WifiErrorKind.NO_ADAPTER
        )
    return WifiStatus(devices=tuple(devices), known_networks=tuple(known))


def _device(
    path: str, ifaces: Mapping[str, Mapping[str, Any]], objects: Objects, ranked: Sequence[tuple[str, float]]
) -> WifiDevice:
    dev = ifaces[DEVICE]
    adapter = objects.get(str(dev.get("Adapter", "")), {}).get(ADAPTER, {})
    station = ifaces.get(STATION)
    networks: list[WifiNetwork] = []
    connected_ssid = None
    if station is not None:
        for net_path, dbm in ranked:
            net = objects.get(net_path, {}).get(NETWORK)
            if net is None:
                continue  # gone between the two calls; the next change refreshes
            networks.append(
                WifiNetwork(
                    path=net_path,
                    ssid=str(net.get("Name", "")),
                    security=str(net.get("Type", "")),
                    signal_dbm=dbm,
                    connected=bool(net.get("Connected", False)),
                    known="KnownNetwork" in net,
                )
            )
        cn = station.get("ConnectedNetwork")
        if cn:
            connected_ssid = str(objects.get(str(cn), {}).get(NETWORK, {}).get("Name", "")) or None
    return WifiDevice(
        path=path,
        name=str(dev.get("Name", "")),
        address=str(dev.get("Address", "")),
        powered=bool(dev.get("Powered", False)),
        adapter=str(adapter.get("Name", "")),
        adapter_powered=bool(adapter.get("Powered", False)),
        adapter_model=adapter.get("Model"),
        adapter_vendor=adapter.get("Vendor"),
        mode=str(dev.get("Mode", "")),
        state=str(station.get("State", "")) if station is not None else "off",
        scanning=bool(station.get("Scanning", False)) if station is not None else False,
        connected_ssid=connected_ssid,
        networks=tuple(networks),
    )
