"""Verification as a node runs it: the safety number both sides see, the
verified mark in status events and details, kept across restarts, and lost
loudly when a verified peer's key changes. Real nodes, a real server, loopback."""

import pytest

from p2ptui.net import ConfigError, Identity, KnownPeers, PeerStatus, events, open_node

from .test_node import config, next_event
from .test_node_security import serve

pytestmark = pytest.mark.trio


def connected(event):
    return event.peer == "bob" and event.status == PeerStatus.CONNECTED


async def test_both_sides_see_one_number_and_verifying_is_told_and_kept(nursery, tmp_path):
    alice, bob = Identity.generate(), Identity.generate()
    url = await serve(nursery)
    async with open_node(config("alice", url, state_dir=tmp_path), alice) as a, open_node(
        config("bob", url), bob
    ) as b:
        with pytest.raises(ConfigError, match="no key pinned for bob"):
            a.safety_number("bob")
        a.send("bob", "hello")
        assert (await next_event(b, events.MessageReceived)).text == "hello"
        first = await next_event(a, events.PeerChanged, connected)
        assert not first.verified and not first.verification_lost
        number = a.safety_number("bob")
        assert number == b.safety_number("alice") and len(number) == 60
        assert not a.details("bob").verified and not a.details("bob").verification_lost

        a.mark_verified("bob", seen=" ".join(number[i : i + 5] for i in range(0, 60, 5)))
        # Told without any change of status: the mark alone is news.
        told = await next_event(a, events.PeerChanged, lambda e: e.peer == "bob" and e.verified)
        assert not told.verification_lost and told.status == PeerStatus.CONNECTED
        details = a.details("bob")
        assert details.verified and not details.verification_lost
        with pytest.raises(ConfigError, match="no key pinned for carol"):
            a.mark_verified("carol")
    # A restart: the first word about bob says he is verified.
    async with open_node(config("alice", url, state_dir=tmp_path), alice) as a, open_node(
        config("bob", url), bob
    ) as b:
        a.open("bob")
        assert (await next_event(a, events.PeerChanged, lambda e: e.peer == "bob")).verified


async def test_a_verified_peers_key_change_is_flagged_until_checked_again(nursery, tmp_path):
    alice, first_bob, second_bob = Identity.generate(), Identity.generate(), Identity.generate()
    url = await serve(nursery)
    async with open_node(config("alice", url, state_dir=tmp_path), alice) as a, open_node(
        config("bob", url), first_bob
    ) as b:
        a.send("bob", "hello first bob")
        await next_event(b, events.MessageReceived)
        a.mark_verified("bob")
        assert (await next_event(a, events.PeerChanged, lambda e: e.verified)).peer == "bob"
        old_number = a.safety_number("bob")
    url = await serve(nursery)  # Another server, which knows nothing of bob's first key.
    async with open_node(config("alice", url, state_dir=tmp_path), alice) as a, open_node(
        config("bob", url), second_bob
    ) as b:
        a.send("bob", "for whoever bob is now")
        warned = await next_event(a, events.PeerChanged, lambda e: e.status == PeerStatus.KEY_CHANGED)
        assert warned.verification_lost and not warned.verified
        assert a.details("bob").verification_lost
        with pytest.raises(ConfigError, match="shows a new key"):
            a.mark_verified("bob")  # the pinned key is not the one in use
        a.accept_key("bob")
        after = await next_event(a, events.PeerChanged, connected)
        assert after.verification_lost and not after.verified  # accepted, not verified
        assert a.details("bob").verification_lost and not a.details("bob").verified
        new_number = a.safety_number("bob")
        assert new_number != old_number and new_number == b.safety_number("alice")
        with pytest.raises(ConfigError, match="key changed"):
            a.mark_verified("bob", seen=old_number)  # a number read before the change
        a.mark_verified("bob", seen=new_number)
        again = await next_event(a, events.PeerChanged, lambda e: e.peer == "bob" and e.verified)
        assert not again.verification_lost


async def test_marking_a_peer_with_no_conversation_still_keeps_it(nursery, tmp_path):
    alice, bob = Identity.generate(), Identity.generate()
    url = await serve(nursery)
    async with open_node(config("alice", url, state_dir=tmp_path), alice) as a:
        a.known_peers.check("bob", bob.public_key)  # pinned earlier, no conversation open now
        a.mark_verified("bob")
        assert "bob" not in a.conversations()
    assert KnownPeers(tmp_path).is_verified("bob")


async def test_a_garbled_known_peers_line_makes_the_first_key_wait_for_the_user(nursery, tmp_path):
    (tmp_path / "known_peers").write_text("bob this-is-not-a-key verified\n")
    alice, bob = Identity.generate(), Identity.generate()
    url = await serve(nursery)
    async with open_node(config("alice", url, state_dir=tmp_path), alice) as a, open_node(
        config("bob", url), bob
    ) as b:
        a.send("bob", "after the damage")
        warned = await next_event(a, events.PeerChanged, lambda e: e.status == PeerStatus.KEY_CHANGED)
        assert not warned.verified
        assert a.store.outbox()[0].text == "after the damage"  # not sent to a key nobody accepted
        a.accept_key("bob")  # (delivery after accepting: test_node_security)
    assert KnownPeers(tmp_path).pinned("bob") == bob.public_key
