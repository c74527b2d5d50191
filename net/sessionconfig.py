"""The tunables of a Session, shared by its parts (paths, key schedule, channel)."""

from __future__ import annotations

from dataclasses import dataclass

from . import secure


@dataclass(frozen=True)
class SessionConfig:
    probe_interval: float = 0.05
    """First gap between probe rounds while punching; it doubles up to probe_interval_max."""
    probe_interval_max: float = 1.0
    punch_timeout: float = 10.0
    """How long to probe before giving up on every candidate."""
    keepalive_interval: float = 10.0
    """Probe an idle open path this often, so NAT mappings stay open."""
    path_timeout: float = 5.0
    """An open path that leaves a probe or data unanswered this long is lost."""
    suspect_probe_interval: float = 0.5
    """While something is unanswered, probe the path this often."""
    rto_initial: float = 0.5
    """The first probe timeout, before any round trip is measured (RFC 9002's PTO)."""
    rto_min: float = 0.2
    """The handshake's shortest retransmission gap."""
    rto_max: float = 8.0
    """The probe timeout's cap, however often it backs off."""
    max_candidates: int = 8
    rekey_after: float = secure.REKEY_AFTER_SECONDS
    """The initiator runs a fresh handshake this often, for forward secrecy within a session."""
    relay_delay: float = 2.0
    """How long punching tries direct paths alone before relayed ones join in
    (magic-wormhole's relay delay): a user never waits long, direct is preferred."""
    direct_retry_interval: float = 60.0
    """While the conversation runs over a relay, try the direct paths this often
    (as Tailscale does) and move to one that works."""
    goodbye_copies: int = 3
    """How many times close() sends its GOODBYE (datagrams get lost; it is never answered)."""
    goodbye_interval: float = 0.005
    """The gap between those copies."""
