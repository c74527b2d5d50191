"""The first handshake under heavy loss (issue #16, point 6), on the simulated
link: no sockets, no event loop, every seed the same every run."""

from p2ptui.net import session as sess
from p2ptui.net import wire

from .fakenet import Link

#: 20% loss on each of two routers, either way: a datagram crosses two of them.
LOSS = 1 - 0.8**2
SEEDS = range(120)


def test_the_first_handshake_finishes_before_the_punch_deadline_under_heavy_loss():
    config = sess.SessionConfig()
    missed = []
    for seed in SEEDS:
        link = Link.pair(config, loss=LOSS, seed=seed, max_delay=0.02)
        link.introduce()
        link.run(until=config.punch_timeout)
        if not link.a.state == link.b.state == sess.State.CONNECTED:
            missed.append((seed, link.a.state.value, link.b.state.value))
    assert missed == []


def test_a_handshake_that_never_finishes_says_so_and_blames_no_nat():
    config = sess.SessionConfig(punch_timeout=5.0)
    link = Link.pair(config)
    # Every answer to message 1 is lost; the probes get through.
    link.drop_outer = lambda side, packet: isinstance(packet, wire.HandshakeResp)
    link.introduce()
    link.run(until=20.0)
    failures = [e for side in "ab" for e in link.events[side] if isinstance(e, sess.Failed)]
    assert failures and all(f.path_opened for f in failures)
    assert all("handshake" in f.reason and "packets may be lost" in f.reason for f in failures)
