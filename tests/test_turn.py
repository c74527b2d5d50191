"""The TURN client: against a real coturn on loopback, and against a fake server built from the codec.

The coturn tests drive `TurnClient` with plain UDP sockets in a bounded loop;
they skip when coturn is not installed, except on CI (CI=true), where they fail.
The sans-I/O tests pass explicit times, so refresh schedules, retransmission
and give-up are checked to the second without waiting.
"""

from __future__ import annotations

import os
import random
import select
import shutil
import socket
import subprocess
import time
from collections.abc import Callable

import pytest
from aioice import stun as codec
from aioice.turn import make_integrity_key
from hypothesis import given, settings
from hypothesis import strategies as st

from p2ptui.net import LocalProtocolError, stun, turn, turn_routes
from p2ptui.net.turn import (
    Allocated,
    AllocationFailed,
    AllocationLost,
    Received,
    TurnClient,
    TurnServer,
    TurnState,
)

# --- Helpers for both layers ------------------------------------------------------------


def describe(datagram: bytes) -> str:
    """'channel' for ChannelData, else 'METHOD CLASS' (e.g. 'SEND INDICATION')."""
    if turn.looks_like_channel_data(datagram):
        return "channel"
    message = codec.parse_message(datagram)
    return f"{message.message_method.name} {message.message_class.name}"


def parsed(datagrams: list[bytes], kind: str) -> list[codec.Message]:
    return [codec.parse_message(d) for d in datagrams if describe(d) == kind]


# --- A real coturn ------------------------------------------------------------------------

REALM = "p2ptui.test"


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Coturn:
    """A turnserver process on 127.0.0.1, started by us and killed by us."""

    def __init__(self, directory, *extra: str):
        self.port = _free_udp_port()
        base = random.Random().randrange(20000, 30000, 100)  # below Linux's ephemeral range
        self.relay_ports = range(base, base + 100)
        self.log_path = directory / f"coturn-{self.port}.log"
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [
                "turnserver", "-n", "--listening-ip=127.0.0.1", f"--listening-port={self.port}",
                "--relay-ip=127.0.0.1", f"--min-port={base}", f"--max-port={base + 99}",
                "--lt-cred-mech", "--user=alice:secret", f"--realm={REALM}",
                "--no-tls", "--no-dtls", "--no-cli", "--log-file=stdout",
                f"--pidfile={directory / f'coturn-{self.port}.pid'}", *extra,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    @property
    def address(self) -> turn.Address:
        return ("127.0.0.1", self.port)

    def wait_ready(self) -> None:
        """Until coturn answers a STUN Binding request: at most 100 tries, at most 10 s."""
        deadline = time.monotonic() + 10
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            probe.settimeout(0.1)
            for _ in range(100):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    break
                txid, request = stun.binding_request()
                probe.sendto(request, self.address)
                try:
                    answer, _ = probe.recvfrom(2048)
                except TimeoutError:
                    continue
                except ConnectionRefusedError:
                    # Not listening yet; loopback says so at once, so pace the next try.
                    time.sleep(0.05)
                    continue
                if stun.parse_untrusted(answer) == stun.BindingResponse(txid, probe.getsockname()):
                    return
        raise AssertionError(f"coturn did not start; its log:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self.log.close()


def _need_coturn() -> None:
    if shutil.which("turnserver") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("coturn (turnserver) is not installed, and CI=true: the TURN tests must run")
        pytest.skip("coturn (turnserver) is not installed")


@pytest.fixture(scope="module")
def coturn(tmp_path_factory):
    _need_coturn()
    server = Coturn(tmp_path_factory.mktemp("coturn"), "--allow-loopback-peers")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


class Endpoint:
    """A TurnClient on its own UDP socket, recording every datagram both ways."""

    def __init__(self, server: turn.Address, password: str = "secret"):
        self.server = server
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.client = TurnClient(TurnServer(server[0], server[1], "alice", password))
        self.events: list[turn.TurnEvent] = []
        self.sent: list[bytes] = []
        self.received: list[bytes] = []

    def pump_out(self) -> None:
        now = time.monotonic()
        due = self.client.next_timeout()
        if due is not None and now >= due:
            self.client.handle_timeout(now)
        for datagram in self.client.datagrams_to_send():
            self.sent.append(datagram)
            self.sock.sendto(datagram, self.server)
        self.events += self.client.events()

    def pump_in(self) -> None:
        while True:
            try:
                datagram, source = self.sock.recvfrom(65536)
            except BlockingIOError:
                return
            assert source == self.server, source
            self.received.append(datagram)
            self.client.datagram_received(datagram, time.monotonic())
            self.events += self.client.events()

    def of(self, kind: type) -> list:
        return [event for event in self.events if isinstance(event, kind)]

    def close(self) -> None:
        self.sock.close()


class Peer:
    """A plain UDP socket on the far side of the relay."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.address = self.sock.getsockname()
        self.got: list[tuple[bytes, turn.Address]] = []

    def pump_in(self) -> None:
        while True:
            try:
                self.got.append(self.sock.recvfrom(65536))
            except BlockingIOError:
                return

    def close(self) -> None:
        self.sock.close()


def run(endpoints: list[Endpoint], until: Callable[[], bool], peers: list[Peer] = (), timeout: float = 8.0):
    """Move datagrams until `until()` holds; bounded in time and iterations."""
    deadline = time.monotonic() + timeout
    for _ in range(5000):
        for endpoint in endpoints:
            endpoint.pump_out()
        if until():
            return
        now = time.monotonic()
        if now > deadline:
            break
        wake = [e.client.next_timeout() for e in endpoints]
        wait = min([0.1, *(max(0.0, w - now) for w in wake if w is not None)])
        select.select([e.sock for e in endpoints] + [p.sock for p in peers], [], [], wait)
        for endpoint in endpoints:
            endpoint.pump_in()
        for peer in peers:
            peer.pump_in()
    details = [(e.client.state, e.events, e.client.dropped, [describe(d) for d in e.received]) for e in endpoints]
    raise AssertionError(f"not reached within {timeout} s: {details}")


@pytest.fixture
def sockets():
    """Endpoints and peers made in a test, closed after it."""
    made: list[Endpoint | Peer] = []

    def make(kind, *args, **kwargs):
        made.append(kind(*args, **kwargs))
        return made[-1]

    yield make
    for thing in made:
        thing.close()


def test_coturn_allocates_relays_both_ways_and_releases(coturn, sockets):
    alice = sockets(Endpoint, coturn.address)
    alice.client.allocate(time.monotonic())
    run([alice], lambda: alice.of(Allocated))
    [allocated] = alice.of(Allocated)
    assert alice.client.state == TurnState.ALLOCATED
    assert allocated.relayed[0] == "127.0.0.1" and allocated.relayed[1] in coturn.relay_ports
    assert allocated.mapped == alice.sock.getsockname()
    assert alice.client.relayed == allocated.relayed
    # The 401 challenge, then the signed request.
    assert [describe(d) for d in alice.received[:2]] == ["ALLOCATE ERROR", "ALLOCATE RESPONSE"]

    # Out through the relay: CreatePermission first, then a Send indication.
    bob, carol = sockets(Peer), sockets(Peer)
    alice.client.send(bob.address, b"hello bob", time.monotonic())
    run([alice], lambda: bob.got, peers=[bob])
    assert bob.got == [(b"hello bob", allocated.relayed)]
    assert [m.attributes["DATA"] for m in parsed(alice.sent, "SEND INDICATION")] == [b"hello bob"]
    assert parsed(alice.sent, "CREATE_PERMISSION REQUEST")

    # Carol shares bob's IP (so the permission covers her) but has no channel: a Data indication.
    carol.sock.sendto(b"hi from carol", allocated.relayed)
    run([alice], lambda: alice.of(Received), peers=[carol])
    assert alice.of(Received) == [Received(carol.address, b"hi from carol")]
    assert describe(alice.received[-1]) == "DATA INDICATION"

    # Once the ChannelBind for bob is confirmed, both directions use ChannelData.
    run([alice], lambda: parsed(alice.received, "CHANNEL_BIND RESPONSE"))
    bob.sock.sendto(b"hi from bob", allocated.relayed)
    run([alice], lambda: len(alice.of(Received)) == 2, peers=[bob])
    assert alice.of(Received)[-1] == Received(bob.address, b"hi from bob")
    assert describe(alice.received[-1]) == "channel"
    alice.client.send(bob.address, b"by channel", time.monotonic())
    run([alice], lambda: len(bob.got) == 2, peers=[bob])
    assert bob.got[-1] == (b"by channel", allocated.relayed)
    assert describe(alice.sent[-1]) == "channel" and alice.sent[-1][4:] == b"by channel"
    assert not alice.client.dropped, alice.client.dropped

    # close(): a Refresh with LIFETIME 0 that coturn accepts.
    alice.client.close(time.monotonic())
    assert alice.client.state == TurnState.IDLE and alice.client.relayed is None
    run([alice], lambda: alice.client.next_timeout() is None)
    [release] = parsed(alice.received, "REFRESH RESPONSE")
    assert release.attributes["LIFETIME"] == 0
    # coturn keeps a released allocation's 5-tuple for about a second and answers a new
    # Allocate from it with 437; the client waits and asks again.
    alice.client.allocate(time.monotonic())
    run([alice], lambda: len(alice.of(Allocated)) == 2)
    assert alice.client.state == TurnState.ALLOCATED
    assert parsed(alice.sent, "ALLOCATE REQUEST")[-1].attributes["USERNAME"] == "alice"


def test_coturn_allocation_held_for_our_address_is_taken_over(coturn, sockets):
    """A new client on the socket of a lost one (a restart, say): coturn answers 437, we delete and retry."""
    old = sockets(Endpoint, coturn.address)
    old.client.allocate(time.monotonic())
    run([old], lambda: old.of(Allocated))
    new = Endpoint(coturn.address)
    new.sock.close()
    new.sock = old.sock  # same 5-tuple, no credentials yet
    new.client.allocate(time.monotonic())
    run([new], lambda: new.of(Allocated))
    assert 437 in [m.error_code for m in parsed(new.received, "ALLOCATE ERROR")]
    [release] = parsed(new.received, "REFRESH RESPONSE")
    assert release.attributes["LIFETIME"] == 0
    assert new.client.state == TurnState.ALLOCATED and not new.client.dropped


def test_coturn_wrong_password_fails_with_a_clear_reason(coturn, sockets):
    mallory = sockets(Endpoint, coturn.address, password="not-the-password")
    mallory.client.allocate(time.monotonic())
    run([mallory], lambda: mallory.of(AllocationFailed))
    [failed] = mallory.of(AllocationFailed)
    assert "401" in failed.reason and "username or password" in failed.reason
    assert mallory.client.state == TurnState.FAILED
    assert mallory.client.next_timeout() is None  # nothing left to retransmit


def test_coturn_relays_between_two_allocations(coturn, sockets):
    """Relay to relay on one server: what two peers behind symmetric NATs would use."""
    alice, bob = sockets(Endpoint, coturn.address), sockets(Endpoint, coturn.address)
    for endpoint in (alice, bob):
        endpoint.client.allocate(time.monotonic())
    run([alice, bob], lambda: alice.of(Allocated) and bob.of(Allocated))
    a, b = alice.client.relayed, bob.client.relayed
    alice.client.send(b, b"alice to bob", time.monotonic())
    bob.client.send(a, b"bob to alice", time.monotonic())
    run([alice, bob], lambda: alice.of(Received) and bob.of(Received))
    assert bob.of(Received) == [Received(a, b"alice to bob")]
    assert alice.of(Received) == [Received(b, b"bob to alice")]

    # After both ChannelBinds: ChannelData all the way.
    run([alice, bob], lambda: all(parsed(e.received, "CHANNEL_BIND RESPONSE") for e in (alice, bob)))
    alice.client.send(b, b"by channel", time.monotonic())
    bob.client.send(a, b"by channel too", time.monotonic())
    run([alice, bob], lambda: len(alice.of(Received)) == 2 and len(bob.of(Received)) == 2)
    assert bob.of(Received)[-1] == Received(a, b"by channel")
    assert alice.of(Received)[-1] == Received(b, b"by channel too")
    for endpoint in (alice, bob):
        assert describe(endpoint.sent[-1]) == "channel"
        assert describe(endpoint.received[-1]) == "channel"
        assert not endpoint.client.dropped, endpoint.client.dropped


def test_coturn_without_allow_loopback_peers_refuses_the_permission(tmp_path, sockets):
    """The quirk behind --allow-loopback-peers: coturn answers 403 for 127.0.0.1 peers."""
    _need_coturn()
    server = Coturn(tmp_path)
    try:
        server.wait_ready()
        alice, bob = sockets(Endpoint, server.address), sockets(Peer)
        alice.client.allocate(time.monotonic())
        run([alice], lambda: alice.of(Allocated))
        alice.client.send(bob.address, b"never relayed", time.monotonic())
        run([alice], lambda: parsed(alice.received, "CREATE_PERMISSION ERROR"))
        [refusal] = parsed(alice.received, "CREATE_PERMISSION ERROR")
        assert refusal.error_code == 403
        assert alice.client.dropped["permission failed"] == 2  # the request and the queued datagram
        assert not parsed(alice.sent, "SEND INDICATION")
    finally:
        server.stop()


# --- A fake server built from the codec -------------------------------------------------------

RELAYED = ("198.51.100.1", 50000)
MAPPED = ("203.0.113.5", 40000)
PEER = ("192.0.2.10", 7000)
OTHER = ("192.0.2.20", 7000)


class FakeServer:
    """Long-term credentials, allocations, permissions and channels; no sockets, no clock."""

    def __init__(self, password: str = "secret", lifetime: int = 600):
        self.key = make_integrity_key("alice", "fake.test", password)
        self.nonce = b"nonce-1"
        self.lifetime = lifetime
        self.silent = False  # answer nothing
        self.stale = 0  # answer the next n signed requests with 438
        self.requests: list[codec.Message] = []
        self.relayed: list[tuple[str, turn.Address, bytes]] = []  # (how, peer, data)
        self.channels: dict[int, turn.Address] = {}

    def handle(self, datagram: bytes) -> list[bytes]:
        if turn.looks_like_channel_data(datagram):
            number, data = turn.parse_channel_data_untrusted(datagram)
            self.relayed.append(("channel", self.channels[number], data))
            return []
        message = codec.parse_message(datagram)
        if message.message_class == codec.Class.INDICATION:
            self.relayed.append(("send", message.attributes["XOR-PEER-ADDRESS"], message.attributes["DATA"]))
            return []
        self.requests.append(message)
        if self.silent:
            return []
        if "MESSAGE-INTEGRITY" not in message.attributes or not message.check_message_integrity(self.key):
            return [self.error(message, 401, "Unauthorized", REALM="fake.test", NONCE=self.nonce)]
        if self.stale or message.attributes["NONCE"] != self.nonce:
            self.stale = max(0, self.stale - 1)
            self.nonce = b"nonce-" + str(int(self.nonce.split(b"-")[1]) + 1).encode()
            return [self.error(message, 438, "Stale Nonce", REALM="fake.test", NONCE=self.nonce)]
        if message.message_method == codec.Method.ALLOCATE:
            lifetime = min(message.attributes["LIFETIME"], self.lifetime)
            addresses = {"XOR-RELAYED-ADDRESS": RELAYED, "XOR-MAPPED-ADDRESS": MAPPED}
            return [self.success(message, **addresses, LIFETIME=lifetime)]
        if message.message_method == codec.Method.REFRESH:
            return [self.success(message, LIFETIME=min(message.attributes["LIFETIME"], self.lifetime))]
        if message.message_method == codec.Method.CHANNEL_BIND:
            self.channels[message.attributes["CHANNEL-NUMBER"]] = message.attributes["XOR-PEER-ADDRESS"]
        return [self.success(message)]

    def success(self, request: codec.Message, **attributes) -> bytes:
        response = codec.Message(request.message_method, codec.Class.RESPONSE, request.transaction_id)
        response.attributes.update(attributes)
        response.add_message_integrity(self.key)
        return bytes(response)

    def error(self, request: codec.Message, code: int, text: str, **attributes) -> bytes:
        response = codec.Message(request.message_method, codec.Class.ERROR, request.transaction_id)
        response.attributes["ERROR-CODE"] = (code, text)
        response.attributes.update(attributes)
        response.add_fingerprint()
        return bytes(response)

    def kinds(self) -> list[str]:
        return [f"{m.message_method.name}" for m in self.requests]


def exchange(client: TurnClient, server: FakeServer, now: float) -> list[turn.TurnEvent]:
    """Deliver everything both ways, instantly, at `now`; the client's events."""
    for _ in range(100):
        out = client.datagrams_to_send()
        if not out:
            return client.events()
        for datagram in out:
            for answer in server.handle(datagram):
                client.datagram_received(answer, now)
    raise AssertionError("the client and the server never went quiet")


def allocated(server: FakeServer | None = None, **kwargs) -> tuple[TurnClient, FakeServer]:
    server = server or FakeServer()
    client = TurnClient(TurnServer("turn.example", 3478, "alice", "secret"), **kwargs)
    client.allocate(0.0)
    assert exchange(client, server, 0.0) == [Allocated(RELAYED, MAPPED)]
    return client, server


def with_peers(*peers: turn.Address) -> tuple[TurnClient, FakeServer]:
    """Allocated at 0 s, with a confirmed permission and channel for each peer."""
    client, server = allocated()
    for peer in peers:
        client.send(peer, b"first", 0.0)
    exchange(client, server, 0.0)
    return client, server


def test_allocate_answers_the_challenge_with_long_term_credentials():
    client, server = allocated()
    assert client.state == TurnState.ALLOCATED and client.relayed == RELAYED
    first, second = server.requests
    assert "USERNAME" not in first.attributes
    assert second.attributes["USERNAME"] == "alice" and second.attributes["REALM"] == "fake.test"
    assert second.attributes["REQUESTED-TRANSPORT"] == turn.UDP_TRANSPORT
    assert client.next_timeout() == 540.0  # 600 s granted, refreshed a minute early


def test_wrong_password_is_allocation_failed():
    client = TurnClient(TurnServer("turn.example", 3478, "alice", "wrong"))
    client.allocate(0.0)
    [failed] = exchange(client, FakeServer(), 0.0)
    assert isinstance(failed, AllocationFailed) and "username or password" in failed.reason
    assert client.state == TurnState.FAILED and client.next_timeout() is None


def test_error_response_is_allocation_failed_with_its_text():
    client = TurnClient(TurnServer("turn.example", 3478, "alice", "secret"))
    client.allocate(0.0)
    [request] = client.datagrams_to_send()
    error = FakeServer().error(codec.parse_message(request), 508, "Insufficient Capacity")
    client.datagram_received(error, 0.1)
    assert client.events() == [AllocationFailed("508 Insufficient Capacity")]


def test_allocation_is_refreshed_before_it_expires():
    client, server = allocated(FakeServer(lifetime=300))
    assert client.next_timeout() == 240.0  # the server granted only 300 s
    client.handle_timeout(239.0)
    assert client.datagrams_to_send() == []
    client.handle_timeout(240.0)
    assert exchange(client, server, 240.0) == []
    refresh = server.requests[-1]
    assert refresh.message_method == codec.Method.REFRESH and refresh.attributes["LIFETIME"] == 600
    assert client.next_timeout() == 480.0 and client.state == TurnState.ALLOCATED


def test_unanswered_refresh_is_allocation_lost_after_retransmissions():
    client, server = allocated()
    server.silent = True
    sent_at = []
    now = 540.0
    for _ in range(20):
        client.handle_timeout(now)
        sent_at += [now] * len(exchange_silently(client, server))
        if client.state != TurnState.ALLOCATED:
            break
        now = client.next_timeout()
    assert sent_at == [540.0, 540.5, 541.5, 543.5]  # 0.5 s doubling, until request_timeout
    assert now == 545.0
    [lost] = client.events()
    assert isinstance(lost, AllocationLost) and "no answer" in lost.reason
    assert client.state == TurnState.FAILED and client.relayed is None
    # allocate() starts again from FAILED.
    server.silent = False
    client.allocate(600.0)
    assert exchange(client, server, 600.0) == [Allocated(RELAYED, MAPPED)]


def test_refresh_on_demand_finds_a_dead_allocation_at_once():
    client, server = allocated()
    server.silent = True  # the server is gone, long before the next refresh is due
    client.refresh(10.0)
    client.refresh(10.1)  # a second ask while the first is out sends nothing more
    assert len(exchange_silently(client, server)) == 1
    now = 10.0
    while client.state == TurnState.ALLOCATED:
        now = client.next_timeout()
        client.handle_timeout(now)
        exchange_silently(client, server)
    assert now == 15.0  # request_timeout after the ask, not 540 s later
    [lost] = client.events()
    assert isinstance(lost, AllocationLost)


def exchange_silently(client: TurnClient, server: FakeServer) -> list[bytes]:
    out = client.datagrams_to_send()
    for datagram in out:
        assert server.handle(datagram) == []
    return out


def test_unanswered_allocate_retransmits_then_fails():
    client = TurnClient(TurnServer("turn.example", 3478, "alice", "secret"), request_timeout=3.0)
    client.allocate(10.0)
    first = client.datagrams_to_send()
    times = [10.0]
    while (due := client.next_timeout()) is not None:
        client.handle_timeout(due)
        again = client.datagrams_to_send()
        assert again in ([], first)  # the same transaction, byte for byte
        times += [due] * len(again)
    assert times == [10.0, 10.5, 11.5]
    [failed] = client.events()
    assert isinstance(failed, AllocationFailed) and "no answer" in failed.reason


def test_stale_nonce_takes_the_new_nonce_once():
    client, server = allocated()
    server.stale = 1
    client.handle_timeout(540.0)
    assert exchange(client, server, 540.0) == []
    stale, retried = server.requests[-2:]
    assert stale.attributes["NONCE"] == b"nonce-1" and retried.attributes["NONCE"] == b"nonce-2"
    assert client.state == TurnState.ALLOCATED and client.next_timeout() == 1080.0
    # Two in a row: the retry is not retried again, and a refresh that fails loses the allocation.
    server.stale = 2
    client.handle_timeout(1080.0)
    [lost] = exchange(client, server, 1080.0)
    assert isinstance(lost, AllocationLost) and "438" in lost.reason
    assert server.kinds()[-2:] == ["REFRESH", "REFRESH"]


def test_response_with_a_bad_integrity_is_dropped_and_the_request_goes_on():
    client = TurnClient(TurnServer("turn.example", 3478, "alice", "secret"))
    server = FakeServer()
    client.allocate(0.0)
    [unsigned] = client.datagrams_to_send()
    client.datagram_received(server.handle(unsigned)[0], 0.0)  # the 401
    [signed] = client.datagrams_to_send()
    request = codec.parse_message(signed)
    forged = codec.Message(codec.Method.ALLOCATE, codec.Class.RESPONSE, request.transaction_id)
    forged.attributes.update({"XOR-RELAYED-ADDRESS": ("6.6.6.6", 6), "LIFETIME": 600})
    forged.add_message_integrity(b"not the key")
    client.datagram_received(bytes(forged), 0.1)
    assert client.dropped["bad message integrity"] == 1
    assert client.state == TurnState.ALLOCATING and client.events() == []
    client.handle_timeout(0.5)
    assert client.datagrams_to_send() == [signed]  # still retransmitting
    client.datagram_received(server.handle(signed)[0], 0.6)
    assert client.events() == [Allocated(RELAYED, MAPPED)]


def test_stray_responses_are_dropped():
    client, server = allocated()
    stray = server.success(codec.Message(codec.Method.REFRESH, codec.Class.REQUEST))
    client.datagram_received(stray, 1.0)
    client.datagram_received(b"\x00\x01garbage", 1.0)
    assert client.dropped == {"unknown transaction": 1, "malformed": 1}
    assert client.state == TurnState.ALLOCATED


def test_data_waits_for_the_permission_then_goes_by_send_then_by_channel():
    client, server = allocated()
    for i in range(3):
        client.send(PEER, b"early %d" % i, 1.0)
    [request] = client.datagrams_to_send()  # only the CreatePermission: the data waits
    assert codec.parse_message(request).attributes["XOR-PEER-ADDRESS"] == (PEER[0], 0)
    for answer in server.handle(request):
        client.datagram_received(answer, 1.1)
    flushed = client.datagrams_to_send()
    assert [describe(d) for d in flushed] == ["CHANNEL_BIND REQUEST"] + ["SEND INDICATION"] * 3
    for datagram in flushed:
        for answer in server.handle(datagram):
            client.datagram_received(answer, 1.2)
    assert [data for _, _, data in server.relayed] == [b"early 0", b"early 1", b"early 2"]
    client.send(PEER, b"by channel", 2.0)
    [channel_data] = client.datagrams_to_send()
    assert channel_data == b"\x40\x00\x00\x0a" + b"by channel"
    server.handle(channel_data)
    assert server.relayed[-1] == ("channel", PEER, b"by channel")


def test_the_permission_queue_is_bounded():
    client, server = allocated()
    for i in range(turn.MAX_QUEUED_PER_IP + 6):
        client.send(PEER, b"%d" % i, 1.0)
    assert client.dropped["permission queue full"] == 6
    exchange(client, server, 1.0)
    assert len(server.relayed) == turn.MAX_QUEUED_PER_IP


def test_the_number_of_peers_is_bounded(monkeypatch):
    monkeypatch.setattr(turn_routes, "MAX_PEERS", 2)
    client, server = allocated()
    for host in range(3):
        client.send((f"192.0.2.{host + 1}", 7000), b"hi", 1.0)
    exchange(client, server, 1.0)
    assert client.dropped["too many peers"] == 1
    assert {peer[0] for _, peer, _ in server.relayed} == {"192.0.2.1", "192.0.2.2"}


def test_only_used_permissions_are_refreshed():
    client, server = with_peers(PEER, OTHER)
    client.send(PEER, b"later", 100.0)  # OTHER stays silent from here on
    exchange(client, server, 100.0)
    assert client.next_timeout() == 240.0
    client.handle_timeout(240.0)
    exchange(client, server, 240.0)
    [refresh] = [m for m in server.requests if m.message_method == codec.Method.CREATE_PERMISSION][2:]
    assert refresh.attributes["XOR-PEER-ADDRESS"] == (PEER[0], 0)
    # OTHER's permission lapses at 300 s: what comes from it then is not taken.
    client.handle_timeout(300.0)
    client.datagram_received(data_indication(OTHER, b"late"), 301.0)
    assert client.dropped["data from unpermitted peer"] == 1 and client.events() == []
    # Sending to it again asks for a new permission first.
    client.send(OTHER, b"again", 302.0)
    assert [describe(d) for d in client.datagrams_to_send()] == ["CREATE_PERMISSION REQUEST"]


def test_only_used_channels_are_refreshed_and_keep_their_number():
    client, server = with_peers(PEER, OTHER)
    client.datagram_received(b"\x40\x00\x00\x02hi", 400.0)  # PEER's channel is used, OTHER's not
    assert client.events() == [Received(PEER, b"hi")]
    for now in (240.0, 480.0):  # permissions: PEER's refreshed twice, OTHER's lapsed
        client.handle_timeout(now)
        exchange(client, server, now)
    client.handle_timeout(540.0)
    exchange(client, server, 540.0)
    binds = [m for m in server.requests if m.message_method == codec.Method.CHANNEL_BIND]
    assert [(m.attributes["CHANNEL-NUMBER"], m.attributes["XOR-PEER-ADDRESS"]) for m in binds] == [
        (0x4000, PEER), (0x4001, OTHER), (0x4000, PEER)
    ]
    client.handle_timeout(600.0)  # OTHER's channel lapses
    client.datagram_received(b"\x40\x01\x00\x02hi", 601.0)
    assert client.dropped["unknown channel"] == 1
    client.datagram_received(b"\x40\x00\x00\x02hi", 601.0)
    assert client.events() == [Received(PEER, b"hi")]


def test_next_timeout_lists_refreshes_and_lapses():
    client, server = with_peers(PEER)
    # The allocation is refreshed at 540; the permission, unused since it was installed,
    # lapses at 300; the channel at 600.
    assert client.next_timeout() == 300.0
    client.send(PEER, b"used", 10.0)
    assert client.next_timeout() == 240.0  # used: refreshed at 240
    client.handle_timeout(240.0)
    exchange(client, server, 240.0)
    assert client.next_timeout() == 540.0  # the allocation and the used channel


def data_indication(peer: turn.Address, data: bytes) -> bytes:
    message = codec.Message(codec.Method.DATA, codec.Class.INDICATION)
    message.attributes["XOR-PEER-ADDRESS"] = peer
    message.attributes["DATA"] = data
    return bytes(message)


def test_incoming_data_indications_and_channel_data():
    client, _ = with_peers(PEER)
    client.datagram_received(data_indication(PEER, b"indicated"), 1.0)
    client.datagram_received(b"\x40\x00\x00\x03abc", 1.0)
    client.datagram_received(b"\x40\x00\x00\x03abc\x00", 1.0)  # padded to 4 bytes: also fine
    assert client.events() == [Received(PEER, b"indicated"), Received(PEER, b"abc"), Received(PEER, b"abc")]
    client.datagram_received(b"\x40\x07\x00\x03abc", 1.0)
    client.datagram_received(b"\x40\x00\x00\x09abc", 1.0)
    client.datagram_received(data_indication(("192.0.2.99", 1), b"who?"), 1.0)
    assert client.dropped == {"unknown channel": 1, "malformed channel data": 1, "data from unpermitted peer": 1}
    assert client.events() == []


def test_close_releases_with_lifetime_zero():
    client, server = with_peers(PEER)
    client.close(5.0)
    assert client.state == TurnState.IDLE and client.relayed is None
    exchange(client, server, 5.0)
    release = server.requests[-1]
    assert release.message_method == codec.Method.REFRESH and release.attributes["LIFETIME"] == 0
    assert release.check_message_integrity(server.key)
    assert client.next_timeout() is None
    client.send(PEER, b"after close", 6.0)
    assert client.datagrams_to_send() == [] and client.dropped["send while not allocated"] == 1


def mismatch(server: FakeServer, request: bytes) -> bytes:
    response = codec.Message(codec.Method.ALLOCATE, codec.Class.ERROR, codec.parse_message(request).transaction_id)
    response.attributes["ERROR-CODE"] = (437, "Allocation Mismatch")
    response.add_message_integrity(server.key)
    return bytes(response)


def test_allocation_mismatch_deletes_the_old_allocation_and_asks_again_later():
    client, server = allocated()
    client.handle_timeout(540.0)
    server.silent = True
    while client.state == TurnState.ALLOCATED:  # the refresh goes unanswered
        exchange_silently(client, server)
        client.handle_timeout(client.next_timeout())
    assert isinstance(client.events()[0], AllocationLost)
    server.silent = False
    client.allocate(600.0)
    [signed] = client.datagrams_to_send()  # signed at once, with the credentials we had
    assert codec.parse_message(signed).attributes["USERNAME"] == "alice"
    client.datagram_received(mismatch(server, signed), 600.1)
    [delete] = client.datagrams_to_send()  # the Allocate waits a second
    assert codec.parse_message(delete).attributes["LIFETIME"] == 0
    client.datagram_received(server.handle(delete)[0], 600.2)
    for now in (600.6, 601.0):
        client.handle_timeout(now)
        assert client.datagrams_to_send() == []
    client.handle_timeout(601.1)
    [again] = client.datagrams_to_send()
    assert describe(again) == "ALLOCATE REQUEST"
    client.datagram_received(mismatch(server, again), 601.2)  # still there: 2 s, no new delete
    assert client.datagrams_to_send() == [] and client.next_timeout() == pytest.approx(603.2)
    client.handle_timeout(603.2)
    assert exchange(client, server, 603.2) == [Allocated(RELAYED, MAPPED)]


def test_a_new_allocation_reuses_the_credentials():
    client, server = allocated()
    client.close(1.0)
    exchange(client, server, 1.0)
    requests = len(server.requests)
    client.allocate(2.0)
    assert exchange(client, server, 2.0) == [Allocated(RELAYED, MAPPED)]
    assert len(server.requests) == requests + 1  # no 401 round trip


def test_allocate_twice_is_a_mistake():
    client, _ = allocated()
    with pytest.raises(LocalProtocolError):
        client.allocate(1.0)
    assert client.state == TurnState.ALLOCATED


def test_send_to_a_name_is_a_mistake():
    client, _ = allocated()
    with pytest.raises(LocalProtocolError):
        client.send(("example.com", 1), b"x", 1.0)


# --- URLs and demultiplexing ----------------------------------------------------------------


def test_parse_turn_url():
    assert turn.parse_turn_url("turn://alice:secret@turn.example.org:3479") == TurnServer(
        "turn.example.org", 3479, "alice", "secret"
    )
    assert turn.parse_turn_url("turn://al%40ce:p%3Ass%2F@198.51.100.1") == TurnServer(
        "198.51.100.1", 3478, "al@ce", "p:ss/"
    )
    assert "secret" not in repr(turn.parse_turn_url("turn://alice:secret@h"))


@pytest.mark.parametrize(
    "url, message",
    [
        ("turn://turn.example.org:3478", "credentials"),
        ("turn://alice@turn.example.org", "credentials"),
        ("turn://alice:secret@turn.example.org:99999", "port"),
        ("turn://alice:secret@turn.example.org:abc", "port"),
        ("turn://alice:secret@turn.example.org:0", "port"),
        ("turns://alice:secret@turn.example.org", "turn://"),
        ("stun://turn.example.org", "turn://"),
        ("turn.example.org:3478", "turn://"),
        ("turn://alice:secret@", "host"),
        ("turn://alice:secret@h/path", "extra"),
    ],
)
def test_parse_turn_url_refuses(url, message):
    with pytest.raises(ValueError, match=message):
        turn.parse_turn_url(url)


def test_looks_like_channel_data():
    assert turn.looks_like_channel_data(b"\x40\x00\x00\x00")
    assert turn.looks_like_channel_data(b"\x4f\xff\x00\x00")
    assert not turn.looks_like_channel_data(b"\x40\x00\x00")
    assert not turn.looks_like_channel_data(b"\x50\x00\x00\x00")
    assert not turn.looks_like_channel_data(b"\x00\x01\x00\x00" + bytes(16))


# --- Fuzzing --------------------------------------------------------------------------------


def _total(client: TurnClient) -> int:
    return sum(client.dropped.values())


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=120))
def test_fuzz_random_datagrams_are_counted_never_raised(data):
    client, _ = with_peers(PEER)
    client.datagram_received(data, 1.0)
    events = client.events()
    # Exactly one outcome: a Received event or one counted drop.
    assert (len(events), _total(client)) in ((0, 1), (1, 0)), (events, client.dropped)
    assert client.state == TurnState.ALLOCATED


def _pending_permission_response() -> tuple[TurnClient, bytes]:
    client, server = with_peers(PEER)
    client.send(OTHER, b"x", 1.0)
    [request] = client.datagrams_to_send()
    return client, server.handle(request)[0]


@settings(max_examples=3000, deadline=None)
@given(
    st.sampled_from(["indication", "channel", "response"]),
    st.integers(0, 80),
    st.binary(min_size=1, max_size=6),
    st.booleans(),
)
def test_fuzz_mutated_datagrams_are_counted_never_raised(base, position, junk, truncate):
    if base == "response":
        client, original = _pending_permission_response()
    else:
        client, _ = with_peers(PEER)
        original = data_indication(PEER, b"payload") if base == "indication" else b"\x40\x00\x00\x07payload"
    data = bytearray(original)
    if truncate:
        del data[position:]
    else:
        data[position : position + len(junk)] = junk
    data = bytes(data)
    client.datagram_received(data, 1.0)
    events, flushed = client.events(), client.datagrams_to_send()
    if data != original:
        # Counted, delivered, or (a change the signature does not cover, like FINGERPRINT's
        # type) a valid answer that flushed the queued datagram.
        assert events or _total(client) >= 1 or flushed, "a changed datagram went unnoticed"
    assert client.state == TurnState.ALLOCATED
