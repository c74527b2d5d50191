"""pipe's pure parts, without a process."""

from p2ptui.net import PeerStatus, events
from p2ptui.pipe import PeerWatch, disconnect_reason


def test_a_disconnect_always_has_a_reason():
    assert disconnect_reason(events.PeerChanged("bob", PeerStatus.OFFLINE, reason="bob quit")) == "bob quit"
    assert disconnect_reason(events.PeerChanged("bob", PeerStatus.OFFLINE)) == "bob is offline"
    assert "restarted" in disconnect_reason(events.PeerChanged("bob", PeerStatus.CONNECTING))
    assert disconnect_reason(events.PeerChanged("bob", PeerStatus.ONLINE)) == "lost the path to bob"


def _connected(peer="bob"):
    return events.PeerChanged(peer, PeerStatus.CONNECTED, path="direct", network="lan", remote=("10.0.0.2", 4000))


def test_the_peers_statuses_as_pipe_events():
    watch = PeerWatch()
    assert watch.changed(events.PeerChanged("bob", PeerStatus.OFFLINE)) == ("waiting", {"peer": "bob"})
    assert watch.changed(events.PeerChanged("bob", PeerStatus.OFFLINE)) is None  # Said once until connected.
    assert watch.changed(events.PeerChanged("bob", PeerStatus.CONNECTING)) is None
    assert watch.changed(_connected()) == (
        "connected",
        {"peer": "bob", "path": "direct", "network": "lan", "remote": "10.0.0.2:4000"},
    )
    assert watch.changed(events.PeerChanged("bob", PeerStatus.OFFLINE, reason="bob quit")) == (
        "disconnected",
        {"peer": "bob", "reason": "bob quit"},
    )
    # Connected since: waiting is said again, and a disconnect only follows a connect.
    assert watch.changed(events.PeerChanged("bob", PeerStatus.OFFLINE)) == ("waiting", {"peer": "bob"})


def test_a_connect_without_an_address_and_a_failure_before_any_path():
    watch = PeerWatch()
    assert watch.changed(events.PeerChanged("bob", PeerStatus.CONNECTED)) is None
    failed = events.PeerChanged("bob", PeerStatus.FAILED, reason="no reply")
    assert watch.changed(failed) == ("error", {"peer": "bob", "message": "no path to bob yet: no reply"})


def test_a_changed_key_ends_the_connection_without_a_disconnect():
    watch = PeerWatch()
    watch.changed(_connected())
    changed = events.PeerChanged("bob", PeerStatus.KEY_CHANGED, fingerprint="aa", new_fingerprint="bb")
    assert watch.changed(changed) == ("key-changed", {"peer": "bob", "pinned": "aa", "new": "bb"})
    assert watch.changed(events.PeerChanged("bob", PeerStatus.OFFLINE)) == ("waiting", {"peer": "bob"})
