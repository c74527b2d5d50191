"""`p2ptui --demo`: a whole network on loopback, in one process.

A built-in signalling server on a free port, an echo peer, and your node,
each with its own UDP socket: the conversation with "echo" runs over a real
punched UDP path, found through a real server, exactly as between machines.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from p2ptui.net import (
    Identity,
    Node,
    NodeConfig,
    events,
    format_address,
    open_node,
    serve_signalling,
)

ECHO_NAME = "echo"
_LOOPBACK = ("127.0.0.1", 0)


async def echo_messages(node: Node) -> None:
    """Greet whoever connects, and send every message back to its sender."""
    own = ""
    async for event in node.events:
        match event:
            case events.Ready(address=address):
                own = format_address(address)
            case events.PeerChanged(peer=peer, status=events.PeerStatus.CONNECTED):
                node.send(peer, greeting(peer, own))
            case events.MessageReceived(peer=peer, text=text):
                node.send(peer, text)


def greeting(peer: str, echo_address: str) -> str:
    """What the echo peer says first: its own address, the one the user's messages go to."""
    where = f" at {echo_address}" if echo_address else ""
    return (
        f"Hi {peer}! This is the echo peer, reached directly over UDP{where} "
        "(no server in between). Type anything."
    )


def demo_name(name: str) -> str:
    """Your name in the demo: anything but the echo peer's."""
    return "you" if name == ECHO_NAME else name


@asynccontextmanager
async def open_demo_node(name: str) -> AsyncIterator[Node]:
    """Your node, on a private loopback network with a server and an echo peer."""
    async with trio.open_nursery() as nursery:
        host, port = await nursery.start(serve_signalling, "127.0.0.1", 0)
        url = f"tcp://{host}:{port}"
        echo_config = NodeConfig(ECHO_NAME, url, bind=_LOOPBACK)
        async with open_node(echo_config, Identity.generate()) as echo:
            nursery.start_soon(echo_messages, echo)
            async with open_node(NodeConfig(name, url, bind=_LOOPBACK), Identity.generate()) as node:
                yield node
        nursery.cancel_scope.cancel()
