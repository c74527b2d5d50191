"""p2ptui's networking core: peer-to-peer chat over punched UDP paths, on trio.

Usable without the TUI::

    import trio
    from p2ptui.net import Identity, NodeConfig, events, open_node

    async def main():
        config = NodeConfig(name="alice", signal="tcp://127.0.0.1:7878")
        async with open_node(config, Identity.generate()) as node:
            node.send("bob", "hello")  # queued until a path to bob opens
            async for event in node.events:
                if isinstance(event, events.MessageReceived):
                    print(event.peer, event.text)

    trio.run(main)
"""

from . import events
from .events import NodeEvent, PeerStatus
from .identity import Identity
from .node import Node, NodeConfig, open_node
from .session import MAX_MESSAGE_BYTES, MessageTooLong, SessionConfig
from .signalling import DEFAULT_SIGNAL_URL

__all__ = [
    "DEFAULT_SIGNAL_URL",
    "MAX_MESSAGE_BYTES",
    "Identity",
    "MessageTooLong",
    "Node",
    "NodeConfig",
    "NodeEvent",
    "PeerStatus",
    "SessionConfig",
    "events",
    "open_node",
]
