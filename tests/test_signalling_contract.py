"""One contract, two backends: the built-in server and Firestore (on the npm emulator)."""

import time

import pytest
import trio

from p2ptui.net import Identity, NodeConfig, PeerStatus, events, open_node
from p2ptui.net.node import make_signalling
from p2ptui.net.signalling import (
    AnswerReceived,
    OfferReceived,
    PresenceChanged,
    Registered,
    SignallingLost,
    server,
)
from p2ptui.net.signalling.messages import Answer, Offer, sign

pytestmark = pytest.mark.trio

LOOPBACK = ("127.0.0.1", 0)


@pytest.fixture(params=["tcp", "firestore"])
async def signal_url(request, nursery):
    if request.param == "tcp":
        host, port = await nursery.start(server.serve, "127.0.0.1", 0)
        return f"tcp://{host}:{port}"
    return request.getfixturevalue("firestore_url")


def node_config(name, url):
    return NodeConfig(name, url, bind=LOOPBACK, presence_interval=1.0)


async def start_client(nursery, url, name, identity=None):
    identity = identity or Identity.generate()
    client = make_signalling(node_config(name, url), identity)

    async def discover(stun_servers):
        return ("127.0.0.1", 40000 + len(name))

    await nursery.start(client.run, discover)
    return client, identity


async def next_event(channel, kind, predicate=lambda e: True, timeout=15):
    with trio.fail_after(timeout):
        async for event in channel:
            if isinstance(event, kind) and predicate(event):
                return event


def make_offer(sender, identity, receiver, expires_in=30.0):
    """An offer signed by identity, as a node would send it."""
    offer = Offer(
        id=f"{int(time.time() * 1e6):032x}",
        sender=sender,
        sender_key=identity.public_key,
        receiver=receiver,
        sender_ip="127.0.0.1",
        receiver_ip="",
        port=40005,
        tag="11" * 8,
        candidates=(("127.0.0.1", 40005),),
        expires=time.time() + expires_in,
    )
    return sign(offer, identity)


async def test_register(signal_url, nursery):
    client, _ = await start_client(nursery, signal_url, "alice")
    assert (await next_event(client.events, Registered)).name == "alice"


async def test_presence(signal_url, nursery):
    alice, _ = await start_client(nursery, signal_url, "alice")
    await alice.watch("bob")
    offline = await next_event(alice.events, PresenceChanged)
    assert offline.presence.name == "bob" and not offline.presence.online
    _, bob_identity = await start_client(nursery, signal_url, "bob")
    online = await next_event(alice.events, PresenceChanged, lambda e: e.presence.online)
    assert online.presence.key == bob_identity.public_key
    if signal_url.startswith("tcp"):
        assert online.presence.address is None  # addresses travel only in offers and answers


async def test_offer_and_answer(signal_url, nursery):
    alice, alice_identity = await start_client(nursery, signal_url, "alice")
    bob, bob_identity = await start_client(nursery, signal_url, "bob")
    await next_event(alice.events, Registered)
    await next_event(bob.events, Registered)
    offer = make_offer("alice", alice_identity, "bob")
    await alice.send_offer(offer)
    received = await next_event(bob.events, OfferReceived)
    assert received.offer == offer
    # The built-in server says where it saw the sender; Firestore cannot.
    assert received.seen_ip == ("127.0.0.1" if signal_url.startswith("tcp") else "")
    answer = Answer(offer.id, "bob", bob_identity.public_key, "alice", "127.0.0.1", 40003, "22" * 8, (("127.0.0.1", 40003),))
    answer = sign(answer, bob_identity)
    await bob.send_answer(answer)
    answered = await next_event(alice.events, AnswerReceived)
    assert answered.answer == answer
    assert answered.seen_ip == ("127.0.0.1" if signal_url.startswith("tcp") else "")


async def test_a_name_taken_by_another_key_is_refused(signal_url, nursery):
    await start_client(nursery, signal_url, "alice")
    thief, _ = await start_client(nursery, signal_url, "alice")
    lost = await next_event(thief.events, SignallingLost)
    assert lost.fatal and "taken by another key" in lost.reason


async def test_expired_offers_are_ignored(signal_url, nursery):
    async with open_node(node_config("bob", signal_url), Identity.generate()) as bob:
        await next_event(bob.events, events.Ready)
        mallory, mallory_identity = await start_client(nursery, signal_url, "mallory")
        await next_event(mallory.events, Registered)
        await mallory.send_offer(make_offer("mallory", mallory_identity, "bob", expires_in=-5))
        fresh = make_offer("mallory", mallory_identity, "bob")
        await mallory.send_offer(fresh)  # the fresh one still gets through, the stale one never
        changed = await next_event(bob.events, events.PeerChanged)
        assert changed.peer == "mallory" and changed.incoming
        assert "mallory" in bob.conversations()


async def test_two_nodes_connect_end_to_end(signal_url):
    async with open_node(node_config("alice", signal_url), Identity.generate()) as alice, open_node(
        node_config("bob", signal_url), Identity.generate()
    ) as bob:
        sent = alice.send("bob", "hello over " + signal_url.split(":")[0])
        received = await next_event(bob.events, events.MessageReceived)
        assert received.id == sent and received.text.startswith("hello over")
        bob.send("alice", "and back")
        assert (await next_event(alice.events, events.MessageReceived)).text == "and back"
        assert alice.status("bob") == PeerStatus.CONNECTED
