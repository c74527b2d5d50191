"""The small timekeeping parts of Paths on their own (split from paths.py):
the punch's schedule, the open path's liveness, the direct-retry policy.
Plain objects and numbers: no sockets, no event loop."""

from p2ptui.net.address import Via
from p2ptui.net.candidates import Candidates
from p2ptui.net.direct_retry import CALL_ME_MIN_INTERVAL, DirectRetry
from p2ptui.net.liveness import Liveness
from p2ptui.net.punch import PunchSchedule
from p2ptui.net.sessionconfig import SessionConfig

CONFIG = SessionConfig(
    probe_interval=0.05, probe_interval_max=0.4, punch_timeout=10.0, relay_delay=2.0,
    keepalive_interval=10.0, path_timeout=5.0, suspect_probe_interval=0.5, direct_retry_interval=60.0,
)  # fmt: skip


def test_punch_rounds_double_to_the_cap_and_end_at_the_deadline():
    punch = PunchSchedule(CONFIG)
    punch.begin(100.0)
    assert punch.round_due(100.0)
    gaps = []
    now = 100.0
    for _ in range(6):
        punch.round_sent(now)
        gaps.append(round(punch.next_round - now, 6))
        now = punch.next_round
    assert gaps == [0.05, 0.1, 0.2, 0.4, 0.4, 0.4]
    assert not punch.over(109.99) and punch.over(110.0)
    punch.stop_rounds()
    assert not punch.round_due(1e9)


def test_relays_join_after_the_delay_or_at_once():
    punch = PunchSchedule(CONFIG)
    punch.begin(0.0)
    assert not punch.relaying and not punch.relays_due(1.9) and punch.relays_due(2.0)
    assert punch.next_timeout(any_relays=False) == 0.0  # The first round, now.
    punch.round_sent(0.0)
    punch.round_sent(1.0)
    punch.round_sent(3.0)
    assert punch.next_timeout(any_relays=True) == 2.0
    assert punch.next_timeout(any_relays=False) > 2.0

    at_once = PunchSchedule(CONFIG)
    at_once.relay_now = True
    at_once.begin(0.0)
    assert at_once.relaying


def test_liveness_keepalive_then_suspicion_then_loss():
    alive = Liveness(CONFIG)
    alive.asked(0.0, connected=True, probe=False)
    assert alive.unanswered and alive.keepalive_at == 10.0
    assert not alive.probe_due(0.4) and alive.probe_due(0.5)  # Something unanswered: probe soon.
    alive.asked(0.5, connected=True, probe=True)
    assert not alive.probe_due(0.9) and alive.probe_due(1.0)
    assert alive.times() == [10.5, 5.0, 1.0]
    assert not alive.lost(4.99) and alive.lost(5.0)
    alive.answered()
    assert not alive.unanswered and not alive.lost(100.0)
    assert alive.times() == [10.5] and not alive.probe_due(10.4) and alive.probe_due(10.5)


def test_liveness_does_not_suspect_what_was_asked_off_the_open_path():
    alive = Liveness(CONFIG)
    alive.asked(0.0, connected=False, probe=True)
    assert not alive.unanswered and not alive.lost(1e6)


def test_direct_retry_and_the_call_me_rate():
    retry = DirectRetry(CONFIG)
    retry.connected(0.0)
    assert not retry.due(59.9) and retry.due(60.0)
    retry.retried(60.0)
    assert retry.at == 120.0
    assert not retry.call_me_allowed(60.0 + CALL_ME_MIN_INTERVAL / 2)  # We just probed.
    assert retry.call_me_allowed(60.0 + CALL_ME_MIN_INTERVAL)
    assert not retry.call_me_allowed(60.0 + CALL_ME_MIN_INTERVAL)


def test_an_ipv6_candidate_can_beat_an_ipv4_path_but_not_a_relayed_one():
    known = Candidates(16)
    v4, v6 = ("203.0.113.50", 4000), ("2001:db8:1::50", 4000)
    known.learn([v4, v6], [])
    retry = DirectRetry(CONFIG)
    retry.path_changed(known, v4)
    assert retry.ipv6_better
    retry.path_changed(known, v6)
    assert not retry.ipv6_better
    known.relays = ("turn 198.51.100.1:3478",)
    retry.path_changed(known, Via("turn 198.51.100.1:3478", v4, relayed=True))
    assert not retry.ipv6_better
    retry.path_changed(known, None)
    assert not retry.ipv6_better
