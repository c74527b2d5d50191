"""Why a connection failed, on the fake internet: a handshake lost to the network
is not blamed on the NATs (issue #16, point 6)."""

from __future__ import annotations

import pytest
import trio

from p2ptui.net import PeerStatus, wire

from .fakesignal import Hub
from .test_node_fakenet import ALICE_IP, ALICE_PUBLIC, BOB_IP, BOB_PUBLIC, internet, node

pytestmark = pytest.mark.trio

__all__ = ["internet"]  # the fixture, shared with test_node_fakenet


def handshake_answer(payload: bytes) -> bool:
    try:
        return isinstance(wire.parse_untrusted(payload), wire.HandshakeResp)
    except wire.WireError:
        return False


async def test_a_handshake_lost_on_the_way_is_said_to_be_and_no_nat_is_blamed(internet, autojump_clock):
    internet.nat(ALICE_PUBLIC, "10.0.1.0/24")
    internet.nat(BOB_PUBLIC, "10.0.2.0/24")
    internet.drop_payload = handshake_answer  # probes cross; no answer to message 1 ever does
    hub = Hub()
    async with node(hub, "alice", ALICE_IP) as a, node(hub, "bob", BOB_IP) as b:
        a.open("bob")
        b.open("alice")
        with trio.fail_after(60):
            await a.wait_status("bob", PeerStatus.FAILED)
            await b.wait_status("alice", PeerStatus.FAILED)
        for reason in (a.details("bob").reason, b.details("alice").reason):
            assert "handshake" in reason and "packets may be lost" in reason
            assert "NAT" not in reason and "relay" not in reason and "may have left" not in reason
