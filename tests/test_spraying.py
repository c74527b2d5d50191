"""The sprayer's records, on trio's fake network: nothing stays of a peer let go."""

from __future__ import annotations

from collections import Counter

import pytest
import trio
import trio_util

from p2ptui.net.datagrams import Datagrams
from p2ptui.net.spray import SprayConfig
from p2ptui.net.spraying import Sprayer

from .fakeinternet import Internet

pytestmark = pytest.mark.trio

OUR_IP, THEIR_IP = "10.0.2.2", "198.51.100.66"


class Probes:
    """What the sprayer asks of a session: probes, counted; no path."""

    path = None

    def __init__(self) -> None:
        self.sent = 0

    def probe(self, address, now) -> None:
        self.sent += 1


class Stranger:
    """What the sprayer asks of a peer."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.session = Probes()
        self.direct = trio_util.AsyncBool(False)

    def wake(self) -> None:
        pass


async def test_a_stranger_let_go_mid_spray_leaves_no_record(nursery, autojump_clock):
    Internet().enable()
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    await sock.bind((OUR_IP, 0))
    config = SprayConfig(probes=40, rate=100.0, budget=3.0)
    sprayer = Sprayer(config, OUR_IP, Datagrams(sock, Counter()))
    await nursery.start(sprayer.run)
    peer = Stranger("mallory")
    sprayer.consider(peer, "cone", "symmetric", (THEIR_IP, 4000))  # We are the easy side.
    assert sprayer.spraying(peer)
    sprayer.forget(peer)  # Let go mid-spray: the attempt runs on, within its budget.
    assert sprayer.spraying(peer) and len(sprayer) == 1
    await trio.sleep(config.budget + 1)
    assert not sprayer.spraying(peer)
    assert peer.session.sent > 0  # It did spray...
    assert len(sprayer) == 0  # ...and its record went when the attempt ended (it stayed for good).
