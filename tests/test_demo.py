"""`p2ptui --demo`: the echo peer's greeting names its own address, not yours."""

import pytest
import trio

from p2ptui.demo import ECHO_NAME, open_demo_node
from p2ptui.net import events, format_address


@pytest.mark.trio
async def test_the_greeting_names_the_echo_peers_address():
    with trio.fail_after(20):
        async with open_demo_node("dana") as node:
            node.open(ECHO_NAME)
            mine = echo = None
            async for event in node.events:
                match event:
                    case events.Ready(address=address):
                        mine = format_address(address)
                    case events.PeerChanged(peer=peer, status=events.PeerStatus.CONNECTED, remote=remote):
                        echo = format_address(remote)
                    case events.MessageReceived(peer=peer, text=text) if peer == ECHO_NAME:
                        break
            assert echo and mine and echo != mine
            assert f"at {echo} " in text and mine not in text
