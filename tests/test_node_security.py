"""The secure channel as a node runs it: pinned keys, forged and replayed
offers, the outbox across restarts. Real nodes, a real server, loopback."""

from dataclasses import replace

import pytest
import trio

from p2ptui.net import ConfigError, Identity, PeerStatus, events, open_node
from p2ptui.net.node import make_signalling
from p2ptui.net.signalling import OfferReceived, PresenceChanged, Registered, server
from p2ptui.net.signalling.messages import Answer, Presence, sign
from p2ptui.net.trust import fingerprint

from .fakesignal import Tap
from .test_node import config, next_event
from .test_signalling_contract import make_offer, start_client

pytestmark = pytest.mark.trio


async def serve(nursery) -> str:
    host, port = await nursery.start(server.serve, "127.0.0.1", 0)
    return f"tcp://{host}:{port}"


async def until(predicate, timeout=10):
    """For counters, which have no event: check, bounded in time."""
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.01)


async def test_a_changed_key_blocks_the_peer_until_the_user_accepts_it(nursery, tmp_path):
    alice_identity, first_bob, second_bob = Identity.generate(), Identity.generate(), Identity.generate()
    url = await serve(nursery)
    async with open_node(config("alice", url, state_dir=tmp_path), alice_identity) as a, open_node(
        config("bob", url), first_bob
    ) as b:
        a.send("bob", "hello first bob")
        assert (await next_event(b, events.MessageReceived)).text == "hello first bob"
    # Bob comes back with another key (a new device, or someone else entirely),
    # through another server, which knows nothing of the old binding.
    url = await serve(nursery)
    async with open_node(config("alice", url, state_dir=tmp_path), alice_identity) as a, open_node(
        config("bob", url), second_bob
    ) as b:
        a.send("bob", "for whoever bob is now")
        warned = await next_event(a, events.PeerChanged, lambda e: e.status == PeerStatus.KEY_CHANGED)
        assert warned.fingerprint == fingerprint(first_bob.public_key)
        assert warned.new_fingerprint == fingerprint(second_bob.public_key)
        b.open("alice")  # bob offers too: still refused
        await until(lambda: a.counters()["changed key"] >= 1)
        assert a.status("bob") == PeerStatus.KEY_CHANGED
        assert a.store.outbox()[0].text == "for whoever bob is now"  # waiting, not sent
        a.accept_key("bob")
        assert (await next_event(b, events.MessageReceived)).text == "for whoever bob is now"
        assert (await next_event(a, events.MessageDelivered)).peer == "bob"
        assert a.known_peers.pinned("bob") == second_bob.public_key


async def test_forged_altered_and_replayed_offers_are_dropped_and_counted(nursery):
    url = await serve(nursery)
    async with open_node(config("bob", url), Identity.generate()) as bob:
        await next_event(bob, events.Ready)
        mallory, mallory_identity = await start_client(nursery, url, "mallory")
        await next_event(mallory, Registered)
        genuine = make_offer("mallory", mallory_identity, "bob")
        await mallory.send_offer(replace(genuine, port=1))  # altered after signing
        await mallory.send_offer(replace(genuine, signature="00" * 64))  # not signed at all
        await mallory.send_offer(make_offer("mallory", mallory_identity, "bob", expires_in=3600))
        await until(lambda: bob.counters()["offer valid for too long"] == 1)
        assert bob.counters()["offer with a bad signature"] == 2
        with pytest.raises(ConfigError, match="no conversation"):
            bob.details("mallory")
        await mallory.send_offer(genuine)
        changed = await next_event(bob, events.PeerChanged)
        assert changed.peer == "mallory" and changed.incoming  # the genuine one is taken
        await mallory.send_offer(genuine)  # and replayed
        await until(lambda: bob.counters()["replayed offer"] == 1)


async def test_the_outbox_outlives_the_sender(nursery, tmp_path):
    url = await serve(nursery)
    identity = Identity.generate()
    async with open_node(config("alice", url, state_dir=tmp_path), identity) as a:
        sent = [a.send("bob", f"queued {n}") for n in range(3)]  # bob is offline
    async with open_node(config("alice", url, state_dir=tmp_path), identity) as a, open_node(
        config("bob", url), Identity.generate()
    ) as b:
        received = [await next_event(b, events.MessageReceived) for _ in sent]
        assert [(m.id, m.text) for m in received] == [(i, f"queued {n}") for n, i in enumerate(sent)]
        delivered = {(await next_event(a, events.MessageDelivered)).id for _ in sent}
        assert delivered == set(sent)
        assert a.store.outbox() == []


async def test_a_handshake_flood_is_rate_limited_and_the_session_survives(nursery):
    url = await serve(nursery)
    bob = Identity.generate()
    tap = Tap(make_signalling(config("bob", url), bob))
    async with open_node(config("alice", url), Identity.generate()) as a, open_node(
        config("bob", url), bob, signalling=tap
    ) as b:
        a.send("bob", "before the flood")
        await next_event(b, events.MessageReceived)
        # To bob's tag for alice (his answer names it) from alice's for bob (her offer's).
        answer = next(record for record in tap.sent if isinstance(record, Answer))
        offer = next(event.offer for event in tap.received if isinstance(event, OfferReceived))
        tags = (bytes.fromhex(answer.tag), bytes.fromhex(offer.tag))
        flood = b"\xd2\x03\x05" + tags[0] + tags[1] + bytes(104)
        attacker = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
        with attacker:
            for _ in range(300):
                await attacker.sendto(flood, b.local_address)
        await until(lambda: b.counters()["handshake rate limit"] > 0)
        a.send("bob", "after the flood")
        assert (await next_event(b, events.MessageReceived)).text == "after the flood"
        assert b.status("alice") == PeerStatus.CONNECTED


async def test_presence_warns_of_a_changed_key_but_cannot_pin_one(nursery, tmp_path):
    # Presence is the service's word, not signed by the peer: it may warn, take
    # the warning back, and never decide which key gets pinned.
    url = await serve(nursery)
    alice, bob = Identity.generate(), Identity.generate()
    tap = Tap(make_signalling(config("alice", url), alice))
    async with open_node(config("alice", url, state_dir=tmp_path), alice, signalling=tap) as a, open_node(
        config("bob", url), bob
    ) as b:
        a.send("bob", "pin bob")
        await next_event(b, events.MessageReceived)
        forged = Identity.generate().public_key
        await tap.inject(PresenceChanged(Presence("bob", True, forged)))
        await next_event(a, events.PeerChanged, lambda e: e.status == PeerStatus.KEY_CHANGED)
        with pytest.raises(ConfigError, match="changed again"):
            a.accept_key("bob", seen=fingerprint(Identity.generate().public_key))
        await tap.inject(PresenceChanged(Presence("bob", True, bob.public_key)))
        back = await next_event(a, events.PeerChanged)
        assert back.status != PeerStatus.KEY_CHANGED and a.status("bob") != PeerStatus.KEY_CHANGED
        assert a.known_peers.pinned("bob") == bob.public_key


async def test_a_delayed_offer_with_an_old_tag_does_not_reset_a_live_session(nursery):
    # Regression: an older signed offer (delayed by the service, or replayed after
    # a restart emptied the nonce memory) made one side renumber its messages
    # alone, and the peer acknowledged the new numbers as old ones: lost messages.
    url = await serve(nursery)
    alice = Identity.generate()
    tap = Tap(make_signalling(config("alice", url), alice))
    async with open_node(config("alice", url), alice, signalling=tap) as a, open_node(
        config("bob", url), Identity.generate()
    ) as b:
        b.send("alice", "first")
        await next_event(a, events.MessageReceived)
        first = next(event.offer for event in tap.received if isinstance(event, OfferReceived))
        old = replace(first, tag="77" * 8)  # as if from an earlier instance of bob...
        newer = make_offer_like(first, b)  # ...and bob's current offer, taken first
        await tap.inject(OfferReceived(newer))
        await tap.inject(OfferReceived(sign(replace(old, nonce="", signature=""), b.identity)))
        await until(lambda: a.counters()["stale offer"] == 1)
        b.send("alice", "second")
        # Had alice taken the old tag, bob's packets (to her current tag) would be lost.
        assert (await next_event(a, events.MessageReceived)).text == "second"
        assert b.counters()["unknown tag"] == 0


def make_offer_like(offer, node):
    """The same offer, signed again later (a fresh nonce, a later expiry)."""
    import time

    return sign(replace(offer, expires=time.time() + 60, nonce="", signature=""), node.identity)


async def test_many_peers_behind_one_address_are_not_rate_limited(nursery):
    # Regression: handshakes were limited per IP, so 200 peers behind one NAT (or
    # on loopback) had all but 40 refused, and waited out a 10 s deadline.
    url = await serve(nursery)
    async with open_node(config("hub", url), Identity.generate()) as hub, trio.open_nursery() as peers:
        await next_event(hub, events.Ready)
        names = [f"peer{n:02d}" for n in range(60)]
        for name in names:

            async def run_peer(name=name, task_status=trio.TASK_STATUS_IGNORED):
                async with open_node(config(name, url), Identity.generate()) as node:
                    await next_event(node, events.Ready)
                    task_status.started()
                    async for _ in node.events:
                        pass

            await peers.start(run_peer)
        sent = {hub.send(name, "hello") for name in names}
        while sent:
            sent.discard((await next_event(hub, events.MessageDelivered, timeout=30)).id)
        assert hub.counters()["handshake rate limit"] == 0
        peers.cancel_scope.cancel()
