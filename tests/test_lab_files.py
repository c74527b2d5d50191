"""Files across real NATs: a shaped path, and a transfer that survives a killed receiver."""

import hashlib
import os
import statistics
from pathlib import Path

import pytest

from .lab.shaped import add_loss, shaped_path, tcp_rate, udp_round_trips
from .test_lab import lab, peers  # noqa: F401  (the fixtures)

pytestmark = pytest.mark.lab

MBIT = 1_000_000 / 8


def test_the_shaped_path_has_its_rate_and_round_trip(lab):  # noqa: F811
    path = shaped_path(lab, mbit=20, one_way_ms=25)
    rtts, lost = udp_round_trips(path, count=20)
    assert lost == 0
    # 25 ms held at each router; the machine may add a little, never take any away.
    assert 0.048 <= statistics.median(rtts) < 0.150, rtts
    rate = tcp_rate(path, 4 << 20)
    # The bucket caps it; TCP's slow start over 50 ms keeps it a little under.
    assert 0.4 * 20 * MBIT < rate <= 1.05 * 20 * MBIT, rate / MBIT


def test_the_shaped_path_loses_what_it_is_told_to(lab):  # noqa: F811
    path = shaped_path(lab, mbit=50)
    add_loss(path, 0.5)
    rtts, lost = udp_round_trips(path, count=40)
    # Each probe crosses two lossy rules: about 3 in 4 go missing.
    assert 10 <= lost <= 39 and len(rtts) == 40 - lost


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


SIZE = 4 << 20


def test_a_transfer_resumes_after_the_receiver_is_killed_mid_transfer(lab, peers, tmp_path):  # noqa: F811
    # 8 Mbit/s: the 4 MB take about 4 s, so the kill lands mid-transfer.
    path = shaped_path(lab, mbit=8)
    alice_host, bob_host = path.hosts
    source = tmp_path / "photo.bin"
    source.write_bytes(os.urandom(SIZE))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    alice = peers.pipe(alice_host, "alice", "bob")
    bob = peers.pipe(bob_host, "bob", "alice", "--accept-files", str(inbox))
    alice.event("connected", timeout=30)
    bob.event("connected", timeout=30)
    alice.send(f"/send {source}")
    offered = bob.event("file-offered")
    assert offered["name"] == "photo.bin" and offered["size"] == SIZE
    while (progress := bob.event("file-progress", timeout=30))["bytes"] < SIZE // 2:
        assert progress["id"] == offered["id"]
    assert progress["bytes"] < SIZE, "the transfer ended before the kill: the bottleneck is too wide"
    bob.popen.kill()  # SIGKILL: no goodbye, no flush, whatever was in flight is lost
    bob.popen.wait(timeout=10)
    # From here on, count what alice's router forwards to the internet.
    counter = ["-o", "wan", "-p", "udp"]
    path.routers[0].run("iptables", "-I", "FORWARD", "1", *counter)

    bob = peers.pipe(bob_host, "bob", "alice", "--accept-files", str(inbox))
    received = bob.event("file-received", timeout=60)
    assert received["id"] == offered["id"] and received["size"] == SIZE
    assert received["sha256"] == _sha256(source) == _sha256(path_of(received))
    assert path_of(received).parent == inbox
    assert alice.event("file-sent", timeout=30)["id"] == offered["id"]
    # Only what was missing went again (with the channel's overhead), not the whole file.
    sent_after = _forwarded_bytes(path.routers[0])
    assert sent_after < SIZE * 0.9, sent_after
    assert not list(inbox.glob("*.part"))


def path_of(event) -> Path:
    return Path(event["path"])


def _forwarded_bytes(router) -> int:
    """The byte counter of the first FORWARD rule (the counting rule inserted last)."""
    for line in router.run("iptables", "-L", "FORWARD", "1", "-v", "-x", "-n").splitlines():
        fields = line.split()
        if fields and fields[0].isdigit():
            return int(fields[1])
    raise AssertionError("no counter")
