"""Port mapping in the NAT lab: miniupnpd on a router, p2ptui's NAT-PMP, PCP and UPnP clients."""

from __future__ import annotations

import json

import pytest

from .lab import Lab, require_lab
from .lab.miniupnpd import run_miniupnpd, start_rfc5780_stun

pytestmark = pytest.mark.lab


@pytest.fixture
def lab():
    require_lab()
    built = Lab()
    try:
        yield built
    finally:
        built.close()


def router_with_miniupnpd(lab, kind="symmetric"):
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
