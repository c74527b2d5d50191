"""The lab with IPv6 (issue 16 point 3): global addresses from 2001:db8::/32 behind
stateful ip6tables firewalls, beside the usual IPv4 NAT on the same routers.

Two dual-stack peers punch through both firewalls and talk directly over IPv6;
an IPv4-only peer talks to a dual-stack one over IPv4; the signalling server
listens on both families and a client reaches it over IPv6.
"""

from __future__ import annotations

import json
import time

import pytest

from .lab import udptool
from .test_lab import NO_SPRAYING, Peers, lab, peers  # noqa: F401 (fixtures)

pytestmark = pytest.mark.lab


def connected_at(process, prefix: str, timeout: float = 20.0) -> dict:
    """The first `connected` event whose remote address starts with prefix: a
    conversation may open on IPv4 and move to IPv6 when that answers."""
    deadline = time.monotonic() + timeout
    seen = []
    while (left := deadline - time.monotonic()) > 0:
        event = process.event("connected", timeout=left)
        seen.append(event)
        if event["remote"].startswith(prefix):
            return event
    raise AssertionError(f"never connected at {prefix}: {seen}")


def test_the_ipv6_firewall_lets_in_answers_only_and_translates_nothing(lab):
    server = lab.public_host("srv")
    router = lab.nat("r1")
    host = lab.lan_host(router, "a")
    lab.enable_ipv6(server, router, host)
    echo = udptool(server, "server", "--hosts", server.ip6, "--ports", "7000,7001", "--seconds", "5")
    assert echo.stdout.readline().strip() == "ready"
    client = udptool(host, "client", "--bind", "5000", "--to", f"[{server.ip6}]:7000", "--seconds", "1.5")
    received = json.loads(client.communicate(timeout=15)[0])
    # The answer gets in and shows the host's own address (no NAT on IPv6); the
    # unsolicited datagram from the server's other port does not.
    assert received == [{"from": f"{server.ip6}:7000", "text": f"seen {host.ip6}:5000"}]


def test_two_dual_stack_peers_behind_firewalls_and_nats_talk_directly_over_ipv6(lab, peers):
    routers = lab.nat("ra"), lab.nat("rb")
    alice_host, bob_host = lab.lan_host(routers[0], "alice"), lab.lan_host(routers[1], "bob")
    lab.enable_ipv6(*routers, alice_host, bob_host)
    # No spraying: what crosses the firewalls is the plain simultaneous punch.
    alice = peers.pipe(alice_host, "alice", "bob", config=NO_SPRAYING)
    bob = peers.pipe(bob_host, "bob", "alice", config=NO_SPRAYING)
    connected = connected_at(alice, f"[{bob_host.ip6}]:")
    assert connected["path"] == "direct" and connected["network"] == "internet"
    assert connected_at(bob, f"[{alice_host.ip6}]:")["path"] == "direct"
    alice.send("hello over IPv6")
    assert bob.event("message")["text"] == "hello over IPv6"
    bob.send("and back")
    assert alice.event("message")["text"] == "and back"


def test_an_ipv4_only_peer_talks_to_a_dual_stack_one_over_ipv4(lab, peers):
    routers = lab.nat("ra"), lab.nat("rb")
    alice_host, bob_host = lab.lan_host(routers[0], "alice"), lab.lan_host(routers[1], "bob")
    lab.enable_ipv6(routers[0], alice_host)
    lab.disable_ipv6(bob_host)
    alice = peers.pipe(alice_host, "alice", "bob")
    bob = peers.pipe(bob_host, "bob", "alice")
    # Alice offers her IPv6 address too; Bob cannot use it and says nothing of it.
    assert alice.event("connected")["remote"].startswith(f"{routers[1].ip}:")
    assert bob.event("connected")["remote"].startswith(f"{routers[0].ip}:")
    alice.send("from dual stack")
    assert bob.event("message")["text"] == "from dual stack"
    bob.send("from IPv4 only")
    assert alice.event("message")["text"] == "from IPv4 only"


class DualStackPeers(Peers):
    """Peers whose signalling server listens on every address of both families."""

    def __init__(self, lab, tmp_path, server):
        self.lab, self.tmp_path, self.started = lab, tmp_path, []
        self.url = f"tcp://[{server.ip6}]:7878"
        self.url4 = f"tcp://{server.ip}:7878"
        self.run(server, "signal-server", "--host", "::", "--port", "7878", "--names", ":memory:").wait_for_line("signalling server on")


def test_the_server_listens_on_both_families_and_a_client_reaches_it_over_ipv6(lab, tmp_path):
    server = lab.public_host("signal")
    routers = lab.nat("ra"), lab.nat("rb")
    alice_host, bob_host = lab.lan_host(routers[0], "alice"), lab.lan_host(routers[1], "bob")
    lab.enable_ipv6(server, *routers, alice_host, bob_host)
    # Alice can reach the server only over IPv6; Bob reaches the same server over IPv4.
    routers[0].run("iptables", "-I", "FORWARD", "1", "-d", server.ip, "-j", "DROP")
    dual = DualStackPeers(lab, tmp_path, server)
    try:
        alice = dual.pipe(alice_host, "alice", "bob", config=NO_SPRAYING)
        bob = dual.pipe(bob_host, "bob", "alice", "--signal", dual.url4, config=NO_SPRAYING)
        assert alice.event("ready")["name"] == "alice"
        assert connected_at(alice, f"[{bob_host.ip6}]:")["path"] == "direct"
        assert connected_at(bob, f"[{alice_host.ip6}]:")["path"] == "direct"
        alice.send("signalled over IPv6")
        assert bob.event("message")["text"] == "signalled over IPv6"
    finally:
        dual.stop()


def test_a_conversation_on_ipv4_moves_to_ipv6_once_that_opens(lab, peers):
    routers = lab.nat("ra"), lab.nat("rb")
    alice_host, bob_host = lab.lan_host(routers[0], "alice"), lab.lan_host(routers[1], "bob")
    lab.enable_ipv6(*routers, alice_host, bob_host)
    for router in routers:  # IPv6 is cut at first: the peers connect over IPv4
        router.run("ip6tables", "-I", "FORWARD", "1", "-j", "DROP")
    retry = ("--direct-retry", "1")
    alice = peers.pipe(alice_host, "alice", "bob", *retry, config=NO_SPRAYING)
    bob = peers.pipe(bob_host, "bob", "alice", *retry, config=NO_SPRAYING)
    assert alice.event("connected")["remote"].startswith(f"{routers[1].ip}:")
    for router in routers:
        router.run("ip6tables", "-D", "FORWARD", "1")
    assert connected_at(alice, f"[{bob_host.ip6}]:")["path"] == "direct"
    alice.send("moved to IPv6")
    assert bob.event("message")["text"] == "moved to IPv6"
