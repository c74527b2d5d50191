"""Crossing a symmetric NAT against a cone NAT by the birthday paradox.

A symmetric ("hard") NAT gives each destination a new random public port, so
the peer cannot know where to send. Tailscale's answer: the hard side opens
many sockets and sends from each toward the peer's one public address,
creating as many mappings; the cone ("easy") side, whose NAT keeps one public
address, sends probes to random ports of the hard side's IP. A probe that
lands on one of the mappings gets through (it comes from the very address
the mapping was made for), and the answer goes back out the same way. With n
mappings among the NAT's ~64,000 ports and m probes, a hit is likely once
n * m is a few times 64,000: 256 sockets against 1,024 probes succeed about
98% of the time (1 - (1 - 256/64512) ** 1024).

This module holds the numbers and the decisions, free of I/O; the node opens
the sockets and paces the sends. Everything it sends goes only to the peer's
addresses from its signed offer or answer.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

from .errors import ConfigError
from .nat import NatType

#: The ports a NAT maps to (Linux's default for MASQUERADE --random-fully and most
#: home routers): where the easy side's probes aim.
PORTS = range(1024, 65536)

#: Hard limits, whatever the configuration says: a misconfigured client must not
#: become a port scanner or exhaust its own file descriptors.
MAX_SOCKETS = 1024
MAX_PROBES = 8192
MAX_RATE = 2000.0
MAX_BUDGET = 60.0


class Role(enum.Enum):
    HARD = "hard"
    """We are behind the symmetric NAT: open many sockets, each toward the peer."""
    EASY = "easy"
    """We are behind the cone NAT: probe random ports of the peer's IP."""


@dataclass(frozen=True)
class SprayConfig:
    """How far one spraying attempt may go. Every number is bounded (see check)."""

    sockets: int = 256
    """Sockets the hard side opens (one NAT mapping each); 0 turns spraying off."""
    probes: int = 1024
    """Probes the easy side sends, each to a random port."""
    rate: float = 512.0
    """Sockets opened, or probes sent, per second on each side."""
    budget: float = 10.0
    """Seconds the whole attempt may take; then the sockets close."""

    def check(self) -> SprayConfig:
        """self, or ConfigError naming the number out of bounds."""
        for name, value, low, high in (
            ("sockets", self.sockets, 0, MAX_SOCKETS),
            ("probes", self.probes, 0, MAX_PROBES),
            ("rate", self.rate, 1.0, MAX_RATE),
            ("budget", self.budget, 0.5, MAX_BUDGET),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                raise ConfigError(f"spray {name} must be between {low:g} and {high:g}, not {value!r}")
        if not isinstance(self.sockets, int) or not isinstance(self.probes, int):
            raise ConfigError("spray sockets and probes are whole numbers")
        return self

    @property
    def enabled(self) -> bool:
        return self.sockets > 0 and self.probes > 0

    @property
    def easy_delay(self) -> float:
        """How long the easy side waits before probing: until the hard side's
        mappings exist (it learns of the attempt a signalling trip later), so
        that probes are not spent on ports nobody has mapped yet."""
        return min(self.sockets / self.rate + 0.5, self.budget / 2)


def role(ours: str, theirs: str) -> Role | None:
    """Our part in spraying, from the two NAT types (NatType values), or None if
    spraying cannot help: exactly one side must be symmetric, the other a cone."""
    symmetric, cone = NatType.SYMMETRIC.value, NatType.CONE.value
    if ours == symmetric and theirs == cone:
        return Role.HARD
    if ours == cone and theirs == symmetric:
        return Role.EASY
    return None


def probe_ports(count: int, rng: random.Random | None = None) -> list[int]:
    """count distinct random ports to probe (distinct: a repeat would be wasted)."""
    rng = rng or random.SystemRandom()
    return rng.sample(PORTS, min(count, len(PORTS)))


def success_chance(sockets: int, probes: int, ports: int = len(PORTS)) -> float:
    """The birthday-paradox estimate of one attempt succeeding."""
    if sockets <= 0 or probes <= 0:
        return 0.0
    return 1.0 - (1.0 - sockets / ports) ** probes
