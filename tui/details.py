"""The connection details (F3) in words: the core's typed `Details`, as rows a person reads.

Pure: no widgets, so what is said for every path, relay and verification
state is tested without Textual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from p2ptui.net import events, format_address

from .words import applicable_reason

if TYPE_CHECKING:  # Only types: importing them would load the port mapper (and trio) before the first frame.
    from p2ptui.net import NetReport, PortMapStatus

#: The details line for (verified, verification_lost).
VERIFIED_WORDS = {
    (True, False): "yes: you compared safety numbers",
    (False, False): "no: compare safety numbers (/verify)",
    (False, True): "NO: the key changed after you verified it (/verify again)",
}
#: A node never sends to its own public address: only `p2ptui nat-check` tries it.
HAIRPIN_NOT_MEASURED = "not measured (p2ptui nat-check measures it)"
#: The rows the "your network" block says instead, when the core learned its network.
_OWN_NETWORK_LABELS = ("your address", "your NAT", "port mapping")


def path_words(details: events.Details) -> str:
    match details.path:
        case None:
            return "none"
        case events.PathKind.SPRAYED:
            return "direct, internet, through a port opened to cross the symmetric NAT"
        case events.PathKind.OUR_RELAY:
            return f"relayed through our {details.relay}"
        case events.PathKind.THEIR_RELAY:
            return "relayed through their TURN server"
        case _:
            return f"direct, {details.network}"


def relay_words(relay: events.RelayInfo) -> str:
    if relay.relayed:
        return f"{relay.name} ({format_address(relay.relayed)})"
    return f"{relay.name} (none: {relay.reason or 'allocating'})"


def status_words(details: events.Details) -> str:
    # A peer that is simply gone is not the NAT's fault: no advice about relays for it.
    reason = applicable_reason(details.status, details.reason)
    return details.status.value + (f": {reason}" if reason else "")


def details_rows(details: events.Details) -> list[tuple[str, str]]:
    """(label, words) for everything but the drop counters, in the order shown."""
    rows = [
        ("status", status_words(details)),
        ("path", path_words(details)),
        ("remote address", format_address(details.remote) if details.remote else "-"),
        ("round trip", f"{details.rtt * 1000:.1f} ms" if details.rtt is not None else "-"),
        ("encryption", details.encryption or "no keys yet"),
        ("their key", details.fingerprint or "not seen yet"),
        ("your key", details.own_fingerprint),
        ("verified", VERIFIED_WORDS[details.verified, details.verification_lost and not details.verified]),
        ("your address", format_address(details.public_address) if details.public_address else "-"),
        ("your NAT", details.nat),
        ("port mapping", portmap_words(details.portmap)),  # "off" too, as nat-check says.
        ("their NAT", details.peer_nat),
        ("your relays", ", ".join(map(relay_words, details.relays)) or "none configured"),
        ("unacknowledged", str(details.unacknowledged)),
    ]
    if details.new_fingerprint:
        rows.insert(6, ("their NEW key", details.new_fingerprint))
    if details.first_contact_lan:
        # Anyone on a LAN can claim a name: the first key came with no server's word for it.
        verified = [label for label, _ in rows].index("verified")
        rows.insert(verified + 1, ("first contact", "over the LAN, where anyone can claim a name: /verify"))
    if details.net_report is not None:
        rows = [row for row in rows if row[0] not in _OWN_NETWORK_LABELS]
    return rows


def network_rows(report: NetReport | None) -> list[tuple[str, str]]:
    """The "your network" block: nat-check's rows for what the node learned (none before
    it asked STUN), saying what a node does not measure rather than "-" or "no"."""
    if report is None:
        return []
    from .diagnostics import report_rows  # Imported here: diagnostics imports this module's words.

    unmeasured = {"hairpinning": HAIRPIN_NOT_MEASURED} if report.hairpinning is None else {}
    if not report.servers:
        unmeasured["UDP"] = "not measured: no STUN server to ask"
    return [(label, unmeasured.get(label, words)) for label, words in report_rows(report)]


def dropped_rows(details: events.Details) -> list[tuple[str, str]]:
    """(count, why): this conversation's drops, then the node's before any session."""
    return [(str(count), why) for why, count in details.dropped] + [
        (str(count), f"{why} (all peers)") for why, count in details.dropped_all
    ]


def portmap_words(status: PortMapStatus | None) -> str:
    """What the router's port mapping protocols said, in words (also the details pane's)."""
    if status is None:
        return "off"
    names = {"pcp": "PCP", "nat-pmp": "NAT-PMP", "upnp": "UPnP"}
    answered = ", ".join(names[p] for p in status.answered)
    if status.gateway is None:
        return "no gateway found"
    said = f"the router {status.gateway} answers {answered}" if answered else f"no answer from {status.gateway}"
    if status.external is not None and status.protocol:
        return f"{format_address(status.external)} by {names[status.protocol]} ({said})"
    return said
