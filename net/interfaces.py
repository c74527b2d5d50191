"""The networks this machine's interfaces are on (by ifaddr), for screening a peer's candidates."""

from __future__ import annotations

import ipaddress
import logging

import ifaddr

from .candidates import Network

log = logging.getLogger(__name__)


def local_networks() -> tuple[Network, ...]:
    """Every network an interface of ours has an address on; () if they cannot be listed."""
    try:
        adapters = ifaddr.get_adapters()
    except OSError as exc:
        log.info("cannot list the network interfaces: %s", exc)
        return ()
    found: list[Network] = []
    for adapter in adapters:
        for ip in adapter.ips:
            address = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
            try:
                found.append(ipaddress.ip_network(f"{address}/{ip.network_prefix}", strict=False))
            except ValueError:
                continue
    return tuple(dict.fromkeys(found))
