"""Firestore specifics on the real npm emulator: bad documents, cost, and a restart."""

import time
import uuid
from datetime import datetime, timezone

import firebase_admin
import pytest
import trio
from firebase_admin import firestore

from p2ptui.net import Identity, NodeConfig, PeerStatus, events, open_node
from p2ptui.net.signalling import OfferReceived, Registered
from p2ptui.net.signalling.firestore_sdk import _anonymous_credentials

from .firestore import Emulator
from .test_signalling_contract import make_offer, next_event, start_client

pytestmark = pytest.mark.trio


def admin_db(url):
    """A firebase-admin client of the test's own, to write documents behind p2ptui's back."""
    project = url.removeprefix("firestore://")
    app = firebase_admin.initialize_app(_anonymous_credentials(), {"projectId": project}, name=uuid.uuid4().hex)
    return firestore.client(app)


def node_config(name, url, **kwargs):
    return NodeConfig(name, url, bind=("127.0.0.1", 0), **{"presence_interval": 0.5, **kwargs})


async def test_bad_documents_are_skipped_and_good_offers_still_arrive(firestore_url, nursery):
    bob, _ = await start_client(nursery, firestore_url, "bob")
    await next_event(bob.events, Registered)
    mallory, mallory_identity = await start_client(nursery, firestore_url, "mallory")
    await next_event(mallory.events, Registered)
    db = admin_db(firestore_url)

    def offer_doc(**changes):
        """An offer document with its own id, valid but for `changes`."""
        doc_id = uuid.uuid4().hex
        offer = make_offer("mallory", mallory_identity, "bob").to_dict()
        return doc_id, {**offer, "id": doc_id, "state": "open", **changes}

    bad = [
        (uuid.uuid4().hex, {"receiver": "bob", "state": "open"}),  # missing fields
        offer_doc(port="a string"),  # wrong type
        offer_doc(sender="m" * 100_000),  # huge string
        offer_doc(id="f" * 32),  # does not match its document id
        offer_doc(expires=time.time() - 60),  # expired
        offer_doc(sender_key=Identity.generate().public_key),  # key not the sender's
        offer_doc(receiver="carol"),  # someone else's: never even reaches bob
    ]
    good_id, good = offer_doc()

    def write_all():
        for doc_id, data in [*bad, (good_id, good)]:
            db.collection("offers").document(doc_id).set(data)

    await trio.to_thread.run_sync(write_all)
    received = await next_event(bob.events, OfferReceived)
    assert received.offer.id == good_id
    reasons = " ".join(bob.skipped)
    for expected in ("missing", "not a valid name", "expired", "key does not match", "does not match its document"):
        assert expected in reasons, (expected, dict(bob.skipped))
    assert sum(bob.skipped.values()) >= 6


async def test_the_cost_of_one_connection_setup(firestore_url):
    """Writes and reads for one offer/answer, besides registration and presence."""
    config = dict(presence_interval=3600.0)  # no refresh writes during the test
    async with open_node(node_config("alice", firestore_url, **config), Identity.generate()) as alice, open_node(
        node_config("bob", firestore_url, **config), Identity.generate()
    ) as bob:
        await next_event(alice.events, events.Ready)
        await next_event(bob.events, events.Ready)
        before = alice.signalling.operations + bob.signalling.operations
        alice.send("bob", "hello")
        await next_event(alice.events, events.MessageDelivered)
        await trio.sleep(0.3)  # let the listeners report the offer's deletion too
        cost = (alice.signalling.operations + bob.signalling.operations) - before
    # The budget in net/signalling/firestore.py's docstring, item by item.
    assert cost["write"] == 3, cost
    assert cost["read"] == 6, cost  # bob never opened alice: a stranger is not watched


async def test_the_client_recovers_from_an_emulator_restart(monkeypatch):
    emulator = await trio.to_thread.run_sync(Emulator)
    await trio.to_thread.run_sync(emulator.start)
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", emulator.host)
    url = f"firestore://restart-{uuid.uuid4().hex[:8]}"
    try:
        async with open_node(node_config("bob", url), Identity.generate()) as bob:
            await next_event(bob.events, events.Ready)
            await trio.to_thread.run_sync(emulator.stop)
            # Down long enough for a presence refresh to fail: the node says so and lives on.
            lost = await next_event(bob.events, events.SignalStatus, lambda e: not e.connected, timeout=30)
            assert "Firestore" in lost.message
            await trio.to_thread.run_sync(emulator.start)  # same port, all data gone
            async with open_node(node_config("carol", url), Identity.generate()) as carol:
                carol.send("bob", "after the restart")
                received = await next_event(bob.events, events.MessageReceived, timeout=30)
                assert received.text == "after the restart"
                assert carol.status("bob") == PeerStatus.CONNECTED
    finally:
        await trio.to_thread.run_sync(emulator.stop)


async def test_presence_goes_stale_when_a_peer_stops_refreshing(firestore_url, nursery):
    # Staleness is judged by our clock (when the document last changed), not the
    # peer's last_seen: a peer whose clock is wrong is neither lost nor kept.
    db = admin_db(firestore_url)
    key = Identity.generate().public_key
    await trio.to_thread.run_sync(
        lambda: db.collection("peers").document("ghost").set(
            {"name": "ghost", "key": key, "address": "", "online": True, "last_seen": time.time() - 3600,
             "updated": datetime.now(timezone.utc)}
        )
    )
    alice, _ = await start_client(nursery, firestore_url, "alice")  # presence_interval 1 s
    await alice.watch("ghost")
    from p2ptui.net.signalling import PresenceChanged

    first = (await next_event(alice.events, PresenceChanged)).presence
    assert first.name == "ghost" and first.online  # just written: fresh, whatever last_seen says
    later = (await next_event(alice.events, PresenceChanged, timeout=15)).presence
    assert later.name == "ghost" and not later.online  # never refreshed: stale after 3 intervals


async def test_losing_a_name_race_does_not_mark_the_owner_offline(firestore_url, nursery):
    # Regression: the loser's shutdown wrote online: False over the owner's presence.
    from p2ptui.net.signalling import SignallingLost

    owner, owner_identity = await start_client(nursery, firestore_url, "alice")
    await next_event(owner.events, Registered)
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as inner:
            thief, _ = await start_client(inner, firestore_url, "alice")
            assert (await next_event(thief.events, SignallingLost)).fatal
            scope.cancel()
    db = admin_db(firestore_url)
    document = await trio.to_thread.run_sync(lambda: db.collection("peers").document("alice").get().to_dict())
    assert document["online"] is True and document["key"] == owner_identity.public_key


async def offer_exists(db, doc_id):
    return await trio.to_thread.run_sync(lambda: db.collection("offers").document(doc_id).get().exists)


async def until_gone(db, doc_id, timeout=20):
    with trio.fail_after(timeout):
        while await offer_exists(db, doc_id):
            await trio.sleep(0.2)  # Another process's store: polled, with a deadline.


async def test_offers_carry_their_expiry_and_are_deleted_once_expired(firestore_url, nursery):
    """Nothing piles up: unanswered offers, and answered ones whose offerer died before
    deleting them, go once expired, deleted by whichever side saw them."""
    db = admin_db(firestore_url)
    alice, alice_identity = await start_client(nursery, firestore_url, "alice")  # presence_interval 1 s
    await next_event(alice.events, Registered)
    unanswered = make_offer("alice", alice_identity, "nobody", expires_in=1.0)
    await alice.send_offer(unanswered)
    lasting = make_offer("alice", alice_identity, "nobody", expires_in=3600.0)
    await alice.send_offer(lasting)
    document = await trio.to_thread.run_sync(lambda: db.collection("offers").document(unanswered.id).get().to_dict())
    assert document["expires_at"] == datetime.fromtimestamp(unanswered.expires, timezone.utc)  # For a TTL policy.

    ghost = Identity.generate()
    leftovers = {  # An earlier run's, answered but never deleted: one from alice, one to her.
        "from-alice": make_offer("alice", alice_identity, "ghost", expires_in=-60.0),
        "to-alice": make_offer("ghost", ghost, "alice", expires_in=-60.0),
    }
    for label, offer in leftovers.items():
        data = {**offer.to_dict(), "id": label, "state": "answered", "answer": {"offer_id": label}}
        await trio.to_thread.run_sync(lambda d=data, i=label: db.collection("offers").document(i).set(d))

    await until_gone(db, unanswered.id)
    for label in leftovers:
        await until_gone(db, label)
    assert await offer_exists(db, lasting.id)  # Not before its time.
