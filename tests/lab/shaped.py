"""Two hosts behind two NAT routers, on a path of a set speed, round trip and loss.

    alice 10.0.1.2 ── ra ══ internet ══ rb ── bob 10.0.2.2
                 each router's WAN: a token bucket of `mbit` out,
                 `one_way_ms` of delay in, and (once asked) random loss in

Each direction crosses one bucket, one delay and one lossy rule, so the path
has the bucket's rate, a round trip of 2 x one_way_ms and loss p each way.
The plain TCP flow through the same routers (a port forward on rb) is the
reference every transport is measured against.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from . import Host, Lab, Router, impair

FLOWTOOL = Path(__file__).with_name("flowtool.py")
TCP_PORT = 9000
UDP_PORT = 9001


@dataclass
class ShapedPath:
    lab: Lab
    routers: tuple[Router, Router]
    hosts: tuple[Host, Host]
    mbit: float


def shaped_path(lab: Lab, *, mbit: float, one_way_ms: float = 0.0) -> ShapedPath:
    routers = lab.nat("ra"), lab.nat("rb")
    hosts = lab.lan_host(routers[0], "alice"), lab.lan_host(routers[1], "bob")
    for host in hosts:
        # Segments of one MSS, as on a real link: TCP's 64 KB offload packets would
        # each meet the lossy rule once, so TCP would see a fraction of the loss.
        host.run("ethtool", "-K", "eth0", "tso", "off", "gso", "off", "gro", "off")
    for router in routers:
        impair.add_bottleneck(router, mbit)
        if one_way_ms:
            impair.add_inbound_delay(router, one_way_ms)
    return ShapedPath(lab, routers, hosts, mbit)


def add_loss(path: ShapedPath, probability: float) -> None:
    """Random loss on both routers' inbound UDP, and on the TCP reference's port."""
    for router in path.routers:
        impair.add_inbound_loss(router, probability)
        impair.add_inbound_tcp_loss(router, probability, TCP_PORT)


def flowtool(host: Host, *args: str):
    process = host.python(str(FLOWTOOL), *args)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if line != "ready":
        raise RuntimeError(f"flowtool {args[0]} did not start: {line} {process.stdout.read()}")
    return process


def _result(process, timeout: float) -> dict:
    output, _ = process.communicate(timeout=timeout)
    return json.loads(output.strip().splitlines()[-1])


def tcp_rate(path: ShapedPath, size: int, timeout: float = 120.0) -> float:
    """Bytes a second of one TCP connection, alice to bob, across the path (the
    kernel's congestion control: CUBIC). bob is reached through a port forward."""
    alice, bob = path.hosts
    rb = _forward(path, "tcp", TCP_PORT)
    sink = flowtool(bob, "tcp-sink", "--bind", f"{bob.ip}:{TCP_PORT}", "--seconds", f"{timeout}")
    sender = flowtool(alice, "tcp-send", "--to", f"{rb.ip}:{TCP_PORT}", "--bytes", str(size),
                      "--seconds", f"{timeout}")
    _result(sender, timeout + 10)
    received = _result(sink, timeout + 10)
    if received.get("bytes") != size:
        raise RuntimeError(f"the TCP reference moved {received} of {size} bytes")
    return received["bytes"] / received["seconds"]


def _forward(path: ShapedPath, protocol: str, port: int) -> Router:
    """A port forward on rb to bob (what the cone routers' DNAT rule already admits)."""
    rb = path.routers[1]
    rb.run("iptables", "-t", "nat", "-A", "PREROUTING", "-i", "wan", "-p", protocol, "--dport", str(port),
           "-j", "DNAT", "--to-destination", path.hosts[1].ip)
    return rb


def udp_round_trips(path: ShapedPath, count: int = 20, wait: float = 0.5) -> tuple[list[float], int]:
    """UDP probes from alice to an echo on bob, one at a time: (round trips, lost)."""
    rb = _forward(path, "udp", UDP_PORT)
    echo = flowtool(path.hosts[1], "udp-echo", "--bind", f"{path.hosts[1].ip}:{UDP_PORT}", "--seconds", "30")
    try:
        probe = flowtool(path.hosts[0], "udp-rtt", "--to", f"{rb.ip}:{UDP_PORT}", "--count", str(count),
                         "--wait", f"{wait}", "--seconds", "25")
        result = _result(probe, 30)
    finally:
        echo.kill()
        echo.wait(timeout=10)
    return result["rtts"], result["lost"]
