"""The NAT lab: the first handshake under heavy loss (issue #16, point 6).

Both routers (port-restricted cones) drop 20% of the UDP datagrams they
forward, either way, from before the peers start: punching, the handshake and
the first message all cross four lossy rules per round trip. Message 1 of
the handshake is resent every half second until its deadline, and the
responder takes the path as soon as the initiator probes under the new keys,
so the first attempt completes; when a handshake cannot finish, the reason
says so (packets lost), not that a relay is needed.
"""

from __future__ import annotations

import time

import pytest

from .lab import impair
from .test_lab import NO_SPRAYING, lab, peers  # noqa: F401 (fixtures)

pytestmark = pytest.mark.lab

LOSS = 0.2
RUNS = 5


def test_the_first_handshake_completes_under_20_percent_loss_on_both_routers(lab, peers):  # noqa: F811
    routers = lab.nat("ra"), lab.nat("rb")
    for router in routers:
        impair.add_loss(router, LOSS)
    hosts = lab.lan_host(routers[0], "alice"), lab.lan_host(routers[1], "bob")
    took = []
    for run in range(RUNS):  # New processes each time: new sockets, new mappings, a first handshake.
        alice, bob = f"alice{run}", f"bob{run}"
        a = peers.pipe(hosts[0], alice, bob, "--timeout", "30", config=NO_SPRAYING)
        b = peers.pipe(hosts[1], bob, alice, "--timeout", "30", config=NO_SPRAYING)
        started = time.monotonic()
        a.event("ready")
        events = [a.event("connected", timeout=30), b.event("connected", timeout=30)]
        took.append(time.monotonic() - started)
        assert all(event["path"] == "direct" for event in events)
        # The first attempt made it: no punch or handshake failed on the way.
        assert a.events_seen("error") == [] and b.events_seen("error") == []
        a.send("hello through the loss")
        assert b.event("message", timeout=30)["text"] == "hello through the loss"
        a.stop()
        b.stop()
    print(f"\nconnected under {LOSS:.0%} loss on each router in {', '.join(f'{t:.1f}' for t in took)} s")


#: xt_u32: the byte at UDP payload offset 2 (p2ptui's packet kind) is 6, HANDSHAKE_RESP.
HANDSHAKE_ANSWER = "0>>22&0x3C@8>>8&0xFF=6"


def test_a_handshake_that_cannot_finish_is_told_as_such_not_as_a_nat_verdict(lab, peers):  # noqa: F811
    routers = lab.nat("ra"), lab.nat("rb")
    for router in routers:  # Every answer to message 1 is lost; everything else crosses.
        router.run("iptables", "-I", "FORWARD", "1", "-p", "udp", "-m", "u32", "--u32", HANDSHAKE_ANSWER, "-j", "DROP")
    a = peers.pipe(lab.lan_host(routers[0], "alice"), "alice", "bob", "--timeout", "25", config=NO_SPRAYING)
    b = peers.pipe(lab.lan_host(routers[1], "bob"), "bob", "alice", "--timeout", "25", config=NO_SPRAYING)
    # The initiator never gets its answer: its pipe gives up after --timeout, saying why.
    # (The responder takes the path on message 1, so it may have said "connected".)
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline and all(process.popen.poll() is None for process in (a, b)):
        time.sleep(0.2)  # polling two processes' exits; bounded by the deadline
    ended = [process for process in (a, b) if process.popen.poll() is not None]
    assert ended, "neither pipe gave up"
    for process in ended:
        process.drain(timeout=5)
        reasons = [e["message"] for e in process.events_seen("error") if "no path to" in e["message"]]
        assert reasons, process.history
        for reason in reasons:
            assert "handshake" in reason and "packets may be lost" in reason, reason
            assert "relay" not in reason and "may have left" not in reason, reason
