"""The paths part on its own: candidates, probes, ranking, relays, keepalives.
No crypto and no sockets: what it wants sent lands in a list."""

import itertools

import pytest

from p2ptui.net.address import Via
from p2ptui.net.candidates import MAX_REMOTE_RELAYS, RELAYED
from p2ptui.net.paths import Paths, SendCallMe, SendProbe
from p2ptui.net.probes import MAX_PROBES, ProbeTable
from p2ptui.net.sessionconfig import SessionConfig
from p2ptui.net.state import State

LOCAL = ("127.0.0.1", 4000)
LAN = ("192.168.1.20", 4000)
PUBLIC = ("203.0.113.50", 4000)
PUBLIC6 = ("2001:db8:1::50", 4000)
THEIR_RELAY = ("198.51.100.7", 50000)
OUR_RELAY = "turn 198.51.100.1:3478"


def make(config=None, state=State.PROBING):
    out = []
    paths = Paths(config or SessionConfig(), out.append)
    paths.state = state
    return paths, out


def probed(out):
    routes = [o.route for o in out if isinstance(o, SendProbe)]
    out.clear()
    return routes


def open_on(paths, out, route, now=0.0):
    """Put paths on route, CONNECTED, as the Session would once the handshake is done."""
    paths.state = State.CONNECTED
    paths.opened(route)
    paths.connected(now)
    out.clear()


# --- Ranking ----------------------------------------------------------------------


def test_this_machine_then_the_lan_then_the_internet_ipv6_first_then_relays():
    paths, _ = make()
    paths.learn([PUBLIC], [THEIR_RELAY], relay_now=False)
    ours = Via(OUR_RELAY, PUBLIC)
    sprayed = Via("spray 5000", PUBLIC, relayed=False)
    ranks = [paths.known.rank(r) for r in (LOCAL, ("::1", 4000), LAN, ("fd00::20", 4000), PUBLIC6, PUBLIC, sprayed)]
    assert ranks == [0, 0, 1, 1, 2, 3, 3]
    assert [paths.known.rank(r) for r in (THEIR_RELAY, ours, None)] == [RELAYED, RELAYED, RELAYED + 1]
    assert RELAYED > 3


def test_candidates_are_capped_the_oldest_going_first():
    paths, _ = make(SessionConfig(max_candidates=3))
    paths.learn([("192.0.2.1", 1), ("192.0.2.2", 2)], [], relay_now=False)
    paths.learn([("192.0.2.3", 3), ("192.0.2.1", 1), ("192.0.2.4", 4)], [], relay_now=False)
    assert paths.known.addresses == [("192.0.2.3", 3), ("192.0.2.1", 1), ("192.0.2.4", 4)]


def test_the_peers_old_relays_are_remembered_boundedly():
    paths, _ = make()
    for n in range(MAX_REMOTE_RELAYS + 5):
        paths.learn([], [("198.51.100.7", 50000 + n)], relay_now=False)
    assert len(paths.known.remote_relays) == MAX_REMOTE_RELAYS
    assert list(paths.known.remote_relays)[-1] == ("198.51.100.7", 50000 + MAX_REMOTE_RELAYS + 4)


# --- Punching ----------------------------------------------------------------------


def test_punching_probes_direct_paths_first_and_relays_after_the_relay_delay():
    paths, out = make(SessionConfig(relay_delay=2.0))
    paths.known.relays = (OUR_RELAY,)
    paths.learn([LAN, PUBLIC], [THEIR_RELAY], relay_now=False)
    paths.begin_punch(0.0)
    assert sorted(probed(out)) == sorted([LAN, PUBLIC])
    while (at := paths.next_timeout()) < 2.0:
        assert paths.handle_timeout(at) is None
        assert all(not paths.known.is_relayed(r) for r in probed(out))
    assert paths.next_timeout() == 2.0
    paths.handle_timeout(2.0)
    # Straight to their relay, and through ours to their public address only (not the LAN one).
    assert set(probed(out)) == {LAN, PUBLIC, THEIR_RELAY, Via(OUR_RELAY, PUBLIC)}


def test_when_direct_is_ruled_out_relays_join_at_once():
    paths, out = make()
    paths.known.relays = (OUR_RELAY,)
    paths.learn([PUBLIC], [], relay_now=True)
    paths.begin_punch(0.0)
    assert set(probed(out)) == {PUBLIC, Via(OUR_RELAY, PUBLIC)}


def test_probe_rounds_spread_out_to_the_cap_and_the_punch_ends_at_its_deadline():
    config = SessionConfig(probe_interval=0.1, probe_interval_max=0.4, punch_timeout=2.0)
    paths, _ = make(config)
    paths.learn([PUBLIC], [], relay_now=False)
    paths.begin_punch(0.0)
    rounds, failure = [0.0], None
    while failure is None:
        now = paths.next_timeout()
        failure = paths.handle_timeout(now)
        if failure is None:
            rounds.append(now)
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(rounds)]
    assert gaps[:3] == [0.1, 0.2, 0.4] and set(gaps[3:]) <= {0.4}
    assert now == 2.0 and "no answer from the peer on any direct path" in failure


def test_a_new_relay_is_punched_through_at_once_while_relaying():
    paths, out = make()
    paths.learn([PUBLIC], [], relay_now=True)
    paths.begin_punch(0.0)
    out.clear()
    assert paths.set_relays((OUR_RELAY,), 0.5) is False
    assert probed(out) == [Via(OUR_RELAY, PUBLIC)]


# --- Probe answers ------------------------------------------------------------------------


def test_an_answer_counts_only_for_our_probe_and_from_where_it_went():
    paths, _ = make()
    paths.learn([PUBLIC], [], relay_now=False)
    txid = paths.send_probe(PUBLIC, 1.0)
    assert paths.probe_answered(b"unknown!", PUBLIC, 1.1) is None
    assert paths.probe_answered(txid, ("203.0.113.66", 4444), 1.1) is None
    answer = paths.probe_answered(txid, PUBLIC, 1.25)
    assert answer is not None and answer.rtt == pytest.approx(0.25) and not answer.moved
    assert paths.probe_answered(txid, PUBLIC, 1.3) is None  # once
    assert paths.dropped == {"unknown probe": 2, "probe answer from elsewhere": 1}


def test_a_better_path_that_answers_becomes_the_path():
    paths, out = make()
    paths.learn([PUBLIC, LAN], [], relay_now=False)
    open_on(paths, out, PUBLIC)
    txid = paths.send_probe(LAN, 1.0, expect_answer=False)
    answer = paths.probe_answered(txid, LAN, 1.01)
    assert answer.moved and paths.path == LAN
    worse = paths.send_probe(PUBLIC, 2.0, expect_answer=False)
    assert not paths.probe_answered(worse, PUBLIC, 2.01).moved and paths.path == LAN


def test_a_direct_ipv6_path_that_answers_replaces_a_direct_ipv4_one():
    paths, out = make()
    paths.learn([PUBLIC, PUBLIC6], [], relay_now=False)
    open_on(paths, out, PUBLIC)
    answer = paths.probe_answered(paths.send_probe(PUBLIC6, 1.0, expect_answer=False), PUBLIC6, 1.01)
    assert answer.moved and paths.path == PUBLIC6
    back = paths.probe_answered(paths.send_probe(PUBLIC, 2.0, expect_answer=False), PUBLIC, 2.01)
    assert not back.moved and paths.path == PUBLIC6


def test_our_relay_is_never_asked_to_reach_an_ipv6_address():
    paths, _ = make()
    paths.learn([PUBLIC6, PUBLIC], [], relay_now=False)
    paths.set_relays((OUR_RELAY,), 0.0)
    assert paths.known.relayed_routes() == [Via(OUR_RELAY, PUBLIC)]


def test_the_peer_probing_from_a_better_path_is_probed_back_only_if_trusted():
    paths, out = make()
    paths.learn([THEIR_RELAY], [THEIR_RELAY], relay_now=True)
    open_on(paths, out, THEIR_RELAY)
    assert paths.probe_received(PUBLIC, 1.0, trusted=False) is False and probed(out) == []
    assert paths.probe_received(PUBLIC, 1.0, trusted=True) is False
    assert probed(out) == [PUBLIC] and PUBLIC in paths.known.addresses


def test_a_probe_while_not_connected_asks_the_session_to_punch_when_trusted():
    paths, _ = make(state=State.FAILED)
    assert paths.probe_received(PUBLIC, 1.0, trusted=False) is False
    assert PUBLIC not in paths.known.addresses  # a stranger does not steer us
    assert paths.probe_received(PUBLIC, 1.0, trusted=True) is True
    assert PUBLIC in paths.known.addresses


def test_ping_wants_a_pong_and_only_on_an_open_path():
    paths, out = make()
    assert paths.ping(0.0) is None
    open_on(paths, out, PUBLIC)
    txid = paths.ping(1.0)
    assert probed(out) == [PUBLIC]
    assert paths.probe_answered(txid, PUBLIC, 1.02).ping


# --- Keeping the path -----------------------------------------------------------------


def test_an_idle_open_path_gets_a_keepalive_every_interval():
    paths, out = make(SessionConfig(keepalive_interval=10.0))
    open_on(paths, out, PUBLIC)
    paths.expect_answer(0.0)
    txid = paths.send_probe(PUBLIC, 0.0)
    paths.probe_answered(txid, PUBLIC, 0.01)
    paths.heard_from(PUBLIC)
    out.clear()
    assert paths.next_timeout() == 10.0
    paths.handle_timeout(10.0)
    assert probed(out) == [PUBLIC]


def test_something_unanswered_is_probed_for_and_loses_the_path_after_the_timeout():
    config = SessionConfig(keepalive_interval=100.0, path_timeout=3.0, suspect_probe_interval=0.5)
    paths, out = make(config)
    open_on(paths, out, PUBLIC)
    paths.expect_answer(1.0)  # data went out
    assert paths.next_timeout() == 1.5
    paths.handle_timeout(1.5)
    assert probed(out) == [PUBLIC]  # is the path still there?
    assert not paths.timed_out(3.9) and paths.timed_out(4.0)
    assert paths.lose() == PUBLIC and PUBLIC in paths.known.addresses


def test_only_what_arrives_on_the_path_proves_it_alive():
    paths, out = make(SessionConfig(path_timeout=3.0))
    open_on(paths, out, PUBLIC)
    paths.expect_answer(1.0)
    paths.heard_from(("203.0.113.50", 9999))  # the peer, remapped: our data still goes nowhere
    assert paths.timed_out(4.0)
    paths.heard_from(PUBLIC)
    assert not paths.timed_out(4.0)


def test_losing_the_relay_in_use_loses_the_path():
    paths, out = make()
    paths.known.relays = (OUR_RELAY,)
    open_on(paths, out, Via(OUR_RELAY, PUBLIC))
    assert paths.set_relays((OUR_RELAY, "turn 198.51.100.2:3478"), 1.0) is False
    assert paths.set_relays((), 1.0) is True


def test_on_a_relay_direct_paths_are_retried_with_a_call_me():
    config = SessionConfig(direct_retry_interval=60.0, punch_timeout=10.0)
    paths, out = make(config)
    paths.learn([PUBLIC, LAN], [THEIR_RELAY], relay_now=True)
    paths.begin_punch(0.0)
    open_on(paths, out, THEIR_RELAY)
    # The punch goes on, on the side, until its deadline...
    now = paths.next_timeout()
    paths.handle_timeout(now)
    assert set(probed(out)) == {PUBLIC, LAN} and now < 10.0
    while (now := paths.next_timeout()) < 60.0:
        paths.handle_timeout(now)
        for sent in out:  # the relay answers the keepalives; nothing direct does
            if isinstance(sent, SendProbe) and sent.route == THEIR_RELAY:
                paths.probe_answered(sent.txid, THEIR_RELAY, now)
                paths.heard_from(THEIR_RELAY)
        out.clear()
    # ...then every direct_retry_interval, asking the peer to punch at the same moment.
    paths.handle_timeout(now)
    assert now == 60.0
    assert {o.route for o in out if isinstance(o, SendProbe)} >= {PUBLIC, LAN}
    assert SendCallMe(THEIR_RELAY) in out


def test_call_me_is_honoured_at_most_once_a_second():
    paths, out = make()
    paths.learn([PUBLIC], [THEIR_RELAY], relay_now=True)
    open_on(paths, out, THEIR_RELAY)
    paths.call_me_received(5.0)
    paths.call_me_received(5.5)
    paths.call_me_received(6.0)
    assert probed(out) == [PUBLIC, PUBLIC]


def test_nothing_runs_while_closed():
    paths, out = make()
    paths.learn([PUBLIC], [], relay_now=False)
    open_on(paths, out, PUBLIC)
    paths.expect_answer(1.0)
    paths.state = State.CLOSED
    assert paths.next_timeout() is None and not paths.timed_out(1000.0)
    assert paths.handle_timeout(1000.0) is None and out == []


# --- The probe table ------------------------------------------------------------------


def test_the_probe_table_forgets_probes_too_old_to_be_answered():
    table = ProbeTable(horizon=10.0)
    old = table.add(PUBLIC, 0.0)
    for n in range(200):
        table.add(PUBLIC, 20.0 + n * 0.001)
    assert len(table) == 200  # the old one went at the first prune
    assert table.answered(old, PUBLIC, 21.0) is None
    assert table.dropped["unknown probe"] == 1


def test_a_burst_of_probes_keeps_the_table_bounded():
    # None too old to forget: the cap alone bounds it (pruned to MAX_PROBES once it doubles).
    table = ProbeTable(horizon=1e9)
    largest = 0
    for n in range(3 * MAX_PROBES):
        table.add(PUBLIC, float(n))
        largest = max(largest, len(table))
    assert largest <= 2 * MAX_PROBES


def test_on_ipv4_with_an_ipv6_candidate_the_punch_goes_on_and_then_retries_with_a_call_me():
    # A firewall may open for IPv6 a round after both NATs opened for IPv4.
    config = SessionConfig()
    paths, out = make(config)
    paths.learn([PUBLIC6, PUBLIC], [], relay_now=False)
    paths.begin_punch(0.0)
    paths.state = State.CONNECTED
    paths.opened(PUBLIC)
    paths.connected(0.2)
    out.clear()
    assert paths.seeking_better
    paths.handle_timeout(paths.next_timeout())
    assert PUBLIC6 in probed(out)  # the punch's schedule, until its deadline
    paths.handle_timeout(config.direct_retry_interval + 0.2)
    assert any(isinstance(o, SendCallMe) for o in out) and PUBLIC6 in probed(out)
    answer = paths.probe_answered(paths.send_probe(PUBLIC6, 61.0, expect_answer=False), PUBLIC6, 61.01)
    assert answer.moved and paths.path == PUBLIC6 and not paths.seeking_better


def test_on_ipv4_with_only_ipv4_candidates_nothing_is_sought():
    paths, out = make()
    paths.learn([PUBLIC, LAN], [], relay_now=False)
    open_on(paths, out, PUBLIC)
    assert not paths.seeking_better
    paths.handle_timeout(SessionConfig().direct_retry_interval + 1)
    assert not any(isinstance(o, SendCallMe) for o in out)
