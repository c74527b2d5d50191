"""The TCP signalling client after a move: it connects again at once, not after
minutes of TCP retransmissions from an address we no longer have (issue #16).
Real loopback sockets, under a deadline."""

from __future__ import annotations

import pytest
import trio

from p2ptui.net import Identity
from p2ptui.net.signalling import Registered, SignallingLost, parse_signal_url, server
from p2ptui.net.signalling.tcp import TcpSignalling

pytestmark = pytest.mark.trio


async def test_a_change_of_network_makes_the_tcp_client_register_again_at_once(nursery):
    host, port = (await nursery.start(server.serve, "127.0.0.1", 0))[:2]
    client = TcpSignalling(parse_signal_url(f"tcp://{host}:{port}"), "bob", Identity.generate())
    registrations = 0

    async def discover(stun_servers):
        nonlocal registrations
        registrations += 1
        return ("127.0.0.1", 1)

    nursery.start_soon(client.run, discover)
    with trio.fail_after(10):
        assert isinstance(await client.events.receive(), Registered)
        client.network_changed()
        lost = await client.events.receive()
        assert isinstance(lost, SignallingLost) and "network changed" in lost.reason and not lost.fatal
        assert isinstance(await client.events.receive(), Registered)
    # Registering again learned our address again, for the presence record.
    assert registrations == 2
