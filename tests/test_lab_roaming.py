"""The NAT lab: conversations that survive a NAT mapping them to another port,
and a host that changes its address (issue #16, point 1). Each must come back
by itself within 10 s, both ways."""

from __future__ import annotations

import queue
import time

import pytest

from .test_lab import connected_pair, lab, peers  # noqa: F401 (fixtures)

pytestmark = pytest.mark.lab

#: The issue's bound, in seconds, for a conversation to come back.
RECOVERY = 10.0


def event_by(process, name, deadline):
    """The next event called name, failing once the monotonic deadline passes."""
    try:
        return process.event(name, timeout=max(0.0, deadline - time.monotonic()))
    except queue.Empty:
        raise AssertionError(f"no {name!r} event in time; output: {process.history[-40:]}") from None


def assert_both_ways_within(alice, bob, started):
    deadline = started + RECOVERY
    alice.send("after the change, from alice")
    bob.send("after the change, from bob")
    try:
        assert event_by(bob, "message", deadline)["text"] == "after the change, from alice"
        assert event_by(alice, "message", deadline)["text"] == "after the change, from bob"
    except AssertionError:
        for process in (alice, bob):
            try:
                while process.line(0.5) is not None:
                    pass
            except queue.Empty:
                pass
            print("\n".join(process.history))
        raise
    took = time.monotonic() - started
    print(f"\nrecovered both ways in {took:.1f} s")
    assert took < RECOVERY


@pytest.mark.parametrize("remapped", ["bob", "both"])
def test_a_rebinding_to_another_port_range_recovers_within_10_s(lab, peers, remapped):  # noqa: F811
    (alice_router, bob_router), alice, bob = connected_pair(lab, peers)
    routers = [bob_router] if remapped == "bob" else [alice_router, bob_router]
    started = time.monotonic()
    for router in routers:
        router.remap_udp_ports(20000, 20999)
    assert_both_ways_within(alice, bob, started)
    # alice moved to bob's new external port (the only way the messages could come).
    assert remote_becomes(alice, lambda remote: remote.startswith(f"{bob_router.ip}:") and in_range(remote))


def in_range(remote):
    return 20000 <= int(remote.rsplit(":", 1)[1]) <= 20999


def remote_becomes(process, wanted, timeout=5.0):
    """Whether a "connected" event (read already, or within timeout) names a remote that is wanted."""
    if any(wanted(event["remote"]) for event in process.events_seen("connected")):
        return True
    deadline = time.monotonic() + timeout
    try:
        while not wanted(event_by(process, "connected", deadline)["remote"]):
            pass
    except AssertionError:
        return False
    return True


def test_a_host_that_changes_its_address_recovers_within_10_s(lab, peers):  # noqa: F811
    (_, bob_router), alice, bob = connected_pair(lab, peers)
    bob_host = bob_router.hosts[0]
    started = time.monotonic()
    bob_host.move_to(f"{bob_router.lan_prefix}.50")
    assert_both_ways_within(alice, bob, started)
    # bob's router mapped the new address to another port: alice talks to that one now.
    first = alice.events_seen("connected")[0]["remote"]
    assert remote_becomes(alice, lambda remote: remote.startswith(f"{bob_router.ip}:") and remote != first)
