"""Random loss on a lab router, with counters to tell how much it really dropped.

There is no netem on these machines (../shared/NETLAB.md): iptables' statistic
match drops instead. Only UDP is touched, so the signalling's TCP connection
is left alone, and only what comes in from the WAN: each direction of a path
between two routers then crosses exactly one lossy rule, so its loss is p.
"""

from __future__ import annotations

from . import Router

_MATCH = ["-i", "wan", "-p", "udp"]


def add_inbound_loss(router: Router, probability: float) -> None:
    """Drop each UDP datagram arriving from the WAN with this probability."""
    drop = ["-m", "statistic", "--mode", "random", "--probability", f"{probability}", "-j", "DROP"]
    router.run("iptables", "-I", "FORWARD", "1", *_MATCH, *drop)
    # Before it, a rule without a target: it only counts what arrives.
    router.run("iptables", "-I", "FORWARD", "1", *_MATCH)


def inbound_counts(router: Router) -> tuple[int, int]:
    """(arrived, dropped): datagrams from the WAN since add_inbound_loss."""
    rows = {}
    for line in router.run("iptables", "-L", "FORWARD", "-v", "-x", "-n", "--line-numbers").splitlines():
        fields = line.split()
        if fields and fields[0].isdigit():
            rows[int(fields[0])] = int(fields[1])
    return rows[1], rows[2]


def add_loss(router: Router, probability: float) -> None:
    """Drop each UDP datagram the router forwards, either way, with this probability
    (a lossy router: each direction of a path across two of them loses about 2p)."""
    drop = ["-p", "udp", "-m", "statistic", "--mode", "random", "--probability", f"{probability}", "-j", "DROP"]
    router.run("iptables", "-I", "FORWARD", "1", *drop)
