"""This machine's own addresses and networks, as its interfaces have them now.

Read with ifaddr (getifaddrs, no subprocess, no privileges), so it is cheap
enough to poll every few seconds: roaming (roaming.py) watches for a change
of address, as when a laptop moves from Wi-Fi to tethering or resumes from
suspend. Loopback and link-local addresses are left out: no peer reaches us
on them, and they change for reasons that mean nothing to a conversation.
"""

from __future__ import annotations

import ipaddress

import ifaddr

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _interfaces() -> list[ipaddress.IPv4Interface | ipaddress.IPv6Interface]:
    found: list[ipaddress.IPv4Interface | ipaddress.IPv6Interface] = []
    try:
        adapters = ifaddr.get_adapters()
    except OSError:  # No getifaddrs (a sandbox): nothing is known, nothing changes.
        return found
    for adapter in adapters:
        for ip in adapter.ips:
            # ifaddr gives IPv6 as (address, flowinfo, scope_id).
            text = ip.ip[0] if isinstance(ip.ip, tuple) else ip.ip
            try:
                interface = ipaddress.ip_interface(f"{text}/{ip.network_prefix}")
            except ValueError:
                continue
            address = interface.ip
            if address.is_loopback or address.is_link_local or address.is_unspecified:
                continue
            found.append(interface)
    return found


def local_addresses() -> list[IPAddress]:
    """Our routable addresses (not loopback or link-local), in the order the system lists them."""
    return list(dict.fromkeys(interface.ip for interface in _interfaces()))


def local_networks() -> list[IPNetwork]:
    """The networks those addresses are on (e.g. 192.168.1.0/24)."""
    return list(dict.fromkeys(interface.network for interface in _interfaces()))
