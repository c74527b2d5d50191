"""The NAT lab: its NAT behaviours verified by probes, and p2ptui crossing real NATs."""

import json
import time

import pytest

from .lab import Lab, require_lab, udptool
from .processes import Process

pytestmark = pytest.mark.lab


@pytest.fixture
def lab():
    require_lab()
    built = Lab()
    try:
        yield built
    finally:
        built.close()


OTHER_IP = "203.0.113.20"  # a second address of the public probe server


def probe(lab, kind, destinations):
    """From a host behind a `kind` NAT, poke a public echo server; what comes back."""
    server = lab.public_host("srv")
    server.add_address(OTHER_IP)
    router = lab.nat("r1", kind)
    host = lab.lan_host(router, "a")
    echo = udptool(server, "server", "--hosts", f"{server.ip},{OTHER_IP}", "--ports", "7000,7001", "--seconds", "5")
    assert echo.stdout.readline().strip() == "ready"
    targets = ",".join(f"{server.ip}:{port}" for port in destinations)
    client = udptool(host, "client", "--bind", "5000", "--to", targets, "--seconds", "1.5")
    output, _ = client.communicate(timeout=15)
    return server, router, json.loads(output)


@pytest.mark.parametrize(
    "kind, lets_in",
    [
        # After the host sent to server:7000, unsolicited datagrams come from the
        # server's other port and from another address: which get through?
        ("full-cone", {"203.0.113.10:7001", f"{OTHER_IP}:7000", f"{OTHER_IP}:7001"}),
        ("address-restricted", {"203.0.113.10:7001"}),
        ("port-restricted", set()),
        ("symmetric", set()),
    ],
)
def test_each_nat_kind_filters_as_its_name_says(lab, kind, lets_in):
    server, router, received = probe(lab, kind, [7000])
    replies = [r for r in received if r["text"].startswith("seen")]
    # The reply always gets through, and shows the mapping keeps the host's port
    # (for the symmetric router, the port is random).
    assert [r["from"] for r in replies] == [f"{server.ip}:7000"]
    if kind != "symmetric":
        assert replies[0]["text"] == f"seen {router.ip}:5000"
    assert {r["from"] for r in received if r["text"] == "unsolicited"} == lets_in


def test_symmetric_nat_maps_each_destination_to_a_new_port(lab):
    server, router, received = probe(lab, "symmetric", [7000, 7001])
    seen = sorted(r["text"] for r in received if r["text"].startswith("seen"))
    assert len(seen) == 2 and all(text.startswith(f"seen {router.ip}:") for text in seen)
    ports = {text.rsplit(":", 1)[1] for text in seen}
    assert len(ports) == 2, seen  # one public port per destination
    assert not any(r["text"] == "unsolicited" for r in received)


def test_coturn_answers_stun_with_the_routers_public_address(lab):
    server = lab.public_host("stun")
    router = lab.nat("r1")
    host = lab.lan_host(router, "a")
    start_coturn(lab, server)
    # udptool retries a few times while coturn starts: p2ptui's STUN code against a real server.
    answer = udptool(host, "stun", "--bind", "5001", "--to", f"{server.ip}:3478")
    output, _ = answer.communicate(timeout=15)
    assert json.loads(output) == {"mapped": f"{router.ip}:5001"}


class Peers:
    """A signalling server on the lab's internet and p2ptui processes in its namespaces."""

    def __init__(self, lab, tmp_path):
        self.lab, self.tmp_path, self.started = lab, tmp_path, []
        server = lab.public_host("signal")
        self.url = f"tcp://{server.ip}:7878"
        self.run(server, "signal-server", "--host", server.ip, "--port", "7878", "--names", ":memory:").wait_for_line(
            "signalling server on"
        )

    def run(self, host, *args):
        process = Process(list(args), wrapper=["ip", "netns", "exec", host.namespace])
        self.started.append(process)
        return process

    def pipe(self, host, name, peer, *extra, config: str = ""):
        """`p2ptui pipe` as name in host; config: the text of its config.toml."""
        if config:
            (self.tmp_path / name).mkdir(parents=True, exist_ok=True)
            (self.tmp_path / name / "config.toml").write_text(config)
        return self.run(
            host, "pipe", "--name", name, "--peer", peer, "--signal", self.url,
            "--config-dir", str(self.tmp_path / name), *extra,
        )

    def stop(self):
        for process in self.started:
            process.stop()


@pytest.fixture
def peers(lab, tmp_path):
    started = Peers(lab, tmp_path)
    yield started
    started.stop()


def test_two_pipes_behind_port_restricted_nats_talk_directly(lab, peers):
    alice_router, bob_router = lab.nat("ra"), lab.nat("rb")
    alice = peers.pipe(lab.lan_host(alice_router, "alice"), "alice", "bob")
    bob = peers.pipe(lab.lan_host(bob_router, "bob"), "bob", "alice")
    # Each sees the other at its router's public address: a direct path through both NATs.
    assert alice.event("ready")["address"].startswith(f"{alice_router.ip}:")
    connected = alice.event("connected")
    assert connected["remote"].startswith(f"{bob_router.ip}:") and connected["network"] == "internet"
    assert bob.event("connected")["remote"].startswith(f"{alice_router.ip}:")
    alice.send("hello through two NATs")
    assert bob.event("message")["text"] == "hello through two NATs"
    bob.send("and back")
    assert alice.event("message")["text"] == "and back"


def _direct_possible(a, b):
    """What the NAT behaviours allow. A symmetric side reaches the other from a new
    port per destination, so the other side's filter must admit an unknown port
    of a known address (full cone, address-restricted); everything else cones."""
    if "symmetric" in (a, b):
        other = b if a == "symmetric" else a
        return other in ("full-cone", "address-restricted")
    return True


KINDS = ["full-cone", "address-restricted", "port-restricted", "symmetric"]
PAIRS = [(a, b) for i, a in enumerate(KINDS) for b in KINDS[i:]]


#: Plain hole punching only: the lab tests of spraying and relays are elsewhere.
NO_SPRAYING = "[spray]\nsockets = 0\n"


@pytest.mark.parametrize("kind_a, kind_b", PAIRS, ids=[f"{a}+{b}" for a, b in PAIRS])
def test_the_nat_matrix(lab, peers, kind_a, kind_b):
    router_a, router_b = lab.nat("ra", kind_a), lab.nat("rb", kind_b)
    # The give-up timeout leaves room for one whole attempt (answer and punch
    # deadlines, 10 s each), so a failure reports the attempt's reason first.
    alice = peers.pipe(lab.lan_host(router_a, "alice"), "alice", "bob", "--timeout", "25", config=NO_SPRAYING)
    bob = peers.pipe(lab.lan_host(router_b, "bob"), "bob", "alice", "--timeout", "25", config=NO_SPRAYING)
    if _direct_possible(kind_a, kind_b):
        assert alice.event("connected", timeout=20)["remote"].startswith(f"{router_b.ip}:")
        alice.send(f"across {kind_a} and {kind_b}")
        assert bob.event("message", timeout=20)["text"] == f"across {kind_a} and {kind_b}"
    else:
        error = alice.event("error", timeout=30)["message"]
        assert "no path to bob" in error and "no answer from the peer" in error
        assert f"our NAT: {'symmetric' if kind_a == 'symmetric' else 'cone'}" in error
        assert alice.wait(timeout=30) == 1


def test_two_hosts_on_one_lan_talk_over_the_lan(lab, peers):
    router = lab.nat("r1")
    alice = peers.pipe(lab.lan_host(router, "alice"), "alice", "bob")
    bob = peers.pipe(lab.lan_host(router, "bob"), "bob", "alice")
    connected = alice.event("connected")
    assert connected["remote"].startswith(f"{router.lan_prefix}.") and connected["network"] == "lan"
    alice.send("next door")
    assert bob.event("message")["text"] == "next door"


def connected_pair(lab, peers, *extra, nat_timeout=None):
    routers = lab.nat("ra"), lab.nat("rb")
    if nat_timeout is not None:
        # Per namespace: only the lab's routers change. Set before any packet, as an
        # entry keeps the timeout in force when its last packet passed.
        for router in routers:
            router.run("sysctl", "-qw", f"net.netfilter.nf_conntrack_udp_timeout={nat_timeout}",
                       f"net.netfilter.nf_conntrack_udp_timeout_stream={nat_timeout}")
    alice = peers.pipe(lab.lan_host(routers[0], "alice"), "alice", "bob", *extra)
    bob = peers.pipe(lab.lan_host(routers[1], "bob"), "bob", "alice", *extra)
    alice.event("connected")
    bob.event("connected")
    alice.send("first")
    assert bob.event("message")["text"] == "first"
    return routers, alice, bob


def test_a_nat_rebinding_mid_conversation_is_survived(lab, peers):
    routers, alice, bob = connected_pair(lab, peers)
    for router in routers:
        router.flush_conntrack()  # every mapping forgotten at once
    alice.send("after the rebinding")
    bob.send("both ways")
    assert bob.event("message")["text"] == "after the rebinding"
    assert alice.event("message")["text"] == "both ways"


def test_a_blocked_path_is_noticed_within_seconds_and_comes_back(lab, peers):
    (_, bob_router), alice, bob = connected_pair(lab, peers)
    bob_router.run("iptables", "-I", "FORWARD", "1", "-j", "DROP")  # the path dies
    alice.send("into the void")
    lost = alice.event("disconnected", timeout=10)  # path_timeout is 5 s
    assert lost["peer"] == "bob" and "lost the path" in lost["reason"]
    bob_router.run("iptables", "-D", "FORWARD", "1")  # and comes back
    assert alice.event("connected", timeout=20)["peer"] == "bob"
    assert bob.event("message", timeout=20)["text"] == "into the void"


def test_keepalives_hold_nat_mappings_open(lab, peers):
    _, alice, bob = connected_pair(lab, peers, "--keepalive", "0.5", nat_timeout=2)
    time.sleep(5)  # idle, far past the routers' 2 s timeouts: the test's subject, not a sync
    alice.send("still here")
    assert bob.event("message")["text"] == "still here"
    assert alice.events_seen("disconnected") == [] and bob.events_seen("disconnected") == []


def test_without_keepalives_the_path_is_lost_and_found_again_through_signalling(lab, peers):
    _, alice, bob = connected_pair(lab, peers, "--keepalive", "60", nat_timeout=2)
    time.sleep(5)  # both mappings expire while idle
    alice.send("still here?")
    assert alice.event("disconnected", timeout=10)["peer"] == "bob"
    assert bob.event("message", timeout=30)["text"] == "still here?"


def start_coturn(lab, host):
    return host.popen(
        "turnserver", "-n", f"--listening-ip={host.ip}", "--listening-port=3478", "--stun-only",
        "--no-cli", "--no-tls", "--no-dtls", "--log-file=stdout", f"--pidfile={lab.files / 'turn.pid'}",
    )


@pytest.mark.parametrize("kind, expected", [("port-restricted", "cone"), ("symmetric", "symmetric")])
def test_nat_check_tells_the_mapping_behaviour(lab, peers, kind, expected):
    coturn = lab.public_host("stun")
    start_coturn(lab, coturn)
    router = lab.nat("r1", kind)
    host = lab.lan_host(router, "a")
    # Three STUN servers: the built-in server's two ports and coturn, an independent one.
    check = peers.run(
        host, "nat-check", "--json", "--signal", peers.url, "--stun", f"{coturn.ip}:3478",
        "--config-dir", str(peers.tmp_path / "c"),
    )
    report = json.loads(check.line())
    assert len(report["mapped"]) == 3, report  # coturn answered as well
    assert report["nat"] == expected
    assert report["public"].startswith(f"{router.ip}:")
    assert report["mapping"] == ("endpoint-independent" if expected == "cone" else "endpoint-dependent")


def test_ping_across_two_nats_reports_the_direct_path(lab, peers):
    alice_router, bob_router = lab.nat("ra"), lab.nat("rb")
    peers.pipe(lab.lan_host(bob_router, "bob"), "bob", "alice")
    ping = peers.run(
        lab.lan_host(alice_router, "alice"), "ping", "bob", "-c", "3", "--interval", "0.1", "--json",
        "--name", "alice", "--signal", peers.url, "--config-dir", str(peers.tmp_path / "alice"),
    )
    summary = ping.event("summary", timeout=30)
    assert summary["path"] == "direct" and summary["remote"].startswith(f"{bob_router.ip}:")
    assert summary["received"] == 3
