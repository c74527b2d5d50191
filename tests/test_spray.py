"""Spraying's numbers and decisions, free of I/O."""

import random

import pytest

from p2ptui.net import spray


def test_only_one_symmetric_side_against_a_cone_sprays():
    assert spray.role("symmetric", "cone") == spray.Role.HARD
    assert spray.role("cone", "symmetric") == spray.Role.EASY
    for ours, theirs in [("symmetric", "symmetric"), ("cone", "cone"), ("open", "symmetric"),
                         ("symmetric", "unknown"), ("single", "symmetric")]:
        assert spray.role(ours, theirs) is None


def test_the_birthday_estimate_of_the_defaults():
    config = spray.SprayConfig()
    chance = spray.success_chance(config.sockets, config.probes)
    assert 0.98 < chance < 0.99  # the "about 98%"
    assert spray.success_chance(0, 1024) == 0.0
    assert spray.success_chance(64, 256) < 0.25  # fewer of each: far less likely


def test_probe_ports_are_distinct_and_in_range():
    ports = spray.probe_ports(1024, random.Random(7))
    assert len(ports) == len(set(ports)) == 1024
    assert all(1024 <= port <= 65535 for port in ports)


@pytest.mark.parametrize(
    "change",
    [{"sockets": 5000}, {"sockets": -1}, {"probes": 10**6}, {"rate": 0}, {"rate": 1e6},
     {"budget": 3600}, {"sockets": 2.5}, {"probes": True}],
)
def test_every_number_is_bounded(change):
    with pytest.raises(ValueError, match="spray"):
        spray.SprayConfig(**change).check()


def test_zero_turns_spraying_off_and_the_easy_side_waits_for_the_mappings():
    assert not spray.SprayConfig(sockets=0).check().enabled
    config = spray.SprayConfig()
    assert config.easy_delay == pytest.approx(256 / 512 + 0.5)
    assert spray.SprayConfig(sockets=1024, rate=10, budget=4).easy_delay == 2  # never past half the budget
