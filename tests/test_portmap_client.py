"""The PCP / NAT-PMP client state machine against a fake router: time is a number."""

from __future__ import annotations

import pytest

from p2ptui.net import LocalProtocolError, RemoteProtocolError
from p2ptui.net.portmap.client import (
    MAP_TIMEOUT,
    PROBE_TIMEOUT,
    Lost,
    Mapped,
    PortMapClient,
    Protocol,
    State,
    Unavailable,
)

from .portmap_router import PUBLIC_IP, FakeRouter


def exchange(client, router, now):
    """Deliver what the client sends to the router and the answers back; the events."""
    events = []
    for request in client.datagrams():
        answer = router.answer(request)
        if answer is not None:
            events += client.receive_untrusted(answer, now)
    return events


def mapped_client(router, lifetime=3600):
    client = PortMapClient("10.0.1.2", 5000, lifetime=lifetime)
    client.start(0.0)
    events = exchange(client, router, 0.001)
    events += exchange(client, router, 0.002)
    return client, events


def test_pcp_is_preferred_and_its_mapping_is_offered():
    router = FakeRouter()
    client, events = mapped_client(router)
    assert events == [Mapped(Protocol.PCP, (PUBLIC_IP, 40000), 3600)]
    assert client.answered >= {Protocol.PCP}
    assert client.state == State.MAPPED
    assert [s for s in router.seen if s[1] == 1] == [("pcp", 1, 3600)]


def test_a_natpmp_only_router_is_used_with_its_public_address():
    router = FakeRouter(pcp=False)
    client, events = mapped_client(router)
    assert events == [Mapped(Protocol.NATPMP, (PUBLIC_IP, 40000), 3600)]
    assert client.answered == {Protocol.NATPMP}


def test_the_lease_is_renewed_at_half_its_life():
    router = FakeRouter(lifetime_cap=600)
    client, _ = mapped_client(router, lifetime=7200)
    assert client.next_timer() == pytest.approx(0.002 + 300)
    assert client.timer(299.0) == [] and client.datagrams() == []
    client.timer(300.002)
    assert client.state == State.RENEWING
    assert exchange(client, router, 300.01) == [Mapped(Protocol.PCP, (PUBLIC_IP, 40000), 600)]
    assert client.next_timer() == pytest.approx(600.01)
    assert [s for s in router.seen if s[1] == 1] == [("pcp", 1, 7200)] * 2


def test_a_renewal_never_answered_loses_the_mapping_when_it_expires():
    router = FakeRouter(lifetime_cap=600)
    client, _ = mapped_client(router)
    client.timer(300.002)
    sent = client.datagrams()
    now = 300.002
    while client.state == State.RENEWING:
        now = client.next_timer()
        events = client.timer(now)
        sent += client.datagrams()
    assert events == [Lost("the router stopped renewing the mapping")]
    assert now == pytest.approx(600.002)
    # Resent on RFC 6886's doubling schedule, for at most MAP_TIMEOUT.
    assert 2 <= len(sent) <= 5
    assert client.external is None


def test_nothing_answers_the_probe_gives_up_within_250_ms():
    client = PortMapClient("10.0.1.2", 5000)
    client.start(10.0)
    assert len(client.datagrams()) == 2  # a PCP announce and a NAT-PMP public address request
    assert client.next_timer() == pytest.approx(10.0 + PROBE_TIMEOUT) and PROBE_TIMEOUT <= 0.25
    assert client.timer(10.1) == []
    assert client.timer(10.25) == [Unavailable(frozenset())]
    assert client.state == State.UNAVAILABLE and client.next_timer() is None


def test_a_refused_pcp_mapping_falls_back_to_natpmp():
    class PcpRefuses(FakeRouter):
        def _pcp(self, request):
            answer = super()._pcp(request)
            return answer[:3] + bytes([8]) + answer[4:] if request[1] == 1 else answer

    router = PcpRefuses()
    client, events = mapped_client(router)
    events += exchange(client, router, 0.003)
    assert events == [Mapped(Protocol.NATPMP, (PUBLIC_IP, 40000), 3600)]


def test_a_refusal_everywhere_is_lost_with_the_routers_reason():
    router = FakeRouter(refuse=2)
    client, events = mapped_client(router)
    events += exchange(client, router, 0.003)
    assert events == [Lost("the router refused the mapping: not authorized or refused")]
    assert client.state == State.FAILED


def test_an_unanswered_mapping_request_is_resent_then_given_up():
    router = FakeRouter(pcp=True, natpmp=False)
    client = PortMapClient("10.0.1.2", 5000)
    client.start(0.0)
    exchange(client, router, 0.001)  # the announce is answered; the map request goes out
    assert client.state == State.MAPPING
    resends = []
    while client.state == State.MAPPING:
        now = client.next_timer()
        events = client.timer(now)
        resends += [now] if client.datagrams() else []
    assert resends == pytest.approx([0.251, 0.751, 1.751, 3.751])
    assert events == [Lost("no answer to the mapping request")]
    assert now == pytest.approx(0.001 + MAP_TIMEOUT)


@pytest.mark.parametrize("router", [FakeRouter(), FakeRouter(pcp=False)])
def test_close_deletes_the_mapping(router):
    client, _ = mapped_client(router)
    client.close(50.0)
    assert client.state == State.DELETING
    exchange(client, router, 50.01)
    assert client.state == State.CLOSED and client.next_timer() is None
    assert router.seen[-1][1:] == (1, 0)  # a mapping request with lifetime 0


def test_close_without_an_answer_ends_after_a_short_wait():
    client, _ = mapped_client(FakeRouter())
    client.close(50.0)
    client.datagrams()
    client.timer(client.next_timer())
    assert client.state == State.CLOSED


def test_bad_answers_raise_only_the_remote_error_and_change_nothing():
    client = PortMapClient("10.0.1.2", 5000)
    client.start(0.0)
    client.datagrams()
    for junk in (b"", b"\x07junk", b"\x00\x81", b"\x02" + bytes(3)):
        with pytest.raises(RemoteProtocolError):
            client.receive_untrusted(junk, 0.01)
    assert client.state == State.PROBING


def test_a_pcp_answer_for_another_nonce_is_ignored():
    router = FakeRouter(natpmp=False)
    client = PortMapClient("10.0.1.2", 5000, nonce=b"A" * 12)
    client.start(0.0)
    exchange(client, router, 0.001)
    other = PortMapClient("10.0.1.2", 5000, nonce=b"B" * 12)
    other.protocol = Protocol.PCP
    [request] = client.datagrams()
    assert client.receive_untrusted(router.answer(request.replace(b"A" * 12, b"B" * 12)), 0.002) == []
    assert client.receive_untrusted(router.answer(request), 0.003) == [Mapped(Protocol.PCP, (PUBLIC_IP, 40000), 3600)]


def test_start_twice_is_our_bug():
    client = PortMapClient("10.0.1.2", 5000)
    client.start(0.0)
    with pytest.raises(LocalProtocolError):
        client.start(1.0)


def test_probe_only_learns_the_protocols_and_maps_nothing():
    router = FakeRouter()
    client = PortMapClient("10.0.1.2", 5000, probe_only=True)
    client.start(0.0)
    exchange(client, router, 0.001)
    assert client.answered == {Protocol.PCP, Protocol.NATPMP}
    assert client.state == State.CLOSED
    assert not [s for s in router.seen if s[1] == 1]
