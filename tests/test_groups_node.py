"""Groups between real nodes over loopback sockets, with a real built-in server (trio, no mocks)."""

import pytest
import trio
import trio.testing

from p2ptui.net import ConfigError, Identity, NodeConfig, PeerStatus, events, open_node
from p2ptui.net.signalling import server

from .groupnodes import DEADLINE, Member, connect, form

LOOPBACK = ("127.0.0.1", 0)

pytestmark = pytest.mark.trio


def loopback(url, directory):
    """What starts a member's node: on loopback, with a state directory of its own."""

    def opener(name, identity):
        config = NodeConfig(name, url, bind=LOOPBACK, state_dir=directory / name, presence_interval=1.0)
        return open_node(config, identity)

    return opener


@pytest.fixture
async def signal_url(nursery):
    host, port = await nursery.start(server.serve, "127.0.0.1", 0)
    return f"tcp://{host}:{port}"


async def test_three_members_talk_and_one_offline_gets_everything_even_with_the_author_gone(
    nursery, signal_url, tmp_path
):
    alice, bob, carol = await form(nursery, loopback(signal_url, tmp_path), ["alice", "bob", "carol"])
    first = bob.node.send_group("team", "hello all")
    for member in (alice, carol):
        await member.wait_for(lambda m=member: any(e.id == first for e in m.received.get("MessageReceived", [])))
    received = [e for e in carol.received["MessageReceived"] if e.id == first][0]
    assert (received.peer, received.group, received.text) == ("bob", "team", "hello all")

    await carol.stop()
    for i in range(10):
        (alice if i % 2 else bob).node.send_group("team", f"while carol was away {i}")
    await alice.wait_for(lambda: len(alice.texts()) == 11)
    await bob.wait_for(lambda: len(bob.texts()) == 11)
    await alice.stop()  # half of them are alice's: carol must get them from bob

    await carol.start(nursery)
    await carol.wait_for(lambda: len(carol.texts()) == 11)
    await alice.start(nursery)
    late = alice.node.send_group("team", "back")
    for member in (alice, bob, carol):
        await member.wait_for(lambda m=member: len(m.texts()) == 12)
    histories = [[(m.peer, m.id, m.text) for m in x.node.group_history("team").messages] for x in (alice, bob, carol)]
    assert histories[0] == histories[1] == histories[2]
    assert histories[0][-1][1:] == (late, "back")


async def test_a_member_only_peer_is_no_conversation_and_a_kicked_one_is_told(nursery, signal_url, tmp_path):
    alice, bob, carol = await form(nursery, loopback(signal_url, tmp_path), ["alice", "bob", "carol"])
    # bob never opened carol: their session exists for the group only.
    await bob.wait_for(
        lambda: any(e.peer == "carol" and e.member_only for e in bob.received.get("PeerChanged", []))
    )
    alice.node.kick("team", "carol")
    await carol.wait_for(lambda: events.MemberLeft("team", "carol", True) in carol.received.get("MemberLeft", []))
    with pytest.raises(ConfigError):
        carol.node.send_group("team", "am I still in?")
    info = bob.node.group_details("team")
    await bob.wait_for(lambda: [m.name for m in bob.node.group_details("team").members] == ["alice", "bob"])
    assert not info.admin


async def test_members_are_never_let_go_as_strangers(nursery, signal_url, tmp_path):
    alice, bob, carol = await form(nursery, loopback(signal_url, tmp_path), ["alice", "bob", "carol"])
    await bob.stop()
    # bob comes back keeping one stranger at most, and strangers knock.
    config = NodeConfig("bob", signal_url, bind=LOOPBACK, state_dir=tmp_path / "bob", presence_interval=1.0,
                        max_strangers=1)
    async with open_node(config, bob.identity) as node:
        for n in range(3):
            async with open_node(NodeConfig(f"s{n}", signal_url, bind=LOOPBACK), Identity.generate()) as stranger:
                stranger.open("bob")
                with trio.fail_after(DEADLINE):
                    await stranger.wait_status("bob", PeerStatus.CONNECTED)
        # The strangers came and (all but one) went; the group's members stayed.
        assert {"alice", "carol"} <= set(node.conversations())
        assert len([name for name in node.conversations() if name.startswith("s")]) <= 1
        node.send_group("team", "still here")
        with trio.fail_after(DEADLINE):
            async for event in node.events:
                if isinstance(event, events.MessageDelivered) and event.peer == "#team":
                    break


async def test_a_member_only_peer_who_writes_directly_is_announced_as_a_conversation(nursery, signal_url, tmp_path):
    alice, bob, carol = await form(nursery, loopback(signal_url, tmp_path), ["alice", "bob", "carol"])
    await carol.wait_for(
        lambda: any(e.peer == "bob" and e.member_only for e in carol.received.get("PeerChanged", []))
    )
    bob.node.open("carol")
    sent = bob.node.send("carol", "hi carol, just you")
    await carol.wait_for(lambda: any(e.id == sent for e in carol.received.get("MessageReceived", [])))
    # Its state comes with it, no more member-only: the application shows a connected conversation.
    await carol.wait_for(
        lambda: any(
            e.peer == "bob" and not e.member_only and e.status == PeerStatus.CONNECTED
            for e in carol.received.get("PeerChanged", [])
        )
    )


async def test_a_member_only_peer_the_user_opens_is_announced_as_a_conversation_at_once(
    nursery, signal_url, tmp_path
):
    def quiet(name, identity):  # no presence rounds: nothing but the open may tell the state again
        config = NodeConfig(name, signal_url, bind=LOOPBACK, state_dir=tmp_path / name, presence_interval=3600.0)
        return open_node(config, identity)

    alice, bob, carol = await form(nursery, quiet, ["alice", "bob", "carol"])
    await carol.wait_for(
        lambda: any(
            e.peer == "bob" and e.member_only and e.status == PeerStatus.CONNECTED
            for e in carol.received.get("PeerChanged", [])
        )
    )
    await trio.testing.wait_all_tasks_blocked(cushion=0.5)  # the group's records are all in
    carol.node.open("bob")
    await trio.testing.wait_all_tasks_blocked()
    assert any(
        e.peer == "bob" and not e.member_only and e.status == PeerStatus.CONNECTED
        for e in carol.received.get("PeerChanged", [])
    )


async def test_members_who_reached_us_before_we_joined_are_the_groups_once_we_join(nursery, signal_url, tmp_path):
    alice, bob = await form(nursery, loopback(signal_url, tmp_path), ["alice", "bob"])
    carol = Member("carol", loopback(signal_url, tmp_path))
    await carol.start(nursery)
    await connect(alice, carol)
    alice.node.invite("team", "carol")
    await carol.wait_for(lambda: "GroupInvited" in carol.received)
    # bob knows carol is a member and reaches her: to her, not yet in the group, a stranger.
    await carol.wait_for(
        lambda: any(e.peer == "bob" and not e.member_only for e in carol.received.get("PeerChanged", []))
    )
    carol.node.join("team")
    await carol.wait_for(
        lambda: any(e.peer == "bob" and e.member_only for e in carol.received.get("PeerChanged", []))
    )
