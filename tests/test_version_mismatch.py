"""A peer running another version of p2ptui: one clear error naming it, never silence."""

from dataclasses import replace

import pytest
import trio

from p2ptui.net import Identity, events, open_node, wire
from p2ptui.net.node import make_signalling
from p2ptui.net.signalling import OfferReceived
from p2ptui.net.signalling.messages import sign

from .fakesignal import Tap
from .test_node import config, next_event
from .test_node_security import serve, until
from .test_signalling_contract import make_offer

pytestmark = pytest.mark.trio


async def test_an_offer_of_another_wire_version_gives_one_error_naming_the_peer(nursery):
    url = await serve(nursery)
    alice, bob = Identity.generate(), Identity.generate()
    tap = Tap(make_signalling(config("alice", url), alice))
    async with open_node(config("alice", url), alice, signalling=tap) as a:
        for _ in range(2):  # bob (wire 2) offers twice
            old = sign(replace(make_offer("bob", bob, "alice"), wire=2, nonce="", signature=""), bob)
            await tap.inject(OfferReceived(old))
        error = await next_event(a, events.Error)
        assert error.peer == "bob"
        assert error.message == (
            f"bob runs another version of p2ptui (wire 2, ours {wire.VERSION}): both must update p2ptui"
        )
        await until(lambda: a.counters()["another wire version"] == 2)
        assert "another version" in a.details("bob").reason
        with trio.move_on_after(1):  # Told once.
            again = await next_event(a, events.Error)
            pytest.fail(f"told twice: {again}")
