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

import importlib

from . import events
from .events import NodeEvent, PeerStatus
from .signalling import DEFAULT_SIGNAL_URL

# The rest loads on first use: the TUI draws its first frame while its core
# thread imports trio and the crypto, not after.
_LAZY = {
    "Identity": ".identity",
    "Node": ".node",
    "NodeConfig": ".node",
    "open_node": ".node",
    "MAX_MESSAGE_BYTES": ".session",
    "MessageTooLong": ".session",
    "SessionConfig": ".session",
}


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value

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
