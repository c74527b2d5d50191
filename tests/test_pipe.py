"""pipe's pure parts, without a process."""

import pytest

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


def test_stdin_lines_are_text_a_send_or_an_error():
    from p2ptui.pipe_files import parse_line

    assert parse_line("hello") == ("text", "hello")
    assert parse_line("//shrug") == ("text", "/shrug")
    assert parse_line("/send /tmp/a file.txt") == ("send", "/tmp/a file.txt")
    assert parse_line("/send")[0] == "error"
    what, message = parse_line("/shrug")
    assert what == "error" and "//text" in message  # never sent as text by mistake


def test_the_core_file_events_as_pipe_events():
    from p2ptui.pipe_files import file_event

    assert file_event(events.FileOffered("bob", "ab" * 16, "a.txt", 3)) == (
        "file-offered", {"peer": "bob", "id": "ab" * 16, "name": "a.txt", "size": 3, "outgoing": False}
    )
    assert file_event(events.FileProgress("bob", "ab", 1, 3, 10.0, True)) == (
        "file-progress", {"peer": "bob", "id": "ab", "bytes": 1, "size": 3, "outgoing": True}
    )
    assert file_event(events.FileReceived("bob", "ab", "/d/a.txt", 3, "cd" * 32)) == (
        "file-received", {"peer": "bob", "id": "ab", "path": "/d/a.txt", "size": 3, "sha256": "cd" * 32}
    )
    assert file_event(events.FileSent("bob", "ab")) == ("file-sent", {"peer": "bob", "id": "ab"})
    assert file_event(events.FileFailed("bob", "ab", "declined", True)) == (
        "file-failed", {"peer": "bob", "id": "ab", "reason": "declined", "outgoing": True}
    )
    assert file_event(events.MessageDelivered("bob", "ab")) is None


class _FilesNode:
    """What PipeFiles uses of a Node."""

    def __init__(self):
        self.accepted = []
        self.left = []

    def send_file(self, peer, path):
        from p2ptui.net import ConfigError

        if path == "missing":
            raise ConfigError("cannot send missing: No such file or directory")
        return "ab" * 16

    def accept_file(self, peer, transfer_id, directory):
        self.accepted.append((peer, transfer_id, directory))

    def transfers(self, peer):
        return self.left


@pytest.mark.trio
async def test_pipe_files_accepts_offers_and_waits_for_what_it_sends():
    import trio

    from p2ptui.pipe_files import PipeFiles

    node = _FilesNode()
    node.left = [events.Transfer("bob", "cd" * 16, "old.txt", 5, False, "offered")]
    files = PipeFiles(node, "bob", accept_into="/in")
    assert files.resume() == [("file-offered", {"peer": "bob", "id": "cd" * 16, "name": "old.txt", "size": 5,
                                                "outgoing": False})]
    assert node.accepted == [("bob", "cd" * 16, "/in")]  # an earlier run's offer, accepted now
    assert files.send("missing") == ("error", {"message": "not sent: cannot send missing: No such file or directory"})
    assert files.send("there") is None and files.sending == {"ab" * 16}
    with trio.move_on_after(0.05) as waited:
        await files.wait()
    assert waited.cancelled_caught  # not sent yet
    assert files.event(events.FileFailed("bob", "ab" * 16, "declined", True))[0][0] == "file-failed"
    with trio.fail_after(1):
        await files.wait()
    assert files.failed == 1  # and so the exit status is 1
