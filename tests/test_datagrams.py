"""The datagram router and the drive() loop, on trio's fake network in virtual time."""

from collections import Counter

import pytest
import trio
from trio.testing._fake_net import FakeNet

from p2ptui.net import EnvironmentFailure, Via, wire
from p2ptui.net.datagrams import Datagrams
from p2ptui.net.driver import Wakeable, drive

pytestmark = pytest.mark.trio

TAG, OTHER = b"\x01" * 8, b"\x02" * 8


async def router(ip: str = "198.51.100.1") -> Datagrams:
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    datagrams = Datagrams(sock, Counter())
    await datagrams.bind((ip, 4000))
    return datagrams


async def test_datagrams_are_routed_by_tag_and_garbage_is_counted(nursery, autojump_clock):
    FakeNet().enable()
    datagrams = await router()
    got = []
    datagrams.sinks[TAG] = lambda packet, source: got.append((packet, source))
    nursery.start_soon(datagrams.receive)
    sender = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    await sender.bind(("198.51.100.2", 5000))
    probe = wire.Probe(TAG, OTHER, b"\x07" * 8)
    for data in (wire.encode(probe), wire.encode(wire.Probe(OTHER, TAG, b"\x07" * 8)), b"hello", b"\xd2\x01"):
        await sender.sendto(data, ("198.51.100.1", 4000))
    await trio.sleep(1)
    assert got == [(probe, ("198.51.100.2", 5000))]
    assert datagrams.dropped["unknown tag"] == 1 and datagrams.dropped["unknown protocol"] == 1
    assert sum(datagrams.dropped.values()) == 3


async def test_a_route_through_nothing_is_dropped_by_reason(autojump_clock):
    FakeNet().enable()
    datagrams = await router()
    await datagrams.send(b"x", Via("turn 192.0.2.9:3478", ("192.0.2.10", 1)))
    await datagrams.send(b"x", Via("spray 40000", ("192.0.2.10", 1), relayed=False))
    assert datagrams.dropped == Counter({"relay not allocated": 1, "spraying socket closed": 1})


async def test_a_port_in_use_says_so():
    FakeNet().enable()
    await router()
    with pytest.raises(EnvironmentFailure, match="cannot listen on 198.51.100.1:4000: the port is in use by another program; choose another with --bind"):
        await router()


class Timers:
    """A machine that wants its timeout at fixed times."""

    def __init__(self, times: list[float]) -> None:
        self.times, self.fired = times, []

    def next_timeout(self) -> float | None:
        return self.times[0] if self.times else None

    def handle_timeout(self, now: float) -> None:
        self.fired.append(now)
        self.times.pop(0)


async def test_drive_fires_each_timer_when_due_and_steps_on_every_wakeup(nursery, autojump_clock):
    machine, doorbell, steps = Timers([1.0, 2.5]), Wakeable(), []

    async def step() -> bool:
        steps.append(trio.current_time())
        return len(machine.fired) == 2 and len(steps) >= 5

    nursery.start_soon(drive, machine, doorbell, step)
    await trio.sleep(2)
    doorbell.wake()
    doorbell.wake()  # two rings, one wakeup
    await trio.sleep(3)
    doorbell.wake()
    await trio.sleep(1)
    assert machine.fired == [1.0, 2.5]
    assert steps == [0.0, 1.0, 2.0, 2.5, 5.0]
