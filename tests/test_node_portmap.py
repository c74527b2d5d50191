"""Where the node's port mapper runs, on trio's fake network (nothing leaves the process)."""

from __future__ import annotations

import pytest

from p2ptui.net import Identity, NodeConfig, open_node

from .fakeinternet import STUN_SERVER, STUN_SERVER_2
from .fakesignal import Hub
from .test_node_fakenet import internet

pytestmark = pytest.mark.trio

__all__ = ["internet"]  # the fixture, shared with test_node_fakenet


@pytest.mark.parametrize("ip", ["127.0.0.1", "::1"])
async def test_no_port_mapping_when_listening_on_loopback(internet, autojump_clock, ip):
    identity = Identity.generate()
    config = NodeConfig("bob", bind=(ip, 0), stun_servers=(STUN_SERVER, STUN_SERVER_2), portmap=True)
    async with open_node(config, identity, signalling=Hub().client("bob", identity)) as node:
        # The mapper starts with the node, if at all. It once started on ::1 (only
        # 127.x counted as loopback), asking the router to forward to nobody.
        assert node.portmap is None


async def test_port_mapping_starts_elsewhere(internet, autojump_clock):
    identity = Identity.generate()
    config = NodeConfig("bob", bind=("10.0.2.2", 0), stun_servers=(STUN_SERVER,), portmap=True)
    async with open_node(config, identity, signalling=Hub().client("bob", identity)) as node:
        assert node.portmap is not None
