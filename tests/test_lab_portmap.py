"""Port mapping in the NAT lab: miniupnpd on a router, p2ptui's NAT-PMP, PCP and UPnP clients."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from .lab.miniupnpd import require_miniupnpd, run_miniupnpd, start_rfc5780_stun
from .test_lab import lab  # noqa: F401 (a fixture)

pytestmark = pytest.mark.lab


def router_with_miniupnpd(lab, kind="symmetric"):
    require_miniupnpd()
    stun = lab.public_host("stun")
    start_rfc5780_stun(lab, stun)
    router = lab.nat("r1", kind)
    host = lab.lan_host(router, "a")
    return stun, router, host, run_miniupnpd(lab, router, stun)


def test_miniupnpd_maps_a_port_when_asked_by_hand(lab):
    """The lab itself: a hand-made NAT-PMP request gets a mapping (NETLAB.md's result 3 is gone)."""
    _, router, host, daemon = router_with_miniupnpd(lab)
    script = (
        "import socket, struct, json\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2); s.bind(('', 4000))\n"
        f"s.sendto(struct.pack('!BBHHHI', 0, 1, 0, 4000, 4000, 60), ('{router.lan_prefix}.1', 5351))\n"
        "data, _ = s.recvfrom(100)\n"
        "print(json.dumps(list(struct.unpack('!BBHIHHI', data))))\n"
    )
    version, op, result, _, internal, external, lifetime = json.loads(host.run("python3", "-c", script))
    assert (version, op, result, internal, external) == (0, 129, 0, 4000, 4000)
    assert daemon.has_udp_mapping(4000, host.ip, 4000), daemon.leases()


PORTMAP_TOOL = Path(__file__).parent / "lab" / "portmap_tool.py"


def portmap_tool(host, *args):
    return host.python(str(PORTMAP_TOOL), *args)


def probed(tool):
    """The tool's report once the probe had an outcome (change lines may come first)."""
    for line in tool.stdout:
        if line.startswith("{") and "probed" in (report := json.loads(line)):
            return report
    raise AssertionError("the port mapping tool ended without a report")


def lines(process, timeout=20):
    output, _ = process.communicate(timeout=timeout)
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("protocol", ["pcp", "nat-pmp", "upnp"])
def test_a_mapping_is_obtained_renewed_and_deleted_on_exit(lab, protocol):
    _, router, host, daemon = router_with_miniupnpd(lab)
    tool = portmap_tool(host, "--port", "5000", "--protocol", protocol, "--lifetime", "4", "--seconds", "5")
    first = probed(tool)
    assert first["protocol"] == protocol and first["external"].startswith(f"{router.ip}:"), first
    external_port = int(first["external"].rsplit(":", 1)[1])
    def expiry():
        prefix = f"UDP:{external_port}:{host.ip}:5000:"
        return [line.split(":")[4] for line in daemon.leases() if line.startswith(prefix)]

    first_expiry = expiry()
    assert first_expiry, daemon.leases()
    time.sleep(3)  # the test's subject: the renewal due at half the 4 s lifetime
    assert expiry() and expiry() != first_expiry, (first_expiry, expiry())
    assert lines(tool)[-1] == {"closed": True}
    assert not daemon.has_udp_mapping(external_port, host.ip, 5000), daemon.leases()


def test_the_probe_names_every_protocol_miniupnpd_answers(lab):
    _, _, host, daemon = router_with_miniupnpd(lab)
    first = probed(portmap_tool(host, "--port", "5000", "--probe-only"))
    assert first["answered"] == ["pcp", "nat-pmp", "upnp"]
    assert first["external"] is None and daemon.leases() == []


def test_no_router_answering_the_probe_gives_up_within_about_250_ms(lab):
    router = lab.nat("r1", "port-restricted")  # no miniupnpd: port 5351 is closed
    host = lab.lan_host(router, "a")
    router.run("iptables", "-I", "INPUT", "-p", "udp", "--dport", "5351", "-j", "DROP")  # silent, not refused
    first = probed(portmap_tool(host, "--port", "5000", "--protocol", "pcp", "--protocol", "nat-pmp"))
    assert first["external"] is None and first["answered"] == []
    assert first["probed"] < 0.4, first


@pytest.fixture
def peers(lab, tmp_path):
    from .test_lab import Peers

    started = Peers(lab, tmp_path)
    yield started
    started.stop()


def test_symmetric_against_symmetric_with_a_mapping_connects_directly(lab, peers):
    """The issue's case: both NATs symmetric (punching alone fails, see the NAT
    matrix), one router with miniupnpd: bob reaches alice's mapped port."""
    from .test_lab import NO_SPRAYING

    stun, alice_router, alice_host, daemon = router_with_miniupnpd(lab)
    bob_router = lab.nat("rb", "symmetric")
    alice = peers.pipe(alice_host, "alice", "bob", "--timeout", "25", config=NO_SPRAYING)
    bob = peers.pipe(lab.lan_host(bob_router, "bob"), "bob", "alice", "--timeout", "25", config=NO_SPRAYING)
    connected = bob.event("connected", timeout=20)
    # Direct (no TURN server exists in this lab), to alice's mapping on her router.
    assert connected["remote"].startswith(f"{alice_router.ip}:") and connected["path"] == "direct", connected
    mapped_port = int(connected["remote"].rsplit(":", 1)[1])
    assert any(line.startswith(f"UDP:{mapped_port}:{alice_host.ip}:") for line in daemon.leases()), daemon.leases()
    assert alice.event("connected", timeout=20)["remote"].startswith(f"{bob_router.ip}:")
    bob.send("through two symmetric NATs")
    assert alice.event("message", timeout=20)["text"] == "through two symmetric NATs"
    alice.send("and back")
    assert bob.event("message", timeout=20)["text"] == "and back"
    # On exit (the end of her input) alice deletes her mapping.
    alice.popen.stdin.close()
    assert alice.wait(timeout=15) == 0
    assert not any(line.startswith(f"UDP:{mapped_port}:") for line in daemon.leases()), daemon.leases()


@pytest.mark.parametrize("kind, expected", [("port-restricted", "cone"), ("symmetric", "symmetric")])
def test_nat_check_reports_the_nat_and_the_protocols_the_router_answers(lab, tmp_path, kind, expected):
    from .lab.miniupnpd import STUN_OTHER_IP
    from .processes import Process

    stun, router, host, _ = router_with_miniupnpd(lab, kind)
    check = Process(
        ["nat-check", "--json", "--stun", f"{stun.ip}:3478", "--stun", f"{STUN_OTHER_IP}:3478",
         "--config-dir", str(tmp_path / "c")],
        wrapper=["ip", "netns", "exec", host.namespace],
    )
    try:
        report = json.loads(check.line(timeout=20))
        assert check.wait() == 0
    finally:
        check.stop()
    assert report["nat"] == expected, report
    assert report["udp"] is True and report["ipv4"] == router.ip
    assert report["portmap"] == {"gateway": f"{router.lan_prefix}.1", "protocols": ["pcp", "nat-pmp", "upnp"]}
    assert report["hairpinning"] is False  # the lab's routers do not turn a datagram back
    lab_servers = {f"{stun.ip}:3478", f"{STUN_OTHER_IP}:3478"}
    assert all(s["rtt_ms"] is not None for s in report["servers"] if s["server"] in lab_servers), report
