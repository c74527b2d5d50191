"""File transfer between real nodes over loopback sockets, with a real built-in server."""

import hashlib
import os

import pytest
import trio

from p2ptui.net import ConfigError, Identity, NodeConfig, events, open_node
from p2ptui.net.signalling import server

pytestmark = pytest.mark.trio

LOOPBACK = ("127.0.0.1", 0)


@pytest.fixture
async def signal_url(nursery):
    host, port = await nursery.start(server.serve, "127.0.0.1", 0)
    return f"tcp://{host}:{port}"


def config(name, url, tmp_path, **kwargs):
    return NodeConfig(name, url, bind=LOOPBACK, state_dir=tmp_path / name, downloads=tmp_path / f"{name}-dl",
                      **kwargs)


async def next_event(node, kind, predicate=lambda e: True, timeout=20, seen=None):
    with trio.fail_after(timeout):
        async for event in node.events:
            if seen is not None:
                seen.append(event)
            if isinstance(event, kind) and predicate(event):
                return event


async def test_a_3_mb_file_arrives_whole_while_chat_goes_both_ways(signal_url, tmp_path):
    data = os.urandom(3 * 2**20)
    (tmp_path / "photo.raw").write_bytes(data)
    identities = Identity.generate(), Identity.generate()
    async with open_node(config("alice", signal_url, tmp_path), identities[0]) as a, open_node(
        config("bob", signal_url, tmp_path), identities[1]
    ) as b:
        tid = a.send_file("bob", tmp_path / "photo.raw")
        offer = await next_event(b, events.FileOffered)
        assert (offer.peer, offer.id, offer.name, offer.size) == ("alice", tid, "photo.raw", len(data))
        b.accept_file("alice", tid)
        seen_b, seen_a = [], []
        for i in range(5):
            a.send("bob", f"from alice {i}")
            b.send("alice", f"from bob {i}")
        received = await next_event(b, events.FileReceived, seen=seen_b)
        assert received.sha256 == hashlib.sha256(data).hexdigest()
        assert open(received.path, "rb").read() == data
        await next_event(a, events.FileSent, seen=seen_a)
        texts_b = [e.text for e in seen_b if isinstance(e, events.MessageReceived)]
        while len(texts_b) < 5:
            texts_b.append((await next_event(b, events.MessageReceived)).text)
        assert texts_b == [f"from alice {i}" for i in range(5)]
        texts_a = [e.text for e in seen_a if isinstance(e, events.MessageReceived)]
        while len(texts_a) < 5:
            texts_a.append((await next_event(a, events.MessageReceived)).text)
        assert texts_a == [f"from bob {i}" for i in range(5)]
        assert a.transfers("bob") == [] and b.details("alice").transfers == ()


async def test_a_receiver_stopped_mid_transfer_resumes_on_the_same_state(signal_url, tmp_path):
    data = os.urandom(16 * 2**20)
    (tmp_path / "big.bin").write_bytes(data)
    alice_id, bob_id = Identity.generate(), Identity.generate()
    async with open_node(config("alice", signal_url, tmp_path), alice_id) as a:
        async with open_node(config("bob", signal_url, tmp_path), bob_id) as b:
            tid = a.send_file("bob", tmp_path / "big.bin")
            await next_event(b, events.FileOffered)
            b.accept_file("alice", tid)
            await next_event(b, events.FileProgress, lambda e: e.bytes > 0)
        part = tmp_path / "bob-dl" / "big.bin.part"
        have = part.stat().st_size
        assert 0 < have < len(data)
        async with open_node(config("bob", signal_url, tmp_path), bob_id) as b:
            with trio.fail_after(20):
                while not (t := b.transfers("alice")) or t[0].bytes == 0:
                    await trio.sleep(0.01)
            assert t[0].bytes >= have and t[0].state in ("receiving", "waiting")  # from what was on disk
            received = await next_event(b, events.FileReceived, timeout=60)
            assert received.sha256 == hashlib.sha256(data).hexdigest()
            await next_event(a, events.FileSent, timeout=30)


async def test_decline_and_cancel_from_either_side(signal_url, tmp_path):
    (tmp_path / "a.txt").write_bytes(b"a" * 100_000)
    async with open_node(config("alice", signal_url, tmp_path), Identity.generate()) as a, open_node(
        config("bob", signal_url, tmp_path), Identity.generate()
    ) as b:
        declined = a.send_file("bob", tmp_path / "a.txt")
        await next_event(b, events.FileOffered)
        b.decline_file("alice", declined)
        assert (await next_event(a, events.FileFailed)).reason == "declined"
        for canceller, other, name in ((a, b, "bob"), (b, a, "alice")):
            tid = a.send_file("bob", tmp_path / "a.txt")
            await next_event(b, events.FileOffered, lambda e: e.id == tid)
            canceller.cancel_file(name, tid)
            failed = await next_event(other, events.FileFailed, lambda e: e.id == tid)
            assert "cancelled by the peer" in failed.reason
        assert a.transfers("bob") == [] and b.transfers("alice") == []
        with pytest.raises(ConfigError):
            b.accept_file("alice", declined)  # over already
        with pytest.raises(ConfigError):
            a.send_file("bob", tmp_path / "no such file")


async def test_an_offer_left_unanswered_by_a_stopped_node_is_accepted_after_its_restart(signal_url, tmp_path):
    data = os.urandom(200_000)
    (tmp_path / "later.txt").write_bytes(data)
    bob_id = Identity.generate()
    async with open_node(config("alice", signal_url, tmp_path), Identity.generate()) as a:
        async with open_node(config("bob", signal_url, tmp_path), bob_id) as b:
            tid = a.send_file("bob", tmp_path / "later.txt")
            await next_event(b, events.FileOffered)
        async with open_node(config("bob", signal_url, tmp_path), bob_id) as b:
            (waiting,) = b.transfers("alice")
            assert (waiting.id, waiting.state, waiting.name, waiting.outgoing) == (tid, "offered", "later.txt", False)
            b.accept_file("alice", tid)  # no conversation open yet in this run: the offer brings it back
            received = await next_event(b, events.FileReceived)
            assert open(received.path, "rb").read() == data
            await next_event(a, events.FileSent)
