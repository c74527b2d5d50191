"""What an application riding on the channel (files, groups) gives the pump.

`Peers.apps` lists them; the pump calls each in the order listed. An app that
has work to do outside a pump (a file became readable, a timer of its own)
calls `peer.wake()`, and the peer's driver pumps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from . import events as ev
from . import session as sess

if TYPE_CHECKING:
    from .peer import Peer


class PeerApp(Protocol):
    def session_event(self, peer: Peer, event: sess.Event) -> list[ev.NodeEvent]:
        """Every session event, in order, after the pump kept what it brings; the
        events to emit (after the peer's status update)."""
        ...

    def pumped(self, peer: Peer) -> list[ev.NodeEvent]:
        """Once per pump, before the pump sends the session's datagrams: write more
        to streams now. The events to emit."""
        ...
