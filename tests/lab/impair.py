"""Random loss on a lab router, with counters to tell how much it really dropped.

There is no netem on these machines (../shared/NETLAB.md): iptables' statistic
match drops instead. Only UDP is touched, so the signalling's TCP connection
is left alone, and only what comes in from the WAN: each direction of a path
between two routers then crosses exactly one lossy rule, so its loss is p.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

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


# --- A path of a given speed and round trip -----------------------------------------

DELAY = Path(__file__).with_name("delay.py")


def add_bottleneck(router: Router, rate_mbit: float) -> None:
    """A token bucket on the router's WAN link (what leaves it towards the internet):
    a bottleneck of rate_mbit. Its queue holds about 50 ms at that rate."""
    router.run("tc", "qdisc", "add", "dev", "wan", "root", "tbf", "rate", f"{rate_mbit}mbit",
               "burst", "32kbit", "latency", "50ms")


def add_inbound_delay(router: Router, milliseconds: float, seconds: float = 600.0) -> subprocess.Popen:
    """Hold each packet arriving from the WAN (UDP and TCP alike, as a long link does) for this long (delay.py, in the
    router's namespace, through NFQUEUE). Before the filter table: the NAT's rules
    still judge each datagram once it is let go. A path across two routers then has
    a round trip of 2 x milliseconds more. Ends after seconds; then, and if it
    fails, --queue-bypass lets datagrams straight through."""
    process = router.python(str(DELAY), "--queue", "7", "--ms", f"{milliseconds}", "--seconds", f"{seconds}")
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if line != "ready":
        raise RuntimeError(f"delay.py did not start in {router.namespace}: {line} {process.stdout.read()}")
    router.run("iptables", "-t", "mangle", "-A", "FORWARD", "-i", "wan", "-j", "NFQUEUE", "--queue-num", "7",
               "--queue-bypass")
    return process


def add_inbound_tcp_loss(router: Router, probability: float, port: int) -> None:
    """Random loss for one TCP port's packets from the WAN, either way (a reference
    flow's), and nothing else: the signalling's TCP connection stays whole. In the
    mangle table, ahead of add_inbound_delay's queue, so the filter's counters of
    add_inbound_loss stay as they are."""
    drop = ["-m", "statistic", "--mode", "random", "--probability", f"{probability}", "-j", "DROP"]
    router.run("iptables", "-t", "mangle", "-I", "FORWARD", "1", "-i", "wan", "-p", "tcp", "-m", "multiport",
               "--ports", str(port), *drop)
