"""Run p2ptui's port mapper in a lab namespace, saying what it gets as JSON lines.

    portmap_tool.py --port PORT [--protocol pcp|nat-pmp|upnp] [--lifetime S] [--seconds S] [--probe-only]

Prints {"probed": ..., "external": "IP:PORT" | null, "answered": [...], "protocol": ...}
once the probe has an outcome, {"external": ...} on every change, and {"closed": true}
after the mapping was deleted (the run ends after --seconds, as a node's exit does).
"""

from __future__ import annotations

import argparse
import json

import trio

from p2ptui.net.portmap import PortMapper, Protocol


def say(**fields) -> None:
    print(json.dumps(fields), flush=True)


async def main(args: argparse.Namespace) -> None:
    protocols = frozenset(Protocol(p) for p in args.protocol) if args.protocol else frozenset(Protocol)
    mapper = PortMapper(
        args.port,
        lambda external: say(external=f"{external[0]}:{external[1]}" if external else None),
        lifetime=args.lifetime,
        protocols=protocols,
        probe_only=args.probe_only,
    )
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(mapper.run)
        await mapper.probed.wait()
        status = mapper.status()
        external = f"{status.external[0]}:{status.external[1]}" if status.external else None
        say(probed=round(trio.current_time() - start, 3), external=external, answered=list(status.answered),
            protocol=status.protocol, gateway=status.gateway)
        await trio.sleep(args.seconds)
        nursery.cancel_scope.cancel()
    say(closed=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--protocol", action="append", choices=[p.value for p in Protocol])
    parser.add_argument("--lifetime", type=int, default=7200)
    parser.add_argument("--seconds", type=float, default=0)
    parser.add_argument("--probe-only", action="store_true", help="learn which protocols answer, map nothing")
    trio.run(main, parser.parse_args())
