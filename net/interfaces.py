"""This machine's network interfaces: its addresses, and the networks they are on.

Read from the operating system (through ifaddr, which zeroconf uses too) each
time they are asked for, so a change of network is seen by the next caller.
Loopback is left out: nobody else can reach it.
"""

from __future__ import annotations

import ipaddress
import logging

import ifaddr

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


def local_interfaces() -> list[IPInterface]:
    """Every address of this machine but loopback, with its network."""
    try:
        adapters = ifaddr.get_adapters()
    except OSError as exc:  # No /proc, say: no networks rather than a crash.
        log.info("cannot list the network interfaces: %s", exc)
        return []
    found: list[IPInterface] = []
    for adapter in adapters:
        for ip in adapter.ips:
            # ifaddr gives IPv6 as (address, flowinfo, scope_id); a scoped link-local
            # address is only meaningful with its interface, which ipaddress keeps.
            text = ip.ip if isinstance(ip.ip, str) else f"{ip.ip[0]}%{ip.ip[2]}" if ip.ip[2] else ip.ip[0]
            try:
                interface = ipaddress.ip_interface(f"{text}/{ip.network_prefix}")
            except ValueError:
                continue
            if not interface.ip.is_loopback:
                found.append(interface)
    return found


def local_addresses() -> list[IPAddress]:
    """Every address of this machine but loopback, IPv4 first, in the system's order."""
    addresses = [i.ip for i in local_interfaces()]
    return sorted(dict.fromkeys(addresses), key=lambda a: a.version)


def local_networks() -> list[IPNetwork]:
    """The networks this machine has an address on (on-link), loopback aside."""
    return list(dict.fromkeys(i.network for i in local_interfaces()))
