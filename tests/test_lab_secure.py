"""The NAT lab, against the network: heavy loss, a wiretap, replays and forgeries."""

from __future__ import annotations

import json
import os
import queue
import secrets
import sys
import time
from collections import Counter

import pytest

from .lab import capture, impair
from .test_lab import lab, peers  # noqa: F401 (fixtures)

pytestmark = pytest.mark.lab

CAPTURE = capture.__file__
INTRUDER = os.path.join(os.path.dirname(capture.__file__), "intruder.py")


class Events:
    """The JSON events of one Process, parsed as its lines arrive."""

    def __init__(self, process):
        self.process = process
        self.ended = False
        self.by_name: dict[str, list[dict]] = {}
        self._parsed = 0

    def read(self) -> bool:
        """Take every line available now; whether there was any."""
        got = False
        while not self.ended:
            try:
                line = self.process.line(timeout=0)
            except queue.Empty:
                break
            got = True
            if line is None:
                self.ended = True
        for line in self.process.history[self._parsed :]:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                self.by_name.setdefault(event.get("event"), []).append(event)
        self._parsed = len(self.process.history)
        return got

    def __getitem__(self, name: str) -> list[dict]:
        return self.by_name.get(name, [])


def follow(watched: list[Events], until, timeout: float) -> bool:
    """Read every process's events as they come, until until() holds; False at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        got = [events.read() for events in watched]
        if until():
            return True
        if time.monotonic() >= deadline or all(events.ended for events in watched):
            return False
        if not any(got):
            time.sleep(0.01)


# --- Loss ------------------------------------------------------------------------------

COUNT = 500


@pytest.mark.parametrize("loss", [0.10, 0.30])
def test_messages_cross_lossy_nats_exactly_once_in_order(lab, peers, loss):  # noqa: F811
    routers = lab.nat("ra"), lab.nat("rb")
    alice = peers.pipe(lab.lan_host(routers[0], "alice"), "alice", "bob")
    bob = peers.pipe(lab.lan_host(routers[1], "bob"), "bob", "alice")
    alice.event("connected")
    bob.event("connected")
    # Now the path loses `loss` of the datagrams each way (signalling's TCP untouched).
    for router in routers:
        impair.add_inbound_loss(router, loss)
    # About 500 bytes each, so two fill a datagram: the burst (stored in one transaction,
    # packed into as few datagrams as fit) still crosses the lossy path in hundreds.
    padding = "." * 480
    texts = {
        "alice": [f"a->b {i:04d} {padding}" for i in range(1, COUNT + 1)],
        "bob": [f"b->a {i:04d} {padding}" for i in range(1, COUNT + 1)],
    }
    started = time.monotonic()
    for process, name in ((alice, "alice"), (bob, "bob")):
        process.popen.stdin.write("".join(f"{text}\n" for text in texts[name]))
        process.popen.stdin.flush()
    watched = {"alice": Events(alice), "bob": Events(bob)}

    def everything_arrived():
        return all(
            len(events["message"]) >= COUNT and len(events["delivered"]) >= COUNT for events in watched.values()
        )

    arrived = follow(list(watched.values()), everything_arrived, timeout=60 if loss <= 0.1 else 120)
    took = time.monotonic() - started
    counts = {name: impair.inbound_counts(router) for name, router in zip(("ra", "rb"), routers)}
    paths_lost = {name: len(events["disconnected"]) for name, events in watched.items()}
    print(f"\nloss {loss:.0%} each way: {COUNT} messages each way in {took:.1f} s; "
          f"datagrams in/dropped by router: {counts}; paths lost: {paths_lost}")
    summary = {name: {k: len(events[k]) for k in ("sent", "message", "delivered")} for name, events in watched.items()}
    assert arrived, f"not everything arrived in {took:.0f} s: {summary}"
    # Everything delivered: with stdin closed, each pipe ends by itself, status 0.
    for process in (alice, bob):
        process.close_stdin()
    for process in (alice, bob):
        assert process.wait(timeout=30) == 0
    # Every last line read, so a late duplicate would show.
    assert follow(list(watched.values()), lambda: all(e.ended for e in watched.values()), timeout=10)

    for name, other in (("alice", "bob"), ("bob", "alice")):
        sent = watched[name]["sent"]
        assert [event["peer"] for event in sent] == [other] * COUNT
        sent_ids = [event["id"] for event in sent]
        assert len(set(sent_ids)) == COUNT
        # The other side got exactly these texts, each once, in the order sent, under the sent ids.
        received = watched[other]["message"]
        assert [event["text"] for event in received] == texts[name]
        assert [event["id"] for event in received] == sent_ids
        # And the sender heard of every one's delivery, once.
        delivered = Counter(event["id"] for event in watched[name]["delivered"])
        assert delivered == Counter(sent_ids)
        assert watched[name]["error"] == []
    # The loss really happened, near the rate asked for (over enough datagrams to say:
    # messages share datagrams, so there are fewer datagrams than messages).
    for arrived_in, dropped in counts.values():
        assert arrived_in > 100 and loss / 2 < dropped / arrived_in < loss * 2, counts


# --- A wiretap, replays and forgeries ---------------------------------------------------------

# A TRANSPORT datagram: magic, version, kind | to_tag | from_tag | key_id | counter | ciphertext.
TAGS, KEY_ID, COUNTER, CIPHERTEXT = slice(3, 19), 19, slice(20, 28), 28
#: A TRANSPORT carrying a chat message of n bytes is at least MESSAGE_OVERHEAD + n bytes: the
#: header, then (encrypted) a packet number, a STREAM frame's header, the message's id and length.
MESSAGE_OVERHEAD = 3 + 16 + 1 + 8 + (1 + 4 + 8 + 1) + 16


def inject(host, destination, payload: bytes, seconds: float = 1.0) -> list[bytes]:
    """Send payload from host to destination ("IP:PORT"); the datagrams that came back."""
    process = host.python(INTRUDER, "inject", "--to", destination, "--payload", payload.hex(),
                          "--seconds", str(seconds))
    output, _ = process.communicate(timeout=15)
    assert process.returncode == 0, output
    return [bytes.fromhex(answer["data"]) for answer in json.loads(output)["answers"]]


def test_a_capture_shows_no_plaintext_and_replays_and_forgeries_fail(lab, peers, tmp_path):  # noqa: F811
    eve = lab.public_host("eve")  # on the internet, as the signalling server is
    # Bob's router is a full cone, so a datagram from anywhere reaches him: the
    # replays below are tested against his process, not stopped by his NAT.
    alice_router, bob_router = lab.nat("ra", "port-restricted"), lab.nat("rb", "full-cone")
    wiretap = tmp_path / "internet.frames"
    tap = lab.popen(lab.inet, sys.executable, CAPTURE, "--interface", "br0", "--out", str(wiretap),
                    "--seconds", "60", "--max-bytes", str(16 * 1024 * 1024))
    assert tap.stdout.readline().strip() == "ready"

    alice = peers.pipe(lab.lan_host(alice_router, "alice"), "alice", "bob")
    bob = peers.pipe(lab.lan_host(bob_router, "bob"), "bob", "alice")
    watched = {"alice": Events(alice), "bob": Events(bob)}
    marker = secrets.token_hex(12)  # 24 characters nobody could guess
    texts = {
        "alice": [f"{marker} from alice {i}" for i in range(3)],
        "bob": [f"{marker} from bob {i}" for i in range(3)],
    }
    for name, process in (("alice", alice), ("bob", bob)):
        for text in texts[name]:
            process.send(text)

    def exchanged():
        return all(len(events["message"]) >= 3 and len(events["delivered"]) >= 3 for events in watched.values())

    assert follow(list(watched.values()), exchanged, timeout=30), {n: e.by_name for n, e in watched.items()}
    assert [e["text"] for e in watched["bob"]["message"]] == texts["alice"]
    assert [e["text"] for e in watched["alice"]["message"]] == texts["bob"]
    tap.terminate()
    tap.communicate(timeout=10)

    # (a) The wiretap saw the whole conversation, and none of its text.
    frames = capture.read_frames(wiretap)
    everything = b"".join(frames)
    assert b'"op":"register"' in everything  # the signalling's plaintext: the tap sees and the search finds
    leaked = [index for index, frame in enumerate(frames) if marker.encode() in frame]
    assert leaked == [], f"the marker crossed the internet in the clear, in {len(leaked)} frame(s)"
    ours = [d for d in capture.udp_datagrams(frames) if d.payload[:1] == b"\xd2"]
    transport = [d for d in ours if len(d.payload) > CIPHERTEXT and d.payload[2] == 7]
    bob_public = watched["alice"]["connected"][0]["remote"]
    assert bob_public.startswith(f"{bob_router.ip}:")
    # Alice's messages to Bob, as they crossed the internet (several may share a datagram).
    to_bob = [
        d for d in transport
        if f"{d.destination[0]}:{d.destination[1]}" == bob_public
        and len(d.payload) >= MESSAGE_OVERHEAD + len(texts["alice"][0].encode())
    ]
    assert to_bob, [(d.source, d.destination, len(d.payload)) for d in ours]
    captured = to_bob[0].payload

    # (b) Eve sends Bob a probe, in the clear, naming the conversation's tags: his
    # process answers her (so what she sends reaches it, through his NAT)...
    txid = secrets.token_bytes(8)
    to_tag, from_tag = captured[3:11], captured[11:19]
    answers = inject(eve, bob_public, b"\xd2\x03\x01" + to_tag + from_tag + txid)
    assert answers == [b"\xd2\x03\x02" + from_tag + to_tag + txid]
    # ...but a replay of one of Alice's messages gets no answer (a packet carrying data is
    # always acknowledged), and shows Bob no second copy...
    assert inject(eve, bob_public, captured) == []
    # ...and neither do forgeries: the same datagram under a counter never used, its
    # ciphertext intact or altered.
    counter = int.from_bytes(captured[COUNTER], "big") + 1_000_000
    moved = captured[:COUNTER.start] + counter.to_bytes(8, "big") + captured[CIPHERTEXT:]
    altered = moved[:-1] + bytes([moved[-1] ^ 0x01])
    assert inject(eve, bob_public, moved) == []
    assert inject(eve, bob_public, altered) == []
    alice.send("after the replays")
    assert follow(list(watched.values()), lambda: len(watched["bob"]["message"]) >= 4, timeout=15)
    assert [e["text"] for e in watched["bob"]["message"]] == [*texts["alice"], "after the replays"]

    # (c) Mallory, a client of the same signalling server, tries to pass for Alice,
    # then sends Bob an offer altered after signing, then (the control) a genuine
    # offer of her own, then that offer again.
    server = peers.url.removeprefix("tcp://")
    mallory = eve.python(INTRUDER, "signal", "--server", server, "--name", "mallory", "--victim", "bob",
                         "--impersonate", "alice", "--udp-port", "6000", "--wait", "3")
    output, _ = mallory.communicate(timeout=60)
    assert mallory.returncode == 0, output
    report = json.loads(output)
    # The server binds a name to its key, and forwards offers only in the sender's own name.
    assert report["register_as_impersonated"]["code"] == "name-taken"
    assert report["register"]["op"] == "registered"
    assert report["impersonated_key"]
    assert report["impersonation"]["code"] == "bad-request"
    assert "someone else" in report["impersonation"]["message"]
    answers = Counter(m["answer"]["offer_id"] for m in report["received"] if m.get("op") == "answer")
    probed = Counter(d["to_tag"] for d in report["datagrams"] if d["first"] == "d2")
    # Bob answered and punched toward the genuine offer, once: its replay was refused...
    assert answers[report["genuine_offer"]["id"]] == 1, report
    assert probed[report["genuine_offer"]["tag"]] > 0, report
    # ...and the altered one got neither an answer nor a single datagram.
    assert answers[report["tampered_offer"]["id"]] == 0, report
    assert probed[report["tampered_offer"]["tag"]] == 0, report
    assert answers[report["impersonated_offer"]["id"]] == 0, report

    # The conversation is untouched: no new connection, nothing lost, messages still flow.
    bob.send("still here")
    alice.send("me too")
    assert follow(
        list(watched.values()),
        lambda: len(watched["alice"]["message"]) >= 4 and len(watched["bob"]["message"]) >= 5,
        timeout=15,
    )
    assert [e["text"] for e in watched["alice"]["message"]] == [*texts["bob"], "still here"]
    assert [e["text"] for e in watched["bob"]["message"]] == [*texts["alice"], "after the replays", "me too"]
    for events in watched.values():
        assert len(events["connected"]) == 1 and events["disconnected"] == [] and events["error"] == []
    assert not any("mallory" in line for line in bob.history)
