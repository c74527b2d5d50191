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

Everything an application needs is named here, in `__all__`; the modules
behind it are the core's own business.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from . import events
from .address import Address, Route, Via, remote_address
from .errors import (
    ConfigError,
    EnvironmentFailure,
    LocalProtocolError,
    P2PError,
    RemoteProtocolError,
    describe,
    exit_code,
)
from .events import NodeEvent, PeerStatus, Transfer
from .signalling import DEFAULT_PORT, DEFAULT_SIGNAL_URL, SignallingClient, parse_signal_url

if TYPE_CHECKING:
    # What the lazy loader below hands out, for type checkers.
    from .config import (
        CONFIG_FILE,
        config_dir,
        default_name,
        load_config_file,
        update_config_file,
    )
    from .files import make_private, private_file, write_atomically
    from .groups import MAX_MEMBERS as MAX_GROUP_MEMBERS
    from .groups import MAX_TEXT_BYTES as MAX_GROUP_TEXT_BYTES
    from .identity import Identity
    from .nat import NatReport
    from .netreport import NetReport, network_report
    from .node import Node, open_node
    from .nodeconfig import NodeConfig
    from .portmap import PortMapStatus
    from .safety import format_safety_number, safety_number
    from .sendbudget import SendLimits
    from .session import MAX_MESSAGE_BYTES, MessageTooLong, SessionConfig
    from .signalling.limits import ServerLimits
    from .signalling.messages import check_name, format_address
    from .signalling.server import serve as serve_signalling
    from .spray import SprayConfig
    from .store import StoredMessage
    from .stun import check_nat
    from .trust import KnownPeers, Verification, fingerprint
    from .turn_server import TurnServer, parse_turn_url

# The rest loads on first use: the TUI draws its first frame while its core
# thread imports trio and the crypto, not after. name -> (module, attribute)
_LAZY = {
    "CONFIG_FILE": (".config", "CONFIG_FILE"),
    "config_dir": (".config", "config_dir"),
    "default_name": (".config", "default_name"),
    "load_config_file": (".config", "load_config_file"),
    "update_config_file": (".config", "update_config_file"),
    "write_atomically": (".files", "write_atomically"),
    "make_private": (".files", "make_private"),
    "private_file": (".files", "private_file"),
    "Identity": (".identity", "Identity"),
    "NatReport": (".nat", "NatReport"),
    "NetReport": (".netreport", "NetReport"),
    "network_report": (".netreport", "network_report"),
    "PortMapStatus": (".portmap", "PortMapStatus"),
    "Node": (".node", "Node"),
    "NodeConfig": (".nodeconfig", "NodeConfig"),
    "open_node": (".node", "open_node"),
    "MAX_MESSAGE_BYTES": (".session", "MAX_MESSAGE_BYTES"),
    "MAX_GROUP_MEMBERS": (".groups", "MAX_MEMBERS"),
    "MAX_GROUP_TEXT_BYTES": (".groups", "MAX_TEXT_BYTES"),
    "MessageTooLong": (".session", "MessageTooLong"),
    "SessionConfig": (".session", "SessionConfig"),
    "check_name": (".signalling.messages", "check_name"),
    "format_address": (".signalling.messages", "format_address"),
    "serve_signalling": (".signalling.server", "serve"),
    "SendLimits": (".sendbudget", "SendLimits"),
    "ServerLimits": (".signalling.limits", "ServerLimits"),
    "SprayConfig": (".spray", "SprayConfig"),
    "StoredMessage": (".store", "StoredMessage"),
    "check_nat": (".stun", "check_nat"),
    "format_safety_number": (".safety", "format_safety_number"),
    "safety_number": (".safety", "safety_number"),
    "KnownPeers": (".trust", "KnownPeers"),
    "Verification": (".trust", "Verification"),
    "fingerprint": (".trust", "fingerprint"),
    "TurnServer": (".turn_server", "TurnServer"),
    "parse_turn_url": (".turn_server", "parse_turn_url"),
}


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attribute = _LAZY[name]
    value = getattr(importlib.import_module(module, __name__), attribute)
    globals()[name] = value
    return value


__all__ = [
    "CONFIG_FILE",
    "DEFAULT_PORT",
    "DEFAULT_SIGNAL_URL",
    "MAX_GROUP_MEMBERS",
    "MAX_GROUP_TEXT_BYTES",
    "MAX_MESSAGE_BYTES",
    "Address",
    "ConfigError",
    "EnvironmentFailure",
    "Identity",
    "KnownPeers",
    "LocalProtocolError",
    "MessageTooLong",
    "NatReport",
    "NetReport",
    "Node",
    "NodeConfig",
    "NodeEvent",
    "P2PError",
    "PeerStatus",
    "PortMapStatus",
    "RemoteProtocolError",
    "Route",
    "SendLimits",
    "ServerLimits",
    "SessionConfig",
    "SignallingClient",
    "SprayConfig",
    "StoredMessage",
    "Transfer",
    "TurnServer",
    "Verification",
    "Via",
    "check_name",
    "check_nat",
    "config_dir",
    "default_name",
    "describe",
    "events",
    "exit_code",
    "fingerprint",
    "format_address",
    "format_safety_number",
    "load_config_file",
    "make_private",
    "network_report",
    "open_node",
    "parse_signal_url",
    "parse_turn_url",
    "private_file",
    "remote_address",
    "safety_number",
    "serve_signalling",
    "update_config_file",
    "write_atomically",
]
