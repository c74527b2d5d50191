"""A peer's status, derived from its state: a pure function, tested without a loop."""

from p2ptui.net import PeerStatus
from p2ptui.net import session as sess
from p2ptui.net.peers import Peer, derive_status


def peer(**state) -> Peer:
    p = Peer("bob", sess.Session())
    for name, value in state.items():
        attribute = getattr(p, name)
        if hasattr(attribute, "value") and not isinstance(value, str):
            attribute.value = value
        else:
            setattr(p, name, value)
    return p


def test_nothing_is_told_before_anything_is_heard():
    assert derive_status(peer()) is None
    assert derive_status(peer(awaiting_answer=True)) == PeerStatus.CONNECTING


def test_the_status_follows_presence_and_failures():
    assert derive_status(peer(heard_of=True)) == PeerStatus.OFFLINE
    assert derive_status(peer(heard_of=True, online=True)) == PeerStatus.ONLINE
    assert derive_status(peer(heard_of=True, online=True, reason="no answer")) == PeerStatus.FAILED
    # Offline wins over a stale failure: the peer is simply gone.
    assert derive_status(peer(heard_of=True, reason="no answer")) == PeerStatus.OFFLINE


def test_a_live_path_wins_over_presence_and_a_gone_peer_is_never_connecting():
    gone = peer(heard_of=True, online=False)
    gone.session.start(b"t" * 8, [("198.51.100.2", 4000)], 0.0)  # Punching toward its old address.
    assert derive_status(gone) == PeerStatus.OFFLINE


def test_a_changed_key_wins_over_everything():
    changed = peer(heard_of=True, online=True, awaiting_answer=True, changed_key="ab" * 32)
    assert derive_status(changed) == PeerStatus.KEY_CHANGED
