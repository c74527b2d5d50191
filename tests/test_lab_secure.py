"""The NAT lab, against the network: heavy loss."""

from __future__ import annotations

import json
import queue
import time
from collections import Counter

import pytest

from .lab import impair
from .test_lab import lab, peers  # noqa: F401 (fixtures)

pytestmark = pytest.mark.lab


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
    texts = {
        "alice": [f"a->b {i:04d}" for i in range(1, COUNT + 1)],
        "bob": [f"b->a {i:04d}" for i in range(1, COUNT + 1)],
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
    # The loss really happened, near the rate asked for.
    for arrived_in, dropped in counts.values():
        assert arrived_in > COUNT and loss / 2 < dropped / arrived_in < loss * 2, counts
