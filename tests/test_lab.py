"""The NAT lab: its NAT behaviours verified by probes, and p2ptui crossing real NATs."""

import json

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


def probe(lab, kind, destinations):
    """From a host behind a `kind` NAT, poke a public echo server; what comes back."""
    server = lab.public_host("srv")
    router = lab.nat("r1", kind)
    host = lab.lan_host(router, "a")
    echo = udptool(server, "server", "--host", server.ip, "--ports", "7000,7001", "--seconds", "5")
    assert echo.stdout.readline().strip() == "ready"
    targets = ",".join(f"{server.ip}:{port}" for port in destinations)
    client = udptool(host, "client", "--bind", "5000", "--to", targets, "--seconds", "1.5")
    output, _ = client.communicate(timeout=15)
    return server, router, json.loads(output)


def test_port_restricted_nat_keeps_the_port_and_lets_in_only_replies(lab):
    server, router, received = probe(lab, "port-restricted", [7000])
    # Mapped to the router's address with the host's own port: endpoint-independent.
    assert received == [{"from": f"{server.ip}:7000", "text": f"seen {router.ip}:5000"}]
    # The server's unsolicited datagram from its other port never arrived.


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
    server.popen(
        "turnserver", "-n", f"--listening-ip={server.ip}", "--listening-port=3478", "--stun-only",
        "--no-cli", "--no-tls", "--no-dtls", "--log-file=stdout", f"--pidfile=/tmp/{lab.prefix}-turn.pid",
    )
    # udptool retries a few times while coturn starts: p2ptui's STUN code against a real server.
    answer = udptool(host, "stun", "--bind", "5001", "--to", f"{server.ip}:3478")
    output, _ = answer.communicate(timeout=15)
    assert json.loads(output) == {"mapped": f"{router.ip}:5001"}


def test_two_pipes_behind_port_restricted_nats_talk_directly(lab, tmp_path):
    server = lab.public_host("signal")
    alice_router, bob_router = lab.nat("ra"), lab.nat("rb")
    alice_host, bob_host = lab.lan_host(alice_router, "alice"), lab.lan_host(bob_router, "bob")
    started = []

    def p2ptui(host, *args):
        process = Process(list(args), wrapper=["ip", "netns", "exec", host.namespace])
        started.append(process)
        return process

    try:
        signal = p2ptui(server, "signal-server", "--host", server.ip, "--port", "7878")
        signal.wait_for_line("signalling server on")
        url = f"tcp://{server.ip}:7878"

        def pipe(host, name, peer):
            return p2ptui(host, "pipe", "--name", name, "--peer", peer, "--signal", url,
                          "--config-dir", str(tmp_path / name))

        alice = pipe(alice_host, "alice", "bob")
        bob = pipe(bob_host, "bob", "alice")
        # Each sees the other at its router's public address: a direct path through both NATs.
        assert alice.event("ready")["address"].startswith(f"{alice_router.ip}:")
        assert alice.event("connected")["remote"].startswith(f"{bob_router.ip}:")
        assert bob.event("connected")["remote"].startswith(f"{alice_router.ip}:")
        alice.send("hello through two NATs")
        assert bob.event("message")["text"] == "hello through two NATs"
        bob.send("and back")
        assert alice.event("message")["text"] == "and back"
    finally:
        for process in started:
            process.stop()
