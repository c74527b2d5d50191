"""LAN discovery in the lab: two `p2ptui pipe` processes on one offline LAN (a bare
bridge, no router, no internet) find each other by mDNS and connect with no
signalling server at all: the signal URL points at a port where nothing listens."""

import time

import pytest

from p2ptui.net.identity import Identity

from .lab import Lab, require_lab
from .processes import Process

pytestmark = pytest.mark.lab

#: What "quickly" means in the issue: from both pipes ready to both connected.
CONNECT_WITHIN = 2.0


@pytest.fixture
def lan():
    require_lab()
    built = Lab()
    try:
        yield built, built.offline_lan("lan")
    finally:
        built.close()


class Pipes:
    def __init__(self, lab, bridge, tmp_path):
        self.lab, self.bridge, self.tmp_path, self.started = lab, bridge, tmp_path, []
        # Nothing listens there: every connection is refused at once.
        self.url = f"tcp://{bridge.ip}:7878"

    def config_dir(self, name):
        directory = self.tmp_path / name
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def pipe(self, name, peer, *extra, config="", signal=True):
        """signal=False: no --signal, so each starts its own built-in server, as by default."""
        host = self.lab.lan_host(self.bridge, name)
        directory = self.config_dir(name)
        if config:
            (directory / "config.toml").write_text(config)
        signal_options = ["--signal", self.url] if signal else []
        process = Process(
            ["pipe", "--name", name, "--peer", peer, *signal_options, "--config-dir", str(directory), *extra],
            wrapper=["ip", "netns", "exec", host.namespace],
        )
        self.started.append(process)
        return host, process

    def stop(self):
        for process in self.started:
            process.stop()


@pytest.fixture
def pipes(lan, tmp_path):
    started = Pipes(*lan, tmp_path)
    yield started
    started.stop()


def test_two_pipes_on_an_offline_lan_connect_in_under_two_seconds(pipes):
    alice_host, alice = pipes.pipe("alice", "bob")
    bob_host, bob = pipes.pipe("bob", "alice")
    for pipe in (alice, bob):
        assert pipe.event("ready")["name"] in ("alice", "bob")
    ready = time.monotonic()
    connected = alice.event("connected", timeout=10)
    assert bob.event("connected", timeout=10)["remote"].startswith(f"{alice_host.ip}:")
    elapsed = time.monotonic() - ready
    assert connected["network"] == "lan" and connected["path"] == "direct"
    assert connected["remote"].startswith(f"{bob_host.ip}:")
    assert elapsed < CONNECT_WITHIN, f"connected {elapsed:.2f} s after both were ready"
    # Said once: no server, and the LAN still works.
    said = [e["message"] for e in alice.events_seen("error")]
    assert len(said) == 1 and said[0].startswith("signalling unreachable; LAN only: cannot reach"), said
    alice.send("no server here")
    assert bob.event("message")["text"] == "no server here"
    bob.send("none needed")
    assert alice.event("message")["text"] == "none needed"


def test_two_machines_with_no_options_find_each_other_on_the_lan(pipes):
    # Each starts its own built-in server, where the other never registers.
    _, alice = pipes.pipe("alice", "bob", signal=False)
    bob_host, bob = pipes.pipe("bob", "alice", signal=False)
    connected = alice.event("connected", timeout=10)
    assert connected["network"] == "lan" and connected["remote"].startswith(f"{bob_host.ip}:")
    alice.send("hello, neighbour")
    assert bob.event("message")["text"] == "hello, neighbour"


def test_with_lan_off_they_do_not_find_each_other(pipes):
    off = "lan = false\n"
    _, alice = pipes.pipe("alice", "bob", "--timeout", "4", config=off)
    _, bob = pipes.pipe("bob", "alice", "--timeout", "4", config=off)
    # With no server and no LAN, the pipe cannot start at all: it says so and exits 1.
    for pipe in (alice, bob):
        error = pipe.event("error", timeout=15)["message"]
        assert "signalling" in error
        assert pipe.wait(timeout=15) == 1
        assert not pipe.events_seen("connected")


def test_a_key_other_than_the_pinned_one_is_refused_over_the_lan(pipes):
    # Alice pinned a key for bob earlier; this "bob" has another one.
    pinned = Identity.generate().public_key
    (pipes.config_dir("alice") / "known_peers").write_text(f"bob {pinned}\n")
    _, alice = pipes.pipe("alice", "bob")
    _, bob = pipes.pipe("bob", "alice", "--timeout", "4")
    changed = alice.event("key-changed", timeout=10)
    assert changed["new"] and changed["new"] != changed["pinned"]
    # Bob's offers reach alice, and are refused: nobody connects.
    assert any("did not connect" in e["message"] for e in errors_until_exit(bob))
    assert not bob.events_seen("connected")
    alice.stop()
    alice.drain()
    assert not alice.events_seen("connected")


def errors_until_exit(pipe):
    pipe.drain(timeout=15)
    return pipe.events_seen("error")
