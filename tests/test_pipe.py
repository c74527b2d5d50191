"""pipe's pure parts, without a process."""

from p2ptui.net import PeerStatus, events
from p2ptui.pipe import disconnect_reason


def test_a_disconnect_always_has_a_reason():
    assert disconnect_reason(events.PeerChanged("bob", PeerStatus.OFFLINE, reason="bob quit")) == "bob quit"
    assert disconnect_reason(events.PeerChanged("bob", PeerStatus.OFFLINE)) == "bob is offline"
    assert "restarted" in disconnect_reason(events.PeerChanged("bob", PeerStatus.CONNECTING))
    assert disconnect_reason(events.PeerChanged("bob", PeerStatus.ONLINE)) == "lost the path to bob"
