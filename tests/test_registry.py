"""The server's registry without sockets or an event loop: messages in, lines out, plain clocks."""

import json
from collections import Counter

import pytest

from p2ptui.net import Identity
from p2ptui.net.signalling import protocol
from p2ptui.net.signalling.limits import Rate, ServerLimits
from p2ptui.net.signalling.messages import SignallingDataError
from p2ptui.net.signalling.names import DAY, NameStore
from p2ptui.net.signalling.registry import Member, Registry

from .test_signalling_messages import ANSWER, OFFER

#: A rate that never refills within a test.
NO_REFILL = 1e-9


class Lines:
    """An outbox that keeps what it is sent."""

    def __init__(self):
        self.sent: list[dict] = []
        self.closed = False

    def send(self, line: bytes) -> None:
        self.sent.append(json.loads(line))

    def close(self) -> None:
        self.closed = True


class World:
    def __init__(self, **limits):
        self.now = 1_000.0
        self.wall = 1_700_000_000.0
        self.names = NameStore()
        self.dropped: Counter[str] = Counter()
        self.registry = Registry(
            self.names, ServerLimits(**limits), self.dropped, clock=lambda: self.now, wall_clock=lambda: self.wall
        )

    def connect(self, ip="192.0.2.1") -> Member:
        return Member(Lines(), ip)

    def register(self, member: Member, name: str, identity: Identity) -> dict:
        signature = identity.sign(protocol.register_challenge(member.nonce, name)).hex()
        self.registry.handle(member, {"op": "register", "name": name, "key": identity.public_key, "sig": signature})
        return member.outbox.sent[-1]

    def online(self, name: str, ip="192.0.2.1") -> tuple[Member, Identity]:
        member, identity = self.connect(ip), Identity.generate()
        assert self.register(member, name, identity)["op"] == "registered"
        return member, identity


def offer(identity, n=0, sender="alice", receiver="bob"):
    fields = {"id": f"{n:032x}", "sender": sender, "receiver": receiver, "sender_key": identity.public_key}
    return {"op": "offer", "offer": {**OFFER.to_dict(), **fields}}


def test_presence_says_online_and_the_key_never_the_address():
    world = World()
    alice, _ = world.online("alice")
    bob, bob_identity = world.online("bob", ip="198.51.100.9")
    world.registry.handle(alice, {"op": "watch", "name": "bob"})
    presence = alice.outbox.sent[-1]["presence"]
    assert presence == {"name": "bob", "online": True, "key": bob_identity.public_key, "address": ""}
    assert "198.51.100.9" not in json.dumps(alice.outbox.sent)


def test_a_flood_is_dropped_at_the_sender_and_the_target_keeps_its_connection():
    world = World(offers_per_sender=Rate(20, 1.0))
    bob, _ = world.online("bob")
    mallory, mallory_identity = world.online("mallory", ip="203.0.113.66")
    for n in range(5000):
        world.registry.handle(mallory, offer(mallory_identity, n, sender="mallory"))
    flood = [m for m in bob.outbox.sent if m["op"] == "offer"]
    assert len(flood) == 20 and not bob.outbox.closed
    assert world.dropped["offers over the sender's rate"] == 4980
    world.now += 1.0  # one more token a second
    world.registry.handle(mallory, offer(mallory_identity, 5000, sender="mallory"))
    assert bob.outbox.sent[-1]["offer"]["id"] == f"{5000:032x}"


def test_one_address_s_many_names_cannot_use_up_what_others_may_send_a_target():
    world = World(offers_per_sender=Rate(1, 1.0), offers_per_target=Rate(4, 4.0))
    bob, _ = world.online("bob")
    sybils = [world.online(f"m{n}", ip="203.0.113.66") for n in range(8)]
    alice, alice_identity = world.online("alice", ip="198.51.100.7")
    delivered = 0
    for second in range(30):
        for n, (sybil, identity) in enumerate(sybils):  # the attacker first, every second
            world.registry.handle(sybil, offer(identity, 1000 * second + n, sender=f"m{n}"))
        world.registry.handle(alice, offer(alice_identity, 100_000 + second))
        delivered += bob.outbox.sent[-1]["op"] == "offer" and bob.outbox.sent[-1]["offer"]["sender"] == "alice"
        world.now += 1.0
    assert delivered == 30
    assert world.dropped["offers over the target's rate"] > 0  # the sybils' own share ran out


def answer(identity, n=0, sender="bob", receiver="alice"):
    fields = {"offer_id": f"{n:032x}", "sender": sender, "receiver": receiver, "sender_key": identity.public_key}
    return {"op": "answer", "answer": {**ANSWER.to_dict(), **fields}}


def test_answers_to_many_strangers_offers_do_not_count_against_the_senders_rate():
    world = World(offers_per_sender=Rate(20, NO_REFILL), offers_per_target=Rate(100, NO_REFILL))
    bob, bob_identity = world.online("bob")
    strangers = [world.online(f"stranger{n}", ip=f"203.0.113.{n}") for n in range(64)]
    for n, (stranger, identity) in enumerate(strangers):
        world.registry.handle(stranger, offer(identity, n, sender=f"stranger{n}"))
    for n in range(64):
        world.registry.handle(bob, answer(bob_identity, n, receiver=f"stranger{n}"))
    for n, (stranger, _) in enumerate(strangers):
        assert stranger.outbox.sent[-1]["op"] == "answer"
        assert stranger.outbox.sent[-1]["answer"]["offer_id"] == f"{n:032x}"
    assert world.dropped["offers over the sender's rate"] == 0


@pytest.mark.parametrize(
    "why",
    ["never offered", "answered already", "expired", "to someone else", "offered to someone else"],
)
def test_an_answer_to_an_offer_not_delivered_to_the_client_is_refused(why):
    world = World()
    bob, bob_identity = world.online("bob")
    carol, carol_identity = world.online("carol")
    alice, alice_identity = world.online("alice")
    world.registry.handle(alice, offer(alice_identity, 7))
    first = answer(bob_identity, 7)
    match why:
        case "answered already":
            world.registry.handle(bob, first)
            assert alice.outbox.sent[-1]["op"] == "answer"
        case "expired":
            world.wall += 61.0
        case "to someone else":
            first = answer(bob_identity, 7, receiver="carol")
        case "offered to someone else":
            bob, first = carol, answer(carol_identity, 7, sender="carol")
        case "never offered":
            first = answer(bob_identity, 8)
    before = list(alice.outbox.sent) + list(carol.outbox.sent)
    with pytest.raises(SignallingDataError):
        world.registry.handle(bob, first)
    assert list(alice.outbox.sent) + list(carol.outbox.sent) == before


def test_the_offer_keeps_the_ip_the_server_saw():
    world = World()
    bob, _ = world.online("bob")
    alice, alice_identity = world.online("alice", ip="203.0.113.5")
    world.registry.handle(alice, offer(alice_identity))
    assert bob.outbox.sent[-1]["seen_ip"] == "203.0.113.5"


def test_a_lapsed_name_goes_to_the_next_key():
    world = World(name_expiry_days=90)
    first, _ = world.online("alice")
    world.registry.leave(first)
    thief = world.connect()
    assert world.register(thief, "alice", Identity.generate())["code"] == protocol.NAME_TAKEN
    world.wall += 91 * DAY
    newcomer = world.connect()
    assert world.register(newcomer, "alice", Identity.generate())["op"] == "registered"


def test_a_look_alike_name_is_taken_online_and_offline():
    world = World()
    alice, _ = world.online("alice")
    for spelling in ("Alice", "ALICE"):
        assert world.register(world.connect(), spelling, Identity.generate())["code"] == protocol.NAME_TAKEN
    world.registry.leave(alice)
    assert world.register(world.connect(), "aLiCe", Identity.generate())["code"] == protocol.NAME_TAKEN
    assert world.dropped["new names over the limit"] == 0


def test_the_owner_may_respell_its_name_and_replaces_its_old_connection():
    world = World()
    old, identity = world.online("alice")
    new = world.connect()
    assert world.register(new, "Alice", identity) == {"op": "registered", "name": "Alice", "observed_ip": "192.0.2.1"}
    assert old.outbox.closed and world.registry.online["alice"] is new


def test_offers_and_presence_go_by_the_exact_spelling():
    world = World()
    bob, _ = world.online("bob")
    alice, alice_identity = world.online("alice")
    world.registry.handle(alice, offer(alice_identity, receiver="Bob"))
    assert alice.outbox.sent[-1]["code"] == protocol.PEER_OFFLINE  # bob's node would drop it
    assert not [m for m in bob.outbox.sent if m["op"] == "offer"]
    world.registry.handle(alice, {"op": "watch", "name": "BOB"})
    assert alice.outbox.sent[-1]["presence"]["online"] is False


def test_the_same_key_from_a_new_connection_replaces_the_old_one():
    world = World()
    old, identity = world.online("alice")
    new = world.connect()
    assert world.register(new, "alice", identity)["op"] == "registered"
    assert old.outbox.closed and world.registry.online["alice"] is new


def test_a_bad_request_raises_one_error_type():
    world = World()
    member = world.connect()
    with pytest.raises(SignallingDataError):
        world.registry.handle(member, {"op": "register", "name": "alice\n", "key": "00", "sig": "00"})
    with pytest.raises(SignallingDataError):
        world.registry.handle(member, {"op": "no-such-op"})


def test_an_unreadable_names_file_refuses_registration_and_keeps_serving():
    world = World()
    bob, _ = world.online("bob")
    world.names.close()  # every read fails from now on
    member = world.connect()
    reply = world.register(member, "alice", Identity.generate())
    assert reply["code"] == protocol.UNAVAILABLE and member.name is None
    world.registry.handle(bob, {"op": "watch", "name": "carol"})
    assert bob.outbox.sent[-1]["presence"] == {"name": "carol", "online": False, "key": "", "address": ""}
