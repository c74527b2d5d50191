"""`p2ptui ping` and `p2ptui nat-check`: what the path to a peer, and our NAT, are like."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import trio

from p2ptui.net import (
    EnvironmentFailure,
    Identity,
    NetReport,
    Node,
    NodeConfig,
    events,
    format_address,
    network_report,
    open_node,
)

from .details import portmap_words
from .errors import signalling_advice


def _print(as_json: bool, text: str, **fields) -> None:
    print(json.dumps(fields) if as_json else text, flush=True)


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def what_was_dropped(counters: dict[str, int]) -> dict[str, int]:
    """The counters that counted something, by name: a list of zeros says nothing."""
    return {why: count for why, count in sorted(counters.items()) if count}


@dataclass
class PingOptions:
    peer: str
    count: int = 4
    interval: float = 1.0
    timeout: float = 15.0
    """How long to wait for a path to the peer."""
    json: bool = False


async def _fail_without_signalling(node: Node, connected: trio.Event) -> None:
    """Until the path is up, a signalling server that does not answer ends the ping with its
    reason: the peer's state is not known then, and "offline" would be a guess."""
    async for event in node.events:
        if connected.is_set():
            return
        if isinstance(event, events.SignalStatus) and not event.connected:
            raise EnvironmentFailure(signalling_advice(event.message))


async def run_ping(config: NodeConfig, identity: Identity, options: PingOptions) -> int:
    async with open_node(config, identity) as node, trio.open_nursery() as nursery:
        connected = trio.Event()
        nursery.start_soon(_fail_without_signalling, node, connected)
        code = await _ping(node, options, connected)
        nursery.cancel_scope.cancel()
        return code


async def _ping(node: Node, options: PingOptions, connected: trio.Event) -> int:
    started = trio.current_time()
    node.open(options.peer)
    with trio.move_on_after(options.timeout):
        await node.wait_status(options.peer, events.PeerStatus.CONNECTED)
    connected.set()
    status = node.status(options.peer)
    if status != events.PeerStatus.CONNECTED:
        reason = node.details(options.peer).reason or f"{options.peer} is {status.value}"
        _print(options.json, f"p2ptui: no path to {options.peer}: {reason}", event="error",
               message=f"no path to {options.peer} within {options.timeout:g} s: {reason}")
        return 1
    connect_ms = (trio.current_time() - started) * 1000

    def where() -> tuple[str, str]:
        """The path now, "direct" or "relay", and the peer's address on it."""
        details = node.details(options.peer)
        relayed = details.path in (events.PathKind.OUR_RELAY, events.PathKind.THEIR_RELAY)
        return "relay" if relayed else "direct", format_address(details.remote) if details.remote else ""

    rtts: list[float] = []
    for seq in range(options.count):
        if seq:
            await trio.sleep(options.interval)
        try:
            rtt = await node.ping(options.peer)
        except ValueError:
            rtt = None  # The path closed meanwhile: a lost probe.
        if rtt is None:
            _print(options.json, f"timeout waiting for {options.peer}", event="timeout", seq=seq)
        else:
            rtts.append(rtt * 1000)
            kind, remote = where()
            _print(options.json, f"pong from {options.peer} ({kind}, {remote}) in {rtt * 1000:.2f} ms",
                   event="pong", seq=seq, rtt_ms=round(rtt * 1000, 3))
    stats = (
        {name: round(percentile(rtts, share), 3) for name, share in
         (("min", 0), ("p50", 0.5), ("p99", 0.99), ("max", 1))}
        if rtts else None
    )
    summary = (
        f"--- {options.peer}: {options.count} sent, {len(rtts)} received, "
        f"connected in {connect_ms:.0f} ms"
        + (f"; rtt min/p50/p99/max = {stats['min']}/{stats['p50']}/{stats['p99']}/{stats['max']} ms"
           if stats else "")
    )
    dropped = what_was_dropped(node.counters())
    if dropped:
        summary += "\n--- dropped: " + ", ".join(f"{count} {why}" for why, count in dropped.items())
    kind, remote = where()
    _print(options.json, summary, event="summary", peer=options.peer, path=kind, remote=remote,
           connect_ms=round(connect_ms, 1), sent=options.count, received=len(rtts), rtt_ms=stats,
           dropped=dropped)
    return 0 if rtts else 1


async def run_nat_check(
    servers: list[tuple[str, int]],
    bind: tuple[str, int],
    as_json: bool,
    turn: tuple[tuple[str, int], ...] = (),
    portmap: bool = True,
) -> int:
    """The network report (net/netreport.py): as JSON, or as lines a person reads."""
    report: NetReport = await network_report(servers, turn, bind, portmap=portmap)
    facts = report.to_json()
    if as_json:
        print(json.dumps(facts), flush=True)
    else:
        for line in report_lines(report):
            print(line)
    return 0 if report.reachable else 1


def report_lines(report: NetReport) -> list[str]:
    """The report as text: the words in one column, past the longest label, so that a
    long server label ("STUN [2001:db8::10]:3478") never runs into its value."""
    rows = report_rows(report)
    width = max(17, *(len(label) + 2 for label, _ in rows))
    return [f"{label + ':':<{width}}{words}" for label, words in rows]


def report_rows(report: NetReport) -> list[tuple[str, str]]:
    """(label, words) for the network report."""
    nat = report.nat
    # The mapping is the IPv4 NAT's: only IPv4 servers tell it.
    ipv4_stun = [check for check in report.servers if check.kind == "stun" and not check.ipv6]
    answered = sum(1 for check in ipv4_stun if check.mapped)
    mapping = (
        f"{report.mapping} ({answered} of {len(ipv4_stun)} IPv4 STUN servers answered)"
        if ipv4_stun else f"{report.mapping} (no IPv4 STUN server to ask)"
    )
    hairpin = {True: "yes", False: "no", None: "-"}[report.hairpinning]
    rows = [
        ("UDP", "yes" if report.udp else "no: no STUN server answered (UDP blocked?)"),
        ("public IPv4", report.public_ipv4 or "none"),
        ("public IPv6", report.public_ipv6 or "none"),
        ("public address", format_address(nat.public) if nat.public else "unknown"),
        ("mapping", mapping),
        ("NAT type", report.nat_words),
        ("hairpinning", hairpin),
        ("port mapping", portmap_words(report.portmap)),
    ]
    for check in report.servers:
        if check.not_asked:
            rtt = f"not asked: {check.not_asked}"
        else:
            rtt = f"{check.rtt * 1000:.1f} ms" if check.rtt is not None else "no answer"
        rows.append((f"{check.kind.upper()} {format_address(check.server)}", rtt))
    return rows
