"""The NAT lab with coturn as a real TURN relay: never failing to connect.

Every pair of NAT kinds connects once a relay is configured, directly where
the NAT behaviours allow it; a relayed conversation moves to a direct path
when one opens, and survives its relay going away and coming back.
"""

from __future__ import annotations

import threading
import time

import pytest

from .test_lab import PAIRS, _direct_possible, lab, peers  # noqa: F401 (fixtures)

pytestmark = pytest.mark.lab

TURN_USER, TURN_PASSWORD, TURN_REALM = "p2ptui", "lab-secret", "lab.p2ptui"


class Coturn:
    """coturn as a TURN server on a public host of the lab, which can be stopped and started again."""

    def __init__(self, lab, host):
        self.lab, self.host, self.process = lab, host, None
        self.log: list[str] = []
        self.url = f"turn://{TURN_USER}:{TURN_PASSWORD}@{host.ip}:3478"

    def start(self):
        self.process = self.host.popen(
            "turnserver", "-n", f"--listening-ip={self.host.ip}", "--listening-port=3478",
            f"--relay-ip={self.host.ip}", "--min-port=49152", "--max-port=49999",
            "--lt-cred-mech", f"--user={TURN_USER}:{TURN_PASSWORD}", f"--realm={TURN_REALM}",
            "--no-cli", "--no-tls", "--no-dtls", "--log-file=stdout", "--simple-log",
            f"--pidfile={self.lab.files / 'turn.pid'}",
        )
        for line in self.process.stdout:  # bounded by the process: it ends or says it is up
            self.log.append(line)
            if "Total General servers" in line:
                break
        else:
            raise AssertionError("coturn did not start: " + "".join(self.log[-20:]))
        # Keep reading, or coturn blocks on a full pipe once it logs enough.
        threading.Thread(target=self.log.extend, args=(self.process.stdout,), daemon=True).start()
        return self

    def stop(self):
        self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture
def coturn(lab):
    return Coturn(lab, lab.public_host("turn")).start()


def until(process, name, check, timeout=30.0):
    """The first `name` event that passes check, among those read already or to come."""
    for event in process.events_seen(name):
        if check(event):
            return event
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        event = process.event(name, timeout=left)
        if check(event):
            return event
    raise AssertionError(f"no {name} event passing the check within {timeout} s")


def test_symmetric_against_symmetric_talks_through_the_relay(lab, peers, coturn):
    routers = lab.nat("ra", "symmetric"), lab.nat("rb", "symmetric")
    alice = peers.pipe(lab.lan_host(routers[0], "alice"), "alice", "bob", "--turn", coturn.url)
    bob = peers.pipe(lab.lan_host(routers[1], "bob"), "bob", "alice", "--turn", coturn.url)
    connected = alice.event("connected", timeout=20)
    assert connected["path"] == "relay"
    assert bob.event("connected", timeout=20)["path"] == "relay"
    for i in range(20):
        alice.send(f"relayed {i}")
        bob.send(f"back {i}")
    assert [bob.event("message")["text"] for _ in range(20)] == [f"relayed {i}" for i in range(20)]
    assert [alice.event("message")["text"] for _ in range(20)] == [f"back {i}" for i in range(20)]


def test_without_a_relay_symmetric_against_symmetric_says_a_relay_is_needed(lab, peers):
    routers = lab.nat("ra", "symmetric"), lab.nat("rb", "symmetric")
    alice = peers.pipe(lab.lan_host(routers[0], "alice"), "alice", "bob", "--timeout", "25")
    peers.pipe(lab.lan_host(routers[1], "bob"), "bob", "alice", "--timeout", "25")
    error = alice.event("error", timeout=30)["message"]
    assert "no path to bob" in error
    assert "a relay is needed" in error and "--turn" in error
    assert "our NAT: symmetric, theirs: symmetric" in error


def _ends_direct(a, b):
    """Where the conversation ends up direct: where punching works, and where
    spraying crosses the one symmetric NAT (against a port-restricted cone)."""
    return _direct_possible(a, b) or {a, b} == {"symmetric", "port-restricted"}


#: Spraying surer than the defaults' 98%, so the matrix never waits on luck:
#: 512 sockets against 2,048 probes miss once in millions.
SURE_SPRAYING = "[spray]\nsockets = 512\nprobes = 2048\nrate = 1000\n"


@pytest.mark.parametrize("kind_a, kind_b", PAIRS, ids=[f"{a}+{b}" for a, b in PAIRS])
def test_the_nat_matrix_with_a_relay_always_connects(lab, peers, coturn, kind_a, kind_b):
    router_a, router_b = lab.nat("ra", kind_a), lab.nat("rb", kind_b)
    alice = peers.pipe(lab.lan_host(router_a, "alice"), "alice", "bob", "--turn", coturn.url, config=SURE_SPRAYING)
    bob = peers.pipe(lab.lan_host(router_b, "bob"), "bob", "alice", "--turn", coturn.url, config=SURE_SPRAYING)
    if _ends_direct(kind_a, kind_b):
        # It may start on the relay (NAT types that rule direct out go there at once)
        # but ends direct, at bob's router.
        connected = until(alice, "connected", lambda e: e["path"] == "direct", timeout=30)
        assert connected["remote"].startswith(f"{router_b.ip}:")
    else:
        assert alice.event("connected", timeout=20)["path"] == "relay"
    alice.send(f"across {kind_a} and {kind_b}")
    assert bob.event("message", timeout=20)["text"] == f"across {kind_a} and {kind_b}"


def _block_direct(routers):
    """Drop every datagram between the two routers' public addresses: only the relay (elsewhere) works."""
    for router, other in (routers, routers[::-1]):
        router.run("iptables", "-I", "FORWARD", "1", "-s", other.ip, "-j", "DROP")
        router.run("iptables", "-I", "FORWARD", "1", "-d", other.ip, "-j", "DROP")


def _unblock_direct(routers):
    for router, other in (routers, routers[::-1]):
        router.run("iptables", "-D", "FORWARD", "-s", other.ip, "-j", "DROP")
        router.run("iptables", "-D", "FORWARD", "-d", other.ip, "-j", "DROP")


def test_a_relayed_conversation_moves_to_direct_when_the_path_opens_losing_nothing(lab, peers, coturn):
    routers = lab.nat("ra"), lab.nat("rb")
    _block_direct(routers)
    retry = ("--turn", coturn.url, "--direct-retry", "2")
    alice = peers.pipe(lab.lan_host(routers[0], "alice"), "alice", "bob", *retry)
    bob = peers.pipe(lab.lan_host(routers[1], "bob"), "bob", "alice", *retry)
    assert alice.event("connected", timeout=20)["path"] == "relay"
    assert bob.event("connected", timeout=20)["path"] == "relay"
    for i in range(30):
        alice.send(f"before {i}")
    _unblock_direct(routers)
    moved = alice.event("connected", timeout=15)  # the next one: the move
    assert moved["path"] == "direct" and moved["remote"].startswith(f"{routers[1].ip}:")
    for i in range(30):
        alice.send(f"after {i}")
    texts = [bob.event("message")["text"] for _ in range(60)]
    # Every message once, in order, across the move.
    assert texts == [f"before {i}" for i in range(30)] + [f"after {i}" for i in range(30)]
    assert until(bob, "connected", lambda e: e["path"] == "direct", timeout=15)
    assert alice.events_seen("disconnected") == []


def test_when_the_relay_dies_the_path_goes_down_and_comes_back_with_it(lab, peers, coturn):
    routers = lab.nat("ra", "symmetric"), lab.nat("rb", "symmetric")
    alice = peers.pipe(lab.lan_host(routers[0], "alice"), "alice", "bob", "--turn", coturn.url)
    bob = peers.pipe(lab.lan_host(routers[1], "bob"), "bob", "alice", "--turn", coturn.url)
    assert alice.event("connected", timeout=20)["path"] == "relay"
    bob.event("connected", timeout=20)
    coturn.stop()
    alice.send("while the relay is down")
    assert alice.event("disconnected", timeout=15)["peer"] == "bob"
    coturn.start()
    assert alice.event("connected", timeout=60)["path"] == "relay"
    assert bob.event("message", timeout=30)["text"] == "while the relay is down"
    bob.send("and back")
    assert alice.event("message", timeout=15)["text"] == "and back"


def test_ping_through_the_relay_says_so(lab, peers, coturn):
    routers = lab.nat("ra", "symmetric"), lab.nat("rb", "symmetric")
    peers.pipe(lab.lan_host(routers[1], "bob"), "bob", "alice", "--turn", coturn.url)
    ping = peers.run(
        lab.lan_host(routers[0], "alice"), "ping", "bob", "-c", "3", "--interval", "0.1", "--json",
        "--turn", coturn.url, "--name", "alice", "--signal", peers.url,
        "--config-dir", str(peers.tmp_path / "alice"),
    )
    summary = ping.event("summary", timeout=30)
    assert summary["path"] == "relay" and summary["received"] == 3
    # Bob's relayed address, or bob's own through alice's relay.
    assert summary["remote"].split(":")[0] in (coturn.host.ip, routers[1].ip)
