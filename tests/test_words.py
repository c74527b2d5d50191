"""Words for states and reasons, and text fitted to a width: pure."""

from p2ptui.net import PeerStatus
from p2ptui.words import applicable_reason


def test_the_header_keeps_whole_parts_and_cuts_the_first_that_does_not_fit_after_a_word():
    from p2ptui.widgets import fit_parts

    parts = ["dana", "tcp://127.0.0.1:7878", "203.0.113.9:40123", "NAT: port-restricted"]
    assert fit_parts(parts, 200) == " · ".join(parts)
    assert fit_parts(parts, 52) == "dana · tcp://127.0.0.1:7878 · 203.0.113.9:40123 …"
    assert fit_parts(parts, 58) == "dana · tcp://127.0.0.1:7878 · 203.0.113.9:40123 · NAT…"
    cut = fit_parts(["dana", "⚠ cannot reach the signalling server at tcp://x"], 30)
    assert cut == "dana · ⚠ cannot reach the…" and len(cut) <= 30



def test_a_peer_that_is_simply_gone_gets_no_advice_about_nats_or_relays():
    reason = "bob quit; our NAT: cone, theirs: symmetric; a relay is needed: configure a TURN server (--turn)"
    assert applicable_reason(PeerStatus.OFFLINE, reason) == "bob quit"
    assert applicable_reason(PeerStatus.FAILED, reason) == reason  # a failure to punch: the advice applies
