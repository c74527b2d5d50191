"""Roaming's decisions on their own (net/roaming.py), and the paths part taking a
peer-reflexive address: no sockets, no clock but the numbers passed in."""

import pytest

from p2ptui.net import interfaces
from p2ptui.net.errors import LocalProtocolError
from p2ptui.net.paths import Paths, SendProbe
from p2ptui.net.roaming import Phase, Roaming, Trigger
from p2ptui.net.sessionconfig import SessionConfig
from p2ptui.net.state import State

OURS = [("198.51.100.1", 4000), ("10.0.1.2", 4000)]
REMAPPED = [("198.51.100.1", 4711), ("10.0.1.2", 4000)]


def test_nothing_is_asked_until_something_happens():
    roaming = Roaming()
    assert roaming.next_timeout() is None and not roaming.start(100.0)


def test_a_lost_path_asks_stun_at_once_and_a_burst_of_them_costs_one_round():
    roaming = Roaming(min_gap=1.0)
    roaming.want(Trigger.PATH_LOST)
    assert roaming.start(100.0)
    roaming.want(Trigger.PATH_LOST)  # every other peer's path, lost in the same move
    assert not roaming.start(100.0)  # one round at a time
    assert roaming.finished(OURS, REMAPPED, answered=True)  # the NAT mapped us anew
    # A loss during the round asks for one more round, but not before the gap.
    assert roaming.phase == Phase.WANTED and roaming.next_timeout() == 101.0
    assert not roaming.start(100.5) and roaming.start(101.0)
    assert not roaming.finished(REMAPPED, REMAPPED, answered=True)  # nothing new: no offers
    assert roaming.phase == Phase.SETTLED and roaming.rounds == 2


def test_a_change_of_interfaces_tells_the_peers_even_if_stun_sees_the_same():
    roaming = Roaming()
    roaming.want(Trigger.ADDRESSES_CHANGED)
    assert roaming.start(5.0)
    assert roaming.finished(OURS, OURS, answered=True)


def test_with_no_stun_answer_it_asks_again_less_and_less_often():
    roaming = Roaming(min_gap=1.0, max_gap=4.0)
    roaming.want(Trigger.PATH_LOST)
    starts, now = [], 10.0
    for _ in range(5):
        assert roaming.start(now)
        starts.append(now)
        roaming.finished(OURS, OURS, answered=False)
        now = roaming.next_timeout() or 0.0
    assert [b - a for a, b in zip(starts, starts[1:])] == [2.0, 4.0, 4.0, 4.0]
    roaming.start(roaming.next_timeout() or 0.0)
    roaming.finished(OURS, OURS, answered=True)
    assert roaming.phase == Phase.SETTLED and roaming.next_timeout() is None


def test_a_round_that_was_never_started_cannot_finish():
    with pytest.raises(LocalProtocolError):
        Roaming().finished(OURS, OURS, answered=True)


# --- Peer-reflexive paths -------------------------------------------------------------

OLD = ("198.51.100.2", 5000)
NEW = ("198.51.100.2", 6123)  # the peer's NAT mapped it anew


def connected_on(route):
    out = []
    paths = Paths(SessionConfig(), out.append)
    paths.learn([route], [], relay_now=False)
    paths.state = State.CONNECTED
    paths.opened(route)
    paths.connected(0.0)
    return paths, out


def test_the_peers_authenticated_traffic_from_a_new_address_is_probed_and_taken_when_it_answers():
    paths, out = connected_on(OLD)
    paths.authenticated_from(NEW, 1.0)
    probe = out[-1]
    assert isinstance(probe, SendProbe) and probe.route == NEW
    paths.authenticated_from(NEW, 1.1)  # more of its traffic: not a probe each
    assert len(out) == 1
    answer = paths.probe_answered(probe.txid, NEW, 1.2)
    assert answer is not None and answer.moved and paths.path == NEW
    assert NEW in paths.known.addresses


def test_a_new_address_that_never_answers_is_not_taken():
    paths, out = connected_on(OLD)
    paths.authenticated_from(NEW, 1.0)
    assert paths.path == OLD  # traffic alone proves nothing: only an answer there
    assert paths.probe_answered(out[-1].txid, ("203.0.113.66", 1), 1.1) is None
    assert paths.path == OLD


def test_an_answer_from_a_path_no_better_moves_only_if_the_open_one_looks_dead():
    paths, out = connected_on(OLD)
    paths.learn([NEW], [], relay_now=False)
    txid = paths.send_probe(NEW, 1.0, expect_answer=False)
    answer = paths.probe_answered(txid, NEW, 1.1)
    assert answer is not None and not answer.moved and paths.path == OLD  # both work: stay
    paths.expect_answer(2.0)  # something went unanswered on the open path
    txid = paths.send_probe(NEW, 2.0, expect_answer=False)
    answer = paths.probe_answered(txid, NEW, 2.1)
    assert answer is not None and answer.moved and paths.path == NEW


# --- This machine's addresses -------------------------------------------------------------


def test_our_addresses_leave_out_loopback_and_lie_in_our_networks():
    addresses, networks = interfaces.local_addresses(), interfaces.local_networks()
    assert all(not a.is_loopback for a in addresses)
    assert all(any(a in network for network in networks) for a in addresses)
    assert len(set(addresses)) == len(addresses)

