"""The signalling server as a real process under abuse, over real loopback sockets.

Clients here are plain blocking sockets with timeouts, speaking the line
protocol by hand, so a test can hold many connections from chosen source
addresses (127.0.0.x are all loopback on Linux). Every loop is bounded.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from p2ptui.net import Identity
from p2ptui.net.signalling import protocol

from .processes import Processes
from .test_signalling_messages import OFFER

pytestmark = pytest.mark.e2e

WAIT = 15.0


@pytest.fixture
def processes(tmp_path):
    started = Processes(tmp_path)
    yield started
    started.stop_all()


class Line:
    """A blocking connection to the server, from a chosen loopback address."""

    def __init__(self, url: str, source: str = "127.0.0.1"):
        host, port = url.removeprefix("tcp://").rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=WAIT, source_address=(source, 0))
        self.buffer = protocol.LineBuffer()
        self.ready: list[bytes] = []

    def receive(self) -> dict | None:
        while not self.ready:
            data = self.sock.recv(65536)
            if not data:
                return None
            self.ready.extend(self.buffer.feed(data))
        return json.loads(self.ready.pop(0))

    def send(self, **message) -> None:
        self.sock.sendall(protocol.encode(**message))

    def register(self, name: str, identity: Identity, first: dict | None = None) -> dict | None:
        """Answer the challenge (first: already received) and return the server's reply."""
        first = first or self.receive()
        assert first is not None and first["op"] == "challenge", first
        signature = identity.sign(protocol.register_challenge(bytes.fromhex(first["nonce"]), name))
        self.send(op="register", name=name, key=identity.public_key, sig=signature.hex())
        return self.receive()

    def close(self) -> None:
        self.sock.close()


def test_one_source_cannot_take_every_descriptor(processes):
    # Regression: one client holding ~1,000 registered connections exhausted a
    # server with 1,024 descriptors; new clients hung and the log filled with tracebacks.
    # Here the server gets 64: 32 for clients (the rest reserved), 16 from one address.
    url = processes.server("--max-per-address", "16", wrapper=["prlimit", "--nofile=64:64", "--"])
    server = processes.started[-1]
    held = []
    try:
        refused = None
        for n in range(40):  # Bounded: the cap is 16.
            line = Line(url)
            held.append(line)
            first = line.receive()
            if first.get("code") == protocol.SERVER_FULL:
                refused = first
                break
            # Registered, so the server's register deadline cannot free them during the test.
            assert line.register(f"flood{n}", Identity.generate(), first)["op"] == "registered"
        assert refused is not None and len(held) == 17, "one source got more than its share"
        assert "full" in refused["message"]
        assert held[-1].receive() is None  # and the server hung up
        # Another source still registers and gets offers.
        alice, bob = Identity.generate(), Identity.generate()
        a, b = Line(url, "127.0.0.2"), Line(url, "127.0.0.3")
        held += [a, b]
        assert a.register("alice", alice)["op"] == "registered"
        assert b.register("bob", bob)["op"] == "registered"
        a.send(op="offer", offer={**OFFER.to_dict(), "sender_key": alice.public_key})
        forwarded = b.receive()
        assert forwarded["op"] == "offer" and forwarded["seen_ip"] == "127.0.0.2"
        # In all, 32 connections (16 + 2 so far), whoever asks: never the descriptor limit.
        admitted = {}
        for source in ("127.0.0.4", "127.0.0.5"):
            admitted[source] = 0
            for _ in range(16):
                line = Line(url, source)
                held.append(line)
                if line.receive()["op"] != "challenge":
                    break
                admitted[source] += 1
        assert admitted == {"127.0.0.4": 14, "127.0.0.5": 0}
    finally:
        for line in held:
            line.close()
    server.stop()
    output = "\n".join(server.drain(WAIT))
    assert "Traceback" not in output and "Too many open files" not in output


def test_name_bindings_survive_a_restart(processes, tmp_path):
    names = str(tmp_path / "names.sqlite3")
    owner = Identity.generate()
    url = processes.server(names=names)
    first = Line(url)
    assert first.register("alice", owner)["op"] == "registered"
    first.close()
    processes.started[-1].stop()

    url = processes.server(names=names)
    thief = Line(url)
    reply = thief.register("alice", Identity.generate())
    assert reply["code"] == protocol.NAME_TAKEN
    thief.close()
    again = Line(url)
    assert again.register("alice", owner)["op"] == "registered"
    again.close()


def test_pipe_timeout_covers_a_server_that_never_speaks(processes):
    # Regression: the wait for the challenge had no deadline; pipe ran forever.
    with socket.socket() as mute:
        mute.bind(("127.0.0.1", 0))
        mute.listen(8)  # The kernel completes the connection; nobody ever speaks on it.
        url = f"tcp://127.0.0.1:{mute.getsockname()[1]}"
        started = time.monotonic()
        pipe = processes.pipe("alice", "bob", url, "--timeout", "3")
        error = pipe.event("error", timeout=WAIT)
        code = pipe.wait(WAIT)
        elapsed = time.monotonic() - started
    assert code != 0
    assert "signalling" in error["message"] and "within 3 s" in error["message"]
    assert elapsed < 3 + 10, f"took {elapsed:.1f} s"  # Interpreter start included, on a busy machine.


def test_pipe_says_the_server_is_full(processes):
    url = processes.server("--max-per-address", "1")
    holder = Line(url)  # the one place 127.0.0.1 may have
    try:
        assert holder.receive()["op"] == "challenge"
        pipe = processes.pipe("alice", "bob", url)
        error = pipe.event("error", timeout=WAIT)
        assert "is full; try later" in error["message"]
        assert pipe.wait(WAIT) != 0
    finally:
        holder.close()


def test_pipe_with_a_timeout_waits_for_a_full_server_to_take_it(processes):
    # Regression: pipe gave up at once on "full; try later" although --timeout said to wait.
    url = processes.server("--max-per-address", "1")
    holder = Line(url)  # the one place 127.0.0.1 may have
    try:
        assert holder.receive()["op"] == "challenge"
        pipe = processes.pipe("alice", "bob", url, "--timeout", "40")
        refused = pipe.event("error", timeout=WAIT)
        assert "is full; try later" in refused["message"] and "retrying" in refused["message"]
    finally:
        holder.close()
    assert pipe.event("ready", timeout=WAIT + 10)["name"] == "alice"  # The client's retry, 5 s on.


def test_pipe_gives_up_on_a_full_server_at_its_timeout_with_the_reason(processes):
    url = processes.server("--max-per-address", "1")
    holder = Line(url)
    try:
        assert holder.receive()["op"] == "challenge"
        started = time.monotonic()
        pipe = processes.pipe("alice", "bob", url, "--timeout", "3")
        pipe.event("error", timeout=WAIT)  # refused, retrying
        final = pipe.event("error", timeout=WAIT)
        assert pipe.wait(WAIT) == 1
        assert time.monotonic() - started >= 3
        assert "within 3 s" in final["message"] and "is full; try later" in final["message"]
    finally:
        holder.close()
