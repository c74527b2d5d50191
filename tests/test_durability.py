"""Killing a process with SIGKILL at any moment loses no message and stores none twice.

Real pipe processes over loopback; each keeps its history and outbox in its
config directory, which its restart finds again.
"""

import pytest

from p2ptui.net.store import MessageStore

from .processes import Processes

pytestmark = pytest.mark.e2e

COUNT = 300
BACKLOG = 2000


@pytest.fixture
def processes(tmp_path):
    started = Processes(tmp_path)
    yield started
    started.stop_all()


def messages_until(process, texts: set[str], timeout: float = 60.0) -> list[dict]:
    """The process's message events, until every text in texts has shown up."""
    seen = process.events_seen("message")
    while not texts <= {event["text"] for event in seen}:
        seen.append(process.event("message", timeout=timeout))
    return seen


def check_shown(shown: list[dict], expected: list[str]) -> None:
    """Everything was shown, in order; a repeat (a kill between showing and noting it) keeps its id."""
    ids = {}
    for event in shown:
        assert ids.setdefault(event["text"], event["id"]) == event["id"]
    assert list(dict.fromkeys(event["text"] for event in shown)) == expected


def test_a_receiver_killed_mid_stream_gets_everything_once(processes, tmp_path):
    url = processes.server()
    alice = processes.pipe("alice", "bob", url)
    bob = processes.pipe("bob", "alice", url)
    alice.event("connected")
    texts = [f"m{n:04d}" for n in range(COUNT)]
    for text in texts[:100]:
        alice.send(text)
    for _ in range(40):
        bob.event("message")
    bob.popen.kill()  # SIGKILL, mid-stream
    bob.popen.wait(timeout=10)
    bob.drain()
    for text in texts[100:]:  # these wait for bob to come back
        alice.send(text)
    stored = len(MessageStore(tmp_path / "bob").history("alice", limit=10 * COUNT))
    assert 40 <= stored < COUNT
    restarted = processes.pipe("bob", "alice", url)
    alice.close_stdin()
    assert alice.wait(timeout=90) == 0  # every message acknowledged
    alice.drain()
    assert {e["id"] for e in alice.events_seen("delivered")} == {e["id"] for e in alice.events_seen("sent")}
    shown = bob.events_seen("message") + messages_until(restarted, set(texts) - {e["text"] for e in bob.events_seen("message")})
    check_shown(shown, texts)
    restarted.close_stdin()
    assert restarted.wait() == 0
    history = MessageStore(tmp_path / "bob").history("alice", limit=10 * COUNT)
    assert [m.text for m in history] == texts  # stored once each, in order


def test_a_sender_killed_mid_stream_sends_the_rest_when_it_comes_back(processes, tmp_path):
    url = processes.server()
    alice = processes.pipe("alice", "bob", url)
    texts = [f"m{n:04d}" for n in range(BACKLOG)]
    for text in texts:  # bob is not there yet: all of it waits in alice's outbox
        alice.send(text)
    accepted = [alice.event("sent")["id"] for _ in texts]
    bob = processes.pipe("bob", "alice", url)
    for _ in range(40):
        bob.event("message")
    alice.popen.kill()  # SIGKILL, with much still unacknowledged
    alice.popen.wait(timeout=10)
    arrived = len(MessageStore(tmp_path / "bob").history("alice", limit=10 * BACKLOG))
    assert arrived < BACKLOG  # the rest is the restarted sender's to deliver
    restarted = processes.pipe("alice", "bob", url)
    restarted.close_stdin()
    assert restarted.wait(timeout=90) == 0  # the outbox emptied
    history = MessageStore(tmp_path / "bob").history("alice", limit=10 * BACKLOG)
    assert [m.id for m in history] == accepted  # each once, in order
    assert [m.text for m in history] == texts
    bob.close_stdin()
    assert bob.wait() == 0
